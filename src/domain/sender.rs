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
            name: text("name", name, 200)?,
            legal_name: text("legal_name", legal_name, 300)?,
            postal_address: text("postal_address", postal_address, 500)?,
            contact: text("contact", contact, 300)?,
            on_behalf_of: on_behalf_of
                .map(|v| text("on_behalf_of", v, 300))
                .transpose()?,
            jurisdiction,
        })
    }
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
    fn missing_fields_are_named() {
        let err = SenderProfile::parse("Example", " ", "addr", "c", None, "JP").err();
        assert_eq!(err.map(|e| e.field), Some("legal_name"));
        let err = SenderProfile::parse("E", "E KK", "a", "c", None, "JPN").err();
        assert_eq!(err.map(|e| e.field), Some("jurisdiction"));
    }
}
