//! `GET /v1/reputation`: the calling sender's counts and rates over the window, its standing
//! with its daily confirmation-mail cap, and the active signals.

use actix_web::{web, HttpResponse};

use super::auth::ReaderKey;
use super::error::{ApiError, Problem};
use crate::state::AppState;
use crate::views::reputation::{reputation as reputation_of, Reputation};

#[utoipa::path(get, path = "/v1/reputation", tag = "complaints",
    responses((status = 200, body = Reputation), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn reputation(
    caller: ReaderKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sender_id = caller.sender_id.clone();
    let rules = state.settings.flow.standing.clone();
    let view = state
        .db
        .run(move |conn| reputation_of(conn, &sender_id, &rules, crate::clock::now()))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view))
}
