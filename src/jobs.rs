//! The loop every outbox worker runs (mail, webhooks): wake at once when a transaction
//! queued work, otherwise poll for retries; claim due jobs with a lease (SKIP LOCKED on
//! PostgreSQL) so several instances never run one job at once; stop between jobs.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{watch, Notify};

use crate::clock;
use crate::db::outbox::{self, OutboxRow};
use crate::db::Db;
use crate::domain::job_kind::OutboxKind;

/// How long a claimed job stays invisible to other workers; renewed every [`RENEW`] while it
/// is being worked on, so an instance that dies gives its jobs back within one lease.
const LEASE: chrono::Duration = chrono::Duration::seconds(20);
const RENEW: Duration = Duration::from_secs(5);
const BATCH: i64 = 32;
const POLL: Duration = Duration::from_secs(1);

/// Runs `deliver` on each due job of `kind`, up to `concurrency` at once, until `stop` turns
/// true; the jobs already claimed are finished first.
pub async fn run<F, Fut>(
    db: Db,
    kind: OutboxKind,
    concurrency: usize,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    deliver: F,
) where
    F: Fn(OutboxRow) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        if *stop.borrow() {
            return;
        }
        let now = clock::now();
        let claimed = db
            .run(move |conn| outbox::claim_due(conn, kind, now, LEASE, BATCH))
            .await;
        match claimed {
            Ok(jobs) if !jobs.is_empty() => {
                work_on(&db, jobs, concurrency, &deliver).await;
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, kind = kind.as_str(), "cannot claim outbox jobs"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Delivers claimed jobs, up to `concurrency` at once, renewing the leases of those not yet
/// settled until all are.
async fn work_on<F, Fut>(db: &Db, jobs: Vec<OutboxRow>, concurrency: usize, deliver: &F)
where
    F: Fn(OutboxRow) -> Fut,
    Fut: Future<Output = ()>,
{
    let unsettled: Mutex<HashSet<String>> = Mutex::new(jobs.iter().map(|j| j.id.clone()).collect());
    let work = futures_util::stream::iter(jobs).for_each_concurrent(concurrency.max(1), |job| {
        let id = job.id.clone();
        let unsettled = &unsettled;
        async move {
            deliver(job).await;
            unsettled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
    });
    let renew = async {
        let mut ticker = tokio::time::interval(RENEW);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let ids: Vec<String> = unsettled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect();
            let until = clock::now() + LEASE;
            if let Err(error) = db
                .run(move |conn| outbox::renew_leases(conn, &ids, until))
                .await
            {
                tracing::warn!(%error, "cannot renew outbox leases");
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = renew => {}
    }
}

/// When a job that failed its `attempts`-th attempt is tried again: `None` once it has
/// failed for good (a permanent error, or no attempts left).
pub fn next_attempt(
    now: chrono::NaiveDateTime,
    attempts: i64,
    permanent: bool,
    max_attempts: i64,
    (base, max): (Duration, Duration),
) -> Option<chrono::NaiveDateTime> {
    (!permanent && attempts < max_attempts).then(|| now + backoff(base, max, attempts))
}

/// `base * 2^(attempts-1)`, capped at `max`.
fn backoff(base: Duration, max: Duration, attempts: i64) -> chrono::Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let delay = base.saturating_mul(2u32.saturating_pow(exponent)).min(max);
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_retried_until_its_attempts_run_out_or_an_error_is_permanent() {
        let now = crate::clock::now();
        let delays = (Duration::from_secs(5), Duration::from_secs(60));
        assert_eq!(
            next_attempt(now, 1, false, 3, delays),
            Some(now + chrono::Duration::seconds(5))
        );
        assert_eq!(next_attempt(now, 3, false, 3, delays), None);
        assert_eq!(next_attempt(now, 1, true, 3, delays), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<i64> = (1..=6)
            .map(|a| backoff(Duration::from_secs(5), Duration::from_secs(60), a).num_seconds())
            .collect();
        assert_eq!(secs, [5, 10, 20, 40, 60, 60]);
    }
}
