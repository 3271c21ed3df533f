//! Ledger hashing: the canonical bytes of an event and of its personal data, and the chain
//! rule `hash = SHA-256(prev_hash || canonical bytes)`.
//!
//! Canonical bytes are JSON with object keys sorted by byte order, no insignificant
//! whitespace, and strings escaped as serde_json escapes them. The personal data (address,
//! IP, user agent, note) is never in the event's bytes: only its digest `pii_sha256` is, so
//! erasing the personal data leaves the chain verifiable.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first event of every sender.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Writes `value` as canonical JSON (sorted keys, compact).
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

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
    pub data: &'a Value,
    pub pii_sha256: Option<&'a str>,
}

impl ChainedFields<'_> {
    pub fn canonical(&self) -> Vec<u8> {
        canonical_json(&json!({
            "sender_id": self.sender_id,
            "seq": self.seq,
            "id": self.id,
            "at": self.at,
            "kind": self.kind,
            "consent_id": self.consent_id,
            "list": self.list,
            "subject_key": self.subject_key,
            "data": self.data,
            "pii_sha256": self.pii_sha256,
        }))
    }
}

/// `hex(SHA-256(prev_hash as ASCII hex || canonical))`.
pub fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical);
    hex::encode(hasher.finalize())
}

/// Personal data stored beside an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pii {
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
}

impl Pii {
    /// Digest of the canonical PII record.
    pub fn sha256(&self) -> String {
        let record = json!({
            "email": self.email, "ip": self.ip, "user_agent": self.user_agent, "note": self.note,
        });
        hex::encode(Sha256::digest(canonical_json(&record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [1, {"z": null, "y": "ü"}], "c": true}});
        assert_eq!(
            String::from_utf8_lossy(&canonical_json(&v)),
            r#"{"a":{"c":true,"d":[1,{"y":"ü","z":null}]},"b":1}"#
        );
    }

    #[test]
    fn the_chain_hash_depends_on_the_previous_hash() {
        let a = chain_hash(GENESIS_HASH, b"{}");
        let b = chain_hash(&a, b"{}");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn pii_digest_changes_with_any_field() {
        let pii = Pii {
            email: Some("taro@example.jp".into()),
            ..Pii::default()
        };
        let other = Pii {
            ip: Some("203.0.113.7".into()),
            ..pii.clone()
        };
        assert_ne!(pii.sha256(), other.sha256());
    }
}
