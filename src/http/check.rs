//! `/v1/check`: may this address be mailed on this list now? One address (GET) or a stream
//! of them (POST, NDJSON or text lines in, NDJSON out, in order, at constant memory).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::SenderKey;
use super::error::{ApiError, Problem};
use super::json_out::JsonObject;
use super::lists::load_list;
use crate::domain::email::EmailAddress;
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::token::{sign, Action, LinkClaims};
use crate::state::AppState;
use crate::views::cached::{cached_sender, Sender};
use crate::views::ViewError;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    list: String,
    #[param(min_length = 1, max_length = 320)]
    email: String,
}

/// The one-click unsubscribe URL of a consent: signed, never expiring, on the base URL.
pub fn unsubscribe_url(state: &AppState, consent_id: &ConsentId) -> String {
    let claims = LinkClaims {
        action: Action::Unsubscribe,
        consent_id: consent_id.to_uuid(),
        nonce: String::new(),
        expires_at: None,
    };
    // `concat`, not `format!`: every allowed check builds one, and the formatting machinery
    // was most of its cost.
    [
        state.settings.http.base_url.as_str(),
        "/u/",
        &sign(&state.secrets.token_keys, &claims),
    ]
    .concat()
}

/// The sender, cached; a key whose sender is gone is not a valid key.
pub async fn load_sender(state: &AppState, sender_id: &SenderId) -> Result<Arc<Sender>, ApiError> {
    cached_sender(&state.db, &state.caches, sender_id)
        .await
        .map_err(|e| match e {
            ViewError::NotFound => ApiError::Unauthorized,
            ViewError::Store(e) => e.into(),
        })
}

/// The answer, borrowing what it shows from the request, the row and the cached sender:
/// the hottest call in the API should not copy a dozen strings to write them out once.
#[derive(Serialize, ToSchema)]
pub struct CheckAnswer<'a> {
    email: &'a str,
    list: &'a str,
    allowed: bool,
    /// `confirmed` (the only one allowed) | `pending` | `not_found` | `unsubscribed` | `refused` | `expired` | `suppressed`
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    consent_id: Option<&'a ConsentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unsubscribe_url: Option<&'a str>,
    /// Headers to put in the mail (RFC 8058 one-click, RFC 2919 List-Id).
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<MailHeaders>,
    /// What 特定電子メール法 Art. 4 requires the mail to display.
    display: SenderDisplay<'a>,
}

/// Headers to put in a mail the check allowed.
#[derive(Serialize, ToSchema)]
pub struct MailHeaders {
    #[serde(rename = "List-Unsubscribe")]
    list_unsubscribe: String,
    #[serde(rename = "List-Unsubscribe-Post")]
    list_unsubscribe_post: &'static str,
    #[serde(rename = "List-Id")]
    list_id: String,
    /// Gmail's feedback loop aggregates complaints by these; none names the recipient.
    #[serde(rename = "Feedback-ID")]
    feedback_id: String,
}

/// The sender's identity and opt-out as the mail must show them.
#[derive(Serialize, ToSchema)]
pub struct SenderDisplay<'a> {
    sender_name: &'a str,
    postal_address: &'a str,
    contact: &'a str,
    on_behalf_of: Option<&'a str>,
    opt_out_url: Option<&'a str>,
}

#[utoipa::path(get, path = "/v1/check", tag = "check", params(CheckQuery),
    responses((status = 200, body = CheckAnswer), (status = 400, description = "`invalid_email`", body = Problem),
              (status = 404, description = "`unknown_list`", body = Problem)),
    security(("bearer" = [])))]
