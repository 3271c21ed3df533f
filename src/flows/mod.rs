//! The product's workflows, each one storage transaction: signup, the recipient's link
//! actions, opt-outs, resend and expiry, checks and their receipts, list, webhook, sender
//! and key set-up. Handlers and the CLI parse input into domain types and call these; these
//! call the table modules and append ledger events. They know nothing of HTTP.

pub mod check;
pub mod complaints;
pub mod consents;
pub mod erasure;
pub mod export;
pub mod links;
pub mod lists;
pub mod optout;
pub mod pages;
pub mod pending;
pub mod setup;
pub mod signup;
pub mod standing;
pub mod subject_requests;
pub mod webhook;

use chrono::NaiveDateTime;

use crate::config::FlowSettings;
use crate::db::consents::{self as consent_rows, ConsentRow};
use crate::db::ledger::NewEvent;
use crate::db::outbox::{self, OutboxRow};
use crate::db::subscriptions::{self, SubscriptionRow};
use crate::db::{suppressions, DbConn};
use crate::domain::conflict::Conflict;
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::job_kind::OutboxKind;
use crate::domain::status::ConsentStatus;

/// The error type of flows and views: callers map it without naming the storage layer.
pub use crate::db::StoreError;

/// Why a flow did not happen: nothing to act on, a conflict with the current state, or
/// storage failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("no such resource")]
    NotFound,
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to the confirmation mail of a request (the API's `confirmation` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    Queued,
    Throttled,
    Suppressed,
    NotNeeded,
}

/// Why a confirmation mail was not sent although the address may receive one (the API's
/// `throttle_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleReason {
    /// The cross-sender cap of confirmation mails per address per 24 h.
    AddressCap,
    /// The sender's cap of mailed signups per claimed client IP per hour.
    ClientIpCap,
    /// The sender is on probation and has queued its daily cap of confirmation mails.
    ProbationCap,
    /// The sender's standing is `restricted`: nothing is mailed.
    Standing,
}

/// What was decided about the confirmation mail of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mailing {
    pub confirmation: Confirmation,
    pub throttle_reason: Option<ThrottleReason>,
}

impl Mailing {
    const fn just(confirmation: Confirmation) -> Self {
        Self {
            confirmation,
            throttle_reason: None,
        }
    }

    const fn throttled(reason: ThrottleReason) -> Self {
        Self {
            confirmation: Confirmation::Throttled,
            throttle_reason: Some(reason),
        }
    }

    /// A request that mails nothing because none is needed.
    pub const NOT_NEEDED: Mailing = Mailing::just(Confirmation::NotNeeded);
}

/// Decides whether a confirmation mail may go to this consent's address now, and enqueues it
/// if so. Caps: suppression (refusals), the cross-sender cap per abuse key, the per-sender
/// cap per claimed client IP, and the sender's standing (restricted, or its probation cap).
pub fn mail_if_allowed(
    conn: &mut DbConn,
    consent: &ConsentRow,
    address_key: &str,
    abuse_key: &str,
    rules: &FlowSettings,
    now: NaiveDateTime,
) -> Result<Mailing, StoreError> {
    if suppressions::blocks_confirmation_mail(conn, &consent.sender_id, address_key)? {
        return Ok(Mailing::just(Confirmation::Suppressed));
    }
    outbox::lock_abuse_key(conn, abuse_key)?;
    let day_ago = now - chrono::Duration::hours(24);
    if outbox::count_mail_for_abuse_key(conn, abuse_key, day_ago)? >= rules.cap_mails_per_address {
        return Ok(Mailing::throttled(ThrottleReason::AddressCap));
    }
    if let Some(ip_key) = &consent.client_ip_key {
        let hour_ago = now - chrono::Duration::hours(1);
        let from_ip =
            consent_rows::count_mailed_from_ip(conn, &consent.sender_id, ip_key, hour_ago)?;
        // This consent may itself be among them (a resend); it does not count twice.
        let this_one = i64::from(consent.mail_count > 0 && consent.requested_at > hour_ago);
        if from_ip - this_one >= rules.cap_signups_per_ip {
            return Ok(Mailing::throttled(ThrottleReason::ClientIpCap));
        }
    }
    if let Some(reason) = standing_refuses(conn, &consent.sender_id, &rules.standing, now)? {
        return Ok(Mailing::throttled(reason));
    }
    let payload = serde_json::json!({ "consent_id": consent.id }).to_string();
    let job = OutboxRow::new(
        OutboxKind::Mail,
        &consent.sender_id,
        Some(&consent.id),
        Some(abuse_key),
        payload,
        now,
    );
    outbox::enqueue(conn, &job)?;
    consent_rows::note_mail_enqueued(conn, &consent.id, now)?;
    Ok(Mailing::just(Confirmation::Queued))
}

