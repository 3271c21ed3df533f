//! `/v1/consents`: start a double opt-in, read a consent with its events, resend.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::{ReaderKey, SenderKey};
use super::error::{ApiError, Problem};
use super::evidence::{parse_evidence, EvidenceBody};
use super::lists::load_list;
use crate::clock;
use crate::db::ledger::EventWithPii;
use crate::db::{
    consents as store, idempotency, ledger, lists, write_transaction, DbConn, StoreError,
};
use crate::domain::canonical::canonical_json;
use crate::domain::email::EmailAddress;
use crate::domain::ledger::PiiRecord;
use crate::domain::list::Locale;
use crate::flows::pending::{resend as resend_flow, Resend};
use crate::flows::signup::{signup, Signup, SignupAnswer};
use crate::flows::Confirmation;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    /// The list's slug.
    list: String,
    email: String,
    /// `ja` or `en`; default: the list's locale.
    locale: Option<String>,
    evidence: Option<EvidenceBody>,
}

/// Rate limit for requests that may send mail.
pub fn check_quota(state: &AppState, sender_id: &str) -> Result<(), ApiError> {
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

enum Recorded {
    Answer(SignupAnswer, bool),
    Conflict,
}

#[utoipa::path(post, path = "/v1/consents", tag = "consents", request_body = SignupBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "same key + same body → same answer; other body → 409")),
    responses((status = 202, body = SignupAnswerDoc), (status = 400, body = Problem),
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
    let key = idempotency_key(&req)?;
    // Keyed: the body holds the address, and a plain digest of it could be matched.
    let request_sha256 = state.secrets.hasher.request_key(&canonical_json(&body));
    let body: SignupBody = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let list = load_list(&state, &caller.sender_id, &body.list).await?;
    let email =
        EmailAddress::parse(&body.email).map_err(|e| ApiError::InvalidEmail(e.to_string()))?;
    let locale = match &body.locale {
        Some(l) => Locale::parse(l)?.as_str(),
        None => Locale::parse(&list.list.locale)?.as_str(),
    };
    let evidence = parse_evidence(body.evidence.unwrap_or_default(), &list)?;
    let hasher = &state.secrets.hasher;
    let client_ip_key = evidence.ip.as_deref().map(|ip| hasher.ip_key(ip));
    let (address_key, abuse_key) = (hasher.address_key(&email), hasher.abuse_key(&email));
    let sender_id = caller.sender_id.clone();
    let rules = state.settings.flow.clone();
    let record = move |conn: &mut DbConn| -> Result<Recorded, StoreError> {
        write_transaction(conn, |conn| {
            if let Some(key) = &key {
                if let Some((digest, _, stored)) = idempotency::find_answer(conn, &sender_id, key)?
                {
                    return Ok(match serde_json::from_str(&stored) {
                        Ok(answer) if digest == request_sha256 => Recorded::Answer(answer, false),
                        _ => Recorded::Conflict,
                    });
                }
            }
            let request = Signup {
                sender_id: &sender_id,
                list: &list.list,
                email: &email,
                address_key: address_key.clone(),
                abuse_key: abuse_key.clone(),
                client_ip_key: client_ip_key.clone(),
                locale,
                evidence: evidence.clone(),
            };
            let (answer, queued) = signup(conn, &request, &rules, clock::now())?;
            if let Some(key) = &key {
                let stored = serde_json::to_string(&answer).unwrap_or_default();
                idempotency::store_answer(conn, &sender_id, key, &request_sha256, 202, &stored)?;
            }
            Ok(Recorded::Answer(answer, queued))
        })
    };
    // Two requests racing for the same new subscription or idempotency key: the loser's
    // insert fails on a unique constraint; once more finds the winner's rows.
    let outcome = match state.db.run(record.clone()).await {
        Err(e) if e.is_unique_violation() => state.db.run(record).await?,
        other => other?,
    };
    match outcome {
        Recorded::Conflict => Err(ApiError::Conflict {
            code: "idempotency_conflict",
            detail: "this Idempotency-Key was used with a different request body".into(),
        }),
        Recorded::Answer(answer, queued) => {
            if queued {
                state.mail_wake.notify_one();
            }
            Ok(HttpResponse::Accepted().json(answer))
        }
    }
}

/// The 202 body of a signup.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SignupAnswerDoc {
    id: String,
    list: String,
    /// `pending` | `confirmed` | `suppressed`
    status: String,
    /// `queued` | `throttled` | `suppressed` | `not_needed`
    confirmation: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    seq: i64,
    kind: String,
    at: String,
    #[schema(value_type = Object)]
    data: Value,
    /// The personal data recorded with the event (`email`, `ip`, `user_agent`, `note`,
    /// `salt`); `null` when none was recorded or it was erased.
    #[schema(value_type = Option<Object>)]
    pii: Option<PiiRecord>,
    pii_sha256: Option<String>,
    /// The event's hash in the sender's chain.
    hash: String,
}

