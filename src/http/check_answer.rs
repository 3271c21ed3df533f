//! The answer to a single check and its JSON.
//!
//! The JSON is written straight into one buffer by [`JsonObject`], byte for byte what
//! serde_json writes for these types (the tests hold the two equal): serde_json's per-byte
//! escaping of ids, hex and URLs was 4 % of a check's server time at 1,000,000
//! subscriptions. The serde and schema derives stay: they are the OpenAPI document's and the
//! tests' reference.

use serde::Serialize;
use utoipa::ToSchema;

use super::json_out::JsonObject;
use crate::domain::ids::ConsentId;

/// The answer, borrowing what it shows from the request, the row and the cached sender:
/// the hottest call in the API should not copy a dozen strings to write them out once.
#[derive(Serialize, ToSchema)]
pub struct CheckAnswer<'a> {
    pub(super) email: &'a str,
    pub(super) list: &'a str,
    pub(super) allowed: bool,
    /// `confirmed` (the only one allowed) | `pending` | `not_found` | `unsubscribed` | `refused` | `expired` | `suppressed`
    pub(super) reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) consent_id: Option<&'a ConsentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) confirmed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) evidence_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) unsubscribe_url: Option<&'a str>,
    /// Headers to put in the mail (RFC 8058 one-click, RFC 2919 List-Id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<MailHeaders>,
    /// What 特定電子メール法 Art. 4 requires the mail to display.
    pub(super) display: SenderDisplay<'a>,
}

/// Headers to put in a mail the check allowed.
#[derive(Serialize, ToSchema)]
pub struct MailHeaders {
    #[serde(rename = "List-Unsubscribe")]
    pub(super) list_unsubscribe: String,
    #[serde(rename = "List-Unsubscribe-Post")]
    pub(super) list_unsubscribe_post: &'static str,
    #[serde(rename = "List-Id")]
    pub(super) list_id: String,
    /// Gmail's feedback loop aggregates complaints by these; none names the recipient.
    #[serde(rename = "Feedback-ID")]
    pub(super) feedback_id: String,
}

/// The sender's identity and opt-out as the mail must show them.
#[derive(Serialize, ToSchema)]
pub struct SenderDisplay<'a> {
    pub(super) sender_name: &'a str,
    pub(super) postal_address: &'a str,
    pub(super) contact: &'a str,
    pub(super) on_behalf_of: Option<&'a str>,
    pub(super) opt_out_url: Option<&'a str>,
}

/// About the size of an allowed answer. At most 1,024 bytes: glibc serves a request up to
/// that size from its per-thread cache, and a larger one first merges every freed small
/// block (`malloc_consolidate`, 1 % of a check's server time with 1,280 here).
const ANSWER_BYTES: usize = 1024;

impl CheckAnswer<'_> {
    /// The answer's JSON, in a buffer of about its size.
    pub(super) fn to_json(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(ANSWER_BYTES);
        self.write_json(&mut body);
        body
    }

    /// The answer's JSON, as serde_json would write it, without its per-byte escaping of
    /// strings that need none ([`JsonObject`]). The tests below hold the two equal for the
    /// fields their answers set: a new field goes here, in the same place as in the struct,
    /// and into those answers.
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
