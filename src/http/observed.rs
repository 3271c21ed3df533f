//! What a page request shows of its client, recorded as observed evidence of a confirmation:
//! the IP address (from the trusted proxy's hop when so configured) and the user agent.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::flows::links::Observed;
use crate::state::AppState;

pub fn observed(state: &AppState, req: &HttpRequest) -> Observed {
    let ip = client_ip(state, req).map(|ip| ip.to_string());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    Observed { ip, user_agent }
}

/// The client's address: the trusted proxy's hop when so configured, else the peer's.
pub fn client_ip(state: &AppState, req: &HttpRequest) -> Option<std::net::IpAddr> {
    let forwarded = state
        .settings
        .http
        .trust_forwarded_for
        .then(|| nearest_forwarded_hop(req.headers()))
        .flatten();
    forwarded.or_else(|| req.peer_addr().map(|a| a.ip()))
}

/// The client address the trusted proxy appended: the right-most `X-Forwarded-For` entry.
/// Everything left of it came from the client and could be anything; an entry that is not an
/// IP address (with or without a port) counts as absent, and the peer address is recorded.
fn nearest_forwarded_hop(headers: &header::HeaderMap) -> Option<std::net::IpAddr> {
    let last = headers.get_all("x-forwarded-for").last()?.to_str().ok()?;
    let hop = last.rsplit(',').next()?.trim();
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn hop(values: &[&str]) -> Option<String> {
        let mut headers = header::HeaderMap::new();
        for v in values {
            headers.append(
                header::HeaderName::from_static("x-forwarded-for"),
                v.parse().unwrap(),
            );
        }
        nearest_forwarded_hop(&headers).map(|ip| ip.to_string())
    }

    #[test]
    fn the_proxy_s_own_hop_is_recorded_not_what_the_client_claimed() {
        assert_eq!(hop(&["6.6.6.6, 203.0.113.7"]), Some("203.0.113.7".into()));
        assert_eq!(hop(&["6.6.6.6", "203.0.113.7"]), Some("203.0.113.7".into()));
        assert_eq!(hop(&["[2001:db8::7]:4711"]), Some("2001:db8::7".into()));
        assert_eq!(hop(&["203.0.113.7:4711"]), Some("203.0.113.7".into()));
        assert_eq!(hop(&["203.0.113.7, <script>"]), None);
        assert_eq!(hop(&[]), None);
    }
}
