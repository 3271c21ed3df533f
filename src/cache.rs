//! In-memory caches of the request path: verified API keys and lists. Each is bounded and is
//! dropped whole when the database says it changed (`db::epochs`), which covers writes made
//! by the CLI and by other instances; local writes also drop it at once.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db::lists::ListWithTexts;
use crate::db::senders::Sender;
use crate::db::{api_keys, epochs, Db};
use crate::domain::api_key::Caller;
use crate::domain::ids::SenderId;

/// A bounded map whose clears bump a generation, so a value read from the database before a
/// clear is not put back after it.
pub struct Generational<K, V> {
    generation: AtomicU64,
    map: quick_cache::sync::Cache<K, V>,
}

impl<K: Eq + Hash + Clone, V: Clone> Generational<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            generation: AtomicU64::new(0),
            map: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// The cached value; `key` may be a borrowed form of `K` that hashes the same way.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
    {
        self.map.get(key)
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached value, or the one `load` produces, cached unless a clear intervened. While
    /// one caller loads a key, others asking for it wait for that result instead of loading
    /// it again (a burst of first requests with one API key runs argon2 once, not once per
    /// request). A failed load caches nothing; the next waiter tries itself.
    pub async fn get_or_load<E, F, Fut>(&self, key: K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let generation = self.generation();
        let guard = match self.map.get_value_or_guard_async(&key).await {
            Ok(value) => return Ok(value),
            Err(guard) => guard,
        };
        let value = load().await?;
        if self.generation() == generation {
            let _ = guard.insert(value.clone());
            if self.generation() != generation {
                self.map.remove(&key);
            }
        }
        Ok(value)
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map.clear();
    }

    /// Drops the values `stale` picks; as with a clear, a value being loaded meanwhile is
    /// not cached (it may have been read before what made these stale).
    pub fn evict(&self, stale: impl Fn(&V) -> bool) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map.retain(|_, value| !stale(value));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A borrowed `(sender id, slug)` key of [`Caches::lists`]: a hit on the request path
/// allocates nothing. Hashes as the owned tuple does (field after field).
#[derive(Hash)]
pub struct ListKey<'a>(pub &'a SenderId, pub &'a str);

impl quick_cache::Equivalent<(SenderId, String)> for ListKey<'_> {
    fn equivalent(&self, key: &(SenderId, String)) -> bool {
        *self.0 == key.0 && self.1 == key.1
    }
}

/// The caches one server process shares across its workers.
pub struct Caches {
    /// SHA-256 of the presented bearer value → who it is. Saves argon2 on every request.
    pub keys: Generational<[u8; 32], Arc<Caller>>,
    /// (sender id, slug) → list with its consent texts.
    pub lists: Generational<(SenderId, String), Arc<ListWithTexts>>,
    /// Sender id → the sender's legal identity (shown in every check answer).
    pub senders: Generational<SenderId, Arc<Sender>>,
    seen_epochs: Mutex<HashMap<String, i64>>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            keys: Generational::new(10_000),
            lists: Generational::new(10_000),
            senders: Generational::new(10_000),
            seen_epochs: Mutex::new(HashMap::new()),
        }
    }
}

/// What the verified keys need after an epoch poll.
#[derive(Debug, PartialEq, Eq)]
enum KeyCheck {
    Current,
    /// The first poll: nothing says which keys were revoked before it, so none are kept.
    ClearAll,
    /// Some key was revoked: evict the revoked ones, and only those.
    EvictRevoked,
}

impl Caches {
    /// Compares the database's epochs with the last ones seen; clears the lists when they
    /// changed and says what the keys need.
    fn apply_epochs(&self, current: Vec<(String, i64)>) -> KeyCheck {
        let Ok(mut seen) = self.seen_epochs.lock() else {
            return KeyCheck::ClearAll;
        };
        let mut keys = KeyCheck::Current;
        for (name, epoch) in current {
            let before = seen.insert(name.clone(), epoch);
            let changed = before.is_some_and(|old| old != epoch);
            match name.as_str() {
                epochs::API_KEYS if before.is_none() => keys = KeyCheck::ClearAll,
                epochs::API_KEYS if changed => keys = KeyCheck::EvictRevoked,
                epochs::LISTS if changed => self.lists.clear(),
                _ => {}
            }
        }
        keys
    }

