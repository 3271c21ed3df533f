//! `POST /v1/complaints` (a feedback loop's ARF report, a reported mail, or JSON) and
//! `POST /v1/evidence` (the headers of a mail → the consent record it was sent on).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{ReaderKey, SenderKey};
use super::error::{ApiError, Problem};
use crate::clock;
use crate::domain::complaint::{ComplaintAction, ComplaintSource, FeedbackType, MailKind};
use crate::domain::field::{parse_time, FieldError};
use crate::domain::ids::ConsentId;
use crate::domain::report::{self, Report};
use crate::flows::complaints::{take_and_show, Intake};
use crate::flows::links::Observed;
use crate::state::AppState;
use crate::views::evidence::{evidence_of, find_target, record_with_evidence, Evidence};

/// A complaint told in JSON (a complaint desk's call, a recipient's letter).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintBody {
    /// The `List-Unsubscribe` link of the reported mail (the check's `unsubscribe_url`).
    #[schema(max_length = 2048)]
    unsubscribe_url: String,
    /// When the complaint was made (RFC 3339); default: now.
    received_at: Option<String>,
    /// `recipient` | `complaint_desk` | `isp` | `other` (default `recipient`).
    #[schema(value_type = Option<String>, pattern = "^(recipient|complaint_desk|isp|other)$")]
    source: Option<ComplaintSource>,
    /// Default `abuse`; `not-spam` is recorded and changes nothing.
    #[schema(value_type = Option<String>, pattern = "^(abuse|fraud|virus|not-spam|auth-failure|other)$")]
    feedback_type: Option<FeedbackType>,
    /// Kept with the personal data (erasable), never in the chain itself.
    #[schema(max_length = 2000)]
    note: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Who passed a mail body on (`recipient` | `complaint_desk` | `isp` | `other`); default:
    /// `feedback_loop` for an ARF report, else `recipient`.
    #[param(value_type = Option<String>, pattern = "^(recipient|complaint_desk|isp|other)$")]
    source: Option<ComplaintSource>,
}

#[derive(Serialize, ToSchema)]
pub struct ComplaintAnswer {
    complaint_id: Option<String>,
    consent_id: Option<ConsentId>,
    list: Option<String>,
    #[schema(value_type = String)]
    kind: MailKind,
    #[schema(value_type = String)]
    feedback_type: FeedbackType,
    /// `unsubscribed` | `already_unsubscribed` | `suppressed` | `recorded` | `not_found`
    #[schema(value_type = String)]
    action: ComplaintAction,
    evidence: Option<Evidence>,
}

/// Reads a body whole, up to `max_bytes`, within the body deadline (as every JSON body is).
pub async fn read_bounded(
    state: &AppState,
    payload: web::Payload,
    max_bytes: usize,
) -> Result<web::Bytes, ApiError> {
    let rules = super::body::BodyRules {
        max_bytes,
        timeout: state.settings.http.body_timeout,
    };
    super::body::read_whole(payload.into_inner(), rules).await
}

fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

const MAIL_TYPES: &[&str] = &["multipart/report", "message/rfc822", "text/plain"];

#[utoipa::path(post, path = "/v1/complaints", tag = "complaints", params(ReportQuery),
    request_body(content(
        (ComplaintBody = "application/json"),
        (String = "multipart/report"),
        (String = "message/rfc822"),
        (String = "text/plain")
    )),
    responses((status = 200, body = ComplaintAnswer,
        description = "Also for a report that names no consent of yours (`action: not_found`): another sender's link answers exactly as an unknown one"),
        (status = 400, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem)),
    security(("bearer" = [])))]
