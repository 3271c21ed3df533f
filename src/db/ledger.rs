//! The `events`, `event_pii` and `chain_heads` tables: the append-only per-sender hash chain.
//! Appends lock the sender's chain head (a row lock on PostgreSQL; SQLite has one writer),
//! so two instances never fork a chain. Nothing here updates or deletes an event.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use super::schema::{chain_heads, event_pii, events};
use super::{DbConn, StoreError};
use crate::clock;
use crate::domain::ledger::{chain_hash, ChainedFields, Pii, GENESIS_HASH};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: String,
    pub sender_id: String,
    pub seq: i64,
    pub at: NaiveDateTime,
    pub kind: String,
    pub consent_id: Option<String>,
    pub list_slug: Option<String>,
    pub subject_key: Option<String>,
    pub data: String,
    pub pii_sha256: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// An event to append.
pub struct NewEvent<'a> {
    /// Preassigned id (a batch check names its receipt before the stream ends).
    pub id: Option<String>,
    pub kind: &'a str,
    pub consent_id: Option<&'a str>,
    pub list_slug: Option<&'a str>,
    pub subject_key: Option<&'a str>,
    pub data: Value,
    pub pii: Option<Pii>,
}

impl<'a> NewEvent<'a> {
    pub fn new(kind: &'a str, data: Value) -> Self {
        Self {
            id: None,
            kind,
            consent_id: None,
            list_slug: None,
            subject_key: None,
            data,
            pii: None,
        }
    }
}

/// Creates a sender's chain head; called when the sender is created.
pub fn insert_chain_head(
    conn: &mut DbConn,
    sender_id: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::insert_into(chain_heads::table)
        .values((
            chain_heads::sender_id.eq(sender_id),
            chain_heads::seq.eq(0),
            chain_heads::hash.eq(GENESIS_HASH),
            chain_heads::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Locks and reads the chain head: `SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the
/// surrounding `BEGIN IMMEDIATE` already holds the only write lock.
fn lock_head(conn: &mut DbConn, sender_id: &str) -> Result<(i64, String), StoreError> {
    let query = chain_heads::table
        .find(sender_id)
        .select((chain_heads::seq, chain_heads::hash));
    Ok(match conn {
        DbConn::Postgres(pg) => query.for_update().first(pg)?,
        DbConn::Sqlite(lite) => query
            .load(lite)?
            .into_iter()
            .next()
            .ok_or(diesel::result::Error::NotFound)?,
    })
}

/// Appends one event to the sender's chain. Call inside a write transaction.
pub fn append_event(
    conn: &mut DbConn,
    sender_id: &str,
    event: NewEvent<'_>,
    at: NaiveDateTime,
) -> Result<EventRow, StoreError> {
    let (head_seq, prev_hash) = lock_head(conn, sender_id)?;
    let seq = head_seq + 1;
    let id = event.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let pii_sha256 = event.pii.as_ref().map(Pii::sha256);
    let at_text = clock::rfc3339(at);
    let canonical = ChainedFields {
        sender_id,
        seq,
        id: &id,
        at: &at_text,
        kind: event.kind,
        consent_id: event.consent_id,
        list: event.list_slug,
        subject_key: event.subject_key,
        data: &event.data,
        pii_sha256: pii_sha256.as_deref(),
    }
    .canonical();
    let row = EventRow {
        hash: chain_hash(&prev_hash, &canonical),
        id,
        sender_id: sender_id.to_owned(),
        seq,
        at,
        kind: event.kind.to_owned(),
        consent_id: event.consent_id.map(str::to_owned),
        list_slug: event.list_slug.map(str::to_owned),
        subject_key: event.subject_key.map(str::to_owned),
        data: event.data.to_string(),
        pii_sha256,
        prev_hash,
    };
    diesel::insert_into(events::table)
        .values(&row)
        .execute(conn)?;
    if let Some(pii) = event.pii {
        diesel::insert_into(event_pii::table)
            .values((
                event_pii::event_id.eq(&row.id),
                event_pii::email.eq(pii.email),
                event_pii::ip.eq(pii.ip),
                event_pii::user_agent.eq(pii.user_agent),
                event_pii::note.eq(pii.note),
            ))
            .execute(conn)?;
    }
    diesel::update(chain_heads::table.find(sender_id))
        .set((
            chain_heads::seq.eq(seq),
            chain_heads::hash.eq(&row.hash),
            chain_heads::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(row)
}

/// A consent's events in chain order, scoped to the sender.
pub fn events_for_consent(
    conn: &mut DbConn,
    sender_id: &str,
    consent_id: &str,
) -> Result<Vec<EventRow>, StoreError> {
    Ok(events::table
        .filter(events::sender_id.eq(sender_id))
        .filter(events::consent_id.eq(consent_id))
        .order(events::seq.asc())
        .select(EventRow::as_select())
        .load(conn)?)
}

/// When the latest event of `kind` for a consent happened.
pub fn last_event_at(
    conn: &mut DbConn,
    consent_id: &str,
    kind: &str,
) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(events::table
        .filter(events::consent_id.eq(consent_id))
        .filter(events::kind.eq(kind))
        .order(events::seq.desc())
        .select(events::at)
        .load(conn)?
        .into_iter()
        .next())
}
