//! `GET /report` and `POST /report`: a recipient reports a mail without an account by pasting
//! its headers. The mail's own signed unsubscribe link (or a confirmation mail's refuse
//! link) is the only authority; GET changes nothing.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::complaints::read_bounded;
use super::observed::observed;
use super::pages::{language_of, page_response};
use crate::clock;
use crate::domain::complaint::{ComplaintAction, ComplaintSource, FeedbackType};
use crate::domain::report;
use crate::flows::complaints::{take_and_show, Intake};
use crate::state::AppState;

/// What the report pages show (the layout's sender box included).
#[derive(Serialize, Default)]
struct ReportView {
    lang: &'static str,
    other_lang_url: String,
    action_url: String,
    sender_legal_name: String,
    sender_postal_address: String,
    sender_contact: String,
    list_name: String,
    suppressed: bool,
    requested_at: String,
    confirmed_at: Option<String>,
    collection_method: String,
    source_url: Option<String>,
}

fn render(state: &AppState, page: &str, status: StatusCode, mut view: ReportView) -> HttpResponse {
    let other = if view.lang == "ja" { "en" } else { "ja" };
    view.other_lang_url = format!("/report?lang={other}");
    view.action_url = format!("/report?lang={}", view.lang);
    page_response(state, page, view.lang, &view, status)
}

/// A time as the page shows it: minutes, UTC.
fn shown(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// The report form (HTML, ja/en, `?lang=` overrides). Changes nothing.
#[utoipa::path(get, path = "/report", tag = "pages", params(("lang" = Option<String>, Query)),
    responses((status = 200, content_type = "text/html")))]
pub async fn report_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let view = ReportView {
        lang: language_of(&req),
        ..ReportView::default()
    };
    render(&state, "report", StatusCode::OK, view)
}

/// Reads the pasted headers (form field `headers`), unsubscribes the address from that list
/// (a confirmation mail's headers: suppresses confirmation mail to it), records the complaint
/// (source `recipient_page`) and shows what the sender holds. No valid link: a page saying
/// so (400), nothing recorded.
#[utoipa::path(post, path = "/report", tag = "pages", params(("lang" = Option<String>, Query)),
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses((status = 200, content_type = "text/html"), (status = 400, description = "no link of this service in the headers", content_type = "text/html"),
              (status = 413, content_type = "text/html")))]
pub async fn report(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let lang = language_of(&req);
    let unknown = |state: &AppState, status| {
        let view = ReportView {
            lang,
            ..ReportView::default()
        };
        render(state, "report_unknown", status, view)
    };
    let bytes = match read_bounded(&state, payload, state.settings.http.max_report_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => {
            use actix_web::ResponseError;
            return unknown(&state, error.status_code());
        }
    };
    let pasted: String = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "headers")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let report = report::read(pasted.as_bytes(), &state.settings.http.base_url);
    let seen = observed(&state, &req);
    let keys = state.secrets.clone();
    let base_url = state.settings.http.base_url.clone();
    let result = state
        .db
        .run(move |conn| {
            let now = clock::now();
            let intake = Intake {
                sender_id: None,
                report: &report,
                feedback_type: FeedbackType::Abuse,
                source: ComplaintSource::RecipientPage,
                received_at: now,
                note: None,
                observed: seen,
            };
            let (outcome, evidence) =
                take_and_show(conn, &intake, &keys.token_keys, &base_url, now)?;
            Ok(evidence.map(|e| (outcome.action, e)))
        })
        .await;
    let (action, evidence) = match result {
        Ok(Some(found)) => found,
        Ok(None) => return unknown(&state, StatusCode::BAD_REQUEST),
        Err(error) => {
            use actix_web::ResponseError;
            return super::error::ApiError::from(error).error_response();
        }
    };
    state.webhook_wake.notify_one();
    let field = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let view = ReportView {
        lang,
        sender_legal_name: field(&evidence.sender, "legal_name"),
        sender_postal_address: field(&evidence.sender, "postal_address"),
        sender_contact: field(&evidence.sender, "contact"),
        list_name: field(&evidence.list, "name"),
        suppressed: action == ComplaintAction::Suppressed,
        requested_at: shown(&evidence.requested_at),
        confirmed_at: evidence.confirmed_at.as_deref().map(shown),
        collection_method: field(&evidence.claimed, "collection_method"),
        source_url: evidence.claimed["source_url"].as_str().map(str::to_owned),
        ..ReportView::default()
    };
    render(&state, "reported", StatusCode::OK, view)
}
