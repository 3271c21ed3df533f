//! Signed link tokens for the recipient pages: `<kid>.<payload>.<signature>`, base64url.
//!
//! The payload is (action, consent id, nonce, expiry); the signature is HMAC-SHA256 under the
//! key named by `kid`, so keys can rotate (the newest signs, every configured key verifies).
//! Confirm tokens expire and carry the consent's current nonce, which a resend rotates.
//! Refuse tokens carry the nonce too but are honoured whatever it is and however old they
//! are ("this wasn't me" must work from every mail the address received); unsubscribe tokens
//! carry no nonce and never expire (RFC 8058 links must keep working for as long as mail
//! containing them exists).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

const DOMAIN: &[u8] = b"consentry-link-v1";
const NONCE_LEN: usize = 12;
const PAYLOAD_LEN: usize = 1 + 16 + NONCE_LEN + 8;

/// One link-signing key, pre-keyed (cloning the HMAC state per token is the fast path), and
/// the id written into every token it signs.
#[derive(Clone)]
pub struct TokenKey {
    pub id: String,
    pub mac: Hmac<Sha256>,
}

impl TokenKey {
    pub fn new(id: &str, key: &[u8]) -> anyhow::Result<Self> {
        Ok(Self {
            id: id.to_owned(),
            mac: <Hmac<Sha256> as Mac>::new_from_slice(key)
                .map_err(|_| anyhow::anyhow!("invalid token key length"))?,
        })
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({})", self.id)
    }
}

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Confirm,
    Refuse,
    Unsubscribe,
}

impl Action {
    fn byte(self) -> u8 {
        match self {
            Action::Confirm => b'c',
            Action::Refuse => b'r',
            Action::Unsubscribe => b'u',
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'c' => Some(Action::Confirm),
            b'r' => Some(Action::Refuse),
            b'u' => Some(Action::Unsubscribe),
            _ => None,
        }
    }
}

/// A verified token's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub action: Action,
    pub consent_id: Uuid,
    /// Hex of the consent's nonce at signing time; empty for unsubscribe tokens.
    pub nonce: String,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is malformed, tampered with, or not ours")]
    Invalid,
    #[error("the link has expired")]
    Expired,
}

/// A fresh random nonce, hex-encoded, for a consent.
pub fn new_nonce() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn mac(key: &TokenKey, kid: &[u8], payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.mac.clone();
    mac.update(DOMAIN);
    mac.update(&[kid.len() as u8]);
    mac.update(kid);
    mac.update(payload);
    mac
}

/// Signs claims with the newest key (`keys[0]`).
pub fn sign(keys: &[TokenKey], claims: &LinkClaims) -> String {
    let Some(key) = keys.first() else {
        return String::new();
    };
    let mut payload = [0u8; PAYLOAD_LEN];
    payload[0] = claims.action.byte();
    payload[1..17].copy_from_slice(claims.consent_id.as_bytes());
    let _ = hex::decode_to_slice(&claims.nonce, &mut payload[17..17 + NONCE_LEN]);
    payload[17 + NONCE_LEN..].copy_from_slice(&claims.expires_at.unwrap_or(0).to_be_bytes());
    let signature = mac(key, key.id.as_bytes(), &payload)
        .finalize()
        .into_bytes();
    // Every check that allows a send signs one (its unsubscribe link): one allocation.
    let mut token = String::with_capacity(key.id.len() + 2 + 4 * (PAYLOAD_LEN + 32) / 3 + 2);
    token.push_str(&key.id);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}

