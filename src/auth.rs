//! Who is calling: an API key turned into a `Caller`. Argon2 runs once per key until the key
//! cache is dropped; afterwards a check is a SHA-256 and a map lookup.

use std::sync::Arc;

use crate::cache::Caches;
use crate::db::{api_keys, Db, StoreError};
use crate::domain::api_key::{cache_digest, PresentedKey, Role};

pub use crate::domain::api_key::Caller;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing, malformed, unknown or revoked API key")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Argon2 verifications running at once: each takes ~20 ms of CPU and 19 MiB of memory,
/// so a burst of bad keys queues here instead of exhausting the machine.
static ARGON2_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Resolves a bearer value to a caller, from the cache or by verifying it against storage.
pub async fn authenticate(
    db: &Db,
    caches: &Caches,
    bearer: &str,
) -> Result<Arc<Caller>, AuthError> {
    let digest = cache_digest(bearer);
    if let Some(caller) = caches.keys.get(&digest) {
        return Ok(caller);
    }
    let presented = PresentedKey::parse(bearer).ok_or(AuthError::Invalid)?;
    caches
        .keys
        .get_or_load(digest, || verify(db, presented))
        .await
}

async fn verify(db: &Db, presented: PresentedKey) -> Result<Arc<Caller>, AuthError> {
    let id = presented.id().to_owned();
    let row = db
        .run(move |conn| api_keys::find_api_key(conn, &id))
        .await?
        .filter(|row| row.revoked_at.is_none())
        .ok_or(AuthError::Invalid)?;
    let role = Role::parse(&row.role).ok_or(AuthError::Invalid)?;
    let _permit = ARGON2_PERMITS
        .acquire()
        .await
        .map_err(|_| StoreError::Cancelled)?;
    // Off the reactor, and without holding a pooled connection.
    let hash = row.secret_hash.clone();
    let verified = tokio::task::spawn_blocking(move || presented.verify(&hash))
        .await
        .map_err(|_| StoreError::Cancelled)?;
    if !verified {
        return Err(AuthError::Invalid);
    }
    Ok(Arc::new(Caller {
        key_id: row.id,
        sender_id: row.sender_id,
        role,
    }))
}
