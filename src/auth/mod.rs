//! Who is calling: an API key turned into a `Caller`. Argon2 runs once per key until the key
//! leaves the cache; afterwards a check is a SHA-256 and a map lookup. Keys not yet verified
//! pass the [`gate::KeyGate`] first.

pub mod gate;

use std::net::IpAddr;
use std::sync::Arc;

use crate::cache::Caches;
use crate::db::{api_keys, Db, StoreError};
use crate::domain::api_key::{cache_digest, PresentedKey, Role};
use gate::{KeyGate, Refusal};

pub use crate::domain::api_key::Caller;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing, malformed, unknown or revoked API key")]
    Invalid,
    #[error("too many failed or waiting key verifications; retry after {0} s")]
    Throttled(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves a bearer value to a caller, from the cache or by verifying it against storage;
/// `client` is the address failures are counted against.
pub async fn authenticate(
    db: &Db,
    caches: &Caches,
    gate: &KeyGate,
    bearer: &str,
    client: Option<IpAddr>,
) -> Result<Arc<Caller>, AuthError> {
    let digest = cache_digest(bearer);
    if let Some(caller) = caches.keys.get(&digest) {
        return Ok(caller);
    }
    let presented = PresentedKey::parse(bearer).ok_or(AuthError::Invalid)?;
    let key_id = presented.id().to_owned();
    gate.admit(&digest, &key_id, client)?;
    let verified = caches
        .keys
        .get_or_load(digest, || verify(db, gate, presented))
        .await;
    if matches!(verified, Err(AuthError::Invalid)) {
        gate.failed(digest, &key_id, client);
    }
    verified
}

/// A bearer value that failed moments ago is as invalid as ever; a throttled one may retry.
impl From<Refusal> for AuthError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::KnownBad => AuthError::Invalid,
            Refusal::Wait(seconds) => AuthError::Throttled(seconds),
        }
    }
}

async fn verify(
    db: &Db,
    gate: &KeyGate,
    presented: PresentedKey,
) -> Result<Arc<Caller>, AuthError> {
    let id = presented.id().to_owned();
    let row = db
        .run(move |conn| api_keys::find_api_key(conn, &id))
        .await?
        .filter(|row| row.revoked_at.is_none())
        .ok_or(AuthError::Invalid)?;
    let role = Role::parse(&row.role).ok_or(AuthError::Invalid)?;
    let _turn = gate.turn().await?;
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
