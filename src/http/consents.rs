//! `/v1/consents`: start a double opt-in, read a consent with its events, resend.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::{ReaderKey, SenderKey};
use super::error::{ApiError, Problem};
use super::evidence::{parse_evidence, EvidenceBody};
use super::lists::load_list;
use crate::domain::canonical::canonical_json;
use crate::domain::email::EmailAddress;
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::list::Locale;
use crate::flows::consents::{self, IdempotencyKey, SignupRequest};
use crate::flows::signup::SignupAnswer;
use crate::flows::{Confirmation, ThrottleReason};
use crate::state::AppState;
use crate::views::consent::{consent_view, ConsentView};
use crate::views::evidence::evidence_for;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    /// The list's slug.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    list: String,
    #[schema(min_length = 1, max_length = 320)]
    email: String,
    /// `ja` or `en`; default: the list's locale.
    #[schema(pattern = "^(ja|en)$")]
    locale: Option<String>,
    evidence: Option<EvidenceBody>,
}

/// The 202 body of a signup.
#[derive(Serialize, ToSchema)]
pub struct SignupAccepted {
    id: ConsentId,
    list: String,
    /// `pending` | `confirmed` | `suppressed`
    status: String,
    /// `queued` | `throttled` | `suppressed` | `not_needed`
    #[schema(value_type = String)]
    confirmation: Confirmation,
    /// With `throttled`: `address_cap` | `client_ip_cap` | `probation_cap` | `standing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    throttle_reason: Option<ThrottleReason>,
}

impl From<SignupAnswer> for SignupAccepted {
    fn from(answer: SignupAnswer) -> Self {
        Self {
            id: answer.consent_id,
            list: answer.list,
            status: answer.status,
            confirmation: answer.confirmation,
            throttle_reason: answer.throttle_reason,
        }
    }
}

/// Rate limit for requests that may send mail.
pub fn check_quota(state: &AppState, sender_id: &SenderId) -> Result<(), ApiError> {
    state
        .limiter
        .check(sender_id)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })
}

/// The `Idempotency-Key` header, if any: 1-255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::InvalidRequest("Idempotency-Key must be ASCII".into()))?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::InvalidRequest(
            "Idempotency-Key must be 1-255 visible ASCII characters".into(),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Parses the body into a signup request for the caller's sender.
async fn parse_signup(
    state: &AppState,
    sender_id: &SenderId,
    req: &HttpRequest,
    body: Value,
) -> Result<SignupRequest, ApiError> {
    let key = idempotency_key(req)?;
    // Keyed: the body holds the address, and a plain digest of it could be matched.
    let request_sha256 = state.secrets.hasher.request_key(&canonical_json(&body));
    let body: SignupBody =
        serde_json::from_value(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let list = load_list(state, sender_id, &body.list).await?;
    let email = EmailAddress::parse(&body.email)?;
    let locale = match &body.locale {
        Some(l) => Locale::parse(l)?.as_str(),
        None => Locale::parse(&list.list.locale)?.as_str(),
    };
    let evidence = parse_evidence(body.evidence.unwrap_or_default(), &list)?;
    let hasher = &state.secrets.hasher;
    Ok(SignupRequest {
        sender_id: sender_id.to_owned(),
        client_ip_key: evidence.ip.as_deref().map(|ip| hasher.ip_key(ip)),
        network_key: evidence.ip.as_deref().and_then(|ip| hasher.network_key(ip)),
        address_key: hasher.address_key(&email),
        abuse_key: hasher.abuse_key(&email),
        list,
        email,
        locale,
        evidence,
        idempotency: key.map(|key| IdempotencyKey {
            key: hasher.idempotency_key(&key),
            request_sha256,
        }),
    })
}

#[utoipa::path(post, path = "/v1/consents", tag = "consents", request_body = SignupBody,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "1-255 visible ASCII characters; same key + same body → same answer; other body → 409")),
    responses((status = 202, body = SignupAccepted), (status = 400, body = Problem),
              (status = 404, description = "`unknown_list`", body = Problem),
              (status = 409, description = "`idempotency_conflict`", body = Problem),
              (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_consent(
    caller: SenderKey,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    check_quota(&state, &caller.sender_id)?;
    let request = parse_signup(&state, &caller.sender_id, &req, body.into_inner()).await?;
    let signed = consents::start(&state.db, request, state.settings.flow.clone()).await?;
    if signed.mail_queued {
        state.mail_wake.notify_one();
    }
    Ok(HttpResponse::Accepted().json(SignupAccepted::from(signed.answer)))
}

#[utoipa::path(get, path = "/v1/consents/{id}", tag = "consents",
    params(("id" = String, Path)),
    responses((status = 200, body = ConsentView,
        description = "JSON; with `Accept: text/html` the printable evidence for a complaint desk or an ISP (ja/en by `Accept-Language`, `?lang=`)"),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_consent(
    caller: ReaderKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = ConsentId::parse(&id)?;
    let sender_id = caller.sender_id.clone();
    if super::subjects::wants_html(&req) {
        return printable(&state, sender_id, id, &req).await;
    }
    let view = state
        .db
        .run(move |conn| consent_view(conn, &sender_id, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view))
}

async fn printable(
    state: &AppState,
    sender_id: SenderId,
    id: ConsentId,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let base_url = state.settings.http.base_url.clone();
    let (view, evidence) = state
        .db
        .run(move |conn| evidence_for(conn, &sender_id, &id, &base_url))
        .await?
        .ok_or(ApiError::NotFound)?;
    let lang = super::pages::language_of(req);
    let body = crate::views::evidence::printable(&state.templates, &view, &evidence, lang)
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(super::pages::html_response(
        actix_web::http::StatusCode::OK,
        body,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ResendAnswer {
    /// `queued` | `throttled` | `suppressed` | `not_needed`
    #[schema(value_type = String)]
    confirmation: Confirmation,
    /// With `throttled`: `address_cap` | `client_ip_cap` | `probation_cap` | `standing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    throttle_reason: Option<ThrottleReason>,
}

#[utoipa::path(post, path = "/v1/consents/{id}/resend", tag = "consents",
    params(("id" = String, Path)),
    responses((status = 202, body = ResendAnswer), (status = 404, body = Problem),
              (status = 409, description = "`not_pending`: expired, refused or unsubscribed", body = Problem),
              (status = 429, body = Problem)),
    security(("bearer" = [])))]
pub async fn resend(
    caller: SenderKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_quota(&state, &caller.sender_id)?;
    let id = ConsentId::parse(&id)?;
    let sender_id = caller.sender_id.clone();
    let rules = state.settings.flow.clone();
    let mailing = state
        .db
        .run(move |conn| Ok(consents::resend(conn, &sender_id, &id, &rules)))
        .await??;
    if mailing.confirmation == Confirmation::Queued {
        state.mail_wake.notify_one();
    }
    Ok(HttpResponse::Accepted().json(ResendAnswer {
        confirmation: mailing.confirmation,
        throttle_reason: mailing.throttle_reason,
    }))
}
