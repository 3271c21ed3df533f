//! The `complaints` and `sent_mails` tables: each complaint a sender received (the report
//! only as its digest), and the Message-ID of every confirmation mail handed to the relay,
//! so that a complaint about a confirmation mail finds its consent.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{complaints, sent_mails};
use super::{DbConn, StoreError};
use crate::domain::complaint::{ComplaintAction, ComplaintSource, FeedbackType, MailKind};
use crate::domain::ids::{ConsentId, SenderId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = complaints)]
pub struct ComplaintRow {
    pub id: String,
    pub sender_id: SenderId,
    pub consent_id: Option<ConsentId>,
    pub mail_kind: MailKind,
    pub feedback_type: FeedbackType,
    pub source: ComplaintSource,
    pub action: ComplaintAction,
    pub report_sha256: String,
    pub received_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// Stores a complaint. Call inside a write transaction, after [`find_by_report`].
pub fn insert_complaint(conn: &mut DbConn, row: &ComplaintRow) -> Result<(), StoreError> {
    diesel::insert_into(complaints::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The sender's complaint made from this very report, if it was sent before.
pub fn find_by_report(
    conn: &mut DbConn,
    sender_id: &SenderId,
    report_sha256: &str,
) -> Result<Option<ComplaintRow>, StoreError> {
    Ok(complaints::table
        .filter(complaints::sender_id.eq(sender_id))
        .filter(complaints::report_sha256.eq(report_sha256))
        .select(ComplaintRow::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

/// Remembers the Message-ID of a confirmation mail handed to the relay.
pub fn insert_sent_mail(
    conn: &mut DbConn,
    message_id: &str,
    sender_id: &SenderId,
    consent_id: &ConsentId,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    let row = (
        sent_mails::message_id.eq(message_id),
        sent_mails::sender_id.eq(sender_id),
        sent_mails::consent_id.eq(consent_id),
        sent_mails::sent_at.eq(at),
    );
    // A mail sent again after a lost answer keeps its Message-ID.
    crate::on_backend!(conn, |c| diesel::insert_into(sent_mails::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// The consent a confirmation mail was for, found by its Message-ID (`<id@domain>`), and the
/// sender it was sent for; `sender_id` narrows it to one sender (`None`: the operator's view).
pub fn consent_of_message(
    conn: &mut DbConn,
    message_id: &str,
    sender_id: Option<&SenderId>,
) -> Result<Option<(SenderId, ConsentId)>, StoreError> {
    let mut query = sent_mails::table
        .filter(sent_mails::message_id.eq(message_id))
        .select((sent_mails::sender_id, sent_mails::consent_id))
        .into_boxed();
    if let Some(sender_id) = sender_id {
        query = query.filter(sent_mails::sender_id.eq(sender_id));
    }
    Ok(query.load(conn)?.into_iter().next())
}
