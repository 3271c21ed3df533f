//! The recipient's pages: `/c/{token}` confirm, `/r/{token}` "this wasn't me",
//! `/u/{token}` unsubscribe. GET renders and changes nothing (mail scanners fetch links);
//! POST acts. No JavaScript, no cookies, ja/en.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::observed::observed;
use crate::clock;
use crate::domain::token::{verify, Action, LinkClaims, TokenError};
use crate::flows::pages::{self, Page};
use crate::flows::StoreError;
use crate::state::AppState;
use crate::views::pages::PageView;

const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

#[derive(Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
}

/// Which link family a request is for.
#[derive(Clone, Copy)]
struct Kind {
    action: Action,
    prefix: &'static str,
    form: &'static str,
    done: &'static str,
}

const CONFIRM: Kind = Kind {
    action: Action::Confirm,
    prefix: "c",
    form: "confirm",
    done: "confirmed",
};
const REFUSE: Kind = Kind {
    action: Action::Refuse,
    prefix: "r",
    form: "refuse",
    done: "refused",
};
const UNSUBSCRIBE: Kind = Kind {
    action: Action::Unsubscribe,
    prefix: "u",
    form: "unsubscribe",
    done: "unsubscribed",
};

/// `?lang=`, else the consent's locale, else `Accept-Language` (ja or en).
fn language(query: &PageQuery, locale: Option<&str>, req: &HttpRequest) -> &'static str {
    match query.lang.as_deref() {
        Some("ja") => return "ja",
        Some("en") => return "en",
        _ => {}
    }
    if let Some(locale) = locale {
        return if locale == "en" { "en" } else { "ja" };
    }
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.trim_start().starts_with("ja") {
        "ja"
    } else {
        "en"
    }
}

/// The language of a page without a consent: `?lang=`, else `Accept-Language` (ja or en).
pub fn language_of(req: &HttpRequest) -> &'static str {
    let query = web::Query::<PageQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or(PageQuery { lang: None });
    language(&query, None, req)
}

/// The link a page is for.
struct Target<'a> {
    kind: Kind,
    token: &'a str,
    /// `?lang=` was given, so the form keeps it.
    explicit_lang: bool,
}

fn render(
    state: &AppState,
    target: &Target<'_>,
    page: &str,
    mut view: PageView,
    lang: &'static str,
) -> HttpResponse {
    let (kind, token) = (target.kind, target.token);
    let status = status_of(page);
    let other = if lang == "ja" { "en" } else { "ja" };
    let path = format!("/{}/{token}", kind.prefix);
    view.other_lang_url = format!("{path}?lang={other}");
    view.action_url = if target.explicit_lang {
        format!("{path}?lang={lang}")
    } else {
        path
    };
    view.lang = lang;
    page_response(state, page, lang, &view, status)
}

/// The page `pages/{page}.{lang}.html` rendered from `view`; a short error page (logged)
/// if the template fails.
pub fn page_response(
    state: &AppState,
    page: &str,
    lang: &str,
    view: &impl serde::Serialize,
    status: StatusCode,
) -> HttpResponse {
    let body = state
        .templates
        .render(&format!("pages/{page}.{lang}.html"), view)
        .unwrap_or_else(|error| {
            tracing::error!(%error, page, "cannot render page");
            String::from("<!DOCTYPE html><title>Consentry</title><p>Something went wrong.</p>")
        });
    html_response(status, body)
}

/// An HTML answer with the headers every page sends: no referrer, no caching, no indexing,
/// a restrictive CSP (no scripts), no framing.
pub fn html_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Robots-Tag", "noindex"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

/// Verifies the token for this link family; the error page otherwise.
fn claims(state: &AppState, kind: Kind, token: &str) -> Result<LinkClaims, &'static str> {
    match verify(
        &state.secrets.token_keys,
        token,
        clock::now().and_utc().timestamp(),
    ) {
        Ok(c) if c.action == kind.action => Ok(c),
        Err(TokenError::Expired) => Err("expired"),
        _ => Err("invalid"),
    }
}

