//! The `events`, `event_pii` and `chain_heads` tables: the append-only per-sender hash chain.
//! Appends lock the sender's chain head (a row lock on PostgreSQL; SQLite has one writer),
//! so two instances never fork a chain. Nothing here updates or deletes an event (triggers
//! refuse it); only the personal data beside an event can be erased.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::activity::{hour_of, Counts};
use super::schema::{chain_heads, event_pii, events};
use super::{DbConn, StoreError};
use crate::clock;
use crate::domain::address_hash::ledger_subject_key;
use crate::domain::event_kind::EventKind;
use crate::domain::ids::{ConsentId, SenderId};
use consentry_ledger::chain::{chain_hash, ChainedFields, GENESIS_HASH};
use consentry_ledger::pii::{Pii, PiiRecord};

pub use rows::{EventRow, EventWithPii, NewEvent, PiiRow};

mod append_pg;
mod rows;

/// Creates a sender's chain head; called when the sender is created.
pub fn insert_chain_head(
    conn: &mut DbConn,
    sender_id: &SenderId,
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

/// Locks and reads the chain head (seq, hash): `SELECT ... FOR UPDATE` on PostgreSQL; on
/// SQLite the surrounding `BEGIN IMMEDIATE` already holds the only write lock. Call inside a
/// write transaction.
pub fn lock_head(conn: &mut DbConn, sender_id: &SenderId) -> Result<(i64, String), StoreError> {
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

/// The chain head (seq, hash) as last committed, without a lock.
pub fn head(conn: &mut DbConn, sender_id: &SenderId) -> Result<Option<(i64, String)>, StoreError> {
    Ok(chain_heads::table
        .find(sender_id)
        .select((chain_heads::seq, chain_heads::hash))
        .load(conn)?
        .into_iter()
        .next())
}

/// Every chain head past genesis: (sender id, seq, hash).
pub fn heads(conn: &mut DbConn) -> Result<Vec<(SenderId, i64, String)>, StoreError> {
    Ok(chain_heads::table
        .filter(chain_heads::seq.gt(0))
        .select((chain_heads::sender_id, chain_heads::seq, chain_heads::hash))
        .load(conn)?)
}

/// Appends one event to the sender's chain. Call inside a write transaction; callers that
/// record product events go through [`record_event`], which also queues webhooks. `counts`
/// are added to the sender's activity of the hour in the same transaction.
pub fn append_event(
    conn: &mut DbConn,
    sender_id: &SenderId,
    event: NewEvent<'_>,
    at: NaiveDateTime,
    counts: &Counts,
) -> Result<EventRow, StoreError> {
    let head = lock_head(conn, sender_id)?;
    append_after(conn, sender_id, head, event, at, counts)
}

/// Appends `event` after `(head_seq, prev_hash)`, the head as [`lock_head`] read it or the
/// previous append of the same transaction left it.
fn append_after(
    conn: &mut DbConn,
    sender_id: &SenderId,
    (head_seq, prev_hash): (i64, String),
    event: NewEvent<'_>,
    at: NaiveDateTime,
    counts: &Counts,
) -> Result<EventRow, StoreError> {
    let seq = head_seq + 1;
    let id = event.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let pii = event.pii.map(Pii::salted);
    let pii_sha256 = pii.as_ref().map(PiiRecord::sha256);
    let at_text = clock::rfc3339(at);
    // The chain never carries the lookup key itself, which is the same at every sender.
    let subject_key = event
        .subject_key
        .map(|address_key| ledger_subject_key(sender_id.as_str(), address_key));
    let fields = ChainedFields {
        sender_id: sender_id.as_str(),
        seq,
        id: &id,
        at: &at_text,
        kind: event.kind.as_str(),
        consent_id: event.consent_id.map(ConsentId::as_str),
        list: event.list_slug,
        subject_key: subject_key.as_deref(),
        data: &event.data,
        pii_sha256: pii_sha256.as_deref(),
    };
    let hash = chain_hash(&prev_hash, &fields.canonical());
    let row = EventRow::new(&fields, at, prev_hash, hash);
    if let DbConn::Postgres(pg) = conn {
        append_pg::AppendOnPg::new(&row, pii.as_ref(), hour_of(at), counts).execute(pg)?;
        return Ok(row);
    }
    // On the backend's own connection, so these are cached statements (every event of
    // every flow passes here); the head's UPDATE is one of ours, as diesel never caches one.
    crate::on_backend!(conn, |c| diesel::insert_into(events::table)
        .values(&row)
        .execute(c))?;
    if let Some(pii) = pii {
        let values = (
            event_pii::event_id.eq(&row.id),
            event_pii::email.eq(pii.email),
            event_pii::ip.eq(pii.ip),
            event_pii::user_agent.eq(pii.user_agent),
            event_pii::note.eq(pii.note),
            event_pii::salt.eq(pii.salt),
        );
        crate::on_backend!(conn, |c| diesel::insert_into(event_pii::table)
            .values(values)
            .execute(c))?;
    }
    let head = crate::db::cached_writes::AdvanceHead {
        sender_id: sender_id.as_str(),
        seq,
        hash: &row.hash,
        at,
    };
    crate::on_backend!(conn, |c| head.execute(c))?;
    super::activity::add(conn, sender_id, at, counts)?;
    Ok(row)
}

/// Up to `limit` events with `after_seq < seq <= through_seq`, in chain order, with their
/// personal data: one page of an export or a verification.
pub fn events_page(
    conn: &mut DbConn,
    sender_id: &SenderId,
    after_seq: i64,
    through_seq: i64,
    limit: i64,
) -> Result<Vec<EventWithPii>, StoreError> {
    // Built once per backend: a select clause is typed by the backend it is for.
    Ok(crate::on_backend!(conn, |c| events::table
        .left_join(event_pii::table)
        .filter(events::sender_id.eq(sender_id))
        .filter(events::seq.gt(after_seq))
        .filter(events::seq.le(through_seq))
        .order(events::seq.asc())
        .limit(limit)
        .select((EventRow::as_select(), Option::<PiiRow>::as_select()))
        .load(c))?)
}

/// A consent's events in chain order, with their personal data, scoped to the sender.
pub fn events_for_consent(
    conn: &mut DbConn,
    sender_id: &SenderId,
    consent_id: &ConsentId,
) -> Result<Vec<EventWithPii>, StoreError> {
    Ok(events::table
        .left_join(event_pii::table)
        .filter(events::sender_id.eq(sender_id))
        .filter(events::consent_id.eq(consent_id))
        .order(events::seq.asc())
        .select((EventRow::as_select(), Option::<PiiRow>::as_select()))
        .load(conn)?)
}

/// One event of the sender with its personal data.
pub fn find_event(
    conn: &mut DbConn,
    sender_id: &SenderId,
    id: &str,
) -> Result<Option<EventWithPii>, StoreError> {
    Ok(events::table
        .left_join(event_pii::table)
        .filter(events::id.eq(id))
        .filter(events::sender_id.eq(sender_id))
        .select((EventRow::as_select(), Option::<PiiRow>::as_select()))
        .load(conn)?
        .into_iter()
        .next())
}

/// The hash of the event at `seq`, if it exists.
pub fn hash_at(
    conn: &mut DbConn,
    sender_id: &SenderId,
    seq: i64,
) -> Result<Option<String>, StoreError> {
    Ok(events::table
        .filter(events::sender_id.eq(sender_id))
        .filter(events::seq.eq(seq))
        .select(events::hash)
        .load(conn)?
        .into_iter()
        .next())
}

/// When the latest event of `kind` for a consent happened.
pub fn last_event_at(
    conn: &mut DbConn,
    consent_id: &ConsentId,
    kind: EventKind,
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

/// Erases the personal data beside every event of these consents (the events and their
/// `pii_sha256` stay). Returns how many records were erased now.
pub fn erase_pii_of_consents(
    conn: &mut DbConn,
    sender_id: &SenderId,
    consent_ids: &[ConsentId],
    at: NaiveDateTime,
) -> Result<usize, StoreError> {
    let event_ids = events::table
        .filter(events::sender_id.eq(sender_id))
        .filter(events::consent_id.eq_any(consent_ids))
        .select(events::id);
    Ok(diesel::update(
        event_pii::table
            .filter(event_pii::event_id.eq_any(event_ids))
            .filter(event_pii::erased_at.is_null()),
    )
    .set((
        event_pii::email.eq(None::<String>),
        event_pii::ip.eq(None::<String>),
        event_pii::user_agent.eq(None::<String>),
        event_pii::note.eq(None::<String>),
        event_pii::salt.eq(None::<String>),
        event_pii::erased_at.eq(at),
    ))
    .execute(conn)?)
}

/// Appends an event to the sender's chain and, in the same transaction, queues a webhook
/// delivery when the sender subscribed to its kind. Call inside a write transaction.
pub fn record_event(
    conn: &mut DbConn,
    sender_id: &SenderId,
    event: NewEvent<'_>,
    now: NaiveDateTime,
) -> Result<EventRow, StoreError> {
    let appended = record_events(conn, sender_id, vec![event], now)?;
    Ok(appended
        .into_iter()
        .next()
        .ok_or(diesel::result::Error::NotFound)?)
}

/// Appends events of one sender, in order, under one lock of its chain head, as
/// [`record_event`] would one by one. On PostgreSQL the head's lock is held until the
/// commit and the sender's other appends wait for it, so whether the webhook wants each
/// event is asked before it, and each event after the first costs one round trip inside it.
pub fn record_events(
    conn: &mut DbConn,
    sender_id: &SenderId,
    events: Vec<NewEvent<'_>>,
    now: NaiveDateTime,
) -> Result<Vec<EventRow>, StoreError> {
    let mut wanted: Vec<(EventKind, bool)> = Vec::new();
    let mut announce = Vec::with_capacity(events.len());
    for event in &events {
        let wants = match wanted.iter().find(|(kind, _)| *kind == event.kind) {
            Some(&(_, wants)) => wants,
            None => {
                let wants = super::webhooks::wants(conn, sender_id, event.kind.as_str())?;
                wanted.push((event.kind, wants));
                wants
            }
        };
        announce.push(wants);
    }
    let mut head = lock_head(conn, sender_id)?;
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let counts = super::activity::counts_of(event.kind, &event.data);
        let row = append_after(conn, sender_id, head, event, now, &counts)?;
        head = (row.seq, row.hash.clone());
        rows.push(row);
    }
    for (row, _) in rows.iter().zip(announce).filter(|(_, wants)| *wants) {
        super::webhooks::enqueue(conn, row, now)?;
    }
    Ok(rows)
}
