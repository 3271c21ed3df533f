//! Setting a sender up: creating it with its chain head, and creating its API keys. The CLI
//! calls these; so do tests and benchmarks that seed data.

use secrecy::SecretString;

use crate::clock;
use crate::db::api_keys::{insert_api_key, ApiKeyRow};
use crate::db::senders::{find_sender, insert_sender, update_retention, Sender};
use crate::db::{ledger, write_transaction, DbConn, StoreError};
use crate::domain::api_key::{self, Role};
use crate::domain::ids::SenderId;
use crate::domain::sender::{SenderProfile, MIN_RETENTION_DAYS};
use crate::domain::standing::{Rules, Standing};

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no sender with id {0}")]
    UnknownSender(String),
    #[error("cannot hash key: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The standing a new sender starts in: what the rules give a new sender (probation, unless
/// the rules have no probation caps), or what the operator sets at creation.
pub struct StandingAtStart<'a> {
    pub rules: &'a Rules,
    pub set: Option<Standing>,
}

/// A new key: its id and the full secret, shown once.
pub struct CreatedKey {
    pub id: String,
    pub key: SecretString,
}

/// Stores a new sender with its chain head and returns its id; a retention other than the
/// minimum is set in the same transaction.
pub fn create_sender(
    conn: &mut DbConn,
    profile: SenderProfile,
    retention_days: i64,
    standing: &StandingAtStart<'_>,
) -> Result<SenderId, StoreError> {
    let sender = Sender {
        id: SenderId::new(),
        name: profile.name,
        legal_name: profile.legal_name,
        postal_address: profile.postal_address,
        contact: profile.contact,
        on_behalf_of: profile.on_behalf_of,
        jurisdiction: profile.jurisdiction,
        retention_days: MIN_RETENTION_DAYS,
        legal_hold: false,
        created_at: clock::now(),
    };
    write_transaction(conn, |conn| {
        insert_sender(conn, &sender)?;
        ledger::insert_chain_head(conn, &sender.id, sender.created_at)?;
        super::standing::start(
            conn,
            &sender.id,
            standing.rules,
            standing.set,
            sender.created_at,
        )?;
        if retention_days != MIN_RETENTION_DAYS {
            update_retention(conn, &sender.id, Some(retention_days), None)?;
        }
        Ok(())
    })?;
    Ok(sender.id)
}

/// Creates a key for an existing sender.
pub fn create_key(
    conn: &mut DbConn,
    sender_id: &SenderId,
    role: Role,
) -> Result<CreatedKey, KeyError> {
    if find_sender(conn, sender_id)?.is_none() {
        return Err(KeyError::UnknownSender(sender_id.to_string()));
    }
    let key = api_key::generate().map_err(|e| KeyError::Hash(e.to_string()))?;
    insert_api_key(
        conn,
        &ApiKeyRow {
            id: key.id.clone(),
            sender_id: sender_id.to_owned(),
            role: role.as_str().to_owned(),
            secret_hash: key.secret_hash,
            created_at: clock::now(),
            revoked_at: None,
        },
    )?;
    Ok(CreatedKey {
        id: key.id,
        key: key.full,
    })
}
