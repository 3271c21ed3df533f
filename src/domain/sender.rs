//! A sender's legal identity: what 特定電子メール法 Art. 4 requires every mail to display.

use super::list::FieldError;

/// Validated identity fields for a new sender.
#[derive(Debug, Clone)]
pub struct SenderProfile {
    pub name: String,
    pub legal_name: String,
    pub postal_address: String,
    pub contact: String,
    pub on_behalf_of: Option<String>,
    /// ISO 3166-1 alpha-2 country whose law the sender operates under (receipts name it).
    pub jurisdiction: String,
}

impl SenderProfile {
    pub fn parse(
        name: &str,
        legal_name: &str,
        postal_address: &str,
        contact: &str,
        on_behalf_of: Option<&str>,
        jurisdiction: &str,
    ) -> Result<Self, FieldError> {
        let jurisdiction = jurisdiction.trim().to_ascii_uppercase();
        if jurisdiction.len() != 2 || !jurisdiction.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(FieldError {
                field: "jurisdiction",
                reason: "must be a two-letter country code such as JP",
            });
        }
        Ok(Self {
            name: display("name", name, 200)?,
            legal_name: display("legal_name", legal_name, 300)?,
            postal_address: display("postal_address", postal_address, 500)?,
            // The contact is an address or a web page by nature (特定電子メール法 asks for one).
            contact: text("contact", contact, 300)?,
            on_behalf_of: on_behalf_of
                .map(|v| display("on_behalf_of", v, 300))
                .transpose()?,
            jurisdiction,
        })
    }
}

/// The shortest retention: evidence is kept at least one month after mailing to an address
/// stops (特定電子メール法 and its ordinance).
pub const MIN_RETENTION_DAYS: i64 = 31;

/// How long an ended consent keeps its personal data: `1m` (one month, 31 days, the
/// default), `3y` (three years, 1096 days, for 特定商取引法 records) or `<n>d`, at least 31.
pub fn parse_retention(raw: &str) -> Result<i64, FieldError> {
    let days = match raw.trim() {
        "1m" => Some(MIN_RETENTION_DAYS),
        "3y" => Some(1096),
        other => other.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()),
    };
    match days {
        Some(days) if (MIN_RETENTION_DAYS..=36_500).contains(&days) => Ok(days),
        _ => Err(FieldError {
            field: "retention",
            reason: "must be 1m, 3y or a number of days such as 400d, at least 31d",
        }),
    }
}

/// [`text`] that appears in signed mail as the sender's name: nothing that reads as a link.
fn display(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    let value = text(field, raw, max)?;
    if super::display_text::looks_like_link_or_disguise(&value) {
        return Err(FieldError {
            field,
            reason: super::display_text::REFUSED,
        });
    }
    Ok(value)
}

/// Trimmed, non-empty, bounded, no control characters other than newlines (addresses wrap).
fn text(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    let bad_char = trimmed.chars().any(|c| c.is_control() && c != '\n');
    if trimmed.is_empty() || trimmed.chars().count() > max || bad_char {
        return Err(FieldError {
            field,
            reason: "must be non-empty, within its length limit, without control characters",
        });
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_identity_parses() {
        let p = SenderProfile::parse(
            "Example",
            "Example KK",
            "1-2-3 Chiyoda, Tokyo",
            "support@example.jp",
            None,
            "jp",
        );
        assert_eq!(p.map(|p| p.jurisdiction).ok().as_deref(), Some("JP"));
    }

    #[test]
    fn retention_is_at_least_a_month() {
        assert_eq!(parse_retention("1m"), Ok(31));
        assert_eq!(parse_retention("3y"), Ok(1096));
        assert_eq!(parse_retention("400d"), Ok(400));
        for bad in ["30d", "2y", "d", "-5d", ""] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_fields_are_named() {
        let err = SenderProfile::parse("Example", " ", "addr", "c", None, "JP").err();
        assert_eq!(err.map(|e| e.field), Some("legal_name"));
        let err = SenderProfile::parse("E", "E KK", "a", "c", None, "JPN").err();
        assert_eq!(err.map(|e| e.field), Some("jurisdiction"));
    }
}