fn status_of(page: &str) -> StatusCode {
    match page {
        "invalid" => StatusCode::BAD_REQUEST,
        "expired" => StatusCode::GONE,
        _ => StatusCode::OK,
    }
}

/// Verifies the link, shows (GET) or acts (POST), and renders the resulting page.
async fn respond(
    state: web::Data<AppState>,
    kind: Kind,
    token: String,
    query: PageQuery,
    req: HttpRequest,
    post: bool,
) -> HttpResponse {
    let target = Target {
        kind,
        token: &token,
        explicit_lang: query.lang.is_some(),
    };
    let claims = match claims(&state, kind, &token) {
        Ok(claims) => claims,
        Err(page) => {
            let lang = language(&query, None, &req);
            return render(&state, &target, page, PageView::default(), lang);
        }
    };
    let seen = post.then(|| observed(&state, &req));
    let shown = match seen {
        // A click that confirms or unsubscribes may share its commit with others (a burst
        // after a campaign); showing the form only reads.
        Some(seen) => {
            let act = move |conn: &mut _| pages::act(conn, &claims, &seen);
            state.db.write(act).await
        }
        None => state.db.run(move |conn| pages::show(conn, &claims)).await,
    };
    match shown {
        Ok(shown) => {
            if shown.changed {
                state.webhook_wake.notify_one();
            }
            let page = match shown.page {
                Page::Form => kind.form,
                Page::Done => kind.done,
                Page::Expired => "expired",
                Page::Invalid => "invalid",
            };
            let ctx = shown.context;
            let lang = language(
                &query,
                ctx.as_ref().map(|c| c.consent.locale.as_str()),
                &req,
            );
            let view = ctx.map(|c| c.view).unwrap_or_default();
            render(&state, &target, page, view, lang)
        }
        Err(error) => unavailable(error),
    }
}

fn unavailable(error: StoreError) -> HttpResponse {
    use actix_web::ResponseError;
    super::error::ApiError::from(error).error_response()
}

macro_rules! page_handlers {
    ($get:ident, $post:ident, $kind:expr, $path:literal, $what:literal) => {
        #[doc = concat!("The ", $what, " page (HTML, ja/en, `?lang=` overrides). Changes nothing.")]
        #[utoipa::path(get, path = $path, tag = "pages", params(("token" = String, Path), ("lang" = Option<String>, Query)),
            responses((status = 200, content_type = "text/html"), (status = 400, description = "bad or tampered link", content_type = "text/html"),
                      (status = 410, description = "expired link", content_type = "text/html")))]
        pub async fn $get(
            state: web::Data<AppState>,
            token: web::Path<String>,
            query: web::Query<PageQuery>,
            req: HttpRequest,
        ) -> HttpResponse {
            respond(state, $kind, token.into_inner(), query.into_inner(), req, false).await
        }

        /// The body (the page's form, or RFC 8058 `List-Unsubscribe=One-Click`, urlencoded or
        /// multipart) carries nothing the action needs; it is read and dropped.
        #[doc = concat!("Acts: ", $what, ". Answers 200 with a page, never a redirect; no cookie or auth.")]
        #[utoipa::path(post, path = $path, tag = "pages", params(("token" = String, Path), ("lang" = Option<String>, Query)),
            responses((status = 200, content_type = "text/html"), (status = 400, content_type = "text/html"),
                      (status = 410, content_type = "text/html")))]
        pub async fn $post(
            state: web::Data<AppState>,
            token: web::Path<String>,
            query: web::Query<PageQuery>,
            req: HttpRequest,
            _body: web::Bytes,
        ) -> HttpResponse {
            respond(state, $kind, token.into_inner(), query.into_inner(), req, true).await
        }
    };
}

page_handlers!(
    confirm_page,
    confirm,
    CONFIRM,
    "/c/{token}",
    "confirm a subscription"
);
page_handlers!(
    refuse_page,
    refuse,
    REFUSE,
    "/r/{token}",
    "\"this wasn't me\""
);
page_handlers!(
    unsubscribe_page,
    unsubscribe,
    UNSUBSCRIBE,
    "/u/{token}",
    "unsubscribe"
);
