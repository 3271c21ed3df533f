//! Turns at long-running work (exports, whole-chain verifications, batch checks) shared
//! fairly between senders: each sender holds at most a few at once, and the instance at most
//! a total. One sender using every turn it has leaves the others theirs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::ids::SenderId;

pub struct Permits {
    total: Arc<Semaphore>,
    per_sender: usize,
    held: Mutex<HashMap<SenderId, usize>>,
}

/// One turn; given back when dropped (when the response has been streamed or abandoned).
pub struct Permit {
    _total: OwnedSemaphorePermit,
    sender_id: SenderId,
    owner: Arc<Permits>,
}

impl Permits {
    pub fn new(total: usize, per_sender: usize) -> Arc<Self> {
        Arc::new(Self {
            total: Arc::new(Semaphore::new(total.max(1))),
            per_sender: per_sender.max(1),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A turn for this sender, or `None` when it holds all of its own or the instance is full.
    pub fn try_acquire(self: &Arc<Self>, sender_id: &SenderId) -> Option<Permit> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(sender_id.clone()).or_insert(0);
        if *count >= self.per_sender {
            return None;
        }
        let total = self.total.clone().try_acquire_owned().ok()?;
        *count += 1;
        Some(Permit {
            _total: total,
            sender_id: sender_id.clone(),
            owner: self.clone(),
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        count_down(&self.owner.held, &self.sender_id);
    }
}

/// Takes one off `key`'s count and forgets the key at zero, so the map holds only keys in use.
pub fn count_down<K: Eq + std::hash::Hash>(counts: &Mutex<HashMap<K, usize>>, key: &K) {
    let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn one_sender_s_turns_leave_the_others_theirs() {
        let permits = Permits::new(3, 2);
        let (a, b) = (SenderId::new(), SenderId::new());
        let first = permits.try_acquire(&a).unwrap();
        let _second = permits.try_acquire(&a).unwrap();
        assert!(permits.try_acquire(&a).is_none(), "a holds all of its own");
        let _for_b = permits.try_acquire(&b).unwrap();
        assert!(permits.try_acquire(&b).is_none(), "the instance is full");
        drop(first);
        assert!(
            permits.try_acquire(&a).is_some(),
            "a turn comes back when dropped"
        );
    }
}
