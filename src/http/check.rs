//! `/v1/check`: may this address be mailed on this list now? One address (GET) or a stream
//! of them (POST, NDJSON or text lines in, NDJSON out, in order, at constant memory).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::SenderKey;
use super::check_answer::{CheckAnswer, MailHeaders, SenderDisplay};
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
    // `concat`, not `format!`: every allowed check builds one, and the formatting machinery
    // was most of its cost.
    [
        state.settings.http.base_url.as_str(),
        "/u/",
        &sign(&state.secrets.token_keys, &claims),
    ]
    .concat()
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
    let headers = unsubscribe.as_deref().map(|url| {
        let (slug, sender_id) = (list.list.slug.as_str(), sender.id.as_str());
        let list_unsubscribe = match &state.settings.mail.unsubscribe_mailto {
            Some(mailto) => ["<", url, ">, <mailto:", mailto, "?subject=unsubscribe>"].concat(),
            None => ["<", url, ">"].concat(),
        };
        MailHeaders {
            list_unsubscribe,
            list_unsubscribe_post: "List-Unsubscribe=One-Click",
            list_id: ["<", slug, ".", sender_id, ".consentry>"].concat(),
            feedback_id: [slug, ":", sender_id, ":consentry"].concat(),
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
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(answer.to_json()))
}
