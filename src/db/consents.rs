//! The `consents` table: each double opt-in attempt with its claimed evidence. A re-signup
//! after an unsubscribe is a new consent on the same subscription.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::consents;
use super::{DbConn, StoreError};
use crate::domain::ids::{ConsentId, ListId, SenderId, SubscriptionId};
use crate::domain::status::ConsentStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct ConsentRow {
    pub id: ConsentId,
    pub sender_id: SenderId,
    pub list_id: ListId,
    pub subscription_id: SubscriptionId,
    pub status: ConsentStatus,
    pub locale: String,
    pub consent_text_sha256: String,
    pub collection_method: String,
    pub source_url: Option<String>,
    pub collected_at: Option<NaiveDateTime>,
    pub evidence_sha256: String,
    pub client_ip_key: Option<String>,
    /// Keyed hash of the claimed client IP's network (/24, /48), for the one-network signal.
    pub network_key: Option<String>,
    pub nonce: String,
    /// Confirmation mails enqueued for this consent.
    pub mail_count: i64,
    /// When the last confirmation mail was enqueued.
    pub last_mailed_at: Option<NaiveDateTime>,
    pub requested_at: NaiveDateTime,
    pub confirmed_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub expires_at: NaiveDateTime,
    /// When its personal data was erased (on request or after retention).
    pub minimised_at: Option<NaiveDateTime>,
}

/// A consent of this sender (another sender's id is "not found").
pub fn find_consent(
    conn: &mut DbConn,
    sender_id: &SenderId,
    id: &ConsentId,
) -> Result<Option<ConsentRow>, StoreError> {
    let rows: Vec<ConsentRow> = crate::on_backend!(conn, |c| consents::table
        .find(id)
        .filter(consents::sender_id.eq(sender_id))
        .select(ConsentRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().next())
}

/// A consent by id alone: for links, where the signed token is the authority.
pub fn find_consent_by_id(
    conn: &mut DbConn,
    id: &ConsentId,
) -> Result<Option<ConsentRow>, StoreError> {
    let rows: Vec<ConsentRow> = crate::on_backend!(conn, |c| consents::table
        .find(id)
        .select(ConsentRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().next())
}

pub fn insert_consent(conn: &mut DbConn, row: &ConsentRow) -> Result<(), StoreError> {
    let query = diesel::insert_into(consents::table).values(row);
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Moves a consent to `status`; `confirmed` sets `confirmed_at`, an end state sets `ended_at`.
pub fn set_consent_status(
    conn: &mut DbConn,
    id: &ConsentId,
    status: ConsentStatus,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let target = consents::table.find(id);
    if status == ConsentStatus::Confirmed {
        let query = diesel::update(target)
            .set((consents::status.eq(status), consents::confirmed_at.eq(at)));
        crate::on_backend!(conn, |c| query.execute(c))?;
    } else {
        let query =
            diesel::update(target).set((consents::status.eq(status), consents::ended_at.eq(at)));
        crate::on_backend!(conn, |c| query.execute(c))?;
    }
    Ok(())
}

/// Records that a confirmation mail was enqueued.
pub fn note_mail_enqueued(
    conn: &mut DbConn,
    id: &ConsentId,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let statement = super::cached_writes::NoteMailEnqueued {
        consent_id: id.as_str(),
        at,
    };
    crate::on_backend!(conn, |c| statement.execute(c))?;
    Ok(())
}

/// A resend: a new nonce (old links stop working) and a new expiry.
pub fn rotate_nonce(
    conn: &mut DbConn,
    id: &ConsentId,
    nonce: &str,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    let query = diesel::update(consents::table.find(id)).set((
        consents::nonce.eq(nonce),
        consents::expires_at.eq(expires_at),
    ));
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Consents of one sender and claimed client IP that had mail enqueued since `since`.
pub fn count_mailed_from_ip(
    conn: &mut DbConn,
    sender_id: &SenderId,
    client_ip_key: &str,
    since: NaiveDateTime,
) -> Result<i64, StoreError> {
    let query = consents::table
        .filter(consents::sender_id.eq(sender_id))
        .filter(consents::client_ip_key.eq(client_ip_key))
        .filter(consents::requested_at.gt(since))
        .filter(consents::mail_count.gt(0))
        .count();
    Ok(crate::on_backend!(conn, |c| query.get_result(c))?)
}

/// Pending consents whose time ran out, oldest first.
pub fn due_expiries(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<ConsentRow>, StoreError> {
    Ok(crate::on_backend!(conn, |c| consents::table
        .filter(consents::status.eq(ConsentStatus::Pending))
        .filter(consents::expires_at.le(now))
        .order(consents::expires_at.asc())
        .limit(limit)
        .select(ConsentRow::as_select())
        .load(c))?)
}

/// Every consent of a subscription, oldest first.
pub fn consents_of_subscription(
    conn: &mut DbConn,
    subscription_id: &SubscriptionId,
) -> Result<Vec<ConsentRow>, StoreError> {
    Ok(crate::on_backend!(conn, |c| consents::table
        .filter(consents::subscription_id.eq(subscription_id))
        .order(consents::requested_at.asc())
        .select(ConsentRow::as_select())
        .load(c))?)
}

/// Ended consents of a sender whose personal data is still kept although they ended before
/// `cutoff`, oldest first.
pub fn due_for_minimising(
    conn: &mut DbConn,
    sender_id: &SenderId,
    cutoff: NaiveDateTime,
    limit: i64,
) -> Result<Vec<ConsentRow>, StoreError> {
    Ok(crate::on_backend!(conn, |c| consents::table
        .filter(consents::sender_id.eq(sender_id))
        .filter(consents::minimised_at.is_null())
        .filter(consents::ended_at.lt(cutoff))
        .filter(consents::status.eq_any([
            ConsentStatus::Unsubscribed,
            ConsentStatus::Expired,
            ConsentStatus::Refused,
        ]))
        .order(consents::ended_at.asc())
        .limit(limit)
        .select(ConsentRow::as_select())
        .load(c))?)
}

/// Records that the consent's personal data is being erased; false if that was recorded
/// before (the update waits for a concurrent eraser's row lock, then finds it done).
pub fn mark_minimised(
    conn: &mut DbConn,
    id: &ConsentId,
    at: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        consents::table
            .find(id)
            .filter(consents::minimised_at.is_null()),
    )
    .set(consents::minimised_at.eq(at))
    .execute(conn)?
        == 1)
}
