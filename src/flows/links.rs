//! What the recipient's links do when the page's button is pressed (POST): confirm, refuse
//! ("this wasn't me"), unsubscribe. The signed token names the consent; GET never gets here.

use chrono::NaiveDateTime;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::end_consent;
use crate::db::consents::{self, ConsentRow};
use crate::db::ledger::{self, NewEvent};
use crate::db::subscriptions::{self, SubscriptionRow};
use crate::db::{suppressions, DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::ConsentId;
use crate::domain::ledger::Pii;
use crate::domain::status::ConsentStatus;

/// What the page should say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The action happened now.
    Done,
    /// It had happened before; same success page.
    Already,
    /// The request ran out of time or ended; sign up again.
    Expired,
    /// The link no longer matches (a resend replaced it) or names nothing.
    Invalid,
}

/// What Consentry itself saw of the request that pressed the button.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The consent and subscription of a confirm link, if the link's nonce is still the
/// consent's (a resend replaces it). Compared in constant time.
fn load_current(
    conn: &mut DbConn,
    consent_id: &ConsentId,
    nonce: &str,
) -> Result<Option<(ConsentRow, SubscriptionRow)>, StoreError> {
    Ok(super::locked_consent(conn, consent_id)?
        .filter(|(consent, _)| bool::from(consent.nonce.as_bytes().ct_eq(nonce.as_bytes()))))
}

fn pii(sub: &SubscriptionRow, observed: &Observed) -> Pii {
    Pii {
        email: sub.email.clone(),
        ip: observed.ip.clone(),
        user_agent: observed.user_agent.clone(),
        ..Pii::default()
    }
}

/// Confirms a pending consent. Call inside a write transaction.
pub fn confirm(
    conn: &mut DbConn,
    consent_id: &ConsentId,
    nonce: &str,
    observed: &Observed,
    now: NaiveDateTime,
) -> Result<LinkOutcome, StoreError> {
    let Some((consent, sub)) = load_current(conn, consent_id, nonce)? else {
        return Ok(LinkOutcome::Invalid);
    };
    match consent.status {
        ConsentStatus::Confirmed => return Ok(LinkOutcome::Already),
        ConsentStatus::Pending if consent.expires_at > now => {}
        ConsentStatus::Pending => {
            super::pending::expire(conn, &consent, now)?;
            return Ok(LinkOutcome::Expired);
        }
        _ => return Ok(LinkOutcome::Expired),
    }
    let sent_at = ledger::last_event_at(conn, &consent.id, EventKind::ConfirmationSent)?;
    consents::set_consent_status(conn, &consent.id, ConsentStatus::Confirmed, now)?;
    if sub.current_consent_id == consent.id {
        subscriptions::confirm_subscription(conn, &sub.id, now)?;
    }
    let event = NewEvent {
        consent_id: Some(&consent.id),
        subject_key: Some(&sub.address_key),
        pii: Some(pii(&sub, observed)),
        ..NewEvent::new(
            EventKind::Confirmed,
            json!({
                "method": "page_button_post",
                "seconds_since_mail_sent": sent_at.map(|t| (now - t).num_seconds()),
            }),
        )
    };
    super::record_event(conn, &consent.sender_id, event, now)?;
    Ok(LinkOutcome::Done)
}

/// "This wasn't me": ends the consent as refused and suppresses confirmation mail to the
/// address from every sender. Any signed refuse link of the consent works, however many
/// resends came after its mail and however old it is: refusing can only protect the owner.
/// Call inside a write transaction.
pub fn refuse(
    conn: &mut DbConn,
    consent_id: &ConsentId,
    observed: &Observed,
    now: NaiveDateTime,
) -> Result<LinkOutcome, StoreError> {
    refuse_via(conn, consent_id, observed, None, now)
}

/// [`refuse`], recording the channel when it was not the page's button (a complaint about
/// the confirmation mail acts as "this wasn't me").
pub fn refuse_via(
    conn: &mut DbConn,
    consent_id: &ConsentId,
    observed: &Observed,
    channel: Option<&str>,
    now: NaiveDateTime,
) -> Result<LinkOutcome, StoreError> {
    let Some((consent, sub)) = super::locked_consent(conn, consent_id)? else {
        return Ok(LinkOutcome::Invalid);
    };
    if consent.status == ConsentStatus::Refused {
        return Ok(LinkOutcome::Already);
    }
    suppressions::suppress(conn, suppressions::GLOBAL, &sub.address_key, "refused")?;
    let event = NewEvent {
        consent_id: Some(&consent.id),
        subject_key: Some(&sub.address_key),
        pii: Some(pii(&sub, observed)),
        ..NewEvent::new(
            EventKind::Refused,
            match channel {
                None => json!({ "previous_status": consent.status, "suppression": "global" }),
                Some(channel) => json!({
                    "previous_status": consent.status, "suppression": "global", "channel": channel,
                }),
            },
        )
    };
    end_consent(conn, &consent, ConsentStatus::Refused, event, now)?;
    Ok(LinkOutcome::Done)
}

/// One-click or page unsubscribe: ends whatever consent is current on the link's
/// subscription. Idempotent. Call inside a write transaction.
pub fn unsubscribe(
    conn: &mut DbConn,
    consent_id: &ConsentId,
    channel: &str,
    observed: &Observed,
    now: NaiveDateTime,
) -> Result<LinkOutcome, StoreError> {
    let Some((_, sub)) = super::locked_consent(conn, consent_id)? else {
        return Ok(LinkOutcome::Invalid);
    };
    if !sub.status.is_live() {
        return Ok(LinkOutcome::Already);
    }
    let Some(current) = consents::find_consent_by_id(conn, &sub.current_consent_id)? else {
        return Ok(LinkOutcome::Invalid);
    };
    let event = NewEvent {
        consent_id: Some(&current.id),
        subject_key: Some(&sub.address_key),
        pii: Some(pii(&sub, observed)),
        ..NewEvent::new(
            EventKind::Unsubscribed,
            json!({ "channel": channel, "link_consent_id": consent_id }),
        )
    };
    end_consent(conn, &current, ConsentStatus::Unsubscribed, event, now)?;
    Ok(LinkOutcome::Done)
}
