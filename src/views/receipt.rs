//! A consent record as a Kantara Consent Receipt v1.1, with Consentry's evidence.

use serde_json::Value;

use crate::audit::receipt::{consent_receipt, ReceiptInput};
use crate::db::ledger::events_for_consent;
use crate::db::senders::find_sender;
use crate::db::subscriptions::find_subscription_by_id;
use crate::db::{consents, lists, DbConn, StoreError};
use crate::domain::ids::{ConsentId, SenderId};

/// Why there is no receipt to give.
pub enum NoReceipt {
    /// No such consent record at this sender (or its list, sender or subscription is gone).
    NotFound,
    /// The address owner never confirmed the request.
    NotConfirmed,
}

/// The receipt of the sender's consent record `id`.
pub fn build(
    conn: &mut DbConn,
    sender_id: &SenderId,
    id: &ConsentId,
) -> Result<Result<Value, NoReceipt>, StoreError> {
    let Some(consent) = consents::find_consent(conn, sender_id, id)? else {
        return Ok(Err(NoReceipt::NotFound));
    };
    let (Some(list), Some(sender), Some(sub)) = (
        lists::find_list_by_id(conn, &consent.list_id)?,
        find_sender(conn, sender_id)?,
        find_subscription_by_id(conn, &consent.subscription_id)?,
    ) else {
        return Ok(Err(NoReceipt::NotFound));
    };
    let text = lists::list_consent_texts(conn, &list.id)?
        .into_iter()
        .find(|t| t.sha256 == consent.consent_text_sha256)
        .map(|t| t.body);
    let events = events_for_consent(conn, sender_id, id)?;
    let data_of = |kind: &str| {
        events
            .iter()
            .rev()
            .find(|(e, _)| e.kind == kind)
            .map(|(e, _)| {
                (
                    e,
                    serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null),
                )
            })
    };
    let requested = data_of("requested");
    let confirmed = data_of("confirmed");
    let policy_url = requested
        .as_ref()
        .and_then(|(_, d)| d["policy_url"].as_str().map(str::to_owned))
        .unwrap_or_else(|| list.policy_url.clone());
    let confirm_method = confirmed
        .as_ref()
        .and_then(|(_, d)| d["method"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "page_button_post".into());
    // The address of this consent, unless erased (the subscription may since belong to a
    // newer consent of the same address, which is the same address).
    let email = sub.email.as_deref();
    let input = ReceiptInput {
        consent: &consent,
        list: &list,
        sender: &sender,
        consent_text: text.as_deref(),
        policy_url: &policy_url,
        email,
        address_key: &sub.address_key,
        confirmed_event: confirmed.as_ref().map(|(e, _)| (e.seq, e.hash.as_str())),
        confirm_method: &confirm_method,
    };
    Ok(consent_receipt(&input).ok_or(NoReceipt::NotConfirmed))
}
