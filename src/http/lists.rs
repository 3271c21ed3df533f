//! `/v1/lists`: what recipients agree to receive, with versioned consent texts.

use std::sync::Arc;

use actix_web::{http::header, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::SenderKey;
use super::error::{ApiError, Problem};
use crate::clock;
use crate::domain::field::FieldError;
use crate::domain::ids::SenderId;
use crate::domain::list::{parse_name, parse_policy_url, ConsentText, ListSlug, Locale};
use crate::flows::lists::{create_list as create, update_list as update, ListChanges, NewList};
use crate::state::AppState;
use crate::views::cached::cached_list;
use crate::views::lists::{lists_of, ListRow, ListWithTexts};
use crate::views::ViewError;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateList {
    /// `[a-z0-9][a-z0-9_-]{0,63}`, unique per sender.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    slug: String,
    name: String,
    /// The exact wording shown on the signup form.
    consent_text: String,
    policy_url: String,
    /// `ja` or `en`: language of mail and pages when a signup names none. Default `ja`.
    #[schema(pattern = "^(ja|en)$")]
    locale: Option<String>,
}

/// Omitted fields keep their value. A changed `consent_text` adds a version.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateList {
    /// If given, must equal the slug in the path (slugs never change).
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    slug: Option<String>,
    name: Option<String>,
    consent_text: Option<String>,
    policy_url: Option<String>,
    #[schema(pattern = "^(ja|en)$")]
    locale: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ListSummary {
    slug: String,
    name: String,
    consent_text_sha256: String,
    policy_url: String,
    locale: String,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct TextVersion {
    version: i64,
    sha256: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ListDetail {
    #[serde(flatten)]
    summary: ListSummary,
    consent_text: String,
    consent_text_version: i64,
    /// Every wording the list has had, oldest first; each stays resolvable by hash.
    versions: Vec<TextVersion>,
}

#[derive(Serialize, ToSchema)]
pub struct ListCollection {
    lists: Vec<ListSummary>,
}

fn summary(list: &ListRow) -> ListSummary {
    ListSummary {
        slug: list.slug.clone(),
        name: list.name.clone(),
        consent_text_sha256: list.consent_text_sha256.clone(),
        policy_url: list.policy_url.clone(),
        locale: list.locale.clone(),
        created_at: clock::rfc3339(list.created_at),
        updated_at: clock::rfc3339(list.updated_at),
    }
}

fn detail(found: &ListWithTexts) -> ListDetail {
    let current = found.current_text();
    ListDetail {
        summary: summary(&found.list),
        consent_text: current.map(|t| t.body.clone()).unwrap_or_default(),
        consent_text_version: current.map_or(0, |t| t.version),
        versions: found
            .texts
            .iter()
            .map(|t| TextVersion {
                version: t.version,
                sha256: t.sha256.clone(),
                created_at: clock::rfc3339(t.created_at),
            })
            .collect(),
    }
}

/// The list from the cache, or from storage (then cached). Scoped to the caller's sender.
pub async fn load_list(
    state: &AppState,
    sender_id: &SenderId,
    slug: &str,
) -> Result<Arc<ListWithTexts>, ApiError> {
    cached_list(&state.db, &state.caches, sender_id, slug)
        .await
        .map_err(|e| match e {
            ViewError::NotFound => ApiError::UnknownList,
            ViewError::Store(e) => e.into(),
        })
}

#[utoipa::path(post, path = "/v1/lists", tag = "lists", request_body = CreateList,
    responses((status = 201, body = ListSummary), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, description = "slug taken (`list_exists`)", body = Problem)),
    security(("bearer" = [])))]
pub async fn create_list(
    caller: SenderKey,
    state: web::Data<AppState>,
    body: web::Json<CreateList>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new = NewList {
        slug: ListSlug::parse(&body.slug)?,
        name: parse_name(&body.name)?,
        consent_text: ConsentText::parse(&body.consent_text)?,
        policy_url: parse_policy_url(&body.policy_url)?,
        locale: Locale::parse(body.locale.as_deref().unwrap_or("ja"))?,
    };
    let sender_id = caller.sender_id.clone();
    let list = state
        .db
        .run(move |conn| Ok(create(conn, &sender_id, new, clock::now())))
        .await??;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/lists/{}", list.slug)))
        .json(summary(&list)))
}

#[utoipa::path(get, path = "/v1/lists", tag = "lists",
    responses((status = 200, body = ListCollection), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_lists(
    caller: SenderKey,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let sender = caller.sender_id.clone();
    let rows = state.db.run(move |conn| lists_of(conn, &sender)).await?;
    Ok(HttpResponse::Ok().json(ListCollection {
        lists: rows.iter().map(summary).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/lists/{slug}", tag = "lists",
    params(("slug" = String, Path)),
    responses((status = 200, body = ListDetail), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_list(
    caller: SenderKey,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = load_list(&state, &caller.sender_id, &slug).await?;
    Ok(HttpResponse::Ok().json(detail(&found)))
}

#[utoipa::path(put, path = "/v1/lists/{slug}", tag = "lists", request_body = UpdateList,
    params(("slug" = String, Path)),
    responses((status = 200, body = ListDetail), (status = 400, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn update_list(
    caller: SenderKey,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: web::Json<UpdateList>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.slug.as_deref().is_some_and(|s| s != slug.as_str()) {
        return Err(FieldError {
            field: "slug",
            reason: "cannot be changed",
        }
        .into());
    }
    let changes = ListChanges {
        name: body.name.as_deref().map(parse_name).transpose()?,
        policy_url: body
            .policy_url
            .as_deref()
            .map(parse_policy_url)
            .transpose()?,
        locale: body
            .locale
            .as_deref()
            .map(|l| Locale::parse(l).map(|l| l.as_str().to_owned()))
            .transpose()?,
        consent_text: body
            .consent_text
            .as_deref()
            .map(ConsentText::parse)
            .transpose()?
            .map(|t| (t.sha256().to_owned(), t.body().to_owned())),
    };
    let list = load_list(&state, &caller.sender_id, &slug).await?;
    let list_id = list.list.id.clone();
    state
        .db
        .run(move |conn| Ok(update(conn, &list_id, changes, clock::now())))
        .await??;
    state.caches.lists.clear();
    let updated = load_list(&state, &caller.sender_id, &slug).await?;
    Ok(HttpResponse::Ok().json(detail(&updated)))
}