pub async fn check(
    caller: SenderKey,
    state: web::Data<AppState>,
    query: web::Query<CheckQuery>,
) -> Result<HttpResponse, ApiError> {
    let list = load_list(&state, &caller.sender_id, &query.list).await?;
    let email = EmailAddress::parse(&query.email)?;
    let sender = load_sender(&state, &caller.sender_id).await?;
    let address_key = state.secrets.hasher.address_key(&email);
    let verdict = state
        .checks
        .check(caller.sender_id.clone(), list.list.id.clone(), address_key)
        .await?;
    if verdict.allowed {
        state.sends_checked.add(&caller.sender_id);
    }
    let unsubscribe = verdict
        .row
        .as_ref()
        .filter(|_| verdict.allowed)
        .map(|r| unsubscribe_url(&state, &r.consent_id));
    let headers = unsubscribe.as_deref().map(|url| {
        let (slug, sender_id) = (list.list.slug.as_str(), sender.id.as_str());
        let list_unsubscribe = match &state.settings.mail.unsubscribe_mailto {
            Some(mailto) => ["<", url, ">, <mailto:", mailto, "?subject=unsubscribe>"].concat(),
            None => ["<", url, ">"].concat(),
        };
        MailHeaders {
            list_unsubscribe,
            list_unsubscribe_post: "List-Unsubscribe=One-Click",
            list_id: ["<", slug, ".", sender_id, ".consentry>"].concat(),
            feedback_id: [slug, ":", sender_id, ":consentry"].concat(),
        }
    });
    let row = verdict.row.as_ref();
    let answer = CheckAnswer {
        email: email.as_str(),
        list: &list.list.slug,
        allowed: verdict.allowed,
        reason: verdict.reason,
        consent_id: row.map(|r| &r.consent_id),
        confirmed_at: row.and_then(|r| r.confirmed_at).map(crate::clock::rfc3339),
        evidence_sha256: row.map(|r| r.evidence_sha256.as_str()),
        display: SenderDisplay {
            sender_name: &sender.legal_name,
            postal_address: &sender.postal_address,
            contact: &sender.contact,
            on_behalf_of: sender.on_behalf_of.as_deref(),
            opt_out_url: unsubscribe.as_deref(),
        },
        unsubscribe_url: unsubscribe.as_deref(),
        headers,
    };
    let mut body = Vec::with_capacity(ANSWER_BYTES);
    answer.write_json(&mut body);
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// About the size of an allowed answer. At most 1,024 bytes: glibc serves a request up to
/// that size from its per-thread cache, and a larger one first merges every freed small
/// block (`malloc_consolidate`, 1 % of a check's server time with 1,280 here).
const ANSWER_BYTES: usize = 1024;

impl CheckAnswer<'_> {
    /// The answer's JSON, as serde_json would write it (a test holds the two equal), without
    /// its per-byte escaping of strings that need none ([`JsonObject`]).
    fn write_json(&self, buf: &mut Vec<u8>) {
        let mut o = JsonObject::start(buf);
        o.string("email", self.email);
        o.string("list", self.list);
        o.bool("allowed", self.allowed);
        o.string("reason", self.reason);
        if let Some(id) = self.consent_id {
            o.string("consent_id", id.as_str());
        }
        if let Some(at) = &self.confirmed_at {
            o.string("confirmed_at", at);
        }
        if let Some(sha256) = self.evidence_sha256 {
            o.string("evidence_sha256", sha256);
        }
        if let Some(url) = self.unsubscribe_url {
            o.string("unsubscribe_url", url);
        }
        if let Some(h) = &self.headers {
            o.object("headers", |o| {
                o.string("List-Unsubscribe", &h.list_unsubscribe);
                o.string("List-Unsubscribe-Post", h.list_unsubscribe_post);
                o.string("List-Id", &h.list_id);
                o.string("Feedback-ID", &h.feedback_id);
            });
        }
        let d = &self.display;
        o.object("display", |o| {
            o.string("sender_name", d.sender_name);
            o.string("postal_address", d.postal_address);
            o.string("contact", d.contact);
            o.string_or_null("on_behalf_of", d.on_behalf_of);
            o.string_or_null("opt_out_url", d.opt_out_url);
        });
        o.end();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn display(
        on_behalf_of: Option<&'static str>,
        opt_out_url: Option<&'static str>,
    ) -> SenderDisplay<'static> {
        SenderDisplay {
            sender_name: "株式会社 \"Example\"",
            postal_address: "東京都千代田区1-1\n2F",
            contact: "privacy@example.jp",
            on_behalf_of,
            opt_out_url,
        }
    }

    fn assert_written_as_serde_writes(answer: &CheckAnswer<'_>) {
        let mut ours = Vec::new();
        answer.write_json(&mut ours);
        let theirs = serde_json::to_vec(answer).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
    }

    #[test]
    fn an_allowed_answer_is_written_as_serde_writes_it() {
        let consent_id = ConsentId::new();
        let url = "https://consent.example.jp/u/k1.abc.def";
        assert_written_as_serde_writes(&CheckAnswer {
            email: "taro+news@example.jp",
            list: "newsletter",
            allowed: true,
            reason: "confirmed",
            consent_id: Some(&consent_id),
            confirmed_at: Some("2026-12-06T03:06:24.887826Z".to_owned()),
            evidence_sha256: Some("ab12"),
            unsubscribe_url: Some(url),
            headers: Some(MailHeaders {
                list_unsubscribe: format!("<{url}>, <mailto:u@example.jp?subject=unsubscribe>"),
                list_unsubscribe_post: "List-Unsubscribe=One-Click",
                list_id: "<newsletter.s1.consentry>".to_owned(),
                feedback_id: "newsletter:s1:consentry".to_owned(),
            }),
            display: display(Some("Client \\ KK"), Some(url)),
        });
    }

    #[test]
    fn a_refused_answer_is_written_as_serde_writes_it() {
        assert_written_as_serde_writes(&CheckAnswer {
            email: "hanako@example.jp",
            list: "news",
            allowed: false,
            reason: "not_found",
            consent_id: None,
            confirmed_at: None,
            evidence_sha256: None,
            unsubscribe_url: None,
            headers: None,
            display: display(None, None),
        });
    }
}