/// Whether the sender's standing stops this mail: `restricted`, or a probation cap reached.
/// Under probation the chain head is locked first, so concurrent signups of one sender count
/// each other's mails (the head is locked by the event they record anyway).
fn standing_refuses(
    conn: &mut DbConn,
    sender_id: &SenderId,
    rules: &crate::domain::standing::Rules,
    now: NaiveDateTime,
) -> Result<Option<ThrottleReason>, StoreError> {
    let Some(standing) = crate::db::standing::find_standing(conn, sender_id, false)? else {
        return Ok(None);
    };
    let record = standing.record();
    if record.standing == crate::domain::standing::Standing::Restricted {
        return Ok(Some(ThrottleReason::Standing));
    }
    let Some(cap) = record.daily_cap(rules) else {
        return Ok(None);
    };
    crate::db::ledger::lock_head(conn, sender_id)?;
    let day = crate::db::activity::sum_since(conn, sender_id, now - chrono::Duration::hours(23))?;
    Ok((day.queued >= cap).then_some(ThrottleReason::ProbationCap))
}

/// A consent and its subscription, read under the subscription's lock
/// ([`subscriptions::lock_subject`]), so that a state change starts from the state it
/// changes even when another instance changes the same subscription at the same moment.
/// Call inside a write transaction.
pub fn locked_consent(
    conn: &mut DbConn,
    consent_id: &ConsentId,
) -> Result<Option<(ConsentRow, SubscriptionRow)>, StoreError> {
    let read = |conn: &mut DbConn| -> Result<_, StoreError> {
        let Some(consent) = consent_rows::find_consent_by_id(conn, consent_id)? else {
            return Ok(None);
        };
        let sub = subscriptions::find_subscription_by_id(conn, &consent.subscription_id)?;
        Ok(sub.map(|sub| (consent, sub)))
    };
    let Some((consent, sub)) = read(conn)? else {
        return Ok(None);
    };
    if subscriptions::lock_subject(conn, &sub.sender_id, &sub.list_id, &sub.address_key)? {
        // What was read before the lock may have changed; read what the change starts from.
        return read(conn);
    }
    Ok(Some((consent, sub)))
}

/// Every subscription of an address with one sender, read under their locks (taken in list
/// order, so two such flows cannot wait on each other). Call inside a write transaction.
pub fn locked_subscriptions_of_address(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_key: &str,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    let mut subs = subscriptions::subscriptions_of_address(conn, sender_id, address_key)?;
    subs.sort_by(|a, b| a.list_id.cmp(&b.list_id));
    let mut locked = false;
    for sub in &subs {
        locked |= subscriptions::lock_subject(conn, sender_id, &sub.list_id, address_key)?;
    }
    if locked {
        return subscriptions::subscriptions_of_address(conn, sender_id, address_key);
    }
    Ok(subs)
}

/// Ends a consent and its subscription in `status` and records the event.
pub fn end_consent(
    conn: &mut DbConn,
    consent: &ConsentRow,
    status: ConsentStatus,
    event: NewEvent<'_>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    consent_rows::set_consent_status(conn, &consent.id, status, now)?;
    if let Some(sub) = subscriptions::find_subscription_by_id(conn, &consent.subscription_id)? {
        if sub.current_consent_id == consent.id {
            subscriptions::end_subscription(conn, &sub.id, status.subscription_status(), now)?;
        }
    }
    record_event(conn, &consent.sender_id, event, now)?;
    Ok(())
}

pub use crate::db::ledger::record_event;
