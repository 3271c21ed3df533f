//! Webhooks as parsed values: the target URL (never an internal address unless the operator
//! allows it), the event kinds a sender may subscribe to, the secret and the Standard
//! Webhooks signature (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::list::FieldError;

/// Ledger event kinds a sender can receive as webhooks.
pub const EVENT_KINDS: &[&str] = &[
    "confirmed",
    "refused",
    "unsubscribed",
    "expired",
    "confirmation_failed",
    "erased",
];

const SECRET_PREFIX: &str = "whsec_";

fn error(field: &'static str, reason: &'static str) -> FieldError {
    FieldError { field, reason }
}

/// An `https` URL (or `http` when private targets are allowed) whose host is not a private,
/// loopback or link-local address. Names are checked again, as resolved, at delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, FieldError> {
        let url = url::Url::parse(raw.trim())
            .map_err(|_| error("url", "must be an absolute http(s) URL"))?;
        let scheme_ok = url.scheme() == "https" || (allow_private && url.scheme() == "http");
        if !scheme_ok {
            return Err(error("url", "must be an https URL"));
        }
        if raw.len() > 2048 || !url.username().is_empty() || url.password().is_some() {
            return Err(error(
                "url",
                "must be at most 2048 characters, without user or password",
            ));
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                Some(IpAddr::from([127, 0, 0, 1]))
            }
            Some(url::Host::Domain(_)) => None,
            None => return Err(error("url", "must name a host")),
        };
        if !allow_private && ip.is_some_and(|ip| !is_public(ip)) {
            return Err(error(
                "url",
                "must not point at a private, loopback or link-local address",
            ));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Whether an address is reachable on the public internet (not loopback, private, shared,
/// link-local, unspecified, multicast, broadcast or documentation space).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// The kinds a sender subscribes to: a non-empty subset of [`EVENT_KINDS`], deduplicated, in
/// the order of that list.
pub fn parse_event_kinds(raw: &[String]) -> Result<Vec<&'static str>, FieldError> {
    if raw.is_empty() {
        return Err(error("events", "must name at least one event kind"));
    }
    if raw.iter().any(|k| !EVENT_KINDS.contains(&k.as_str())) {
        return Err(error(
            "events",
            "may only contain confirmed, refused, unsubscribed, expired, confirmation_failed, erased",
        ));
    }
    Ok(EVENT_KINDS
        .iter()
        .copied()
        .filter(|k| raw.iter().any(|r| r == k))
        .collect())
}

/// A new signing secret, `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header value for one delivery attempt.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_targets_pass_by_default() {
        assert!(WebhookUrl::parse("https://hooks.example.jp/consentry", false).is_ok());
        for bad in [
            "http://hooks.example.jp/",
            "https://127.0.0.1/",
            "https://localhost:8443/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:192.168.0.1]/",
            "https://user:pw@hooks.example.jp/",
            "not a url",
        ] {
            assert!(WebhookUrl::parse(bad, false).is_err(), "{bad}");
        }
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", true).is_ok());
    }

    #[test]
    fn event_kinds_are_checked_and_deduplicated() {
        let kinds = parse_event_kinds(&[
            "unsubscribed".into(),
            "confirmed".into(),
            "confirmed".into(),
        ]);
        assert_eq!(kinds, Ok(vec!["confirmed", "unsubscribed"]));
        assert!(parse_event_kinds(&[]).is_err());
        assert!(parse_event_kinds(&["requested".into()]).is_err());
    }

    #[test]
    fn signature_follows_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = signature(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert!(new_secret().starts_with("whsec_"));
    }
}
