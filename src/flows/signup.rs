//! `POST /v1/consents`: record a signup and its claimed evidence, and enqueue the
//! confirmation mail in the same transaction.

use chrono::NaiveDateTime;
use serde_json::json;

use super::{mail_if_allowed, Confirmation, Mailing, ThrottleReason};
use crate::config::FlowSettings;
use crate::db::consents::{self, ConsentRow};
use crate::db::ledger::NewEvent;
use crate::db::lists::ListRow;
use crate::db::subscriptions::{self, SubscriptionRow};
use crate::db::{DbConn, StoreError};
use crate::domain::canonical::canonical_json;
use crate::domain::email::EmailAddress;
use crate::domain::event_kind::EventKind;
use crate::domain::ids::{ConsentId, SenderId, SubscriptionId};
use crate::domain::ledger::{new_salt, Pii};
use crate::domain::status::{ConsentStatus, SubscriptionStatus};
use crate::domain::token::new_nonce;

/// What the sender claims about how the address was collected.
#[derive(Debug, Clone)]
pub struct ClaimedEvidence {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub source_url: Option<String>,
    pub collected_at: Option<NaiveDateTime>,
    pub collection_method: String,
    pub consent_text_sha256: String,
}

impl ClaimedEvidence {
    /// Digest of the claimed evidence, returned by every compliance check. Salted with the
    /// salt of the signup's personal data, which is erased with it: afterwards the digest
    /// can no longer be matched against a guessed IP address and user agent.
    pub fn sha256(&self, salt: &str) -> String {
        use sha2::{Digest, Sha256};
        let record = json!({
            "ip": self.ip, "user_agent": self.user_agent, "source_url": self.source_url,
            "collected_at": self.collected_at.map(crate::clock::rfc3339),
            "collection_method": self.collection_method,
            "consent_text_sha256": self.consent_text_sha256,
            "salt": salt,
        });
        hex::encode(Sha256::digest(canonical_json(&record)))
    }
}

pub struct Signup<'a> {
    pub sender_id: &'a SenderId,
    pub list: &'a ListRow,
    pub email: &'a EmailAddress,
    pub address_key: String,
    pub abuse_key: String,
    pub client_ip_key: Option<String>,
    pub network_key: Option<String>,
    pub locale: &'a str,
    pub evidence: ClaimedEvidence,
}

/// What a signup decided. Serialised as stored for an `Idempotency-Key` replay (the field
/// names are those of rows stored before, so keep them).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SignupAnswer {
    #[serde(rename = "id")]
    pub consent_id: ConsentId,
    /// The list's slug.
    pub list: String,
    /// `pending` | `confirmed` | `suppressed`
    pub status: String,
    pub confirmation: Confirmation,
    /// Why a `throttled` mail was not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_reason: Option<ThrottleReason>,
}

/// A signup's answer and whether it enqueued a mail (so the caller wakes the mail worker
/// after commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub answer: SignupAnswer,
    pub mail_queued: bool,
}

