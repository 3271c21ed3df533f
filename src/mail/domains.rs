//! Turns per recipient domain: of the mails in flight, at most a few go to one domain at once,
//! so a burst of signups at one provider cannot flood it (and get the service throttled there)
//! while mail to every other domain keeps flowing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct DomainTurns {
    per_domain: usize,
    domains: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl DomainTurns {
    pub fn new(per_domain: usize) -> Self {
        Self {
            per_domain: per_domain.max(1),
            domains: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a turn at the domain of `address` (lower-cased; the whole text when it has
    /// no `@`).
    pub async fn turn(&self, address: &str) -> Option<OwnedSemaphorePermit> {
        let domain = address
            .rsplit_once('@')
            .map_or(address, |(_, d)| d)
            .to_ascii_lowercase();
        let semaphore = {
            let mut domains = self.domains.lock().unwrap_or_else(|p| p.into_inner());
            // Forget domains nobody holds a turn at, so the map stays as small as the traffic.
            domains
                .retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < self.per_domain);
            domains
                .entry(domain)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_domain)))
                .clone()
        };
        semaphore.acquire_owned().await.ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_domain_waits_while_another_goes_on() {
        let turns = DomainTurns::new(2);
        let _a = turns.turn("a@example.jp").await.unwrap();
        let _b = turns.turn("b@EXAMPLE.jp").await.unwrap();
        let third = turns.turn("c@example.jp");
        tokio::pin!(third);
        assert!(
            futures_util::poll!(third.as_mut()).is_pending(),
            "example.jp is full"
        );
        assert!(
            turns.turn("d@example.com").await.is_some(),
            "another domain goes on"
        );
        drop(_a);
        assert!(third.await.is_some(), "a turn comes back");
    }
}
