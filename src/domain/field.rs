//! `FieldError`, the one error of a request field that failed validation, and the parsers
//! of field shapes that several requests share (IP address, time, bounded text, a closed
//! set of words).

use std::net::IpAddr;

use chrono::{DateTime, NaiveDateTime};

/// A field that failed validation, named so the client can fix it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{field}` {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl FieldError {
    pub fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}

/// An IP address, in its canonical text form.
pub fn parse_ip(field: &'static str, raw: &str) -> Result<String, FieldError> {
    raw.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| FieldError::new(field, "is not an IP address"))
}

/// An RFC 3339 time, as naive UTC.
pub fn parse_time(field: &'static str, raw: &str) -> Result<NaiveDateTime, FieldError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.naive_utc())
        .map_err(|_| FieldError::new(field, "must be an RFC 3339 time"))
}

/// How a signup's address was collected (`evidence.collection_method`).
pub const COLLECTION_METHODS: &[&str] = &[
    "web_form",
    "mobile_app",
    "api",
    "import",
    "in_person",
    "phone",
    "paper",
    "other",
];

/// How an opt-out reached the sender (`channel` of `POST /v1/unsubscribes`).
pub const OPT_OUT_CHANNELS: &[&str] = &["reply_mail", "phone", "web", "letter", "other"];

/// `raw` if it is one of `allowed`; `reason` names them (it is checked against `allowed`
/// in the tests, so the two cannot drift apart).
pub fn one_of(
    field: &'static str,
    raw: String,
    allowed: &[&str],
    reason: &'static str,
) -> Result<String, FieldError> {
    if allowed.contains(&raw.as_str()) {
        Ok(raw)
    } else {
        Err(FieldError::new(field, reason))
    }
}

/// The `reason` for [`COLLECTION_METHODS`].
pub const NOT_A_COLLECTION_METHOD: &str =
    "must be one of web_form, mobile_app, api, import, in_person, phone, paper, other";
/// The `reason` for [`OPT_OUT_CHANNELS`].
pub const NOT_A_CHANNEL: &str = "must be one of reply_mail, phone, web, letter, other";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_one_of_reasons_name_exactly_the_allowed_words() {
        let listed = |allowed: &[&str]| format!("must be one of {}", allowed.join(", "));
        assert_eq!(NOT_A_COLLECTION_METHOD, listed(COLLECTION_METHODS));
        assert_eq!(NOT_A_CHANNEL, listed(OPT_OUT_CHANNELS));
    }

    #[test]
    fn a_field_error_reads_as_the_field_then_the_reason() {
        let error = parse_ip("evidence.ip", "nope").unwrap_err();
        assert_eq!(error.to_string(), "`evidence.ip` is not an IP address");
        assert_eq!(parse_ip("ip", " ::1 ").unwrap(), "::1");
        let error = parse_time("received_at", "yesterday").unwrap_err();
        assert_eq!(error.to_string(), "`received_at` must be an RFC 3339 time");
        assert!(parse_time("received_at", "2024-01-02T03:04:05+09:00").is_ok());
        assert_eq!(
            one_of("channel", "web".into(), OPT_OUT_CHANNELS, NOT_A_CHANNEL).unwrap(),
            "web"
        );
        assert!(one_of("channel", "fax".into(), OPT_OUT_CHANNELS, NOT_A_CHANNEL).is_err());
    }
}
