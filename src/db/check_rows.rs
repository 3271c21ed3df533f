//! The reads a compliance check makes: the check row of one address or of many (a group of
//! single checks, a batch chunk), and for a batch only the status and consent.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::subscriptions;
use super::subscriptions::{key_bytes, unhex};
use super::{DbConn, StoreError};
use crate::domain::ids::{ConsentId, ListId, SenderId};
use crate::domain::status::SubscriptionStatus;

/// What a compliance check needs about one subscription.
#[derive(Debug, Clone, Queryable)]
pub struct CheckRow {
    pub address_key: String,
    pub status: SubscriptionStatus,
    pub consent_id: ConsentId,
    #[diesel(deserialize_as = super::stored_time::StoredTime)]
    pub confirmed_at: Option<NaiveDateTime>,
    pub evidence_sha256: String,
}

type CheckColumns = (
    subscriptions::address_key,
    subscriptions::status,
    subscriptions::current_consent_id,
    subscriptions::confirmed_at,
    subscriptions::evidence_sha256,
);

const CHECK_COLUMNS: CheckColumns = (
    subscriptions::address_key,
    subscriptions::status,
    subscriptions::current_consent_id,
    subscriptions::confirmed_at,
    subscriptions::evidence_sha256,
);

/// SQLite: the sender's subscription on the list whose key has these bytes. By the key's
/// bytes alone SQLite takes the check's covering index (see its migration); the bytes stand
/// for exactly one key, so the row is the one the key names.
#[diesel::dsl::auto_type(no_type_alias)]
fn by_key_bytes<'a>(sender_id: &'a SenderId, list_id: &'a ListId, bytes: &'a [u8]) -> _ {
    let on_list: OnList<'a> = on_list(sender_id, list_id);
    on_list.filter(unhex(subscriptions::address_key).eq(bytes))
}

/// The sender's subscriptions on the list, which each lookup narrows by the address key.
type OnList<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<
        subscriptions::table,
        diesel::dsl::Eq<subscriptions::sender_id, &'a SenderId>,
    >,
    diesel::dsl::Eq<subscriptions::list_id, &'a ListId>,
>;

fn on_list<'a>(sender_id: &'a SenderId, list_id: &'a ListId) -> OnList<'a> {
    subscriptions::table
        .filter(subscriptions::sender_id.eq(sender_id))
        .filter(subscriptions::list_id.eq(list_id))
}

/// A [`CheckRow`] without its key, as the covering index holds it: the key's text is not in
/// the index (only its bytes), and reading it would send SQLite to the table for every check.
#[derive(Queryable)]
struct CoveredRow {
    status: SubscriptionStatus,
    consent_id: ConsentId,
    #[diesel(deserialize_as = super::stored_time::StoredTime)]
    confirmed_at: Option<NaiveDateTime>,
    evidence_sha256: String,
}

pub fn check_one(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_key: &str,
) -> Result<Option<CheckRow>, StoreError> {
    // `load`, not `first`: a bound LIMIT makes SQLite re-prepare the statement on every
    // execution (measured), and the key yields at most one row anyway.
    let rows: Vec<CheckRow> = match (conn, key_bytes(address_key)) {
        (DbConn::Sqlite(c), Some(bytes)) => {
            let covered: Vec<CoveredRow> = by_key_bytes(sender_id, list_id, &bytes[..])
                .select((
                    subscriptions::status,
                    subscriptions::current_consent_id,
                    subscriptions::confirmed_at,
                    subscriptions::evidence_sha256,
                ))
                .load(c)?;
            covered
                .into_iter()
                .map(|row| CheckRow {
                    address_key: address_key.to_owned(),
                    status: row.status,
                    consent_id: row.consent_id,
                    confirmed_at: row.confirmed_at,
                    evidence_sha256: row.evidence_sha256,
                })
                .collect()
        }
        (conn, _) => {
            let query = on_list(sender_id, list_id)
                .filter(subscriptions::address_key.eq(address_key))
                .select(CHECK_COLUMNS);
            crate::on_backend!(conn, |c| query.load(c))?
        }
    };
    Ok(rows.into_iter().next())
}

/// The rows for many address keys at once (a batch check's chunk, a group of single checks),
/// in the order of `address_keys`: `None` where a key has no subscription on the list.
pub fn check_many(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_keys: &[String],
) -> Result<Vec<Option<CheckRow>>, StoreError> {
    let DbConn::Postgres(pg) = conn else {
        // On SQLite one cached point lookup per key, all in one read transaction: an `IN`
        // list is prepared afresh for every chunk and sorted into a temporary index first,
        // where a prepared lookup by index takes a few microseconds.
        return super::snapshot(conn, |conn| {
            address_keys
                .iter()
                .map(|key| check_one(conn, sender_id, list_id, key))
                .collect()
        });
    };
    let query = super::key_lookups::CheckKeys {
        sender_id,
        list_id,
        keys: address_keys,
    };
    let by_key: std::collections::HashMap<String, CheckRow> = query
        .load::<CheckRow>(pg)?
        .into_iter()
        .map(|row| (row.address_key.clone(), row))
        .collect();
    // Cloned, not taken: a key may be asked twice.
    Ok(address_keys
        .iter()
        .map(|key| by_key.get(key).cloned())
        .collect())
}

/// What a batch answer needs about one subscription: its state and current consent. Half
/// the columns of [`CheckRow`], and no text copied but the consent id: on SQLite reading the
/// whole check row was a tenth of a batch's server time at 1,000,000 subscriptions.
#[derive(Debug, Clone, Queryable)]
pub struct StatusRow {
    pub status: SubscriptionStatus,
    pub consent_id: ConsentId,
}

impl From<CheckRow> for StatusRow {
    fn from(row: CheckRow) -> Self {
        Self {
            status: row.status,
            consent_id: row.consent_id,
        }
    }
}

/// [`check_many`] for a batch: the status rows of `address_keys`, in their order. On
/// PostgreSQL the one query for all keys reads the check rows (the round trip, not the row,
/// is what costs there).
pub fn status_many(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_keys: &[String],
) -> Result<Vec<Option<StatusRow>>, StoreError> {
    if let DbConn::Postgres(_) = conn {
        let rows = check_many(conn, sender_id, list_id, address_keys)?;
        return Ok(rows
            .into_iter()
            .map(|row| row.map(StatusRow::from))
            .collect());
    }
    super::snapshot(conn, |conn| {
        address_keys
            .iter()
            .map(|key| status_one(conn, sender_id, list_id, key))
            .collect()
    })
}

/// SQLite: one status row by the key's bytes, as [`check_one`] reads its row.
fn status_one(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_key: &str,
) -> Result<Option<StatusRow>, StoreError> {
    let (DbConn::Sqlite(c), Some(bytes)) = (&mut *conn, key_bytes(address_key)) else {
        return Ok(check_one(conn, sender_id, list_id, address_key)?.map(StatusRow::from));
    };
    let rows: Vec<StatusRow> = by_key_bytes(sender_id, list_id, &bytes[..])
        .select((subscriptions::status, subscriptions::current_consent_id))
        .load(c)?;
    Ok(rows.into_iter().next())
}
