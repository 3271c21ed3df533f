//! Personal data beside an event (address, IP, user agent, note) and its salted digest
//! `pii_sha256`. The data itself is never in the event's bytes, only the digest is, so
//! erasing the data leaves the chain verifiable.

use rand::RngCore;

use crate::canonical::{write_opt_str, write_str};
use crate::chain::hex_digest;

/// Personal data a flow records beside an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pii {
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
    /// A salt chosen beforehand (a signup salts its evidence digest with it too); `None`
    /// draws a fresh one.
    pub salt: Option<String>,
}

/// 16 random bytes as 32 hex digits.
pub fn new_salt() -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    hex::encode(salt)
}

impl Pii {
    /// The stored record: this data with its salt.
    pub fn salted(self) -> PiiRecord {
        PiiRecord {
            email: self.email,
            ip: self.ip,
            user_agent: self.user_agent,
            note: self.note,
            salt: Some(self.salt.unwrap_or_else(new_salt)),
        }
    }
}

/// Personal data as stored and exported. The salt is erased with the rest, so once a record
/// is erased its `pii_sha256` cannot be confirmed by hashing a guessed address. Records
/// written before salts existed have none; their digest leaves the member out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiRecord {
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
    pub salt: Option<String>,
}

impl PiiRecord {
    pub fn as_ref(&self) -> PiiRef<'_> {
        PiiRef {
            email: self.email.as_deref(),
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            note: self.note.as_deref(),
            salt: self.salt.as_deref(),
        }
    }

    /// `hex(SHA-256(canonical JSON of {email, ip, note, salt, user_agent}))`.
    pub fn sha256(&self) -> String {
        String::from_utf8_lossy(&self.as_ref().hex_digest()).into_owned()
    }
}

/// A personal-data record borrowed from wherever it was read.
#[derive(Debug, Clone, Copy)]
pub struct PiiRef<'a> {
    pub email: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub note: Option<&'a str>,
    pub salt: Option<&'a str>,
}

impl PiiRef<'_> {
    /// Whether `digest` is this record's `pii_sha256`.
    pub fn matches(&self, digest: &str) -> bool {
        self.hex_digest() == digest.as_bytes()
    }

    fn hex_digest(&self) -> [u8; 64] {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"email\":");
        write_opt_str(self.email, &mut out);
        out.extend_from_slice(b",\"ip\":");
        write_opt_str(self.ip, &mut out);
        out.extend_from_slice(b",\"note\":");
        write_opt_str(self.note, &mut out);
        if let Some(salt) = self.salt {
            out.extend_from_slice(b",\"salt\":");
            write_str(salt, &mut out);
        }
        out.extend_from_slice(b",\"user_agent\":");
        write_opt_str(self.user_agent, &mut out);
        out.push(b'}');
        hex_digest(&[&out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonical_json;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_pii_digest_is_of_the_canonical_record() {
        let record = PiiRecord {
            email: Some("taro@example.jp".into()),
            ip: None,
            user_agent: Some("Mozilla/5.0 \"x\"".into()),
            note: Some("電話".into()),
            salt: Some("00ff".into()),
        };
        let generic = canonical_json(&json!({
            "email": record.email, "ip": record.ip, "user_agent": record.user_agent,
            "note": record.note, "salt": record.salt,
        }));
        assert_eq!(record.sha256(), hex::encode(Sha256::digest(generic)));
        assert!(record.as_ref().matches(&record.sha256()));
        // Records from before salts: the digest has no salt member at all.
        let legacy = PiiRecord {
            salt: None,
            ..record
        };
        let generic = canonical_json(&json!({
            "email": legacy.email, "ip": legacy.ip, "user_agent": legacy.user_agent,
            "note": legacy.note,
        }));
        assert_eq!(legacy.sha256(), hex::encode(Sha256::digest(generic)));
    }

    #[test]
    fn pii_digest_changes_with_any_field_and_with_the_salt() {
        let record = Pii {
            email: Some("taro@example.jp".into()),
            ..Pii::default()
        }
        .salted();
        let other_ip = PiiRecord {
            ip: Some("203.0.113.7".into()),
            ..record.clone()
        };
        let other_salt = PiiRecord {
            salt: Some("00".into()),
            ..record.clone()
        };
        assert_ne!(record.sha256(), other_ip.sha256());
        assert_ne!(record.sha256(), other_salt.sha256());
        assert_eq!(record.salt.as_deref().map(str::len), Some(32));
    }
}