pub async fn record_complaint(
    caller: SenderKey,
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ReportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let media = media_type(&req);
    let settings = &state.settings.http;
    let (report, source, feedback, received_at, note) = if media == "application/json" {
        let bytes = read_bounded(&state, payload, settings.max_body_bytes).await?;
        let body: ComplaintBody =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        let mut report = report::read(body.unsubscribe_url.as_bytes(), &settings.base_url);
        if report.links.is_empty() {
            return Err(FieldError::new(
                "unsubscribe_url",
                "is not one of this service's unsubscribe links",
            )
            .into());
        }
        report.sha256 = report::digest(&bytes);
        let received = body
            .received_at
            .as_deref()
            .map(|t| parse_time("received_at", t))
            .transpose()?;
        let source = body.source.unwrap_or(ComplaintSource::Recipient);
        // Those two are Consentry's own names for an ARF intake and its report page.
        if matches!(
            source,
            ComplaintSource::FeedbackLoop | ComplaintSource::RecipientPage
        ) {
            return Err(FieldError::new(
                "source",
                "must be recipient, complaint_desk, isp or other",
            )
            .into());
        }
        let feedback = body.feedback_type.unwrap_or(FeedbackType::Abuse);
        (report, source, feedback, received, body.note)
    } else if MAIL_TYPES.contains(&media.as_str()) {
        let bytes = read_bounded(&state, payload, settings.max_report_bytes).await?;
        let report = report::read(&bytes, &settings.base_url);
        let source = query.source.unwrap_or(if report.is_arf {
            ComplaintSource::FeedbackLoop
        } else {
            ComplaintSource::Recipient
        });
        let feedback = report.feedback_type.unwrap_or(FeedbackType::Abuse);
        let received = report.arrived_at;
        (report, source, feedback, received, None)
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "application/json, multipart/report, message/rfc822 or text/plain",
        ));
    };
    let sender_id = caller.sender_id.clone();
    let keys = state.secrets.clone();
    let base_url = settings.base_url.clone();
    let (outcome, evidence) = state
        .db
        .run(move |conn| {
            let now = clock::now();
            let intake = Intake {
                sender_id: Some(&sender_id),
                report: &report,
                feedback_type: feedback,
                source,
                received_at: received_at.unwrap_or(now),
                note,
                observed: Observed::default(),
            };
            take_and_show(conn, &intake, &keys.token_keys, &base_url, now)
        })
        .await?;
    if outcome.action != ComplaintAction::NotFound {
        state.webhook_wake.notify_one();
    }
    Ok(HttpResponse::Ok().json(ComplaintAnswer {
        complaint_id: outcome.complaint_id,
        consent_id: outcome.consent_id,
        list: outcome.list,
        kind: outcome.kind,
        feedback_type: outcome.feedback_type,
        action: outcome.action,
        evidence,
    }))
}

/// The headers (or whole source) of a mail, read for Consentry's links and Message-ID.
pub async fn read_mail_body(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Report, ApiError> {
    let media = media_type(req);
    if !MAIL_TYPES.contains(&media.as_str()) {
        return Err(ApiError::UnsupportedMediaType(
            "message/rfc822 or text/plain",
        ));
    }
    let bytes = read_bounded(state, payload, state.settings.http.max_report_bytes).await?;
    Ok(report::read(&bytes, &state.settings.http.base_url))
}

#[utoipa::path(post, path = "/v1/evidence", tag = "complaints",
    request_body(content(
        (String = "message/rfc822"),
        (String = "text/plain")
    )),
    responses((status = 200, description = "The consent record the mail was sent on, as `GET /v1/consents/{id}` shows it, plus `receipt_url`, `mail_kind` (`campaign` | `confirmation_mail`) and `evidence`", body = Object),
        (status = 404, description = "the headers name no consent of this sender", body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem)),
    security(("bearer" = [])))]
pub async fn lookup_evidence(
    caller: ReaderKey,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let report = read_mail_body(&state, &req, payload).await?;
    let sender_id = caller.sender_id.clone();
    let keys = state.secrets.token_keys.clone();
    let base_url = state.settings.http.base_url.clone();
    let found = state
        .db
        .run(move |conn| {
            let now = clock::now().and_utc().timestamp();
            let Some(target) = find_target(conn, &report, &keys, Some(&sender_id), now)? else {
                return Ok(None);
            };
            let kind = target.kind;
            let Some((view, evidence)) = evidence_of(conn, &target.consent, &base_url)? else {
                return Ok(None);
            };
            Ok(Some(record_with_evidence(&view, &evidence, kind)))
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(found))
}
