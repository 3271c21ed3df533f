//! Ledger hashing: the canonical bytes of an event and of its personal data, and the chain
//! rule `hash = SHA-256(prev_hash || canonical bytes)`. `docs/ledger.md` specifies the same
//! encoding for anyone re-implementing verification.
//!
//! Canonical bytes are JSON with object keys sorted by byte order, no insignificant
//! whitespace, and strings escaped as serde_json escapes them (which, for the integers,
//! strings, booleans and nulls an event holds, is RFC 8785). The personal data (address, IP,
//! user agent, note) is never in the event's bytes: only its digest `pii_sha256` is, so
//! erasing the personal data leaves the chain verifiable.

use rand::RngCore;
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
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(key, out);
                out.push(b':');
                write_canonical(item, out);
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
        Value::String(s) => write_str(s, out),
        scalar => {
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_opt_str(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => write_str(s, out),
        None => out.extend_from_slice(b"null"),
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
        write_canonical(self.data, out);
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

    /// `hex(SHA-256(prev_hash || canonical))`, reusing `buf` for the canonical bytes.
    pub fn hash(&self, prev_hash: &str, buf: &mut Vec<u8>) -> String {
        buf.clear();
        self.write_canonical(buf);
        chain_hash(prev_hash, buf)
    }
}

/// `hex(SHA-256(prev_hash as ASCII hex || canonical))`.
pub fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical);
    hex::encode(hasher.finalize())
}

/// Personal data a flow records beside an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pii {
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
}

impl Pii {
    /// The stored record: this data with a fresh random salt.
    pub fn salted(self) -> PiiRecord {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        PiiRecord {
            email: self.email,
            ip: self.ip,
            user_agent: self.user_agent,
            note: self.note,
            salt: hex::encode(salt),
        }
    }
}

/// Personal data as stored and exported. The salt is erased with the rest, so once a record
/// is erased its `pii_sha256` cannot be confirmed by hashing a guessed address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PiiRecord {
    pub email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
    pub salt: String,
}

impl PiiRecord {
    /// `hex(SHA-256(canonical JSON of {email, ip, note, salt, user_agent}))`.
    pub fn sha256(&self) -> String {
        let record = json!({
            "email": self.email, "ip": self.ip, "user_agent": self.user_agent,
            "note": self.note, "salt": self.salt,
        });
        hex::encode(Sha256::digest(canonical_json(&record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [1, {"z": null, "y": "ü\n\u{1}"}], "c": true}});
        assert_eq!(
            String::from_utf8_lossy(&canonical_json(&v)),
            "{\"a\":{\"c\":true,\"d\":[1,{\"y\":\"ü\\n\\u0001\",\"z\":null}]},\"b\":1}"
        );
    }

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
            salt: "00".into(),
            ..record.clone()
        };
        assert_ne!(record.sha256(), other_ip.sha256());
        assert_ne!(record.sha256(), other_salt.sha256());
        assert_eq!(record.salt.len(), 32);
    }
}
