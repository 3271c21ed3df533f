//! The `checkpoints` table: signed chain heads, append-only like the chain itself.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use consentry_ledger::checkpoint::Checkpoint;

use super::schema::checkpoints;
use super::{DbConn, StoreError};
use crate::clock;
use crate::domain::ids::SenderId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkpoints)]
struct CheckpointRow {
    sender_id: String,
    seq: i64,
    hash: String,
    at: NaiveDateTime,
    key_id: String,
    signature: String,
}

impl From<CheckpointRow> for Checkpoint {
    fn from(row: CheckpointRow) -> Self {
        Checkpoint {
            sender_id: row.sender_id,
            after_seq: None,
            seq: row.seq,
            hash: row.hash,
            at: clock::rfc3339(row.at),
            key_id: row.key_id,
            algorithm: "Ed25519".into(),
            signature: row.signature,
        }
    }
}

/// Stores a head checkpoint (one per sender and seq; `at` must be `clock::rfc3339` of a
/// `clock::now()`, so it reads back as signed). Returns false when one exists already.
/// Call outside a transaction: on PostgreSQL a refused insert ends the transaction.
pub fn insert_checkpoint(
    conn: &mut DbConn,
    checkpoint: &Checkpoint,
    at: NaiveDateTime,
) -> Result<bool, StoreError> {
    let row = CheckpointRow {
        sender_id: checkpoint.sender_id.clone(),
        seq: checkpoint.seq,
        hash: checkpoint.hash.clone(),
        at,
        key_id: checkpoint.key_id.clone(),
        signature: checkpoint.signature.clone(),
    };
    match diesel::insert_into(checkpoints::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => Ok(true),
        // Another instance signed the same head first.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn find_checkpoint(
    conn: &mut DbConn,
    sender_id: &SenderId,
    seq: i64,
) -> Result<Option<Checkpoint>, StoreError> {
    Ok(checkpoints::table
        .find((sender_id, seq))
        .select(CheckpointRow::as_select())
        .load(conn)?
        .into_iter()
        .next()
        .map(Checkpoint::from))
}

/// A sender's checkpoints in seq order.
pub fn list_checkpoints(
    conn: &mut DbConn,
    sender_id: &SenderId,
) -> Result<Vec<Checkpoint>, StoreError> {
    Ok(checkpoints::table
        .filter(checkpoints::sender_id.eq(sender_id))
        .order(checkpoints::seq.asc())
        .select(CheckpointRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Checkpoint::from)
        .collect())
}
