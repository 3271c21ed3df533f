//! `POST /v1/unsubscribes`: opt-outs the sender received another way (reply mail, phone,
//! letter), for one list or every list of the sender.

use chrono::NaiveDateTime;
use serde_json::json;

use super::end_consent;
use crate::db::consents;
use crate::db::ledger::NewEvent;
use crate::db::{DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::{ListId, SenderId};
use crate::domain::ledger::Pii;
use crate::domain::status::{ConsentStatus, SubscriptionStatus};

pub struct OptOut<'a> {
    pub sender_id: &'a SenderId,
    pub address_key: &'a str,
    pub email: &'a str,
    /// `None`: every list of the sender.
    pub list_id: Option<&'a ListId>,
    pub channel: &'a str,
    pub received_at: NaiveDateTime,
    pub note: Option<String>,
}

/// Unsubscribes the address; returns the ids of the lists it is now unsubscribed from
/// (including those it had left before). Call inside a write transaction.
pub fn record(
    conn: &mut DbConn,
    opt_out: &OptOut<'_>,
    now: NaiveDateTime,
) -> Result<Vec<ListId>, StoreError> {
    let subs =
        super::locked_subscriptions_of_address(conn, opt_out.sender_id, opt_out.address_key)?;
    let mut lists = Vec::new();
    for sub in subs
        .iter()
        .filter(|s| opt_out.list_id.is_none_or(|l| *l == s.list_id))
    {
        if sub.status.is_live() {
            let Some(current) = consents::find_consent_by_id(conn, &sub.current_consent_id)? else {
                continue;
            };
            let event = NewEvent {
                consent_id: Some(&current.id),
                subject_key: Some(opt_out.address_key),
                pii: Some(Pii {
                    email: Some(opt_out.email.to_owned()),
                    note: opt_out.note.clone(),
                    ..Pii::default()
                }),
                ..NewEvent::new(
                    EventKind::Unsubscribed,
                    json!({ "channel": opt_out.channel, "received_at": crate::clock::rfc3339(opt_out.received_at) }),
                )
            };
            end_consent(conn, &current, ConsentStatus::Unsubscribed, event, now)?;
        }
        if matches!(
            sub.status,
            SubscriptionStatus::Confirmed
                | SubscriptionStatus::Pending
                | SubscriptionStatus::Unsubscribed
        ) {
            lists.push(sub.list_id.clone());
        }
    }
    Ok(lists)
}