/// Verifies a token (constant-time signature check) and, except for refuse links, its expiry
/// against `now` (unix s).
pub fn verify(keys: &[TokenKey], token: &str, now: i64) -> Result<LinkClaims, TokenError> {
    let mut parts = token.split('.');
    let (Some(kid), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Invalid);
    };
    let key = keys
        .iter()
        .find(|k| k.id == kid)
        .ok_or(TokenError::Invalid)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Invalid)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Invalid)?;
    if payload.len() != PAYLOAD_LEN {
        return Err(TokenError::Invalid);
    }
    mac(key, kid.as_bytes(), &payload)
        .verify_slice(&signature)
        .map_err(|_| TokenError::Invalid)?;
    let action = Action::from_byte(payload[0]).ok_or(TokenError::Invalid)?;
    let consent_id = Uuid::from_slice(&payload[1..17]).map_err(|_| TokenError::Invalid)?;
    let nonce = &payload[17..17 + NONCE_LEN];
    let mut expiry = [0u8; 8];
    expiry.copy_from_slice(&payload[17 + NONCE_LEN..]);
    let expires_at = Some(i64::from_be_bytes(expiry)).filter(|&e| e != 0);
    // A refusal protects the owner whenever it comes, so its link never runs out.
    if action != Action::Refuse && expires_at.is_some_and(|e| now > e) {
        return Err(TokenError::Expired);
    }
    Ok(LinkClaims {
        action,
        consent_id,
        nonce: if nonce.iter().all(|&b| b == 0) {
            String::new()
        } else {
            hex::encode(nonce)
        },
        expires_at,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> TokenKey {
        TokenKey::new(id, &[byte; 32]).unwrap()
    }

    fn claims(action: Action, expires_at: Option<i64>) -> LinkClaims {
        LinkClaims {
            action,
            consent_id: Uuid::now_v7(),
            nonce: if action == Action::Unsubscribe {
                String::new()
            } else {
                new_nonce()
            },
            expires_at,
        }
    }

    /// Fixed vectors, computed independently (Python's `hmac` over the documented layout:
    /// action byte, 16-byte consent id, 12-byte nonce, big-endian expiry; HMAC-SHA256 of
    /// `consentry-link-v1`, kid length, kid, payload) with key `k1` = 32 bytes of 0x01.
    const CONFIRM_VECTOR: &str = "k1.YwGTobIAAHAAgAAAAAAAAMEAESIzRFVmd4iZqrsAAAAAa0nSAA.gZs870st3d6JUzKhZ1je_VAVkIHG6ski8M6nojEpfnI";
    const UNSUBSCRIBE_VECTOR: &str = "k1.dQGTobIAAHAAgAAAAAAAAMEAAAAAAAAAAAAAAAAAAAAAAAAAAA.bF_OYWBjuNkmMPLarqzuLkGS_wc2Q1vCm9TVGixOGNU";

    fn fixed_claims(action: Action) -> LinkClaims {
        let confirm = action == Action::Confirm;
        LinkClaims {
            action,
            consent_id: Uuid::parse_str("0193a1b2-0000-7000-8000-0000000000c1").unwrap(),
            nonce: if confirm {
                "00112233445566778899aabb".into()
            } else {
                String::new()
            },
            expires_at: confirm.then_some(1_800_000_000),
        }
    }

    #[test]
    fn a_fixed_key_and_payload_give_the_fixed_token() {
        let keys = [key("k1", 1)];
        assert_eq!(sign(&keys, &fixed_claims(Action::Confirm)), CONFIRM_VECTOR);
        assert_eq!(
            sign(&keys, &fixed_claims(Action::Unsubscribe)),
            UNSUBSCRIBE_VECTOR
        );
    }

    #[test]
    fn the_fixed_tokens_parse_to_their_claims() {
        let keys = [key("k1", 1)];
        assert_eq!(
            verify(&keys, CONFIRM_VECTOR, 1_700_000_000),
            Ok(fixed_claims(Action::Confirm))
        );
        assert_eq!(
            verify(&keys, CONFIRM_VECTOR, 1_800_000_001),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&keys, UNSUBSCRIBE_VECTOR, i64::MAX),
            Ok(fixed_claims(Action::Unsubscribe))
        );
        assert_eq!(
            verify(&[key("k1", 2)], CONFIRM_VECTOR, 1_700_000_000),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let keys = [key("k1", 1)];
        for c in [
            claims(Action::Confirm, Some(2_000)),
            claims(Action::Unsubscribe, None),
        ] {
            let token = sign(&keys, &c);
            assert_eq!(verify(&keys, &token, 1_000), Ok(c));
        }
    }

    #[test]
    fn expiry_is_enforced_except_for_tokens_without_one() {
        let keys = [key("k1", 1)];
        let token = sign(&keys, &claims(Action::Confirm, Some(1_000)));
        assert_eq!(verify(&keys, &token, 1_001), Err(TokenError::Expired));
        let forever = sign(&keys, &claims(Action::Unsubscribe, None));
        assert!(verify(&keys, &forever, i64::MAX).is_ok());
    }

    #[test]
    fn a_refuse_link_works_long_after_its_mail_s_expiry() {
        let keys = [key("k1", 1)];
        let old = claims(Action::Refuse, Some(1_000));
        let token = sign(&keys, &old);
        assert_eq!(verify(&keys, &token, 1_000_000), Ok(old));
    }

    #[test]
    fn tampered_truncated_and_foreign_tokens_are_invalid() {
        let keys = [key("k1", 1)];
        let token = sign(&keys, &claims(Action::Refuse, Some(2_000)));
        let mut flipped = token.clone().into_bytes();
        let middle = token.find('.').unwrap() + 5;
        flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let foreign = sign(&[key("k1", 2)], &claims(Action::Refuse, Some(2_000)));
        for bad in [
            flipped.as_str(),
            &token[..token.len() - 3],
            foreign.as_str(),
            "",
            "k1..",
            "k9.AAAA.AAAA",
            &format!("{token}.x"),
        ] {
            assert_eq!(verify(&keys, bad, 1_000), Err(TokenError::Invalid), "{bad}");
        }
    }

    #[test]
    fn rotated_keys_still_verify_old_tokens() {
        let old = [key("k1", 1)];
        let token = sign(&old, &claims(Action::Confirm, Some(2_000)));
        let rotated = [key("k2", 2), key("k1", 1)];
        assert!(verify(&rotated, &token, 1_000).is_ok());
        assert!(sign(&rotated, &claims(Action::Confirm, None)).starts_with("k2."));
    }
}
