//! From a reported mail to the consent it was sent on: which of Consentry's links or which
//! confirmation mail's Message-ID it carries, and the evidence a sender, a complaint desk or
//! an ISP abuse desk asks for ("who mailed this person, and on what grounds?").

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::db::complaints::consent_of_message;
use crate::db::consents::{find_consent_by_id, ConsentRow};
use crate::db::{lists, senders, DbConn, StoreError};
use crate::domain::complaint::MailKind;
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::report::Report;
use crate::domain::token::{verify, Action, TokenKey};
use crate::views::consent::{consent_view, ConsentView};

/// The consent a reported mail was sent on, and which kind of mail it was.
#[derive(Debug, Clone)]
pub struct Target {
    pub consent: ConsentRow,
    pub kind: MailKind,
}

/// Finds the consent a report points to. Signed links first (a confirmation mail's refuse or
/// confirm link, then a campaign's unsubscribe link), then a confirmation mail's Message-ID.
/// `sender_id` limits the search to one sender: another sender's link names nothing, exactly
/// as an unknown one; `None` is the operator's view across every sender.
pub fn find_target(
    conn: &mut DbConn,
    report: &Report,
    keys: &[TokenKey],
    sender_id: Option<&SenderId>,
    now: i64,
) -> Result<Option<Target>, StoreError> {
    let mine = |c: &ConsentRow| sender_id.is_none_or(|s| *s == c.sender_id);
    let mut campaign = None;
    for link in &report.links {
        let Ok(claims) = verify(keys, &link.token, now) else {
            continue;
        };
        let page_matches = matches!(
            (link.page, claims.action),
            ('c', Action::Confirm) | ('r', Action::Refuse) | ('u', Action::Unsubscribe)
        );
        if !page_matches {
            continue;
        }
        let Some(consent) =
            find_consent_by_id(conn, &ConsentId::from_uuid(claims.consent_id))?.filter(|c| mine(c))
        else {
            continue;
        };
        if claims.action == Action::Unsubscribe {
            campaign.get_or_insert(consent);
        } else {
            return Ok(Some(Target {
                consent,
                kind: MailKind::ConfirmationMail,
            }));
        }
    }
    if let Some(consent) = campaign {
        return Ok(Some(Target {
            consent,
            kind: MailKind::Campaign,
        }));
    }
    if let Some(message_id) = &report.message_id {
        if let Some((_, consent_id)) = consent_of_message(conn, message_id, sender_id)? {
            if let Some(consent) = find_consent_by_id(conn, &consent_id)?.filter(|c| mine(c)) {
                return Ok(Some(Target {
                    consent,
                    kind: MailKind::ConfirmationMail,
                }));
            }
        }
    }
    Ok(None)
}

/// The evidence of one consent: who sent, on which list, what was claimed at signup, what
/// Consentry saw when the owner confirmed, and where the receipt is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Evidence {
    /// The sender's legal identity and contact (特定電子メール法 Art. 4).
    #[schema(value_type = Object)]
    pub sender: Value,
    /// The list's slug and name.
    #[schema(value_type = Object)]
    pub list: Value,
    pub consent_id: ConsentId,
    /// The consent's status now.
    pub status: String,
    pub requested_at: String,
    pub confirmed_at: Option<String>,
    pub ended_at: Option<String>,
    /// What the sender claimed at signup (form, IP, user agent, consent text).
    #[schema(value_type = Object)]
    pub claimed: Value,
    /// What Consentry itself saw: the confirmation mail and the confirming request.
    #[schema(value_type = Object)]
    pub observed: Value,
    /// The Kantara consent receipt (for a confirmed consent).
    pub receipt_url: String,
}

/// The sender's consent `id` with its evidence; `None` if the sender has no such consent.
pub fn evidence_for(
    conn: &mut DbConn,
    sender_id: &SenderId,
    id: &ConsentId,
    base_url: &str,
) -> Result<Option<(ConsentView, Evidence)>, StoreError> {
    match crate::db::consents::find_consent(conn, sender_id, id)? {
        Some(consent) => evidence_of(conn, &consent, base_url),
        None => Ok(None),
    }
}

