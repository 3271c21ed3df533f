//! The gate in front of argon2: a bounded queue (a flood answers 429 instead of waiting in
//! line before every other tenant's first request), a short memory of bearer values that
//! failed (the same wrong secret again costs no argon2), and limits on failures per key id
//! and per client address. A tenant's keys already verified are cached and never reach the
//! gate, so one tenant's failures cannot delay them.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Argon2 verifications at once: each takes ~20 ms of CPU and 19 MiB of memory.
const RUNNING: usize = 2;
/// Verifications that may wait for a turn; more answer 429.
const WAITING: usize = 32;
/// How long failures are remembered and counted.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Failed verifications per key id, and per client address, within the window.
const FAILURES_PER_KEY: u32 = 10;
const FAILURES_PER_CLIENT: u32 = 30;

pub struct KeyGate {
    permits: Semaphore,
    waiting: AtomicUsize,
    /// Bearer digest → when it failed.
    failed: quick_cache::sync::Cache<[u8; 32], Instant>,
    per_key: quick_cache::sync::Cache<String, Window>,
    per_client: quick_cache::sync::Cache<IpAddr, Window>,
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Why the gate turned a request away before argon2.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This bearer value failed moments ago.
    KnownBad,
    /// Too many failures for the key id or the client, or the queue is full: retry after
    /// this many seconds.
    Wait(u64),
}

impl Default for KeyGate {
    fn default() -> Self {
        Self {
            permits: Semaphore::new(RUNNING),
            waiting: AtomicUsize::new(0),
            failed: quick_cache::sync::Cache::new(50_000),
            per_key: quick_cache::sync::Cache::new(10_000),
            per_client: quick_cache::sync::Cache::new(10_000),
        }
    }
}

/// A place in the queue, given back when dropped.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl KeyGate {
    /// Whether this bearer (by digest), key id and client may try argon2 now.
    pub fn admit(
        &self,
        digest: &[u8; 32],
        key_id: &str,
        client: Option<IpAddr>,
    ) -> Result<(), Refusal> {
        let now = Instant::now();
        if self
            .failed
            .get(digest)
            .is_some_and(|at| now - at < FAILURE_WINDOW)
        {
            return Err(Refusal::KnownBad);
        }
        let over = |w: Option<Window>, max: u32| {
            w.filter(|w| now - w.start < FAILURE_WINDOW && w.failures >= max)
                .map(|w| wait_secs(FAILURE_WINDOW - (now - w.start)))
        };
        if let Some(wait) = over(self.per_key.get(key_id), FAILURES_PER_KEY) {
            return Err(Refusal::Wait(wait));
        }
        if let Some(wait) =
            client.and_then(|ip| over(self.per_client.get(&ip), FAILURES_PER_CLIENT))
        {
            return Err(Refusal::Wait(wait));
        }
        Ok(())
    }

    /// A turn at argon2, waiting in a bounded queue; `Err` when the queue is full.
    pub async fn turn(&self) -> Result<SemaphorePermit<'_>, Refusal> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Wait(1));
        }
        let _queued = Queued(&self.waiting);
        self.permits.acquire().await.map_err(|_| Refusal::Wait(1))
    }

    /// Remembers a failed verification.
    pub fn failed(&self, digest: [u8; 32], key_id: &str, client: Option<IpAddr>) {
        let now = Instant::now();
        self.failed.insert(digest, now);
        let bump = |w: Option<Window>| match w {
            Some(w) if now - w.start < FAILURE_WINDOW => Window {
                failures: w.failures + 1,
                ..w
            },
            _ => Window {
                start: now,
                failures: 1,
            },
        };
        self.per_key
            .insert(key_id.to_owned(), bump(self.per_key.get(key_id)));
        if let Some(ip) = client {
            self.per_client.insert(ip, bump(self.per_client.get(&ip)));
        }
    }
}

fn wait_secs(left: Duration) -> u64 {
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_bearer_is_refused_without_argon2_and_a_key_id_locks_after_its_failures() {
        let gate = KeyGate::default();
        let client = Some(IpAddr::from([192, 0, 2, 1]));
        assert_eq!(gate.admit(&[1; 32], "key_a", client), Ok(()));
        gate.failed([1; 32], "key_a", client);
        assert_eq!(
            gate.admit(&[1; 32], "key_a", client),
            Err(Refusal::KnownBad)
        );
        for i in 2..=FAILURES_PER_KEY as u8 {
            gate.failed([i; 32], "key_a", client);
        }
        assert!(matches!(gate.admit(&[99; 32], "key_a", client), Err(Refusal::Wait(s)) if s <= 60));
        // Another tenant's key id from another client is not held up.
        assert_eq!(
            gate.admit(&[99; 32], "key_b", Some(IpAddr::from([192, 0, 2, 2]))),
            Ok(())
        );
    }

    #[test]
    fn one_client_s_failures_across_key_ids_lock_that_client_only() {
        let gate = KeyGate::default();
        let flood = Some(IpAddr::from([203, 0, 113, 9]));
        for i in 0..FAILURES_PER_CLIENT {
            gate.failed([i as u8; 32], &format!("key_{i}"), flood);
        }
        assert!(matches!(
            gate.admit(&[200; 32], "key_new", flood),
            Err(Refusal::Wait(_))
        ));
        assert_eq!(
            gate.admit(&[200; 32], "key_new", Some(IpAddr::from([203, 0, 113, 10]))),
            Ok(())
        );
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let gate = KeyGate::default();
        let mut held = Vec::new();
        for _ in 0..RUNNING {
            held.push(gate.turn().await.unwrap());
        }
        // Fill the queue with waiters that cannot get a turn yet.
        let waiting: Vec<_> = (0..WAITING).map(|_| Box::pin(gate.turn())).collect();
        let mut waiting = waiting;
        for w in &mut waiting {
            assert!(futures_util::poll!(w.as_mut()).is_pending());
        }
        assert_eq!(gate.turn().await.err(), Some(Refusal::Wait(1)));
        drop(waiting);
        drop(held);
        assert!(gate.turn().await.is_ok(), "places come back");
    }
}