impl From<EventWithPii> for EventView {
    fn from((event, pii): EventWithPii) -> Self {
        Self {
            seq: event.seq,
            kind: event.kind,
            at: clock::rfc3339(event.at),
            data: serde_json::from_str(&event.data).unwrap_or(Value::Null),
            pii: pii.and_then(|p| p.record()),
            pii_sha256: event.pii_sha256,
            hash: event.hash,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    id: String,
    list: String,
    /// `null` once erased.
    email: Option<String>,
    status: String,
    locale: String,
    consent_text_sha256: String,
    evidence_sha256: String,
    requested_at: String,
    confirmed_at: Option<String>,
    unsubscribed_at: Option<String>,
    /// When the request ended: unsubscribed, refused, expired or erased.
    ended_at: Option<String>,
    expires_at: String,
    collection_method: String,
    source_url: Option<String>,
    /// When its personal data was erased (on request or after retention).
    minimised_at: Option<String>,
    events: Vec<EventView>,
}

impl ConsentView {
    /// The list's slug.
    pub fn list(&self) -> &str {
        &self.list
    }
}

#[utoipa::path(get, path = "/v1/consents/{id}", tag = "consents",
    params(("id" = String, Path)),
    responses((status = 200, body = ConsentView), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_consent(
    caller: ReaderKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let sender_id = caller.sender_id.clone();
    let view = state
        .db
        .run(move |conn| consent_view(conn, &sender_id, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view))
}

/// A consent of this sender with its events; `None` if it has no such consent.
pub fn consent_view(
    conn: &mut DbConn,
    sender_id: &str,
    id: &str,
) -> Result<Option<ConsentView>, StoreError> {
    let Some(consent) = store::find_consent(conn, sender_id, id)? else {
        return Ok(None);
    };
    let email = crate::db::subscriptions::find_subscription_by_id(conn, &consent.subscription_id)?
        .and_then(|s| s.email);
    let list = lists::find_list_by_id(conn, &consent.list_id)?
        .map(|l| l.slug)
        .unwrap_or_default();
    let events = ledger::events_for_consent(conn, sender_id, id)?
        .into_iter()
        .map(EventView::from)
        .collect();
    let ended = consent
        .ended_at
        .filter(|_| consent.status == "unsubscribed");
    Ok(Some(ConsentView {
        id: consent.id,
        list,
        email,
        status: consent.status,
        locale: consent.locale,
        consent_text_sha256: consent.consent_text_sha256,
        evidence_sha256: consent.evidence_sha256,
        requested_at: clock::rfc3339(consent.requested_at),
        confirmed_at: consent.confirmed_at.map(clock::rfc3339),
        unsubscribed_at: ended.map(clock::rfc3339),
        ended_at: consent.ended_at.map(clock::rfc3339),
        expires_at: clock::rfc3339(consent.expires_at),
        collection_method: consent.collection_method,
        source_url: consent.source_url,
        minimised_at: consent.minimised_at.map(clock::rfc3339),
        events,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ResendAnswer {
    /// `queued` | `throttled` | `suppressed` | `not_needed`
    #[schema(value_type = String)]
    confirmation: Confirmation,
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
    let sender_id = caller.sender_id.clone();
    let rules = state.settings.flow.clone();
    let (outcome, queued) = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                resend_flow(conn, &sender_id, &id, &rules, clock::now())
            })
        })
        .await?;
    if queued {
        state.mail_wake.notify_one();
    }
    match outcome {
        Resend::NotFound => Err(ApiError::NotFound),
        Resend::NotPending => Err(ApiError::Conflict {
            code: "not_pending",
            detail: "only a pending request can be resent; a new signup starts a new double opt-in"
                .into(),
        }),
        Resend::Done(confirmation) => {
            Ok(HttpResponse::Accepted().json(ResendAnswer { confirmation }))
        }
    }
}
