//! `/v1/subjects?email=...`: everything this sender holds about one address (access, GDPR
//! Art. 15; as JSON, or with `Accept: text/html` a printable history for auditors) and its
//! erasure (Art. 17).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{ReaderKey, SenderKey};
use super::error::{ApiError, Problem};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::stored::sign_head;
use crate::clock;
use crate::db::senders::{find_sender, Sender};
use crate::db::{consents, lists, subscriptions, suppressions, write_transaction};
use crate::db::{DbConn, StoreError};
use crate::domain::email::EmailAddress;
use crate::flows::erasure::erase_subject;
use crate::state::AppState;
use crate::views::consent::{consent_view, ConsentView};

#[derive(Deserialize, IntoParams)]
pub struct SubjectQuery {
    email: String,
}

#[derive(Serialize, ToSchema)]
pub struct SuppressionView {
    /// `sender` (this sender only) or `global` (every sender).
    scope: String,
    /// `refused` ("this wasn't me") or `erased`.
    reason: String,
    since: String,
}

#[derive(Serialize, ToSchema)]
pub struct SubjectView {
    email: String,
    /// Keyed hash of the address: how records are found again after erasure.
    subject_key: String,
    suppressions: Vec<SuppressionView>,
    /// Every consent record of the address with this sender, oldest first, with events.
    consents: Vec<ConsentView>,
}

#[derive(Serialize, ToSchema)]
pub struct ErasureAnswer {
    /// Consent records whose personal data was erased now.
    erased: usize,
}

/// Every consent record of the address (by its keyed hash) with this sender.
fn subject_view(
    conn: &mut DbConn,
    sender_id: &str,
    email: &str,
    address_key: &str,
) -> Result<SubjectView, StoreError> {
    let mut consents_out = Vec::new();
    for sub in subscriptions::subscriptions_of_address(conn, sender_id, address_key)? {
        for consent in consents::consents_of_subscription(conn, &sub.id)? {
            consents_out.extend(consent_view(conn, sender_id, &consent.id)?);
        }
    }
    let suppressions = suppressions::suppressions_of(conn, sender_id, address_key)?
        .into_iter()
        .map(|(scope, reason, since)| SuppressionView {
            scope,
            reason,
            since: clock::rfc3339(since),
        })
        .collect();
    Ok(SubjectView {
        email: email.to_owned(),
        subject_key: address_key.to_owned(),
        suppressions,
        consents: consents_out,
    })
}

fn parse_email(raw: &str) -> Result<EmailAddress, ApiError> {
    Ok(EmailAddress::parse(raw)?)
}

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

#[utoipa::path(get, path = "/v1/subjects", tag = "subjects", params(SubjectQuery),
    responses((status = 200, body = SubjectView,
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
                Some(page_context(conn, &sender_id, &view, &signer)?)
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

/// What the printable page shows beside the records.
#[derive(Serialize)]
struct PageContext {
    sender: Option<SenderView>,
    /// slug → list name.
    lists: BTreeMap<String, String>,
    /// SHA-256 → the consent wording it names.
    texts: BTreeMap<String, String>,
    /// The chain head, signed when the page was made.
    checkpoint: Option<Checkpoint>,
    generated_at: String,
}

#[derive(Serialize)]
struct SenderView {
    legal_name: String,
    postal_address: String,
    contact: String,
    on_behalf_of: Option<String>,
    jurisdiction: String,
}

impl From<Sender> for SenderView {
    fn from(s: Sender) -> Self {
        Self {
            legal_name: s.legal_name,
            postal_address: s.postal_address,
            contact: s.contact,
            on_behalf_of: s.on_behalf_of,
            jurisdiction: s.jurisdiction,
        }
    }
}

fn page_context(
    conn: &mut DbConn,
    sender_id: &str,
    view: &SubjectView,
    state: &AppState,
) -> Result<PageContext, StoreError> {
    let mut names = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for list in lists::list_lists(conn, sender_id)? {
        if view.consents.iter().any(|c| c.list() == list.slug) {
            for text in lists::list_consent_texts(conn, &list.id)? {
                texts.insert(text.sha256, text.body);
            }
            names.insert(list.slug, list.name);
        }
    }
    Ok(PageContext {
        sender: find_sender(conn, sender_id)?.map(SenderView::from),
        lists: names,
        texts,
        checkpoint: sign_head(conn, sender_id, &state.secrets.signing_keys)?,
        generated_at: clock::rfc3339(clock::now()),
    })
}

/// Erases the address's personal data at this sender; the chain, keyed hashes and
/// suppressions stay. The address may sign up afresh later, through a new double opt-in.
#[utoipa::path(delete, path = "/v1/subjects", tag = "subjects", params(SubjectQuery),
    responses((status = 200, body = ErasureAnswer), (status = 400, description = "`invalid_email`", body = Problem)),
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
        .run(move |conn| {
            write_transaction(conn, |conn| {
                erase_subject(conn, &sender_id, &address_key, clock::now())
            })
        })
        .await?;
    state.webhook_wake.notify_one();
    tracing::info!(erased, sender = %caller.sender_id, "erased a subject's personal data");
    Ok(HttpResponse::Ok().json(ErasureAnswer { erased }))
}
