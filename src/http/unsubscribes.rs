//! `POST /v1/unsubscribes`: opt-outs received any other way (reply mail, phone, letter).

use actix_web::{web, HttpResponse};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::SenderKey;
use super::error::{ApiError, Problem};
use super::lists::load_list;
use crate::db::{lists, write_transaction};
use crate::domain::email::EmailAddress;
use crate::flows::optout::{record, OptOut};
use crate::state::AppState;

const CHANNELS: &[&str] = &["reply_mail", "phone", "web", "letter", "other"];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeBody {
    email: String,
    /// One list's slug; omitted: every list of this sender.
    list: Option<String>,
    /// `reply_mail` | `phone` | `web` | `letter` | `other`
    channel: String,
    /// When the opt-out reached the sender (RFC 3339); default: now.
    received_at: Option<String>,
    /// Kept with the personal data (erasable), never in the chain itself.
    note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UnsubscribeAnswer {
    /// Slugs of the lists the address is now unsubscribed from.
    unsubscribed: Vec<String>,
}

#[utoipa::path(post, path = "/v1/unsubscribes", tag = "check", request_body = UnsubscribeBody,
    responses((status = 200, body = UnsubscribeAnswer), (status = 400, body = Problem),
              (status = 404, description = "`unknown_list`", body = Problem)),
    security(("bearer" = [])))]
pub async fn record_unsubscribe(
    caller: SenderKey,
    state: web::Data<AppState>,
    body: web::Json<UnsubscribeBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = EmailAddress::parse(&body.email)?;
    if !CHANNELS.contains(&body.channel.as_str()) {
        return Err(ApiError::InvalidRequest(format!(
            "`channel` must be one of {}",
            CHANNELS.join(", ")
        )));
    }
    let received_at = match &body.received_at {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map_err(|_| ApiError::InvalidRequest("`received_at` must be an RFC 3339 time".into()))?
            .naive_utc(),
        None => crate::clock::now(),
    };
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::InvalidRequest(
            "`note` must be at most 2000 characters".into(),
        ));
    }
    let list_id = match &body.list {
        Some(slug) => Some(
            load_list(&state, &caller.sender_id, slug)
                .await?
                .list
                .id
                .clone(),
        ),
        None => None,
    };
    let address_key = state.secrets.hasher.address_key(&email);
    let sender_id = caller.sender_id.clone();
    let slugs = state
        .db
        .run(move |conn| {
            let opt_out = OptOut {
                sender_id: &sender_id,
                address_key: &address_key,
                email: email.as_str(),
                list_id: list_id.as_deref(),
                channel: &body.channel,
                received_at,
                note: body.note.clone(),
            };
            let ids = write_transaction(conn, |conn| record(conn, &opt_out, crate::clock::now()))?;
            let all = lists::list_lists(conn, &sender_id)?;
            Ok(all
                .into_iter()
                .filter(|l| ids.contains(&l.id))
                .map(|l| l.slug)
                .collect())
        })
        .await?;
    state.webhook_wake.notify_one();
    Ok(HttpResponse::Ok().json(UnsubscribeAnswer {
        unsubscribed: slugs,
    }))
}
