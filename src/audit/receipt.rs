//! Kantara Initiative Consent Receipt v1.1 (`KI-CR-v1.1.0`) for one consent record: the
//! sender as PII controller (and the party it sends on behalf of), the list as the service,
//! marketing by email as the purpose, and the double opt-in as the collection method.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use crate::clock;
use crate::db::consents::ConsentRow;
use crate::db::lists::ListRow;
use crate::db::senders::Sender;
use crate::domain::status::ConsentStatus;

pub const VERSION: &str = "KI-CR-v1.1.0";

/// What a receipt is built from; everything comes from the consent record and its ledger.
pub struct ReceiptInput<'a> {
    pub consent: &'a ConsentRow,
    pub list: &'a ListRow,
    pub sender: &'a Sender,
    /// The exact consent wording the signup named, resolved by its SHA-256.
    pub consent_text: Option<&'a str>,
    /// The policy URL recorded with the signup (the list's current one for older records).
    pub policy_url: &'a str,
    /// `None` once erased.
    pub email: Option<&'a str>,
    pub address_key: &'a str,
    /// (seq, hash) of the `confirmed` event.
    pub confirmed_event: Option<(i64, &'a str)>,
    /// How the owner confirmed (`page_button_post`).
    pub confirm_method: &'a str,
}

/// The receipt for a confirmed (or since withdrawn) consent; `None` if it was never confirmed.
pub fn consent_receipt(input: &ReceiptInput<'_>) -> Option<Value> {
    let c = input.consent;
    let confirmed_at = c.confirmed_at?;
    let withdrawn_at = c
        .ended_at
        .filter(|_| c.status == ConsentStatus::Unsubscribed);
    let termination = match withdrawn_at {
        Some(at) => format!("Withdrawn by the PII principal at {}.", clock::rfc3339(at)),
        None => format!(
            "Until withdrawn: one-click unsubscribe link in every email, or by contacting {}.",
            input.sender.contact
        ),
    };
    Some(json!({
        "version": VERSION,
        "jurisdiction": input.sender.jurisdiction,
        "consentTimestamp": confirmed_at.and_utc().timestamp(),
        "collectionMethod": format!(
            "{} (double opt-in: the address owner confirmed through a signed link mailed to the address, {})",
            c.collection_method, input.confirm_method
        ),
        "consentReceiptID": c.id,
        "publicKey": "",
        "language": c.locale,
        "piiPrincipalId": input
            .email
            .map(str::to_owned)
            .unwrap_or_else(|| format!("urn:consentry:subject:{}", input.address_key)),
        "piiControllers": controllers(input.sender),
        "policyUrl": input.policy_url,
        "services": [{
            "service": input.list.name,
            "purposes": [{
                "purpose": input.consent_text.unwrap_or(""),
                "purposeCategory": ["Marketing"],
                "consentType": "EXPLICIT",
                "piiCategory": ["E-mail address", "IP address", "User agent"],
                "primaryPurpose": true,
                "termination": termination,
                "thirdPartyDisclosure": false,
            }],
        }],
        "sensitive": false,
        "spiCat": [],
        "consentry": evidence(input, confirmed_at, withdrawn_at),
    }))
}

/// Consentry's own evidence, beside the standard fields.
fn evidence(
    input: &ReceiptInput<'_>,
    confirmed_at: NaiveDateTime,
    withdrawn_at: Option<NaiveDateTime>,
) -> Value {
    let c = input.consent;
    json!({
        "consent_id": c.id,
        "list": input.list.slug,
        "status": c.status,
        "requested_at": clock::rfc3339(c.requested_at),
        "confirmed_at": clock::rfc3339(confirmed_at),
        "withdrawn_at": withdrawn_at.map(clock::rfc3339),
        "consent_text_sha256": c.consent_text_sha256,
        "evidence_sha256": c.evidence_sha256,
        "source_url": c.source_url,
        "confirmed_event": input.confirmed_event.map(|(seq, hash)| json!({ "seq": seq, "hash": hash })),
    })
}

/// The sender, and the party it sends on behalf of (送信委託者) when there is one.
fn controllers(sender: &Sender) -> Vec<Value> {
    let contact = sender.contact.trim();
    let email = if contact.contains('@') && !contact.contains(' ') {
        contact
    } else {
        ""
    };
    let phone = if contact
        .chars()
        .all(|ch| ch.is_ascii_digit() || "+-() ".contains(ch))
    {
        contact
    } else {
        ""
    };
    let address = json!({
        "streetAddress": sender.postal_address,
        "addressCountry": sender.jurisdiction,
    });
    let mut out = vec![json!({
        "piiController": sender.legal_name,
        "onBehalf": sender.on_behalf_of.is_some(),
        "contact": contact,
        "address": address,
        "email": email,
        "phone": phone,
    })];
    if let Some(principal) = &sender.on_behalf_of {
        out.push(json!({
            "piiController": principal,
            "onBehalf": false,
            "contact": format!("via {}: {contact}", sender.legal_name),
            "address": {},
            "email": "",
            "phone": "",
        }));
    }
    out
}
