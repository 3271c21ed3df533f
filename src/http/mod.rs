//! The HTTP surface: routes, body limits and the problem answers for malformed requests.

pub mod audit;
pub mod auth;
mod batch_answers;
mod batch_lines;
pub mod body;
pub mod check;
mod check_answer;
pub mod check_batch;
pub mod complaints;
pub mod connections;
pub mod consents;
pub mod error;
pub mod evidence;
mod json_out;
pub mod lists;
mod observed;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod receipts;
pub mod report;
pub mod reputation;
pub mod subjects;
pub mod unsubscribes;
pub mod webhook;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use error::ApiError;

/// A resource with its methods; any other method answers `405` in problem JSON with the
/// `Allow` header naming the ones it has (RFC 9110 section 15.5.6).
macro_rules! resource {
    ($path:expr $(, $method:ident => $handler:expr)+ $(,)?) => {{
        let allow = [$(stringify!($method).to_uppercase()),+].join(", ");
        web::resource($path)
            $(.route(web::$method().to($handler)))+
            .default_service(web::to(move || method_not_allowed(allow.clone())))
    }};
}

/// Registers every route. `max_body` bounds JSON bodies.
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body)
            .error_handler(move |err, _| json_error(err, max_body).into()),
    )
    .app_data(
        web::PathConfig::default().error_handler(|err: PathError, _| {
            ApiError::InvalidRequest(format!("bad path parameter: {err}")).into()
        }),
    )
    .app_data(
        web::QueryConfig::default().error_handler(|err: QueryPayloadError, _| {
            ApiError::InvalidRequest(format!("bad query string: {err}")).into()
        }),
    )
    // Routes are tried in order, and the check is the call senders make before every send:
    // it goes first, ahead of the patterns with path parameters.
    .service(resource!("/v1/check", get => check::check, post => check_batch::check_batch))
    .service(resource!("/healthz", get => ops::healthz))
    .service(resource!("/readyz", get => ops::readyz))
    .service(resource!("/metrics", get => ops::metrics))
    .service(resource!("/openapi.json", get => ops::openapi))
    .service(resource!("/v1/lists", get => lists::list_lists, post => lists::create_list))
    .service(resource!("/v1/lists/{slug}", get => lists::get_list, put => lists::update_list))
    .service(resource!("/v1/consents", post => consents::create_consent))
    .service(resource!("/v1/consents/{id}", get => consents::get_consent))
    .service(resource!("/v1/consents/{id}/resend", post => consents::resend))
    .service(resource!("/v1/consents/{id}/receipt", get => receipts::receipt))
    .service(resource!("/v1/subjects", get => subjects::access, delete => subjects::erase))
    .service(resource!(
        "/v1/webhook",
        get => webhook::show,
        put => webhook::save,
        delete => webhook::remove
    ))
    .service(resource!("/v1/audit/events", get => audit::export_events))
    .service(resource!("/v1/audit/verify", get => audit::verify))
    .service(resource!("/v1/audit/checkpoint", get => audit::checkpoint))
    .service(resource!("/.well-known/jwks.json", get => audit::signing_keys))
    .service(resource!("/v1/unsubscribes", post => unsubscribes::record_unsubscribe))
    .service(resource!("/v1/complaints", post => complaints::record_complaint))
    .service(resource!("/v1/evidence", post => complaints::lookup_evidence))
    .service(resource!("/v1/reputation", get => reputation::reputation))
    .service(resource!("/report", get => report::report_page, post => report::report))
    .service(resource!("/c/{token}", get => pages::confirm_page, post => pages::confirm))
    .service(resource!("/r/{token}", get => pages::refuse_page, post => pages::refuse))
    .service(resource!("/u/{token}", get => pages::unsubscribe_page, post => pages::unsubscribe))
    .default_service(web::to(not_found));
}

fn json_error(err: JsonPayloadError, max_body: usize) -> ApiError {
    match err {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType("application/json"),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge(max_body)
        }
        JsonPayloadError::Deserialize(e) => ApiError::InvalidJson(e.to_string()),
        other => ApiError::InvalidJson(other.to_string()),
    }
}

/// A streamed response body fed by a channel (a producer on another task or thread); an
/// error item breaks the transfer off.
pub fn channel_body<E: Into<actix_web::Error> + 'static>(
    rx: tokio::sync::mpsc::Receiver<Result<web::Bytes, E>>,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map_err(Into::into), rx))
    })
}

async fn not_found(_: HttpRequest) -> HttpResponse {
    ApiError::NotFound.error_response()
}

async fn method_not_allowed(allow: String) -> HttpResponse {
    let mut response = ApiError::MethodNotAllowed.error_response();
    if let Ok(value) = header::HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
