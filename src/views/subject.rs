//! Everything a sender holds about one address (GDPR Art. 15): its consent records with
//! their events, its suppressions, and what the printable page shows beside them.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::consent::{consent_view, ConsentView};
use crate::audit::checkpoint::{Checkpoint, SigningKeys};
use crate::audit::stored::sign_head;
use crate::clock;
use crate::db::senders::{find_sender, Sender};
use crate::db::{consents, lists, subscriptions, suppressions, DbConn, StoreError};
use crate::domain::address_hash::ledger_subject_key;
use crate::domain::ids::SenderId;

#[derive(Serialize, ToSchema)]
pub struct SuppressionView {
    /// `sender` (this sender only) or `global` (every sender).
    scope: String,
    /// `refused` or `erased` for this sender's own; `confirmation_mail_blocked` for a global
    /// one, which any sender's recipient may have caused.
    reason: String,
    /// When this sender's own suppression began; `null` for a global one.
    since: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SubjectView {
    email: String,
    /// Keyed hash of the address: how records are found again after erasure.
    subject_key: String,
    suppressions: Vec<SuppressionView>,
    /// Every consent record of the address with this sender, oldest first, with events.
    consents: Vec<ConsentView>,
}

/// Every consent record of the address (by its keyed hash) with this sender.
pub fn subject_view(
    conn: &mut DbConn,
    sender_id: &SenderId,
    email: &str,
    address_key: &str,
) -> Result<SubjectView, StoreError> {
    let mut consents_out = Vec::new();
    for sub in subscriptions::subscriptions_of_address(conn, sender_id, address_key)? {
        for consent in consents::consents_of_subscription(conn, &sub.id)? {
            consents_out.extend(consent_view(conn, sender_id, &consent.id)?);
        }
    }
    let suppressions = suppressions::suppressions_of(conn, sender_id, address_key)?
        .into_iter()
        .map(|(scope, reason, since)| {
            // Another sender must not learn why, where or since when an address it may never
            // have seen refused: only that confirmation mail to it is blocked.
            if scope == suppressions::GLOBAL {
                SuppressionView {
                    scope,
                    reason: "confirmation_mail_blocked".into(),
                    since: None,
                }
            } else {
                SuppressionView {
                    scope,
                    reason,
                    since: Some(clock::rfc3339(since)),
                }
            }
        })
        .collect();
    Ok(SubjectView {
        email: email.to_owned(),
        subject_key: ledger_subject_key(sender_id.as_str(), address_key),
        suppressions,
        consents: consents_out,
    })
}

/// What the printable page shows beside the records.
#[derive(Serialize)]
pub struct PageContext {
    sender: Option<SenderView>,
    /// slug → list name.
    lists: BTreeMap<String, String>,
    /// SHA-256 → the consent wording it names.
    texts: BTreeMap<String, String>,
    /// The chain head, signed when the page was made.
    checkpoint: Option<Checkpoint>,
    generated_at: String,
}

#[derive(Serialize)]
struct SenderView {
    legal_name: String,
    postal_address: String,
    contact: String,
    on_behalf_of: Option<String>,
    jurisdiction: String,
}

impl From<Sender> for SenderView {
    fn from(s: Sender) -> Self {
        Self {
            legal_name: s.legal_name,
            postal_address: s.postal_address,
            contact: s.contact,
            on_behalf_of: s.on_behalf_of,
            jurisdiction: s.jurisdiction,
        }
    }
}

/// The senders, list names, consent wordings and signed chain head the printable page
/// shows beside the records of `view`.
pub fn page_context(
    conn: &mut DbConn,
    sender_id: &SenderId,
    view: &SubjectView,
    keys: &SigningKeys,
) -> Result<PageContext, StoreError> {
    let mut names = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for list in lists::list_lists(conn, sender_id)? {
        if view.consents.iter().any(|c| c.list() == list.slug) {
            for text in lists::list_consent_texts(conn, &list.id)? {
                texts.insert(text.sha256, text.body);
            }
            names.insert(list.slug, list.name);
        }
    }
    Ok(PageContext {
        sender: find_sender(conn, sender_id)?.map(SenderView::from),
        lists: names,
        texts,
        checkpoint: sign_head(conn, sender_id, keys)?,
        generated_at: clock::rfc3339(clock::now()),
    })
}
