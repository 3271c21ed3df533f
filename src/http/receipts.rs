//! `GET /v1/consents/{id}/receipt`: a Kantara Consent Receipt v1.1 for a consent record.

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::auth::ReaderKey;
use super::error::{ApiError, Problem};
use crate::audit::receipt::{consent_receipt, ReceiptInput};
use crate::db::ledger::events_for_consent;
use crate::db::senders::find_sender;
use crate::db::subscriptions::find_subscription_by_id;
use crate::db::{consents, lists, DbConn, StoreError};
use crate::domain::conflict::Conflict;
use crate::state::AppState;

/// Why there is no receipt to give.
enum NoReceipt {
    NotFound,
    NotConfirmed,
}

#[utoipa::path(get, path = "/v1/consents/{id}/receipt", tag = "consents",
    params(("id" = String, Path)),
    responses((status = 200, description = "Kantara Consent Receipt v1.1 (`version: KI-CR-v1.1.0`), with Consentry's evidence under `consentry`"),
              (status = 404, body = Problem),
              (status = 409, description = "`not_confirmed`: the address owner never confirmed this request", body = Problem)),
    security(("bearer" = [])))]
pub async fn receipt(
    caller: ReaderKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sender_id = caller.sender_id.clone();
    let built = state
        .db
        .run(move |conn| build(conn, &sender_id, &id))
        .await?;
    match built {
        Ok(receipt) => Ok(HttpResponse::Ok().json(receipt)),
        Err(NoReceipt::NotFound) => Err(ApiError::NotFound),
        Err(NoReceipt::NotConfirmed) => Err(ApiError::Conflict(Conflict::NotConfirmed)),
    }
}

fn build(
    conn: &mut DbConn,
    sender_id: &str,
    id: &str,
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
