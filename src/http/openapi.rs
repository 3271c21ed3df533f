//! The OpenAPI document, generated from the handlers' annotations.

use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Consentry", description = "Proves opt-in consent for email: double opt-in, compliance checks, one-click unsubscribe, tamper-evident ledger."),
    paths(
        super::lists::create_list, super::lists::list_lists, super::lists::get_list,
        super::lists::update_list,
        super::consents::create_consent, super::consents::get_consent, super::consents::resend,
        super::receipts::receipt,
        super::subjects::access, super::subjects::erase,
        super::webhook::save, super::webhook::show, super::webhook::remove,
        super::audit::export_events, super::audit::verify, super::audit::checkpoint,
        super::audit::signing_keys,
        super::check::check, super::check_batch::check_batch,
        super::unsubscribes::record_unsubscribe,
        super::complaints::record_complaint, super::complaints::lookup_evidence,
        super::reputation::reputation, super::report::report_page, super::report::report,
        super::pages::confirm_page, super::pages::confirm, super::pages::refuse_page,
        super::pages::refuse, super::pages::unsubscribe_page, super::pages::unsubscribe,
        super::ops::healthz, super::ops::readyz, super::ops::metrics, super::ops::openapi,
    ),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("csk_<key id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// Rendered once at start-up and served as is.
pub struct Document {
    pub json: actix_web::web::Bytes,
}

impl Document {
    pub fn build() -> Result<Self, serde_json::Error> {
        let mut doc = serde_json::to_value(ApiDoc::openapi())?;
        with_every_answer(&mut doc);
        Ok(Self {
            json: serde_json::to_vec_pretty(&doc)?.into(),
        })
    }
}

/// Answers any operation can give besides its own: every error is problem JSON, and the
/// layers in front of each handler (authentication, body and connection limits, storage)
/// answer the same way on every route. A client generated from the document then knows
/// every status and content type it can meet.
fn with_every_answer(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let secured = operation.get("security").is_some();
            let has_body = operation.get("requestBody").is_some();
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                if status.starts_with('4') || status.starts_with('5') {
                    as_problem(response);
                }
            }
            let common = COMMON.iter().filter(|(_, _, when)| match when {
                When::Always => true,
                When::Secured => secured,
                When::WithBody => has_body,
            });
            for (status, description, _) in common {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem(description));
            }
        }
    }
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

enum When {
    Always,
    Secured,
    WithBody,
}

const COMMON: &[(&str, &str, When)] = &[
    (
        "400",
        "`invalid_request`: a malformed query, path or header",
        When::Always,
    ),
    (
        "401",
        "`unauthorized`: a missing, unknown or revoked key",
        When::Secured,
    ),
    (
        "403",
        "`forbidden`: this key's role may not use this operation",
        When::Secured,
    ),
    ("404", "`not_found`", When::Always),
    ("405", "`method_not_allowed`, with `Allow`", When::Always),
    (
        "408",
        "`request_timeout`: the body did not arrive in time",
        When::WithBody,
    ),
    ("413", "`payload_too_large`", When::WithBody),
    ("415", "`unsupported_media_type`", When::WithBody),
    (
        "429",
        "`rate_limited`, with `Retry-After`: a quota, a failed-key limit or too many connections",
        When::Always,
    ),
    ("500", "`internal`", When::Always),
    (
        "503",
        "`unavailable`, with `Retry-After`: storage is unavailable",
        When::Always,
    ),
];

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// An error answer declared as `application/json` is really `application/problem+json`.
fn as_problem(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(json) = content.remove("application/json") {
        content.insert("application/problem+json".into(), json);
    }
}
