//! The chain: the ten fields of an event that its hash covers (declared here once, for the
//! service and the verifier alike), their canonical bytes (`crate::canonical`), and the
//! rule `hash = SHA-256(prev_hash || canonical bytes)`. `docs/ledger.md` specifies the
//! same encoding for anyone re-implementing verification.

use sha2::{Digest, Sha256};

use crate::canonical::{write_opt_str, write_str, Canonical};

/// `prev_hash` of the first event of every sender.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of an event that the chain covers. `data` is any [`Canonical`] value when an
/// event is appended, or the JSON text it was stored or exported as when it is read back
/// (`ChainedFields<'_, str>`, see [`crate::verify::EventRecord`]).
pub struct ChainedFields<'a, D: ?Sized + 'a = dyn Canonical + 'a> {
    pub sender_id: &'a str,
    pub seq: i64,
    pub id: &'a str,
    pub at: &'a str,
    pub kind: &'a str,
    pub consent_id: Option<&'a str>,
    pub list: Option<&'a str>,
    pub subject_key: Option<&'a str>,
    pub data: &'a D,
    pub pii_sha256: Option<&'a str>,
}

impl<D: ?Sized> ChainedFields<'_, D> {
    /// The same fields with `data` held another way (the verifier's text, parsed or as is).
    pub fn with_data<'b, E: ?Sized>(&'b self, data: &'b E) -> ChainedFields<'b, E> {
        ChainedFields {
            sender_id: self.sender_id,
            seq: self.seq,
            id: self.id,
            at: self.at,
            kind: self.kind,
            consent_id: self.consent_id,
            list: self.list,
            subject_key: self.subject_key,
            data,
            pii_sha256: self.pii_sha256,
        }
    }
}

impl<D: Canonical + ?Sized> ChainedFields<'_, D> {
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
pub(crate) fn hex_digest(parts: &[&[u8]]) -> [u8; 64] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let mut hex = [0u8; 64];
    // 32 bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(hasher.finalize(), &mut hex);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonical_json;
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
    fn the_chain_hash_depends_on_the_previous_hash() {
        let a = chain_hash(GENESIS_HASH, b"{}");
        let b = chain_hash(&a, b"{}");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }
}
