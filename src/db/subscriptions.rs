//! The `subscriptions` table: one row per (sender, list, address key) with the state of the
//! address on that list and what a compliance check answers from (copied from the current
//! consent, so a check reads this one row).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::consents::ConsentRow;
use super::schema::subscriptions;
use super::{DbConn, StoreError};
use crate::domain::ids::{ConsentId, ListId, SenderId, SubscriptionId};
use crate::domain::status::SubscriptionStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionRow {
    pub id: SubscriptionId,
    pub sender_id: SenderId,
    pub list_id: ListId,
    pub address_key: String,
    pub abuse_key: String,
    pub email: Option<String>,
    pub status: SubscriptionStatus,
    pub current_consent_id: ConsentId,
    /// Of the current consent.
    pub confirmed_at: Option<NaiveDateTime>,
    /// Of the current consent.
    pub evidence_sha256: String,
    pub updated_at: NaiveDateTime,
}

/// Takes, for the rest of the transaction, the lock of one address on one list: every state
/// change of that subscription and its consents (signup, confirm, refuse, unsubscribe,
/// expiry, erasure) runs one after another across PostgreSQL instances, and the rows read
/// after it are the rows the change starts from. Taken before the subscription is read, it
/// also covers one that does not exist yet (two first signups at once). On SQLite write
/// transactions are serialised already. Returns whether it had to lock.
pub fn lock_subject(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_key: &str,
) -> Result<bool, StoreError> {
    let DbConn::Postgres(pg) = conn else {
        return Ok(false);
    };
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0)) IS NULL")
        .bind::<diesel::sql_types::Text, _>(format!(
            "subscription {sender_id} {list_id} {address_key}"
        ))
        .execute(pg)?;
    Ok(true)
}

diesel::define_sql_function! {
    /// SQLite's `unhex`: the bytes of a hex string (the first key of the index
    /// `subscriptions_check`).
    fn unhex(text: diesel::sql_types::Text) -> diesel::sql_types::Nullable<diesel::sql_types::Binary>;
}

/// The 32 bytes an address key stands for, as the SQLite index on `unhex(address_key)` holds
/// them; `None` for a key that is not 64 lower-case hex digits (none is: keys are HMAC-SHA256
/// in lower-case hex). Decoded here rather than by the `hex` crate, whose general decoder was
/// 5 % of a batch check's server time at 1,000,000 subscriptions (`perf`).
pub(super) fn key_bytes(address_key: &str) -> Option<[u8; 32]> {
    let digits: &[u8; 64] = address_key.as_bytes().try_into().ok()?;
    let mut bytes = [0u8; 32];
    // Branch-free: any digit that is not lower-case hex sets a high bit in `bad`.
    let mut bad = 0u8;
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        bad |= high | low;
        *byte = (high << 4) | (low & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(bytes)
}

/// The value of each lower-case hex digit; 0xff for every other byte.
const NIBBLE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

pub fn find_subscription(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_key: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let rows: Vec<SubscriptionRow> = crate::on_backend!(conn, |c| subscriptions::table
        .filter(subscriptions::sender_id.eq(sender_id))
        .filter(subscriptions::list_id.eq(list_id))
        .filter(subscriptions::address_key.eq(address_key))
        .select(SubscriptionRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().next())
}

/// Every subscription of an address with one sender (all lists).
pub fn subscriptions_of_address(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_key: &str,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    let of_sender = subscriptions::table.filter(subscriptions::sender_id.eq(sender_id));
    Ok(match (conn, key_bytes(address_key)) {
        (DbConn::Sqlite(c), Some(bytes)) => of_sender
            .filter(unhex(subscriptions::address_key).eq(&bytes[..]))
            .select(SubscriptionRow::as_select())
            .load(c)?,
        (conn, _) => of_sender
            .filter(subscriptions::address_key.eq(address_key))
            .select(SubscriptionRow::as_select())
            .load(conn)?,
    })
}

pub fn find_subscription_by_id(
    conn: &mut DbConn,
    id: &SubscriptionId,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let rows: Vec<SubscriptionRow> = crate::on_backend!(conn, |c| subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().next())
}

pub fn insert_subscription(conn: &mut DbConn, row: &SubscriptionRow) -> Result<(), StoreError> {
    let query = diesel::insert_into(subscriptions::table).values(row);
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Points an existing subscription at a new consent (a new double opt-in).
pub fn point_subscription(
    conn: &mut DbConn,
    id: &SubscriptionId,
    consent: &ConsentRow,
    email: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let query = diesel::update(subscriptions::table.find(id)).set((
        subscriptions::status.eq(consent.status.subscription_status()),
        subscriptions::current_consent_id.eq(&consent.id),
        subscriptions::confirmed_at.eq(consent.confirmed_at),
        subscriptions::evidence_sha256.eq(&consent.evidence_sha256),
        subscriptions::email.eq(email),
        subscriptions::updated_at.eq(at),
    ));
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Marks a subscription confirmed by its current consent.
pub fn confirm_subscription(
    conn: &mut DbConn,
    id: &SubscriptionId,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::status.eq(SubscriptionStatus::Confirmed),
            subscriptions::confirmed_at.eq(at),
            subscriptions::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves a subscription to an end state (its consent ended).
pub fn end_subscription(
    conn: &mut DbConn,
    id: &SubscriptionId,
    status: SubscriptionStatus,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::status.eq(status),
            subscriptions::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes the subscription's plaintext address, ending it as `unsubscribed` if it was still
/// pending or confirmed (an erased address cannot be mailed). The keyed hash stays.
pub fn erase_address(
    conn: &mut DbConn,
    id: &SubscriptionId,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(subscriptions::table.find(id))
        .set(subscriptions::email.eq(None::<String>))
        .execute(conn)?;
    diesel::update(subscriptions::table.find(id).filter(
        subscriptions::status.eq_any([SubscriptionStatus::Pending, SubscriptionStatus::Confirmed]),
    ))
    .set((
        subscriptions::status.eq(SubscriptionStatus::Unsubscribed),
        subscriptions::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(())
}
