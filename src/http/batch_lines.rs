//! The lines of a batch check (`check_batch`): a chunk of input lines parsed into addresses
//! and their keyed hashes, and the chunk's answers written as NDJSON, one line per non-blank
//! input line, in order.

use actix_web::web::Bytes;
use serde::Deserialize;

use super::batch_answers::ChunkOut;
use super::check::unsubscribe_url;
use super::json_out::JsonObject;
use crate::domain::email::EmailAddress;
use crate::state::AppState;
use crate::views::check::{StatusRow, Verdict};

/// How the request body gives its addresses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Text,
}

/// A chunk's non-blank lines, parsed, and the keyed hashes of its valid addresses in order.
pub struct ParsedChunk {
    pub lines: Vec<Line>,
    pub keys: Vec<String>,
}

/// One non-blank input line.
pub enum Line {
    Valid(EmailAddress),
    /// Not an address: what to echo as `email`.
    Invalid(String),
}

pub fn parse_chunk(state: &AppState, format: Format, input: &[Bytes]) -> ParsedChunk {
    let hasher = &state.secrets.hasher;
    let mut chunk = ParsedChunk {
        lines: Vec::with_capacity(input.len()),
        keys: Vec::with_capacity(input.len()),
    };
    for line in input {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let line = parse_line(text, format);
        if let Line::Valid(email) = &line {
            chunk.keys.push(hasher.address_key(email));
        }
        chunk.lines.push(line);
    }
    chunk
}

/// The answer lines of a chunk; `verdicts` are those of its valid addresses, in order.
pub fn answer_chunk(
    state: &AppState,
    lines: &[Line],
    verdicts: Vec<Verdict<StatusRow>>,
) -> ChunkOut {
    let mut verdicts = verdicts.into_iter();
    let mut out = Vec::with_capacity(lines.len() * 192);
    let mut allowed = 0;
    for line in lines {
        // One verdict per valid address, in order (`batch_addresses`).
        let (shown, verdict) = match line {
            Line::Valid(email) => (email.as_str(), verdicts.next()),
            Line::Invalid(shown) => (shown.as_str(), None),
        };
        let Some(verdict) = verdict else {
            write_answer(&mut out, shown, false, "invalid_email", None, None);
            continue;
        };
        allowed += u64::from(verdict.allowed);
        let consent_id = verdict.row.as_ref().map(|row| &row.consent_id);
        let unsubscribe = consent_id
            .filter(|_| verdict.allowed)
            .map(|id| unsubscribe_url(state, id));
        write_answer(
            &mut out,
            shown,
            verdict.allowed,
            verdict.reason,
            consent_id.map(|id| id.as_str()),
            unsubscribe.as_deref(),
        );
    }
    // Held answers are counted by their length (`batch_answers`): give back the room the
    // estimate above reserved but did not use (refusals are a third of an allowed line).
    out.shrink_to_fit();
    ChunkOut {
        bytes: Bytes::from(out),
        lines: lines.len() as u64,
        allowed,
    }
}

/// One answer line, in the documented field order, the optional fields left out when absent.
/// Written by hand (see `json_out`): serde's per-byte escaping of ids and URLs was 3 % of a
/// batch check's server time at 1,000,000 subscriptions.
fn write_answer(
    out: &mut Vec<u8>,
    email: &str,
    allowed: bool,
    reason: &str,
    consent_id: Option<&str>,
    unsubscribe_url: Option<&str>,
) {
    let mut line = JsonObject::start(out);
    line.string("email", email);
    line.bool("allowed", allowed);
    line.string("reason", reason);
    if let Some(consent_id) = consent_id {
        line.string("consent_id", consent_id);
    }
    if let Some(url) = unsubscribe_url {
        line.string("unsubscribe_url", url);
    }
    line.end();
    out.push(b'\n');
}

/// One NDJSON input line; other fields are ignored.
#[derive(Deserialize)]
struct InputLine<'a> {
    #[serde(borrow)]
    email: Option<std::borrow::Cow<'a, str>>,
}

fn parse_line(text: &str, format: Format) -> Line {
    let ndjson;
    let raw = match format {
        Format::Text => Some(text),
        Format::Ndjson => {
            ndjson = serde_json::from_str::<InputLine>(text)
                .ok()
                .and_then(|l| l.email);
            ndjson.as_deref()
        }
    };
    match raw {
        Some(raw) => match EmailAddress::parse(raw) {
            Ok(email) => Line::Valid(email),
            Err(_) => Line::Invalid(raw.to_owned()),
        },
        None => Line::Invalid(text.chars().take(256).collect()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The answer line as serde writes it: the reference `write_answer` keeps to.
    #[derive(serde::Serialize)]
    struct AnswerLine<'a> {
        email: &'a str,
        allowed: bool,
        reason: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        consent_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        unsubscribe_url: Option<&'a str>,
    }

    #[test]
    fn answer_lines_are_what_serde_json_writes() {
        let cases = [
            (
                "a@example.jp",
                true,
                "confirmed",
                Some("c-1"),
                Some("https://x/u/t"),
            ),
            (
                "\"quoted\"\\\n\u{2028}@x",
                false,
                "invalid_email",
                None,
                None,
            ),
            ("b@example.jp", false, "suppressed", None, None),
        ];
        for (email, allowed, reason, consent_id, unsubscribe_url) in cases {
            let line = AnswerLine {
                email,
                allowed,
                reason,
                consent_id,
                unsubscribe_url,
            };
            let mut want = serde_json::to_vec(&line).unwrap();
            want.push(b'\n');
            let mut out = Vec::new();
            write_answer(
                &mut out,
                email,
                allowed,
                reason,
                consent_id,
                unsubscribe_url,
            );
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }
}
