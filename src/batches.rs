//! Work taken from a queue in batches: a batch starts when one of a few slots is free, and
//! takes with its first item whatever queued while the earlier batches were busy. Under no
//! load a batch is the one item, started at once; under load each batch grows to what one
//! round of work can serve. Single checks on PostgreSQL (`views::check_queue`) and mail
//! outcomes (`mail::settler`) are taken this way.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

/// Hands the items of `rx` to `work` in batches of at most `most`, with at most `in_flight`
/// batches running at once (each on a task of its own), until every sender is gone.
pub async fn take_in_batches<T, F, Fut>(
    mut rx: mpsc::Receiver<T>,
    in_flight: usize,
    most: usize,
    work: F,
) where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = rx.recv().await {
        // A free slot first, so that what queues meanwhile joins this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < most {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let done = work(batch);
        tokio::spawn(async move {
            done.await;
            drop(slot);
        });
    }
}
