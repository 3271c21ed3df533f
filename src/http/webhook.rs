//! `/v1/webhook`: the sender's endpoint for ledger events (confirmed, unsubscribed, refused,
//! ...), delivered from the outbox at least once and signed per Standard Webhooks.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::SenderKey;
use super::error::{ApiError, Problem};
use crate::clock;
use crate::domain::webhook::{parse_event_kinds, WebhookUrl};
use crate::flows::webhook::{configure, remove as remove_webhook, WebhookConfig};
use crate::state::AppState;
use crate::views::webhook::webhook_view;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// `https://...`; private, loopback and link-local targets are refused.
    url: String,
    /// Any of `confirmed`, `refused`, `unsubscribed`, `expired`, `confirmation_failed`, `erased`.
    #[schema(min_items = 1)]
    events: Vec<String>,
    /// Replace the signing secret (default: an existing endpoint keeps its secret).
    #[serde(default)]
    rotate_secret: bool,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookSaved {
    url: String,
    events: Vec<String>,
    /// `whsec_...`: the HMAC key of `webhook-signature` (base64 after the prefix).
    secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct Deliveries {
    /// Waiting for their first attempt or a retry.
    queued: i64,
    /// Given up after the last retry.
    failed: i64,
    last_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookShown {
    url: String,
    events: Vec<String>,
    created_at: String,
    updated_at: String,
    deliveries: Deliveries,
}

/// Sets the endpoint and the event kinds it receives. The answer carries the signing secret.
#[utoipa::path(put, path = "/v1/webhook", tag = "webhooks", request_body = WebhookBody,
    responses((status = 200, body = WebhookSaved), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn save(
    caller: SenderKey,
    state: web::Data<AppState>,
    body: web::Json<WebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let url = WebhookUrl::parse(&body.url, state.settings.webhooks.allow_private_targets)?;
    let kinds: Vec<String> = parse_event_kinds(&body.events)?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let config = WebhookConfig {
        url,
        kinds,
        rotate_secret: body.rotate_secret,
    };
    let sender_id = caller.sender_id.clone();
    let (saved, config) = state
        .db
        .run(move |conn| Ok((configure(conn, &sender_id, &config)?, config)))
        .await?;
    let kinds = config.kinds;
    Ok(HttpResponse::Ok().json(WebhookSaved {
        url: saved.url,
        events: kinds,
        secret: saved.secret,
    }))
}

/// The endpoint and how its deliveries are going (never the secret).
#[utoipa::path(get, path = "/v1/webhook", tag = "webhooks",
    responses((status = 200, body = WebhookShown), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn show(caller: SenderKey, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let sender_id = caller.sender_id.clone();
    let (hook, stats) = state
        .db
        .run(move |conn| webhook_view(conn, &sender_id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(WebhookShown {
        events: hook.kinds(),
        url: hook.url,
        created_at: clock::rfc3339(hook.created_at),
        updated_at: clock::rfc3339(hook.updated_at),
        deliveries: Deliveries {
            queued: stats.queued,
            failed: stats.failed,
            last_error: stats.last_error,
        },
    }))
}

/// Removes the endpoint; deliveries not yet made are dropped.
#[utoipa::path(delete, path = "/v1/webhook", tag = "webhooks",
    responses((status = 204), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn remove(
    caller: SenderKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sender_id = caller.sender_id.clone();
    let removed = state
        .db
        .run(move |conn| remove_webhook(conn, &sender_id))
        .await?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}
