//! `/v1/check`: may this address be mailed on this list now? One address (GET) or a stream
//! of them (POST, NDJSON or text lines in, NDJSON out, in order, at constant memory).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::SenderKey;
use super::error::{ApiError, Problem};
use super::lists::load_list;
use crate::domain::email::EmailAddress;
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::token::{sign, Action, LinkClaims};
use crate::state::AppState;
use crate::views::cached::{cached_sender, Sender};
use crate::views::ViewError;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    list: String,
    #[param(min_length = 1, max_length = 320)]
    email: String,
}

/// The one-click unsubscribe URL of a consent: signed, never expiring, on the base URL.
pub fn unsubscribe_url(state: &AppState, consent_id: &ConsentId) -> String {
    let claims = LinkClaims {
        action: Action::Unsubscribe,
        consent_id: consent_id.to_uuid(),
        nonce: String::new(),
        expires_at: None,
    };
    format!(
        "{}/u/{}",
        state.settings.http.base_url,
        sign(&state.secrets.token_keys, &claims)
    )
}

/// The sender, cached; a key whose sender is gone is not a valid key.
pub async fn load_sender(state: &AppState, sender_id: &SenderId) -> Result<Arc<Sender>, ApiError> {
    cached_sender(&state.db, &state.caches, sender_id)
        .await
        .map_err(|e| match e {
            ViewError::NotFound => ApiError::Unauthorized,
            ViewError::Store(e) => e.into(),
        })
}

/// The answer, borrowing what it shows from the request, the row and the cached sender:
/// the hottest call in the API should not copy a dozen strings to write them out once.
#[derive(Serialize, ToSchema)]
pub struct CheckAnswer<'a> {
    email: &'a str,
    list: &'a str,
    allowed: bool,
    /// `confirmed` (the only one allowed) | `pending` | `not_found` | `unsubscribed` | `refused` | `expired` | `suppressed`
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    consent_id: Option<&'a ConsentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unsubscribe_url: Option<&'a str>,
    /// Headers to put in the mail (RFC 8058 one-click, RFC 2919 List-Id).
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<MailHeaders>,
    /// What 特定電子メール法 Art. 4 requires the mail to display.
    display: SenderDisplay<'a>,
}

/// Headers to put in a mail the check allowed.
#[derive(Serialize, ToSchema)]
pub struct MailHeaders {
    #[serde(rename = "List-Unsubscribe")]
    list_unsubscribe: String,
    #[serde(rename = "List-Unsubscribe-Post")]
    list_unsubscribe_post: &'static str,
    #[serde(rename = "List-Id")]
    list_id: String,
    /// Gmail's feedback loop aggregates complaints by these; none names the recipient.
    #[serde(rename = "Feedback-ID")]
    feedback_id: String,
}

/// The sender's identity and opt-out as the mail must show them.
#[derive(Serialize, ToSchema)]
pub struct SenderDisplay<'a> {
    sender_name: &'a str,
    postal_address: &'a str,
    contact: &'a str,
    on_behalf_of: Option<&'a str>,
    opt_out_url: Option<&'a str>,
}

#[utoipa::path(get, path = "/v1/check", tag = "check", params(CheckQuery),
    responses((status = 200, body = CheckAnswer), (status = 400, description = "`invalid_email`", body = Problem),
              (status = 404, description = "`unknown_list`", body = Problem)),
    security(("bearer" = [])))]
pub async fn check(
    caller: SenderKey,
    state: web::Data<AppState>,
    query: web::Query<CheckQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = load_list(&state, &caller.sender_id, &query.list).await?;
    let email = EmailAddress::parse(&query.email)?;
    let sender = load_sender(&state, &caller.sender_id).await?;
    let address_key = state.secrets.hasher.address_key(&email);
    let verdict = state
        .checks
        .check(caller.sender_id.clone(), list.list.id.clone(), address_key)
        .await?;
    if verdict.allowed {
        state.sends_checked.add(&caller.sender_id);
    }
    let unsubscribe = verdict
        .row
        .as_ref()
        .filter(|_| verdict.allowed)
        .map(|r| unsubscribe_url(&state, &r.consent_id));
    let headers = unsubscribe.as_ref().map(|url| {
        let mut value = format!("<{url}>");
        if let Some(mailto) = &state.settings.mail.unsubscribe_mailto {
            value.push_str(&format!(", <mailto:{mailto}?subject=unsubscribe>"));
        }
        MailHeaders {
            list_unsubscribe: value,
            list_unsubscribe_post: "List-Unsubscribe=One-Click",
            list_id: format!("<{}.{}.consentry>", list.list.slug, sender.id),
            feedback_id: format!("{}:{}:consentry", list.list.slug, sender.id),
        }
    });
    let row = verdict.row.as_ref();
    let answer = CheckAnswer {
        email: email.as_str(),
        list: &list.list.slug,
        allowed: verdict.allowed,
        reason: verdict.reason,
        consent_id: row.map(|r| &r.consent_id),
        confirmed_at: row.and_then(|r| r.confirmed_at).map(crate::clock::rfc3339),
        evidence_sha256: row.map(|r| r.evidence_sha256.as_str()),
        display: SenderDisplay {
            sender_name: &sender.legal_name,
            postal_address: &sender.postal_address,
            contact: &sender.contact,
            on_behalf_of: sender.on_behalf_of.as_deref(),
            opt_out_url: unsubscribe.as_deref(),
        },
        unsubscribe_url: unsubscribe.as_deref(),
        headers,
    };
    // Written once into a buffer of about its size, not grown from empty as `json()` does.
    let mut body = Vec::with_capacity(ANSWER_BYTES);
    serde_json::to_writer(&mut body, &answer).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// About the size of an allowed answer.
const ANSWER_BYTES: usize = 1280;
