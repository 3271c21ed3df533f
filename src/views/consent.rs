//! A consent record as the API shows it: its fields, its list, its address (until erased)
//! and its events with their personal data.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::clock;
use crate::db::ledger::{self, EventWithPii};
use crate::db::{consents as store, lists, subscriptions, DbConn, StoreError};
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::ledger::PiiRecord;
use crate::domain::status::ConsentStatus;

#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub(crate) seq: i64,
    pub(crate) kind: String,
    pub(crate) at: String,
    #[schema(value_type = Object)]
    pub(crate) data: Value,
    /// The personal data recorded with the event (`email`, `ip`, `user_agent`, `note`,
    /// `salt`); `null` when none was recorded or it was erased.
    #[schema(value_type = Option<Object>)]
    pub(crate) pii: Option<PiiRecord>,
    pub(crate) pii_sha256: Option<String>,
    /// The event's hash in the sender's chain.
    pub(crate) hash: String,
}

impl From<EventWithPii> for EventView {
    fn from((event, pii): EventWithPii) -> Self {
        Self {
            seq: event.seq,
            kind: event.kind,
            at: clock::rfc3339(event.at),
            data: serde_json::from_str(&event.data).unwrap_or(Value::Null),
            pii: pii.and_then(|p| p.record()),
            pii_sha256: event.pii_sha256,
            hash: event.hash,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    pub(crate) id: ConsentId,
    pub(crate) list: String,
    /// `null` once erased.
    pub(crate) email: Option<String>,
    pub(crate) status: String,
    pub(crate) locale: String,
    pub(crate) consent_text_sha256: String,
    pub(crate) evidence_sha256: String,
    pub(crate) requested_at: String,
    pub(crate) confirmed_at: Option<String>,
    pub(crate) unsubscribed_at: Option<String>,
    /// When the request ended: unsubscribed, refused, expired or erased.
    pub(crate) ended_at: Option<String>,
    pub(crate) expires_at: String,
    pub(crate) collection_method: String,
    pub(crate) source_url: Option<String>,
    /// When its personal data was erased (on request or after retention).
    pub(crate) minimised_at: Option<String>,
    pub(crate) events: Vec<EventView>,
}

impl ConsentView {
    /// The list's slug.
    pub fn list(&self) -> &str {
        &self.list
    }
}

/// A consent of this sender with its events; `None` if it has no such consent.
pub fn consent_view(
    conn: &mut DbConn,
    sender_id: &SenderId,
    id: &ConsentId,
) -> Result<Option<ConsentView>, StoreError> {
    let Some(consent) = store::find_consent(conn, sender_id, id)? else {
        return Ok(None);
    };
    let email = subscriptions::find_subscription_by_id(conn, &consent.subscription_id)?
        .and_then(|s| s.email);
    let list = lists::find_list_by_id(conn, &consent.list_id)?
        .map(|l| l.slug)
        .unwrap_or_default();
    let events = ledger::events_for_consent(conn, sender_id, id)?
        .into_iter()
        .map(EventView::from)
        .collect();
    let ended = consent
        .ended_at
        .filter(|_| consent.status == ConsentStatus::Unsubscribed);
    Ok(Some(ConsentView {
        id: consent.id,
        list,
        email,
        status: consent.status.to_string(),
        locale: consent.locale,
        consent_text_sha256: consent.consent_text_sha256,
        evidence_sha256: consent.evidence_sha256,
        requested_at: clock::rfc3339(consent.requested_at),
        confirmed_at: consent.confirmed_at.map(clock::rfc3339),
        unsubscribed_at: ended.map(clock::rfc3339),
        ended_at: consent.ended_at.map(clock::rfc3339),
        expires_at: clock::rfc3339(consent.expires_at),
        collection_method: consent.collection_method,
        source_url: consent.source_url,
        minimised_at: consent.minimised_at.map(clock::rfc3339),
        events,
    }))
}
