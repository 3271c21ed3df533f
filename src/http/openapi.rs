//! The OpenAPI document, generated from the handlers' annotations.

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
        Ok(Self {
            json: ApiDoc::openapi().to_pretty_json()?.into(),
        })
    }
}
