//! What a recipient page shows about the consent a link names: its sender and list.

use serde::Serialize;

use crate::db::consents::{find_consent_by_id, ConsentRow};
use crate::db::lists::find_list_by_id;
use crate::db::senders::find_sender;
use crate::db::subscriptions::find_subscription_by_id;
use crate::db::{DbConn, StoreError};
use crate::domain::ids::ConsentId;
use crate::domain::status::SubscriptionStatus;

/// What a page shows about the sender and list (the handler fills in the URLs and language).
#[derive(Serialize, Default)]
pub struct PageView {
    pub lang: &'static str,
    pub other_lang_url: String,
    pub action_url: String,
    pub sender_legal_name: String,
    pub sender_postal_address: String,
    pub sender_contact: String,
    pub list_name: String,
}

/// The consent a token names, with what its pages show.
pub struct PageContext {
    pub consent: ConsentRow,
    pub subscription_status: SubscriptionStatus,
    pub view: PageView,
}

/// The consent with its subscription, sender and list; `None` if any is missing.
pub fn load_context(
    conn: &mut DbConn,
    consent_id: &ConsentId,
) -> Result<Option<PageContext>, StoreError> {
    let Some(consent) = find_consent_by_id(conn, consent_id)? else {
        return Ok(None);
    };
    let sub = find_subscription_by_id(conn, &consent.subscription_id)?;
    let sender = find_sender(conn, &consent.sender_id)?;
    let list = find_list_by_id(conn, &consent.list_id)?;
    let (Some(sub), Some(sender), Some(list)) = (sub, sender, list) else {
        return Ok(None);
    };
    Ok(Some(PageContext {
        consent,
        subscription_status: sub.status,
        view: PageView {
            sender_legal_name: sender.legal_name,
            sender_postal_address: sender.postal_address,
            sender_contact: sender.contact,
            list_name: list.name,
            ..PageView::default()
        },
    }))
}
