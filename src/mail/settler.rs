//! Outcomes of mail attempts, recorded in batches: the outcomes that finish while one batch
//! is being written are written together by the next, in one transaction.
//!
//! Why: a sent mail appends `confirmation_sent` to its sender's chain, under the lock of the
//! chain head, and on PostgreSQL that lock is held from the head's read to the commit while
//! the same sender's signups wait for it. One transaction per mail took the lock once per
//! mail with three round trips inside it (read, append, commit); a batch takes it once per
//! sender, with one round trip per event ([`crate::db::ledger::record_events`]). On SQLite
//! the batch is one write of the group writer instead of one per mail.
//!
//! A batch that fails is written again one outcome per transaction, so an outcome that
//! cannot be recorded costs only itself. A caller is answered once its outcome is
//! committed (or could not be), so the worker renews its lease until then.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::outcome::{record_outcomes, Outcome};
use crate::clock;
use crate::config::Settings;
use crate::db::outbox::OutboxRow;
use crate::db::{write_transaction, Backend, Db, StoreError};

/// The most outcomes written by one transaction.
const MOST_PER_BATCH: usize = 64;
/// Outcomes waiting for a batch.
const QUEUE: usize = 1024;

/// Batches being written at once. PostgreSQL: one, so that outcomes gather while it waits
/// for a chain head (measured with two instances, 10,000 mails: two in flight delivered a
/// burst at 540 mails/s, one at 584–610). SQLite: any number; each batch is one write of the
/// group writer, and outcomes that end while one batch waits in its queue join the same
/// commit instead of waiting for the next (measured during 4,900 signups/s: 362 mails/s
/// went out with one in flight, 450–500 with several).
fn batches_in_flight(db: &Db) -> usize {
    match db.backend() {
        Backend::Postgres => 1,
        Backend::Sqlite => Semaphore::MAX_PERMITS,
    }
}

/// Where the mail worker hands its outcomes; the batch writer ends when this is dropped.
pub struct Settler {
    tx: mpsc::Sender<Settling>,
}

struct Settling {
    job: OutboxRow,
    outcome: Outcome,
    recorded: oneshot::Sender<()>,
}

struct Writer {
    db: Db,
    settings: Arc<Settings>,
    counts: Counts,
}

/// What `/metrics` shows of the outcomes.
pub struct Counts {
    /// Attempts by outcome (`sent`, `failed`, `given_up`, `obsolete`), once committed.
    pub attempts: prometheus::IntCounterVec,
    /// Transactions that committed outcomes.
    pub batches: prometheus::IntCounter,
}

impl Settler {
    /// Starts the batch writer on the current Tokio runtime.
    pub fn start(db: Db, settings: Arc<Settings>, counts: Counts) -> Self {
        // Never longer than the worker's concurrency (each caller waits for its outcome);
        // the bound only makes that plain.
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            db,
            settings,
            counts,
        };
        tokio::spawn(writer.run(rx));
        Self { tx }
    }

    /// Records the outcome of one attempt; returns once it is committed or has failed
    /// (which is logged: the mail's lease then ends and it is tried again).
    pub async fn settle(&self, job: OutboxRow, outcome: Outcome) {
        let (recorded, done) = oneshot::channel();
        let settling = Settling {
            job,
            outcome,
            recorded,
        };
        if self.tx.send(settling).await.is_ok() {
            let _ = done.await;
        }
    }
}

impl Writer {
    async fn run(self, rx: mpsc::Receiver<Settling>) {
        let in_flight = batches_in_flight(&self.db);
        let writer = Arc::new(self);
        crate::batches::take_in_batches(rx, in_flight, MOST_PER_BATCH, |batch| {
            let writer = writer.clone();
            async move { writer.write(batch).await }
        })
        .await;
    }

    async fn write(&self, batch: Vec<Settling>) {
        let items: Vec<(OutboxRow, Outcome)> = batch
            .iter()
            .map(|s| (s.job.clone(), s.outcome.clone()))
            .collect();
        let labels = match self.record(items).await {
            Ok(labels) => labels.into_iter().map(Ok).collect(),
            Err(error) if batch.len() > 1 => {
                tracing::warn!(%error, mails = batch.len(), "a batch of mail outcomes failed; recording them one by one");
                let mut labels = Vec::with_capacity(batch.len());
                for s in &batch {
                    let one = vec![(s.job.clone(), s.outcome.clone())];
                    let label = self
                        .record(one)
                        .await
                        .and_then(|labels| labels.into_iter().next().ok_or(StoreError::Cancelled));
                    labels.push(label);
                }
                labels
            }
            Err(error) => vec![Err(error)],
        };
        for (settling, label) in batch.into_iter().zip(labels) {
            match label {
                Ok(label) => self.counts.attempts.with_label_values(&[label]).inc(),
                Err(error) => {
                    tracing::error!(%error, job = %settling.job.id, "cannot record mail outcome");
                }
            }
            let _ = settling.recorded.send(());
        }
    }

    /// The outcomes in one transaction; their labels for `mail_attempts_total`, in order.
    async fn record(
        &self,
        items: Vec<(OutboxRow, Outcome)>,
    ) -> Result<Vec<&'static str>, StoreError> {
        let settings = self.settings.clone();
        let labels = self
            .db
            .write(move |conn| {
                let now = clock::now();
                write_transaction(conn, |conn| {
                    record_outcomes(conn, &items, &settings.mail, now)
                })
            })
            .await?;
        self.counts.batches.inc();
        Ok(labels)
    }
}
