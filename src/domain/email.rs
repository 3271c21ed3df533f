//! Email addresses: parsing and validation, normalisation for identity and
//! rate limiting, masking for logs, and keyed hashing for look-ups.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

pub use super::address_hash::AddressHasher;

/// Longest address we accept, in octets of the ASCII form (RFC 5321 path limit
/// of 256 minus the angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;
/// Longest local part we accept, in octets (RFC 5321).
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// Longest domain label, in octets of its ASCII form (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;
// Cap on the raw input, checked before any IDNA work so that huge inputs are
// cheap to reject. A Unicode domain can be longer in UTF-8 than in punycode
// (full-width letters take 3 octets each), so this is well above 254.
const MAX_INPUT_LEN: usize = 1024;

/// Why an input was rejected. Messages never repeat the input, which is
/// personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace was given.
    #[error("email address is empty")]
    Empty,
    /// The address is longer than [`MAX_ADDRESS_LEN`] octets.
    #[error("email address is longer than 254 octets")]
    TooLong,
    /// The local part is longer than [`MAX_LOCAL_PART_LEN`] octets.
    #[error("local part of the email address is longer than 64 octets")]
    LocalPartTooLong,
    /// There is no `@`.
    #[error("email address has no '@'")]
    MissingAt,
    /// There is more than one `@`.
    #[error("email address has more than one '@'")]
    MultipleAt,
    /// Nothing before the `@`.
    #[error("email address has nothing before the '@'")]
    MissingLocalPart,
    /// Nothing after the `@`.
    #[error("email address has no domain after the '@'")]
    MissingDomain,
    /// A display name or angle brackets, as in `Name <addr>`.
    #[error("display names and angle brackets are not allowed; give the bare address")]
    DisplayNameNotAllowed,
    /// A quoted local part, as in `"a b"@example.jp`.
    #[error("quoted local parts are not allowed")]
    QuotedLocalPartNotAllowed,
    /// An RFC 5322 comment in parentheses.
    #[error("comments in parentheses are not allowed")]
    CommentNotAllowed,
    /// Whitespace inside the address (surrounding whitespace is trimmed).
    #[error("email address contains whitespace")]
    ContainsWhitespace,
    /// A control character anywhere in the address.
    #[error("email address contains a control character")]
    ContainsControlCharacter,
    /// A non-ASCII local part (SMTPUTF8 is not supported).
    #[error("local part must be ASCII; internationalised local parts are not supported")]
    NonAsciiLocalPart,
    /// A character outside RFC 5322 atext, or a leading, trailing or double dot.
    #[error("local part contains a character or dot that is not allowed")]
    InvalidLocalPart,
    /// A domain literal such as `[192.0.2.1]`.
    #[error("domain literals such as [192.0.2.1] are not allowed")]
    DomainLiteralNotAllowed,
    /// The domain could not be converted to ASCII (IDNA/UTS 46).
    #[error("domain is not a valid internationalised domain name")]
    InvalidDomain,
    /// The domain has no dot, such as `localhost`.
    #[error("domain must contain a dot, as in example.jp")]
    DomainNotQualified,
    /// A domain label is longer than [`MAX_LABEL_LEN`] octets.
    #[error("a domain label is longer than 63 octets")]
    DomainLabelTooLong,
    /// An empty label, a character other than letters, digits and hyphens, or
    /// a hyphen at the start or end of a label.
    #[error("domain labels may contain only letters, digits and inner hyphens")]
    InvalidDomainLabel,
    /// The top-level domain is all digits, which also rules out bare IPv4.
    #[error("top-level domain must not be numeric")]
    NumericTld,
}

/// A validated email address: an ASCII dot-atom local part, kept as given,
/// and a lower-case ASCII (punycode) domain.
///
/// Equality and hashing follow [`EmailAddress::identity`], so `Taro@example.jp`
/// and `taro@example.jp` are equal. `Debug` masks the address.
#[derive(Clone)]
pub struct EmailAddress {
    /// `local@domain`, the form to mail.
    address: String,
    /// Byte index of the `@` in `address`.
    at: usize,
}

impl EmailAddress {
    /// Validates and normalises `input`; see [`EmailError`] for what is rejected.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let input = input.trim_ascii();
        if input.is_empty() {
            return Err(EmailError::Empty);
        }
        if input.len() > MAX_INPUT_LEN {
            return Err(EmailError::TooLong);
        }
        // Whole-input checks come first so that `Name <a@b.jp>` is reported
        // as a display name, not as whitespace or a bad local part.
        if input.contains(['<', '>']) {
            return Err(EmailError::DisplayNameNotAllowed);
        }
        if input.contains('"') {
            return Err(EmailError::QuotedLocalPartNotAllowed);
        }
        if input.contains(['(', ')']) {
            return Err(EmailError::CommentNotAllowed);
        }
        if input.chars().any(char::is_control) {
            return Err(EmailError::ContainsControlCharacter);
        }
        if input.chars().any(char::is_whitespace) {
            return Err(EmailError::ContainsWhitespace);
        }

