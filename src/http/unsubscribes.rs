//! `POST /v1/unsubscribes`: opt-outs received any other way (reply mail, phone, letter).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::SenderKey;
use super::error::{ApiError, Problem};
use super::lists::load_list;
use crate::domain::email::EmailAddress;
use crate::domain::field::{one_of, parse_time, FieldError, NOT_A_CHANNEL, OPT_OUT_CHANNELS};
use crate::flows::subject_requests::{record_unsubscribe as record, OptOut};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeBody {
    #[schema(min_length = 1, max_length = 320)]
    email: String,
    /// One list's slug; omitted: every list of this sender.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    list: Option<String>,
    /// `reply_mail` | `phone` | `web` | `letter` | `other`
    #[schema(pattern = "^(reply_mail|phone|web|letter|other)$")]
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
    let channel = one_of("channel", body.channel, OPT_OUT_CHANNELS, NOT_A_CHANNEL)?;
    let received_at = match &body.received_at {
        Some(t) => parse_time("received_at", t)?,
        None => crate::clock::now(),
    };
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(FieldError::new("note", "must be at most 2000 characters").into());
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
        .write(move |conn| {
            let opt_out = OptOut {
                sender_id: &sender_id,
                address_key: &address_key,
                email: email.as_str(),
                list_id: list_id.as_ref(),
                channel: &channel,
                received_at,
                note: body.note.clone(),
            };
            record(conn, &opt_out, crate::clock::now())
        })
        .await?;
    state.webhook_wake.notify_one();
    Ok(HttpResponse::Ok().json(UnsubscribeAnswer {
        unsubscribed: slugs,
    }))
}
