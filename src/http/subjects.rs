//! `/v1/subjects?email=...`: everything this sender holds about one address (access, GDPR
//! Art. 15; as JSON, or with `Accept: text/html` a printable history for auditors) and its
//! erasure (Art. 17).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{ReaderKey, SenderKey};
use super::error::{ApiError, Problem};
use crate::clock;
use crate::domain::email::EmailAddress;
use crate::flows::subject_requests::erase as erase_subject;
use crate::state::AppState;
use crate::views::subject::{page_context, subject_view, SubjectView};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubjectQuery {
    #[param(min_length = 1, max_length = 320)]
    email: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErasureAnswer {
    /// Consent records whose personal data was erased now.
    erased: usize,
}

fn parse_email(raw: &str) -> Result<EmailAddress, ApiError> {
    Ok(EmailAddress::parse(raw)?)
}

pub fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[utoipa::path(get, path = "/v1/subjects", tag = "subjects", params(SubjectQuery),
    responses((status = 200, content((SubjectView = "application/json"), (String = "text/html")),
               description = "JSON; with `Accept: text/html` a printable history (ja/en by `Accept-Language`, `?lang=`)"),
              (status = 400, description = "`invalid_email`", body = Problem)),
    security(("bearer" = [])))]
pub async fn access(
    caller: ReaderKey,
    state: web::Data<AppState>,
    query: web::Query<SubjectQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let email = parse_email(&query.email)?;
    let address_key = state.secrets.hasher.address_key(&email);
    let sender_id = caller.sender_id.clone();
    let html = wants_html(&req);
    let signer = state.clone().into_inner();
    let (view, page) = state
        .db
        .run(move |conn| {
            let view = subject_view(conn, &sender_id, email.as_str(), &address_key)?;
            let page = if html {
                Some(page_context(
                    conn,
                    &sender_id,
                    &view,
                    &signer.secrets.signing_keys,
                )?)
            } else {
                None
            };
            Ok((view, page))
        })
        .await?;
    let Some(page) = page else {
        return Ok(HttpResponse::Ok().json(view));
    };
    let lang = super::pages::language_of(&req);
    let body = state
        .templates
        .render(
            "audit/subject.html",
            serde_json::json!({ "lang": lang, "subject": view, "page": page }),
        )
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(super::pages::html_response(
        actix_web::http::StatusCode::OK,
        body,
    ))
}

/// Erases the address's personal data at this sender; the chain, keyed hashes and
/// suppressions stay. The address may sign up afresh later, through a new double opt-in.
#[utoipa::path(delete, path = "/v1/subjects", tag = "subjects", params(SubjectQuery),
    responses((status = 200, body = ErasureAnswer), (status = 400, description = "`invalid_email`", body = Problem),
        (status = 503, description = "`unavailable`, with `Retry-After`: storage is unavailable, or (SQLite) the data is erased from the tables but the write-ahead log that still holds it could not be truncated yet because readers held it; the retry finishes the erasure", body = Problem)),
    security(("bearer" = [])))]
pub async fn erase(
    caller: SenderKey,
    state: web::Data<AppState>,
    query: web::Query<SubjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let email = parse_email(&query.email)?;
    let address_key = state.secrets.hasher.address_key(&email);
    let sender_id = caller.sender_id.clone();
    let erased = state
        .db
        .run(move |conn| erase_subject(conn, &sender_id, &address_key, clock::now()))
        .await?;
    state.webhook_wake.notify_one();
    tracing::info!(erased, sender = %caller.sender_id, "erased a subject's personal data");
    Ok(HttpResponse::Ok().json(ErasureAnswer { erased }))
}
