//! Ledger hashing: the canonical bytes (`domain::canonical`) of an event and of its
//! personal data, and the chain rule `hash = SHA-256(prev_hash || canonical bytes)`.
//! `docs/ledger.md` specifies the same encoding for anyone re-implementing verification.
//!
//! The personal data (address, IP, user agent, note) is never in the event's bytes: only
//! its salted digest `pii_sha256` is, so erasing the personal data leaves the chain
//! verifiable.

use rand::RngCore;
use sha2::{Digest, Sha256};

use super::canonical::{write_opt_str, write_str, Canonical};

/// `prev_hash` of the first event of every sender.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an event that the chain covers.
pub struct ChainedFields<'a> {
    pub sender_id: &'a str,
    pub seq: i64,
    pub id: &'a str,
    pub at: &'a str,
    pub kind: &'a str,
    pub consent_id: Option<&'a str>,
    pub list: Option<&'a str>,
    pub subject_key: Option<&'a str>,
    pub data: &'a dyn Canonical,
    pub pii_sha256: Option<&'a str>,
}

impl ChainedFields<'_> {
    /// The canonical bytes: the object of the ten fields above, keys in byte order.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_canonical(&mut out);
        out
    }

    /// Writes the canonical bytes field by field (the verifier's hot path); equal to
    /// `canonical_json` of the same object, which a test holds it to.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"at\":");
        write_str(self.at, out);
        out.extend_from_slice(b",\"consent_id\":");
        write_opt_str(self.consent_id, out);
        out.extend_from_slice(b",\"data\":");
        self.data.write_canonical(out);
        out.extend_from_slice(b",\"id\":");
        write_str(self.id, out);
        out.extend_from_slice(b",\"kind\":");
        write_str(self.kind, out);
        out.extend_from_slice(b",\"list\":");
        write_opt_str(self.list, out);
        out.extend_from_slice(b",\"pii_sha256\":");
        write_opt_str(self.pii_sha256, out);
        out.extend_from_slice(b",\"sender_id\":");
        write_str(self.sender_id, out);
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"subject_key\":");
        write_opt_str(self.subject_key, out);
        out.push(b'}');
    }

    /// Whether `hash` is `hex(SHA-256(prev_hash || canonical))`, reusing `buf` for the
    /// canonical bytes and allocating nothing else.
    pub fn hash_matches(&self, prev_hash: &str, hash: &str, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        self.write_canonical(buf);
        hex_digest(&[prev_hash.as_bytes(), buf]) == hash.as_bytes()
    }
}

/// `hex(SHA-256(prev_hash as ASCII hex || canonical))`.
pub fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let hex = hex_digest(&[prev_hash.as_bytes(), canonical]);
    String::from_utf8_lossy(&hex).into_owned()
}

/// Lower-case hex of the SHA-256 of the concatenated `parts`, on the stack.
fn hex_digest(parts: &[&[u8]]) -> [u8; 64] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let mut hex = [0u8; 64];
    // 32 bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(hasher.finalize(), &mut hex);
    hex
}

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
    use crate::domain::canonical::canonical_json;
    use serde_json::json;

    #[test]
    fn field_by_field_encoding_equals_the_generic_one() {
        let data = json!({"z": [1, "x\"y"], "a": null, "m": {"k": -3}});
        for (consent, list) in [(Some("c-1"), Some("news")), (None, None)] {
            let fields = ChainedFields {
                sender_id: "s",
                seq: 42,
                id: "e",
                at: "2026-11-28T00:00:00Z",
                kind: "requested",
                consent_id: consent,
                list,
                subject_key: Some("k"),
                data: &data,
                pii_sha256: None,
            };
            let generic = canonical_json(&json!({
                "sender_id": "s", "seq": 42, "id": "e", "at": "2026-11-28T00:00:00Z",
                "kind": "requested", "consent_id": consent, "list": list, "subject_key": "k",
                "data": data, "pii_sha256": null,
            }));
            assert_eq!(fields.canonical(), generic);
        }
    }

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
    fn the_chain_hash_depends_on_the_previous_hash() {
        let a = chain_hash(GENESIS_HASH, b"{}");
        let b = chain_hash(&a, b"{}");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
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
