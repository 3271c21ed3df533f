//! The `subscriptions` and `consents` tables: the current state of an address on a list, and
//! each double opt-in attempt with its claimed evidence.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{consents, subscriptions};
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionRow {
    pub id: String,
    pub sender_id: String,
    pub list_id: String,
    pub address_key: String,
    pub abuse_key: String,
    pub email: Option<String>,
    pub status: String,
    pub current_consent_id: String,
    /// Of the current consent.
    pub confirmed_at: Option<NaiveDateTime>,
    /// Of the current consent.
    pub evidence_sha256: String,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct ConsentRow {
    pub id: String,
    pub sender_id: String,
    pub list_id: String,
    pub subscription_id: String,
    pub status: String,
    pub locale: String,
    pub consent_text_sha256: String,
    pub collection_method: String,
    pub source_url: Option<String>,
    pub collected_at: Option<NaiveDateTime>,
    pub evidence_sha256: String,
    pub client_ip_key: Option<String>,
    pub nonce: String,
    /// Confirmation mails enqueued for this consent.
    pub mail_count: i64,
    /// When the last confirmation mail was enqueued.
    pub last_mailed_at: Option<NaiveDateTime>,
    pub requested_at: NaiveDateTime,
    pub confirmed_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
}

pub fn find_subscription(
    conn: &mut DbConn,
    sender_id: &str,
    list_id: &str,
    address_key: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    Ok(subscriptions::table
        .filter(subscriptions::sender_id.eq(sender_id))
        .filter(subscriptions::list_id.eq(list_id))
        .filter(subscriptions::address_key.eq(address_key))
        .select(SubscriptionRow::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

/// Every subscription of an address with one sender (all lists).
pub fn subscriptions_of_address(
    conn: &mut DbConn,
    sender_id: &str,
    address_key: &str,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    Ok(subscriptions::table
        .filter(subscriptions::sender_id.eq(sender_id))
        .filter(subscriptions::address_key.eq(address_key))
        .select(SubscriptionRow::as_select())
        .load(conn)?)
}

pub fn find_subscription_by_id(
    conn: &mut DbConn,
    id: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    Ok(subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

pub fn insert_subscription(conn: &mut DbConn, row: &SubscriptionRow) -> Result<(), StoreError> {
    diesel::insert_into(subscriptions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Points an existing subscription at a new consent (a new double opt-in).
pub fn point_subscription(
    conn: &mut DbConn,
    id: &str,
    consent: &ConsentRow,
    email: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::status.eq(&consent.status),
            subscriptions::current_consent_id.eq(&consent.id),
            subscriptions::confirmed_at.eq(consent.confirmed_at),
            subscriptions::evidence_sha256.eq(&consent.evidence_sha256),
            subscriptions::email.eq(email),
            subscriptions::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a subscription confirmed by its current consent.
pub fn confirm_subscription(
    conn: &mut DbConn,
    id: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::status.eq("confirmed"),
            subscriptions::confirmed_at.eq(at),
            subscriptions::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves a subscription to an end state (its consent ended).
pub fn end_subscription(
    conn: &mut DbConn,
    id: &str,
    status: &str,
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

/// A consent of this sender (another sender's id is "not found").
pub fn find_consent(
    conn: &mut DbConn,
    sender_id: &str,
    id: &str,
) -> Result<Option<ConsentRow>, StoreError> {
    Ok(consents::table
        .find(id)
        .filter(consents::sender_id.eq(sender_id))
        .select(ConsentRow::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

/// A consent by id alone: for links, where the signed token is the authority.
pub fn find_consent_by_id(conn: &mut DbConn, id: &str) -> Result<Option<ConsentRow>, StoreError> {
    Ok(consents::table
        .find(id)
        .select(ConsentRow::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

pub fn insert_consent(conn: &mut DbConn, row: &ConsentRow) -> Result<(), StoreError> {
    diesel::insert_into(consents::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Moves a consent to `status`; `confirmed` sets `confirmed_at`, an end state sets `ended_at`.
pub fn set_consent_status(
    conn: &mut DbConn,
    id: &str,
    status: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let target = consents::table.find(id);
    if status == "confirmed" {
        diesel::update(target)
            .set((consents::status.eq(status), consents::confirmed_at.eq(at)))
            .execute(conn)?;
    } else {
        diesel::update(target)
            .set((consents::status.eq(status), consents::ended_at.eq(at)))
            .execute(conn)?;
    }
    Ok(())
}

/// Records that a confirmation mail was enqueued.
pub fn note_mail_enqueued(
    conn: &mut DbConn,
    id: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(consents::table.find(id))
        .set((
            consents::mail_count.eq(consents::mail_count + 1),
            consents::last_mailed_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A resend: a new nonce (old links stop working) and a new expiry.
pub fn rotate_nonce(
    conn: &mut DbConn,
    id: &str,
    nonce: &str,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(consents::table.find(id))
        .set((
            consents::nonce.eq(nonce),
            consents::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Consents of one sender and claimed client IP that had mail enqueued since `since`.
pub fn count_mailed_from_ip(
    conn: &mut DbConn,
    sender_id: &str,
    client_ip_key: &str,
    since: NaiveDateTime,
) -> Result<i64, StoreError> {
    Ok(consents::table
        .filter(consents::sender_id.eq(sender_id))
        .filter(consents::client_ip_key.eq(client_ip_key))
        .filter(consents::requested_at.gt(since))
        .filter(consents::mail_count.gt(0))
        .count()
        .get_result(conn)?)
}

/// Pending consents whose time ran out, oldest first.
pub fn due_expiries(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<ConsentRow>, StoreError> {
    Ok(consents::table
        .filter(consents::status.eq("pending"))
        .filter(consents::expires_at.le(now))
        .order(consents::expires_at.asc())
        .limit(limit)
        .select(ConsentRow::as_select())
        .load(conn)?)
}

/// What a compliance check needs about one subscription.
#[derive(Debug, Clone, Queryable)]
pub struct CheckRow {
    pub address_key: String,
    pub status: String,
    pub consent_id: String,
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

pub fn check_one(
    conn: &mut DbConn,
    sender_id: &str,
    list_id: &str,
    address_key: &str,
) -> Result<Option<CheckRow>, StoreError> {
    let query = subscriptions::table
        .filter(subscriptions::sender_id.eq(sender_id))
        .filter(subscriptions::list_id.eq(list_id))
        .filter(subscriptions::address_key.eq(address_key))
        .select(CHECK_COLUMNS);
    // `load`, not `first`: a bound LIMIT makes SQLite re-prepare the statement on every
    // execution (measured), and the unique index yields at most one row anyway.
    let rows: Vec<CheckRow> = crate::on_backend!(conn, |c| query.load(c))?;
    Ok(rows.into_iter().next())
}

/// The rows for many address keys at once (a batch check's chunk).
pub fn check_many(
    conn: &mut DbConn,
    sender_id: &str,
    list_id: &str,
    address_keys: &[String],
) -> Result<Vec<CheckRow>, StoreError> {
    let query = subscriptions::table
        .filter(subscriptions::sender_id.eq(sender_id))
        .filter(subscriptions::list_id.eq(list_id))
        .filter(subscriptions::address_key.eq_any(address_keys))
        .select(CHECK_COLUMNS);
    Ok(crate::on_backend!(conn, |c| query.load(c))?)
}