/// Records the signup. Call inside a write transaction.
pub fn signup(
    conn: &mut DbConn,
    request: &Signup<'_>,
    rules: &FlowSettings,
    now: NaiveDateTime,
) -> Result<Signed, StoreError> {
    subscriptions::lock_subject(
        conn,
        request.sender_id,
        &request.list.id,
        &request.address_key,
    )?;
    let existing = subscriptions::find_subscription(
        conn,
        request.sender_id,
        &request.list.id,
        &request.address_key,
    )?;
    let current = match &existing {
        Some(sub) => consents::find_consent_by_id(conn, &sub.current_consent_id)?,
        None => None,
    };
    let salt = new_salt();
    let (consent, repeat) = match current {
        Some(c) if c.status == ConsentStatus::Confirmed => {
            return Ok(Signed {
                answer: answer(request, &c.id, "confirmed", Mailing::NOT_NEEDED),
                mail_queued: false,
            });
        }
        Some(c) if c.status == ConsentStatus::Pending && c.expires_at > now => (c, true),
        Some(c) if c.status == ConsentStatus::Pending => {
            // Past its time but not yet swept: expire it now, then start afresh.
            super::pending::expire(conn, &c, now)?;
            (
                new_consent(conn, request, existing.as_ref(), &salt, rules, now)?,
                false,
            )
        }
        _ => (
            new_consent(conn, request, existing.as_ref(), &salt, rules, now)?,
            false,
        ),
    };

    let recently_mailed = consent
        .last_mailed_at
        .is_some_and(|t| now - t < rules.resend_window);
    let mailing = if repeat && recently_mailed {
        Mailing::NOT_NEEDED
    } else {
        mail_if_allowed(
            conn,
            &consent,
            &request.address_key,
            &request.abuse_key,
            rules,
            now,
        )?
    };
    let event = NewEvent {
        consent_id: Some(&consent.id),
        list_slug: Some(&request.list.slug),
        subject_key: Some(&request.address_key),
        pii: Some(Pii {
            email: Some(request.email.as_str().to_owned()),
            ip: request.evidence.ip.clone(),
            user_agent: request.evidence.user_agent.clone(),
            note: None,
            salt: Some(salt),
        }),
        ..NewEvent::new(
            EventKind::Requested,
            json!({
                "repeat": repeat,
                "locale": request.locale,
                "consent_text_sha256": request.evidence.consent_text_sha256,
                "policy_url": request.list.policy_url,
                "collection_method": request.evidence.collection_method,
                "source_url": request.evidence.source_url,
                "collected_at": request.evidence.collected_at.map(crate::clock::rfc3339),
                "evidence_sha256": consent.evidence_sha256,
                "confirmation": mailing.confirmation,
                "throttle_reason": mailing.throttle_reason,
            }),
        )
    };
    super::record_event(conn, request.sender_id, event, now)?;
    let status = if mailing.confirmation == Confirmation::Suppressed {
        "suppressed"
    } else {
        "pending"
    };
    Ok(Signed {
        answer: answer(request, &consent.id, status, mailing),
        mail_queued: mailing.confirmation == Confirmation::Queued,
    })
}

fn answer(request: &Signup<'_>, id: &ConsentId, status: &str, mailing: Mailing) -> SignupAnswer {
    SignupAnswer {
        consent_id: id.to_owned(),
        list: request.list.slug.clone(),
        status: status.to_owned(),
        confirmation: mailing.confirmation,
        throttle_reason: mailing.throttle_reason,
    }
}

/// A new consent (a new double opt-in) and the subscription pointing at it.
fn new_consent(
    conn: &mut DbConn,
    request: &Signup<'_>,
    existing: Option<&SubscriptionRow>,
    salt: &str,
    rules: &FlowSettings,
    now: NaiveDateTime,
) -> Result<ConsentRow, StoreError> {
    let consent_id = ConsentId::new();
    let evidence_sha256 = request.evidence.sha256(salt);
    let subscription_id = match existing {
        Some(sub) => sub.id.clone(),
        None => {
            let sub = SubscriptionRow {
                id: SubscriptionId::new(),
                sender_id: request.sender_id.to_owned(),
                list_id: request.list.id.clone(),
                address_key: request.address_key.clone(),
                abuse_key: request.abuse_key.clone(),
                email: Some(request.email.as_str().to_owned()),
                status: SubscriptionStatus::Pending,
                current_consent_id: consent_id.clone(),
                confirmed_at: None,
                evidence_sha256: evidence_sha256.clone(),
                updated_at: now,
            };
            subscriptions::insert_subscription(conn, &sub)?;
            sub.id
        }
    };
    let consent = ConsentRow {
        id: consent_id,
        sender_id: request.sender_id.to_owned(),
        list_id: request.list.id.clone(),
        subscription_id,
        status: ConsentStatus::Pending,
        locale: request.locale.to_owned(),
        consent_text_sha256: request.evidence.consent_text_sha256.clone(),
        collection_method: request.evidence.collection_method.clone(),
        source_url: request.evidence.source_url.clone(),
        collected_at: request.evidence.collected_at,
        evidence_sha256,
        client_ip_key: request.client_ip_key.clone(),
        network_key: request.network_key.clone(),
        nonce: new_nonce(),
        mail_count: 0,
        last_mailed_at: None,
        requested_at: now,
        confirmed_at: None,
        ended_at: None,
        expires_at: now + rules.confirm_ttl,
        minimised_at: None,
    };
    consents::insert_consent(conn, &consent)?;
    if existing.is_some() {
        subscriptions::point_subscription(
            conn,
            &consent.subscription_id,
            &consent,
            request.email.as_str(),
            now,
        )?;
    }
    Ok(consent)
}