    /// Drops the cached callers of these key ids; every other tenant's keys stay verified.
    fn evict_keys(&self, revoked: &HashSet<String>) {
        self.keys.evict(|caller| revoked.contains(&caller.key_id));
    }
}

/// Polls the epochs every `every` until the task is dropped. When the database cannot be
/// read, verified keys are dropped: a revocation made meanwhile must not be missed.
pub async fn watch_epochs(db: Db, caches: Arc<Caches>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let check = match db.run(epochs::load_epochs).await {
            Ok(current) => caches.apply_epochs(current),
            Err(error) => {
                tracing::warn!(%error, "cannot read cache epochs; dropping cached keys");
                KeyCheck::ClearAll
            }
        };
        match check {
            KeyCheck::Current => {}
            KeyCheck::ClearAll => caches.keys.clear(),
            KeyCheck::EvictRevoked => match db.run(api_keys::revoked_key_ids).await {
                Ok(revoked) => caches.evict_keys(&revoked),
                Err(error) => {
                    tracing::warn!(%error, "cannot read revoked keys; dropping cached keys");
                    caches.keys.clear();
                }
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    async fn load<V: Clone>(cache: &Generational<u8, V>, key: u8, value: V) -> V {
        let loaded = cache
            .get_or_load(key, || async { Ok::<_, ()>(value) })
            .await;
        loaded.unwrap_or_else(|()| unreachable!())
    }

    #[tokio::test]
    async fn a_value_loaded_across_a_clear_is_not_cached() {
        let cache: Generational<u8, u8> = Generational::new(10);
        let loaded = cache
            .get_or_load(1, || async {
                cache.clear();
                Ok::<_, ()>(1)
            })
            .await;
        assert_eq!(loaded, Ok(1));
        assert_eq!(cache.get(&1), None);
        assert_eq!(load(&cache, 1, 1).await, 1);
        assert_eq!(cache.get(&1), Some(1));
    }

    #[tokio::test]
    async fn a_list_cached_by_its_owned_key_is_found_by_the_borrowed_one() {
        let cache: Generational<(SenderId, String), u8> = Generational::new(10);
        let sender = SenderId::new();
        let loaded = cache
            .get_or_load((sender.clone(), "news".to_owned()), || async {
                Ok::<_, ()>(7)
            })
            .await;
        assert_eq!(loaded, Ok(7));
        assert_eq!(cache.get(&ListKey(&sender, "news")), Some(7));
        assert_eq!(cache.get(&ListKey(&sender, "other")), None);
        assert_eq!(cache.get(&ListKey(&SenderId::new(), "news")), None);
    }

    #[tokio::test]
    async fn a_failed_load_caches_nothing() {
        let cache: Generational<u8, u8> = Generational::new(10);
        let failed = cache
            .get_or_load(1, || async { Err::<u8, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
        assert!(cache.is_empty());
    }

    /// Loads `key` with a loader that counts its calls and yields once, so that concurrent
    /// callers really overlap.
    async fn counted(cache: &Generational<u8, u8>, key: u8, value: u8, calls: &AtomicU64) -> u8 {
        let loaded = cache
            .get_or_load(key, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok::<_, ()>(value)
            })
            .await;
        loaded.unwrap_or_else(|()| unreachable!())
    }

    #[tokio::test]
    async fn a_loaded_value_is_cached_and_not_loaded_again() {
        let cache: Generational<u8, u8> = Generational::new(10);
        let calls = AtomicU64::new(0);
        assert_eq!(counted(&cache, 1, 1, &calls).await, 1);
        // A second load would answer 2: the cached 1 must win, without calling it.
        assert_eq!(counted(&cache, 1, 2, &calls).await, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(&1), Some(1));
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn concurrent_first_requests_load_once() {
        let cache: Generational<u8, u8> = Generational::new(10);
        let calls = AtomicU64::new(0);
        let (a, b) = tokio::join!(counted(&cache, 1, 1, &calls), counted(&cache, 1, 2, &calls));
        assert_eq!((a, b), (1, 1));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn after_a_failed_load_the_next_one_loads_and_is_cached() {
        let cache: Generational<u8, u8> = Generational::new(10);
        let failed = cache
            .get_or_load(1, || async { Err::<u8, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
        let calls = AtomicU64::new(0);
        assert_eq!(counted(&cache, 1, 7, &calls).await, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get(&1), Some(7));
    }

    #[tokio::test]
    async fn a_clear_drops_every_value_and_later_loads_are_cached_again() {
        let cache: Generational<u8, u8> = Generational::new(10);
        assert_eq!(load(&cache, 1, 1).await, 1);
        assert_eq!(load(&cache, 2, 2).await, 2);
        assert_eq!(cache.len(), 2);
        cache.clear();
        assert!(cache.is_empty());
        assert_eq!(cache.get(&1), None);
        let calls = AtomicU64::new(0);
        assert_eq!(counted(&cache, 1, 3, &calls).await, 3);
        assert_eq!(cache.get(&1), Some(3));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// Caches holding one key and one list.
    async fn filled_caches() -> Caches {
        let caches = Caches::default();
        let caller = Arc::new(Caller::for_tests());
        let cached = caches
            .keys
            .get_or_load([0; 32], || async { Ok::<_, ()>(caller) })
            .await;
        assert!(cached.is_ok());
        let list = Arc::new(ListWithTexts::for_tests());
        let slug = (SenderId::new(), "l".to_owned());
        let cached = caches
            .lists
            .get_or_load(slug, || async { Ok::<_, ()>(list) })
            .await;
        assert!(cached.is_ok());
        assert_eq!((caches.keys.len(), caches.lists.len()), (1, 1));
        caches
    }

    #[tokio::test]
    async fn the_first_poll_drops_earlier_keys_and_unchanged_epochs_change_nothing() {
        let caches = filled_caches().await;
        let first = caches.apply_epochs(vec![("api_keys".into(), 4), ("lists".into(), 9)]);
        assert_eq!(first, KeyCheck::ClearAll);
        assert_eq!(caches.lists.len(), 1, "lists seen for the first time stay");
        let again = caches.apply_epochs(vec![("api_keys".into(), 4), ("lists".into(), 9)]);
        assert_eq!(again, KeyCheck::Current);
        assert_eq!((caches.keys.len(), caches.lists.len()), (1, 1));
    }

    #[tokio::test]
    async fn a_revocation_evicts_the_revoked_key_only() {
        let caches = Caches::default();
        let keep = Arc::new(Caller::for_tests());
        let mut revoked = Caller::for_tests();
        revoked.key_id = "revoked".into();
        let revoked = Arc::new(revoked);
        let loaded = caches
            .keys
            .get_or_load([1; 32], || async { Ok::<_, ()>(keep) });
        assert!(loaded.await.is_ok());
        let loaded = caches
            .keys
            .get_or_load([2; 32], || async { Ok::<_, ()>(revoked) });
        assert!(loaded.await.is_ok());

        caches.evict_keys(&HashSet::from(["revoked".to_owned()]));

        assert!(caches.keys.get(&[1; 32]).is_some());
        assert!(caches.keys.get(&[2; 32]).is_none());
    }

    #[tokio::test]
    async fn a_changed_list_epoch_clears_only_the_lists() {
        let caches = filled_caches().await;
        caches.apply_epochs(vec![("api_keys".into(), 0), ("lists".into(), 0)]);
        caches.apply_epochs(vec![("api_keys".into(), 0), ("lists".into(), 1)]);
        assert_eq!(caches.keys.len(), 1);
        assert!(caches.lists.is_empty());
    }

    #[tokio::test]
    async fn a_changed_epoch_clears_only_its_cache() {
        let caches = Caches::default();
        caches.apply_epochs(vec![("api_keys".into(), 0), ("lists".into(), 0)]);
        let key = [0; 32];
        let caller = Arc::new(Caller::for_tests());
        let cached = caches
            .keys
            .get_or_load(key, || async { Ok::<_, ()>(caller) })
            .await;
        assert!(cached.is_ok());
        let list = Arc::new(ListWithTexts::for_tests());
        let slug = (SenderId::new(), "l".to_owned());
        let cached = caches
            .lists
            .get_or_load(slug, || async { Ok::<_, ()>(list) })
            .await;
        assert!(cached.is_ok());
        let check = caches.apply_epochs(vec![("api_keys".into(), 1), ("lists".into(), 0)]);
        assert_eq!(check, KeyCheck::EvictRevoked);
        assert_eq!(caches.lists.len(), 1);
    }
}
