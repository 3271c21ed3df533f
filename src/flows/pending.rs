//! Pending requests over time: expiry (a sweep in `serve`) and resend.

use chrono::NaiveDateTime;
use serde_json::json;

use super::{end_consent, mail_if_allowed, Confirmation, Mailing};
use crate::config::FlowSettings;
use crate::db::consents::{self, ConsentRow};
use crate::db::ledger::NewEvent;
use crate::db::{write_transaction, DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::status::ConsentStatus;
use crate::domain::token::new_nonce;

/// Marks one pending consent expired. Call inside a write transaction.
pub fn expire(
    conn: &mut DbConn,
    consent: &ConsentRow,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let event = NewEvent {
        consent_id: Some(&consent.id),
        ..NewEvent::new(
            EventKind::Expired,
            json!({ "expires_at": crate::clock::rfc3339(consent.expires_at) }),
        )
    };
    end_consent(conn, consent, ConsentStatus::Expired, event, now)
}

/// Expires up to `limit` pending consents whose time ran out; returns how many.
pub fn expire_due(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> Result<usize, StoreError> {
    let due = consents::due_expiries(conn, now, limit)?;
    for consent in &due {
        write_transaction(conn, |conn| {
            // Re-read under the write lock: a confirmation may have landed meanwhile.
            match super::locked_consent(conn, &consent.id)? {
                Some((c, _)) if c.status == ConsentStatus::Pending && c.expires_at <= now => {
                    expire(conn, &c, now)
                }
                _ => Ok(()),
            }
        })?;
    }
    Ok(due.len())
}

/// Outcome of `POST /v1/consents/{id}/resend` (`Done(Queued)`: wake the mail worker).
#[derive(Debug, PartialEq, Eq)]
pub enum Resend {
    Done(Mailing),
    NotFound,
    NotPending,
}

/// Enqueues a new confirmation mail if the caps allow and, only then, rotates the consent's
/// nonce so the new mail's confirm link replaces the old ones. The expiry stays where the
/// first mail put it (resending cannot keep a request alive). Refuse links need no nonce, so
/// every mail the address received keeps a working "this wasn't me". Call inside a write
/// transaction.
pub fn resend(
    conn: &mut DbConn,
    sender_id: &SenderId,
    consent_id: &ConsentId,
    rules: &FlowSettings,
    now: NaiveDateTime,
) -> Result<Resend, StoreError> {
    let Some((consent, sub)) = super::locked_consent(conn, consent_id)? else {
        return Ok(Resend::NotFound);
    };
    if consent.sender_id != *sender_id {
        return Ok(Resend::NotFound);
    }
    match consent.status {
        ConsentStatus::Confirmed => return Ok(Resend::Done(Mailing::NOT_NEEDED)),
        ConsentStatus::Pending if consent.expires_at > now => {}
        _ => return Ok(Resend::NotPending),
    }
    let mailing = mail_if_allowed(conn, &consent, &sub.address_key, &sub.abuse_key, rules, now)?;
    let mut expires_at = consent.expires_at;
    if mailing.confirmation == Confirmation::Queued {
        // A request whose signup mail was held back gets its full time from its first mail.
        if consent.mail_count == 0 {
            expires_at = now + rules.confirm_ttl;
        }
        consents::rotate_nonce(conn, &consent.id, &new_nonce(), expires_at)?;
    }
    let event = NewEvent {
        consent_id: Some(&consent.id),
        subject_key: Some(&sub.address_key),
        ..NewEvent::new(
            EventKind::ResendRequested,
            json!({
                "confirmation": mailing.confirmation,
                "throttle_reason": mailing.throttle_reason,
                "expires_at": crate::clock::rfc3339(expires_at),
            }),
        )
    };
    super::record_event(conn, sender_id, event, now)?;
    Ok(Resend::Done(mailing))
}
