//! The loop every outbox worker runs (mail, webhooks): wake at once when a transaction
//! queued work, otherwise poll for retries; claim due jobs with a lease (SKIP LOCKED on
//! PostgreSQL) so several instances never run one job at once; stop between jobs. A lease
//! is short and renewed while its job is worked on, and names its instance, so a dead
//! instance's jobs come back within seconds and a restarted one takes its own back at once.

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
const LEASE: chrono::Duration = chrono::Duration::seconds(6);
const RENEW: Duration = Duration::from_secs(2);
const BATCH: i64 = 32;
const POLL: Duration = Duration::from_secs(1);

/// How many due jobs the loop may claim now: the mail worker claims one at a time, or none,
/// while its relay is down (`mail::relay`).
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    Batch,
    One,
    Wait(Duration),
}

/// This instance's name on its leases: the host and the port it serves on. Two live
/// instances cannot share both; the same instance started again has the same name.
pub fn instance_name(address: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", address.port())
}

/// This instance's lease name; the jobs an earlier run of it left leased (a kill -9
/// mid-send) are due again at once rather than when their leases end. Called as `serve`
/// starts, before its workers run.
pub async fn take_back_own_leases(db: &Db, address: std::net::SocketAddr) -> Arc<str> {
    let owner: Arc<str> = instance_name(address).into();
    let name = owner.clone();
    let released = db
        .run(move |conn| outbox::release_all_of(conn, &name))
        .await;
    match released {
        Ok(0) => {}
        Ok(count) => {
            tracing::info!(count, instance = %owner, "took back the outbox jobs an earlier run of this instance had leased")
        }
        Err(error) => {
            tracing::warn!(%error, "cannot take back this instance's leases; they end within seconds")
        }
    }
    owner
}

/// One worker's queue: the jobs of `kind`, claimed under `owner`'s name.
pub struct Queue {
    pub db: Db,
    pub kind: OutboxKind,
    /// Jobs in flight at once.
    pub concurrency: usize,
    /// Notified when a transaction queued a job of this kind.
    pub wake: Arc<Notify>,
    pub owner: Arc<str>,
}

/// Runs `deliver` on each due job of the queue, up to its concurrency at once and as many as
/// `pace` allows, until `stop` turns true; the jobs already claimed are finished first.
pub async fn run<P, F, Fut>(queue: Queue, mut stop: watch::Receiver<bool>, pace: P, deliver: F)
where
    P: Fn() -> Claim,
    F: Fn(OutboxRow) -> Fut,
    Fut: Future<Output = ()>,
{
    let Queue {
        db,
        kind,
        concurrency,
        wake,
        owner,
    } = queue;
    loop {
        if *stop.borrow() {
            return;
        }
        let limit = match pace() {
            Claim::Batch => BATCH,
            Claim::One => 1,
            Claim::Wait(wait) => {
                // New work does not shorten the wait: it would meet the same closed door.
                tokio::select! {
                    _ = tokio::time::sleep(wait.min(POLL)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        let now = clock::now();
        let owner = owner.clone();
        // Claims, renewals and outcomes are writes like a signup's: on SQLite they queue
        // with them for the group writer, in turn, instead of racing it for the lock.
        let claimed = db
            .write(move |conn| {
                let lease = outbox::Lease {
                    owner: &owner,
                    length: LEASE,
                    limit,
                };
                outbox::claim_due(conn, kind, now, &lease)
            })
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
                .write(move |conn| outbox::renew_leases(conn, &ids, until))
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

/// How long a job is tried: a number of attempts (0: no limit), a time after which no new
/// attempt starts (as MTAs keep a message for days), and the backoff between attempts.
#[derive(Clone, Copy)]
pub struct Retries {
    pub max_attempts: i64,
    pub until: Option<chrono::NaiveDateTime>,
    pub base: Duration,
    pub max: Duration,
}

/// When a job that failed its `attempts`-th attempt is tried again: `None` once it has
/// failed for good (a permanent error, no attempts left, or the next one would start after
/// `until`).
pub fn next_attempt(
    now: chrono::NaiveDateTime,
    attempts: i64,
    permanent: bool,
    retries: Retries,
) -> Option<chrono::NaiveDateTime> {
    let attempts_left = retries.max_attempts == 0 || attempts < retries.max_attempts;
    let at = now + backoff(retries.base, retries.max, attempts);
    let in_time = retries.until.is_none_or(|until| at <= until);
    (!permanent && attempts_left && in_time).then_some(at)
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
        let retries = Retries {
            max_attempts: 3,
            until: None,
            base: Duration::from_secs(5),
            max: Duration::from_secs(60),
        };
        assert_eq!(
            next_attempt(now, 1, false, retries),
            Some(now + chrono::Duration::seconds(5))
        );
        assert_eq!(next_attempt(now, 3, false, retries), None);
        assert_eq!(next_attempt(now, 1, true, retries), None);
    }

    #[test]
    fn a_job_bounded_by_time_is_tried_until_its_time_is_up_however_often() {
        let now = crate::clock::now();
        let retries = Retries {
            max_attempts: 0,
            until: Some(now + chrono::Duration::seconds(30)),
            base: Duration::from_secs(5),
            max: Duration::from_secs(20),
        };
        assert_eq!(
            next_attempt(now, 1000, false, retries),
            Some(now + chrono::Duration::seconds(20)),
            "no limit on the count"
        );
        let almost_up = Retries {
            until: Some(now + chrono::Duration::seconds(10)),
            ..retries
        };
        assert_eq!(
            next_attempt(now, 1, false, almost_up),
            Some(now + chrono::Duration::seconds(5))
        );
        assert_eq!(
            next_attempt(now, 3, false, almost_up),
            None,
            "20 s away is past the time"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<i64> = (1..=6)
            .map(|a| backoff(Duration::from_secs(5), Duration::from_secs(60), a).num_seconds())
            .collect();
        assert_eq!(secs, [5, 10, 20, 40, 60, 60]);
    }
}
