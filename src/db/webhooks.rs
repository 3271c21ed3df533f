//! The `webhooks` table (one endpoint per sender) and the queueing of deliveries into the
//! outbox, in the transaction of the event they announce.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ledger::EventRow;
use super::outbox::{self, OutboxRow};
use super::schema::{outbox as outbox_table, webhooks};
use super::{DbConn, StoreError};
use crate::domain::ids::SenderId;
use crate::domain::job_kind::{OutboxKind, OutboxStatus};
use crate::domain::webhook::EVENT_KINDS;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub sender_id: SenderId,
    pub url: String,
    /// JSON array of event kinds.
    pub events: String,
    pub secret: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl WebhookRow {
    pub fn kinds(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }
}

pub fn find_webhook(
    conn: &mut DbConn,
    sender_id: &SenderId,
) -> Result<Option<WebhookRow>, StoreError> {
    let rows: Vec<WebhookRow> = crate::on_backend!(conn, |c| webhooks::table
        .find(sender_id)
        .select(WebhookRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().next())
}

/// Creates or replaces the sender's endpoint (the last of two concurrent writes wins).
pub fn save_webhook(conn: &mut DbConn, row: &WebhookRow) -> Result<(), StoreError> {
    crate::on_backend!(conn, |c| diesel::insert_into(webhooks::table)
        .values(row)
        .on_conflict(webhooks::sender_id)
        .do_update()
        .set((
            webhooks::url.eq(&row.url),
            webhooks::events.eq(&row.events),
            webhooks::secret.eq(&row.secret),
            webhooks::updated_at.eq(row.updated_at),
        ))
        .execute(c))?;
    Ok(())
}

/// Removes the endpoint and its undelivered jobs; returns whether there was one.
pub fn delete_webhook(conn: &mut DbConn, sender_id: &SenderId) -> Result<bool, StoreError> {
    diesel::delete(
        outbox_table::table
            .filter(outbox_table::kind.eq(OutboxKind::Webhook))
            .filter(outbox_table::sender_id.eq(sender_id))
            .filter(outbox_table::status.eq(OutboxStatus::Queued)),
    )
    .execute(conn)?;
    Ok(diesel::delete(webhooks::table.find(sender_id)).execute(conn)? > 0)
}

/// Whether the sender's webhook announces events of `kind`. Asked before the event is
/// appended: on PostgreSQL the append holds the sender's chain head until commit, and this
/// lookup need not happen inside that window.
pub fn wants(conn: &mut DbConn, sender_id: &SenderId, kind: &str) -> Result<bool, StoreError> {
    if !EVENT_KINDS.contains(&kind) {
        return Ok(false);
    }
    Ok(find_webhook(conn, sender_id)?.is_some_and(|hook| hook.kinds().iter().any(|k| k == kind)))
}

/// Queues the delivery of `event` to the sender's webhook (see [`wants`]). The job carries
/// only the event id: the body is built at delivery time, so an erasure reaches queued jobs
/// too.
pub fn enqueue(conn: &mut DbConn, event: &EventRow, now: NaiveDateTime) -> Result<(), StoreError> {
    let payload = serde_json::json!({ "event_id": event.id }).to_string();
    let job = OutboxRow::new(
        OutboxKind::Webhook,
        &event.sender_id,
        event.consent_id.as_ref(),
        None,
        payload,
        now,
    );
    outbox::enqueue(conn, &job)
}

/// Delivery state of a sender's webhook jobs: (queued, failed for good, latest error).
pub fn delivery_stats(
    conn: &mut DbConn,
    sender_id: &SenderId,
) -> Result<(i64, i64, Option<String>), StoreError> {
    let mine = || {
        outbox_table::table
            .filter(outbox_table::kind.eq(OutboxKind::Webhook))
            .filter(outbox_table::sender_id.eq(sender_id))
    };
    let queued = mine()
        .filter(outbox_table::status.eq(OutboxStatus::Queued))
        .count()
        .get_result(conn)?;
    let failed = mine()
        .filter(outbox_table::status.eq(OutboxStatus::Failed))
        .count()
        .get_result(conn)?;
    let last_error = mine()
        .filter(outbox_table::last_error.is_not_null())
        .order(outbox_table::next_attempt_at.desc())
        .select(outbox_table::last_error)
        .limit(1)
        .load::<Option<String>>(conn)?
        .into_iter()
        .next()
        .flatten();
    Ok((queued, failed, last_error))
}
