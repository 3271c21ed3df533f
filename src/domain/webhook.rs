//! Webhooks as parsed values: the target URL (never an internal address unless the operator
//! allows it), the event kinds a sender may subscribe to, the secret and the Standard
//! Webhooks signature (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    "complained",
    "standing_changed",
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

/// Whether an address is reachable on the public internet: only global unicast passes.
/// IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by
/// the address they carry, so `64:ff9b::a9fe:a9fe` is the metadata service it reaches.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGN)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

/// Outside 2000::/3 nothing is global unicast (loopback, unspecified, ULA, link- and
/// site-local, multicast); inside it, documentation space and Teredo are not reachable
/// targets either.
fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let documentation = s[0] == 0x2001 && s[1] == 0x0db8 || s[0] == 0x3fff && s[1] < 0x1000;
    let teredo = s[0] == 0x2001 && s[1] == 0;
    global_unicast && !documentation && !teredo
}

/// The IPv4 address an IPv6 address stands for, in the forms a router or resolver turns
/// into an IPv4 connection.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    // `::a.b.c.d` (deprecated IPv4-compatible); `::` and `::1` are themselves, not IPv4.
    let compatible = s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let local_nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1;
    if mapped || compatible || nat64 || local_nat64 {
        return Some(low);
    }
    // 6to4 `2002:AABB:CCDD::/48` carries AA.BB.CC.DD.
    (s[0] == 0x2002)
        .then(|| Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8))
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
#[allow(clippy::unwrap_used, clippy::expect_used)]
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
    fn addresses_that_reach_internal_networks_are_not_public() {
        for internal in [
            "64:ff9b::a9fe:a9fe",                   // NAT64 of 169.254.169.254
            "64:ff9b::7f00:1",                      // NAT64 of 127.0.0.1
            "64:ff9b:1::a00:1",                     // local-use NAT64 of 10.0.0.1
            "::a9fe:a9fe",                          // IPv4-compatible 169.254.169.254
            "::127.0.0.1",                          // IPv4-compatible loopback
            "2002:a9fe:a9fe::1",                    // 6to4 of 169.254.169.254
            "2002:c0a8:1::1",                       // 6to4 of 192.168.0.1
            "fec0::1",                              // site-local
            "::ffff:10.0.0.1",                      // IPv4-mapped
            "2001:db8::1",                          // documentation
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
            "100::1",                               // discard-only, outside 2000::/3
            "198.18.0.1",
            "198.19.255.254",
            "192.0.0.8",
            "192.88.99.1",
            "100.64.0.1",
        ] {
            let ip: IpAddr = internal.parse().unwrap();
            assert!(!is_public(ip), "{internal} must not count as public");
        }
        for public in [
            "93.184.215.14",
            "198.20.0.1",
            "2606:4700::1111",
            "64:ff9b::5db8:d70e", // NAT64 of a public address
            "2002:5db8:d70e::1",  // 6to4 of a public address
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} is public");
        }
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
