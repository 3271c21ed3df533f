//! List fields as parsed values: slug, name, locale, policy URL and the consent text.

use sha2::{Digest, Sha256};

pub use super::field::FieldError;

fn field_error(field: &'static str, reason: &'static str) -> FieldError {
    FieldError { field, reason }
}

/// `[a-z0-9][a-z0-9_-]{0,63}`: appears in URLs and in `List-Id`, so kept plain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListSlug(String);

impl ListSlug {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok_first = raw
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_rest = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if raw.len() > 64 || !ok_first || !ok_rest {
            return Err(field_error(
                "slug",
                "must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Languages of mail and pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Ja,
    En,
}

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "ja" => Ok(Locale::Ja),
            "en" => Ok(Locale::En),
            _ => Err(field_error("locale", "must be \"ja\" or \"en\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Ja => "ja",
            Locale::En => "en",
        }
    }
}

/// A display name: 1-200 characters, no control characters, nothing that reads as a link
/// (it appears in the Subject and body of mail Consentry signs).
pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control)
    {
        return Err(field_error(
            "name",
            "must be 1-200 characters without control characters",
        ));
    }
    if super::display_text::looks_like_link_or_disguise(trimmed) {
        return Err(field_error("name", super::display_text::REFUSED));
    }
    Ok(trimmed.to_owned())
}

/// An absolute http(s) URL of at most 2,000 characters.
pub fn parse_policy_url(raw: &str) -> Result<String, FieldError> {
    let parsed = url::Url::parse(raw.trim());
    match parsed {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && raw.len() <= 2000 =>
        {
            Ok(url.to_string())
        }
        _ => Err(field_error("policy_url", "must be an absolute http(s) URL")),
    }
}

/// The exact wording shown on the signup form, addressed by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentText {
    body: String,
    sha256: String,
}

impl ConsentText {
    /// Kept byte for byte (the hash must match what the form showed); 1-20,000 characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.trim().is_empty() || raw.chars().count() > 20_000 {
            return Err(field_error("consent_text", "must be 1-20000 characters"));
        }
        Ok(Self {
            sha256: hex::encode(Sha256::digest(raw.as_bytes())),
            body: raw.to_owned(),
        })
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["newsletter", "a", "offers-2026", "x_y", &"a".repeat(64)] {
            assert!(ListSlug::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-lead",
            "Upper",
            "sp ace",
            "ニュース",
            "a/b",
            &"a".repeat(65),
        ] {
            assert!(ListSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn consent_text_is_addressed_by_its_exact_bytes() {
        let a = ConsentText::parse("I agree.").unwrap_or_else(|e| panic!("{e}"));
        let b = ConsentText::parse("I agree. ").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a.sha256(), b.sha256());
        assert_eq!(
            a.sha256(),
            "826ff0dab649a97ffdd7779a332accafb35cc161012253a19383db19289d6e02"
        );
        assert_eq!(a.sha256().len(), 64);
        assert!(ConsentText::parse("   ").is_err());
    }

    #[test]
    fn policy_urls_must_be_absolute_web_urls() {
        assert!(parse_policy_url("https://shop.example.jp/privacy/v3").is_ok());
        for bad in ["/privacy", "javascript:alert(1)", "ftp://x/y", ""] {
            assert!(parse_policy_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_locales() {
        assert_eq!(
            parse_name("  週刊オファー ").ok().as_deref(),
            Some("週刊オファー")
        );
        assert!(parse_name("a\u{7}b").is_err());
        assert_eq!(Locale::parse("ja"), Ok(Locale::Ja));
        assert!(Locale::parse("fr").is_err());
    }
}