/// The record as `GET /v1/consents/{id}` shows it, plus `receipt_url`, the kind of mail
/// that led to it and its evidence: the answer of `POST /v1/evidence` and
/// `consentry evidence --json`.
pub fn record_with_evidence(view: &ConsentView, evidence: &Evidence, kind: MailKind) -> Value {
    let mut record = serde_json::to_value(view).unwrap_or_default();
    if let Some(fields) = record.as_object_mut() {
        fields.insert("receipt_url".into(), evidence.receipt_url.clone().into());
        fields.insert("mail_kind".into(), json!(kind));
        fields.insert("evidence".into(), json!(evidence));
    }
    record
}

/// The printable evidence of a consent (`audit/consent.html`), in `lang` (ja or en).
pub fn printable(
    templates: &crate::mail::templates::Templates,
    view: &ConsentView,
    evidence: &Evidence,
    lang: &str,
) -> Result<String, minijinja::Error> {
    templates.render(
        "audit/consent.html",
        json!({
            "lang": lang, "consent": view, "evidence": evidence,
            "generated_at": crate::clock::rfc3339(crate::clock::now()),
        }),
    )
}

/// The consent record as `GET /v1/consents/{id}` shows it, with its evidence, for the
/// consent's own sender.
pub fn evidence_of(
    conn: &mut DbConn,
    consent: &ConsentRow,
    base_url: &str,
) -> Result<Option<(ConsentView, Evidence)>, StoreError> {
    let Some(view) = consent_view(conn, &consent.sender_id, &consent.id)? else {
        return Ok(None);
    };
    let sender = senders::find_sender(conn, &consent.sender_id)?;
    let list = lists::find_list_by_id(conn, &consent.list_id)?;
    let (Some(sender), Some(list)) = (sender, list) else {
        return Ok(None);
    };
    let event = |kind: &str| view.events.iter().rev().find(|e| e.kind == kind);
    let requested = view.events.iter().find(|e| e.kind == "requested");
    // (ip, user agent) recorded with an event, while not erased.
    let seen = |e: Option<&crate::views::consent::EventView>| {
        let pii = e.and_then(|e| e.pii.as_ref());
        (
            pii.and_then(|p| p.ip.clone()),
            pii.and_then(|p| p.user_agent.clone()),
        )
    };
    let (claimed_ip, claimed_agent) = seen(requested);
    let sent = event("confirmation_sent");
    let confirmed = event("confirmed");
    let evidence = Evidence {
        sender: json!({
            "id": sender.id, "legal_name": sender.legal_name,
            "postal_address": sender.postal_address, "contact": sender.contact,
            "on_behalf_of": sender.on_behalf_of,
        }),
        list: json!({"slug": list.slug, "name": list.name}),
        consent_id: consent.id.clone(),
        status: view.status.clone(),
        requested_at: view.requested_at.clone(),
        confirmed_at: view.confirmed_at.clone(),
        ended_at: view.ended_at.clone(),
        claimed: json!({
            "collection_method": view.collection_method,
            "source_url": view.source_url,
            "collected_at": requested.and_then(|e| e.data.get("collected_at").cloned()),
            "ip": claimed_ip,
            "user_agent": claimed_agent,
            "consent_text_sha256": view.consent_text_sha256,
            "evidence_sha256": view.evidence_sha256,
        }),
        observed: json!({
            "confirmation_mail": sent.map(|e| json!({
                "sent_at": e.at, "message_id": e.data.get("message_id"),
                "message_sha256": e.data.get("message_sha256"),
            })),
            "confirmation": confirmed.map(|e| json!({
                "at": e.at, "method": e.data.get("method"),
                "seconds_since_mail_sent": e.data.get("seconds_since_mail_sent"),
                "ip": seen(Some(e)).0, "user_agent": seen(Some(e)).1,
                "event_hash": e.hash,
            })),
        }),
        receipt_url: format!(
            "{}/v1/consents/{}/receipt",
            base_url.trim_end_matches('/'),
            consent.id
        ),
    };
    Ok(Some((view, evidence)))
}