        let (local, domain) = match input.split_once('@') {
            None => return Err(EmailError::MissingAt),
            Some((_, domain)) if domain.contains('@') => return Err(EmailError::MultipleAt),
            Some(parts) => parts,
        };
        if local.is_empty() {
            return Err(EmailError::MissingLocalPart);
        }
        if domain.is_empty() {
            return Err(EmailError::MissingDomain);
        }

        validate_local_part(local)?;
        let domain = domain_to_ascii(domain)?;

        let address = [local, "@", &domain].concat();
        if address.len() > MAX_ADDRESS_LEN {
            return Err(EmailError::TooLong);
        }
        Ok(Self {
            address,
            at: local.len(),
        })
    }

    /// The address to mail: the local part as given, `@`, the ASCII domain.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The local part, with its case as given.
    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    /// The domain in lower-case ASCII (punycode for IDNs).
    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }

    /// The normalised identity: the whole address lower-cased.
    pub fn identity(&self) -> String {
        // Local parts are case-sensitive in theory, but treating `Taro` and
        // `taro` as two people would let one person consent twice.
        self.address.to_ascii_lowercase()
    }

    /// A coarser key for rate limits only, never for identity: the identity
    /// without a `+tag`, and for Gmail also without dots in the local part
    /// and with `googlemail.com` folded into `gmail.com`.
    pub fn abuse_identity(&self) -> String {
        let local = self.local_part().to_ascii_lowercase();
        let mut domain = self.domain();
        // A local part that starts with `+` has no base to fall back to.
        let mut base = match local.split_once('+') {
            Some((base, _)) if !base.is_empty() => base.to_owned(),
            _ => local,
        };
        if domain == "gmail.com" || domain == "googlemail.com" {
            domain = "gmail.com";
            // Gmail ignores dots, so `t.a.r.o` reaches the same mailbox.
            let undotted: String = base.chars().filter(|&c| c != '.').collect();
            if !undotted.is_empty() {
                base = undotted;
            }
        }
        format!("{base}@{domain}")
    }

    /// The address with all but the first character of the local part hidden,
    /// e.g. `t***@example.jp`, for logs and error reports.
    pub fn masked(&self) -> String {
        let first = self.local_part().chars().next().unwrap_or('*');
        format!("{first}***@{}", self.domain())
    }
}

/// Checks an RFC 5322 dot-atom local part made of ASCII atext.
fn validate_local_part(local: &str) -> Result<(), EmailError> {
    if !local.is_ascii() {
        return Err(EmailError::NonAsciiLocalPart);
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(EmailError::LocalPartTooLong);
    }
    // Splitting on dots yields an empty atom for a leading, trailing or double dot.
    let valid = local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.bytes().all(is_atext));
    if valid {
        Ok(())
    } else {
        Err(EmailError::InvalidLocalPart)
    }
}

/// RFC 5322 `atext`: letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Converts a domain to lower-case ASCII with UTS 46 and checks it is a
/// qualified host name.
fn domain_to_ascii(domain: &str) -> Result<String, EmailError> {
    if domain.starts_with('[') || domain.ends_with(']') {
        return Err(EmailError::DomainLiteralNotAllowed);
    }
    let ascii = if is_plain_host(domain) {
        // What UTS 46 does to such a name: lower-cases it. Most addresses checked are in this
        // form, and IDNA processing was most of the cost of parsing one.
        domain.to_ascii_lowercase()
    } else {
        // UTS 46 also maps full-width and upper-case letters and the ideographic
        // full stop, so `ＥＸＡＭＰＬＥ。jp` becomes `example.jp`.
        let mut ascii = idna::domain_to_ascii(domain).map_err(|_| EmailError::InvalidDomain)?;
        ascii.make_ascii_lowercase();
        ascii
    };

    // `domain_to_ascii` leaves ASCII labels alone, so host-name rules are ours.
    if !ascii.contains('.') {
        return Err(EmailError::DomainNotQualified);
    }
    for label in ascii.split('.') {
        if label.len() > MAX_LABEL_LEN {
            return Err(EmailError::DomainLabelTooLong);
        }
        let ldh = label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if label.is_empty() || !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(EmailError::InvalidDomainLabel);
        }
    }
    let is_numeric_tld = ascii
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    if is_numeric_tld {
        return Err(EmailError::NumericTld);
    }
    Ok(ascii)
}

/// Whether `domain` is ASCII letters, digits, hyphens and dots in non-empty labels, none of
/// them punycode (`xn--`, which UTS 46 decodes and checks): a name UTS 46 only lower-cases.
fn is_plain_host(domain: &str) -> bool {
    domain.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    })
}

impl FromStr for EmailAddress {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses are personal data: `{:?}` in a log must not reveal them.
        f.debug_tuple("EmailAddress").field(&self.masked()).finish()
    }
}

impl PartialEq for EmailAddress {
    fn eq(&self, other: &Self) -> bool {
        self.address.eq_ignore_ascii_case(&other.address)
    }
}

impl Eq for EmailAddress {}

impl Hash for EmailAddress {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must agree with `eq`, which ignores ASCII case.
        for b in self.address.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "email_tests.rs"]
mod tests;
