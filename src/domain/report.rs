//! What a complaint report says, read from the bytes as received: an ARF feedback report
//! (RFC 5965, parsed by mail-auth), a reported mail (`message/rfc822`, parsed by
//! mail-parser), or headers pasted as text. Consentry looks for its own links (only those
//! under the configured base URL) and the reported mail's Message-ID; the report itself is
//! kept only as its SHA-256.

use chrono::{DateTime, NaiveDateTime};
use mail_auth::report::Feedback;
use mail_parser::MessageParser;
use sha2::{Digest, Sha256};

use super::complaint::FeedbackType;

/// A link of Consentry's found in the reported mail: its page (`c`, `r` or `u`) and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLink {
    pub page: char,
    pub token: String,
}

/// What Consentry reads from a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `None` when the report does not say (a forwarded mail, pasted headers).
    pub feedback_type: Option<FeedbackType>,
    /// When the mailbox received the reported mail (ARF `Arrival-Date`).
    pub arrived_at: Option<NaiveDateTime>,
    /// Whether this was an ARF report (a feedback loop's).
    pub is_arf: bool,
    /// Consentry's links, `List-Unsubscribe` first, then the body's, without repeats.
    pub links: Vec<FoundLink>,
    /// The reported mail's Message-ID, with angle brackets (`<id@domain>`).
    pub message_id: Option<String>,
    /// SHA-256 of the bytes as received, lower-case hex.
    pub sha256: String,
}

/// SHA-256 of a report as received, lower-case hex: all that is kept of it.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a report in any of the accepted forms. `base_url` is the configured public base:
/// only links under it are Consentry's.
pub fn read(bytes: &[u8], base_url: &str) -> Report {
    let sha256 = digest(bytes);
    let base = base_url.trim_end_matches('/');
    if let Ok(feedback) = Feedback::parse_rfc5322(bytes) {
        let reported = feedback
            .message()
            .or(feedback.headers())
            .map(str::as_bytes)
            .unwrap_or_default();
        let mut report = read_mail(reported, base, sha256);
        report.is_arf = true;
        report.feedback_type = Some(FeedbackType::from_arf(feedback.feedback_type()));
        report.arrived_at = feedback
            .arrival_date()
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(|t| t.naive_utc());
        return report;
    }
    // A forwarded mail may wrap the reported one as an attachment: look inside it too.
    let mut report = read_mail(bytes, base, sha256);
    let parsed = MessageParser::default().parse(bytes);
    let inner = parsed
        .as_ref()
        .and_then(|m| m.attachment(0))
        .and_then(|a| a.message())
        .map(|m| m.raw_message().to_vec());
    if let Some(inner) = inner {
        let nested = read_mail(&inner, base, String::new());
        for link in nested.links {
            push_unique(&mut report.links, link);
        }
        report.message_id = report.message_id.or(nested.message_id);
    }
    report
}

/// The links and Message-ID of one mail (or of a block of headers, or of any text).
fn read_mail(bytes: &[u8], base: &str, sha256: String) -> Report {
    let mut links = Vec::new();
    let mut message_id = None;
    if let Some(message) = MessageParser::default().parse(bytes) {
        for value in message.header_values("List-Unsubscribe") {
            if let Some(text) = value.as_text() {
                find_links(text, base, &mut links);
            }
        }
        for i in 0..message.text_body_count() {
            if let Some(text) = message.body_text(i) {
                find_links(&text, base, &mut links);
            }
        }
        for i in 0..message.html_body_count() {
            if let Some(html) = message.body_html(i) {
                find_links(&html, base, &mut links);
            }
        }
        message_id = message.message_id().map(|id| format!("<{id}>"));
    }
    // Headers pasted from a mail client may not parse as a mail; the raw text still holds
    // the links (a soft line break of quoted-printable aside, which the parse above undid).
    find_links(&String::from_utf8_lossy(bytes), base, &mut links);
    Report {
        feedback_type: None,
        arrived_at: None,
        is_arf: false,
        links,
        message_id,
        sha256,
    }
}

/// Every `{base}/{c|r|u}/{token}` in `text`, in order, each once.
fn find_links(text: &str, base: &str, found: &mut Vec<FoundLink>) {
    if base.is_empty() {
        return;
    }
    let mut rest = text;
    while let Some(at) = rest.find(base) {
        rest = &rest[at + base.len()..];
        let mut chars = rest.chars();
        let (Some('/'), Some(page), Some('/')) = (chars.next(), chars.next(), chars.next()) else {
            continue;
        };
        if !matches!(page, 'c' | 'r' | 'u') {
            continue;
        }
        let token: String = chars
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        let token = token.trim_end_matches('.').to_owned();
        if !token.is_empty() {
            push_unique(found, FoundLink { page, token });
        }
    }
}

fn push_unique(found: &mut Vec<FoundLink>, link: FoundLink) {
    if !found.contains(&link) {
        found.push(link);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://consent.example.jp";

    #[test]
    fn a_forwarded_mail_yields_its_unsubscribe_link_and_message_id() {
        let mail = "From: Shop <news@shop.example>\r\nTo: taro@example.jp\r\n\
            Message-ID: <c1@shop.example>\r\nSubject: Sale\r\n\
            List-Unsubscribe: <https://consent.example.jp/u/k1.AAAA.BBBB>, <mailto:u@shop.example>\r\n\
            \r\nBuy now.\r\n";
        let report = read(mail.as_bytes(), BASE);
        assert_eq!(
            report.links,
            vec![FoundLink {
                page: 'u',
                token: "k1.AAAA.BBBB".into()
            }]
        );
        assert_eq!(report.message_id.as_deref(), Some("<c1@shop.example>"));
        assert!(!report.is_arf);
        assert_eq!(report.feedback_type, None);
    }

    #[test]
    fn links_of_another_host_or_page_are_not_ours() {
        let text = "List-Unsubscribe: <https://evil.example/u/k1.AAAA.BBBB>\n\
            see https://consent.example.jp/x/k1.A.B and https://consent.example.jp.evil/u/k1.C.D";
        assert!(read(text.as_bytes(), BASE).links.is_empty());
    }

    #[test]
    fn pasted_headers_with_bare_newlines_still_yield_the_link() {
        let text = "  Subject: hi\nList-Unsubscribe:\n <https://consent.example.jp/u/k1.AA-_.BB>\n";
        let report = read(text.as_bytes(), BASE);
        assert_eq!(report.links.len(), 1);
        assert_eq!(report.links[0].token, "k1.AA-_.BB");
    }

    #[test]
    fn the_digest_covers_the_bytes_as_received() {
        let a = read(b"Subject: a\r\n\r\n", BASE);
        let b = read(b"Subject: b\r\n\r\n", BASE);
        assert_eq!(a.sha256.len(), 64);
        assert_ne!(a.sha256, b.sha256);
    }
}
