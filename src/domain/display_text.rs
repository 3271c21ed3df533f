//! Sender-chosen text that Consentry puts into mail it signs with its own From and DKIM
//! (list names, the sender's names and postal address). Such text must not be able to carry
//! a link or hide what it says: a list named "Security alert: verify at evil.example/login"
//! would turn our confirmation mail into the sender's phishing mail.

/// Why a display text was refused, for the field error's reason.
pub const REFUSED: &str =
    "must not contain web addresses, links or invisible characters (it appears in signed mail)";

/// Whether `text` carries a link or a shape that hides what it says: a scheme (`://`,
/// `mailto:`), `www.`, a host name or IP address followed by a path, punycode labels, or
/// invisible and direction-changing characters.
pub fn looks_like_link_or_disguise(text: &str) -> bool {
    let lower = text.to_lowercase();
    ["://", "www.", "mailto:", "xn--"]
        .iter()
        .any(|shape| lower.contains(shape))
        || text.chars().any(is_invisible)
        || lower.split_whitespace().any(is_host_with_path)
}

/// Bidi overrides and isolates, zero-width characters and the byte-order mark: they make a
/// text read differently from what it is.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
        | '\u{061C}' | '\u{180E}')
}

/// `example.com/login`, `192.0.2.1/x`, `evil.example:8080/`: dotted labels of letters, digits
/// and hyphens (the last one at least two characters, or an IPv4 address) followed by `/` or
/// a port.
fn is_host_with_path(word: &str) -> bool {
    let word = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    let Some(end) = word.find(['/', ':']) else {
        return false;
    };
    let host = &word[..end];
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
        && (labels.last().is_some_and(|l| l.chars().count() >= 2)
            || host.parse::<std::net::Ipv4Addr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::looks_like_link_or_disguise as refused;

    #[test]
    fn links_and_hosts_with_paths_are_refused() {
        for text in [
            "Security alert: verify at https://evil.example/login",
            "Visit WWW.evil.example",
            "verify at evil.example/login",
            "(evil.example/login)",
            "go to 192.0.2.1/reset",
            "evil.example:8080/x",
            "write to mailto:x@evil.example",
            "ｈｔｔｐｓ://evil.example",
            "xn--80ak6aa92e.com",
            "Bank\u{202E}nigol",
            "Pay\u{200B}Pal",
        ] {
            assert!(refused(text), "{text:?}");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for text in [
            "Example K.K.",
            "Weekly offers",
            "Node.js Weekly",
            "株式会社サンプル ニュースレター",
            "1-2-3 Chiyoda, Tokyo 100-0001",
            "Sales 2026/27: new season",
            "Time: 10:30",
            "A/B tests",
        ] {
            assert!(!refused(text), "{text:?}");
        }
    }
}
