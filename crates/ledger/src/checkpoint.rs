//! Signed checkpoints: an Ed25519 signature over a sender's chain head (sender, seq, hash,
//! time). An auditor holding only the public key can tell that an export came from this
//! service and ends where the service says the chain ended.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::canonical::canonical_json;

/// Domain separation: the signed bytes say what they are.
pub const CHECKPOINT_TYPE: &str = "consentry.checkpoint.v1";

/// A signed chain head, as stored, served and written at the end of every export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checkpoint {
    pub sender_id: String,
    /// Set on the checkpoint that closes an export: the export holds the events with
    /// `after_seq < seq <= seq` (so events removed from its start are noticed too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<i64>,
    pub seq: i64,
    pub hash: String,
    /// RFC 3339 UTC time of signing.
    pub at: String,
    pub key_id: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// base64url (no padding) of the 64-byte signature over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes: canonical JSON of `{after_seq?, at, hash, sender_id, seq, type}`.
    pub fn message(&self) -> Vec<u8> {
        let mut signed = json!({
            "type": CHECKPOINT_TYPE, "sender_id": self.sender_id, "seq": self.seq,
            "hash": self.hash, "at": self.at,
        });
        if let Some(after_seq) = self.after_seq {
            signed["after_seq"] = after_seq.into();
        }
        canonical_json(&signed)
    }
}

/// The service's signing keys, newest first: the first signs, all are published.
pub struct SigningKeys {
    keys: Vec<(String, SigningKey)>,
}

impl SigningKeys {
    /// From (key id, 32-byte seed) pairs, newest first.
    pub fn new(seeds: Vec<(String, [u8; 32])>) -> anyhow::Result<Self> {
        if seeds.is_empty() {
            anyhow::bail!("no checkpoint signing key");
        }
        Ok(Self {
            keys: seeds
                .into_iter()
                .map(|(id, seed)| (id, SigningKey::from_bytes(&seed)))
                .collect(),
        })
    }

    /// A key id derived from a seed's public key, for generated keys.
    pub fn derived_id(seed: &[u8; 32]) -> String {
        let public = SigningKey::from_bytes(seed).verifying_key();
        format!("g{}", &hex::encode(Sha256::digest(public.as_bytes()))[..12])
    }

    /// Signs the head `(seq, hash)` of `sender_id`'s chain at `at` (RFC 3339); `after_seq`
    /// when the checkpoint closes an export that starts after that seq.
    pub fn sign(
        &self,
        sender_id: &str,
        after_seq: Option<i64>,
        (seq, hash): (i64, &str),
        at: &str,
    ) -> Checkpoint {
        let (id, key) = &self.keys[0];
        let mut checkpoint = Checkpoint {
            sender_id: sender_id.to_owned(),
            after_seq,
            seq,
            hash: hash.to_owned(),
            at: at.to_owned(),
            key_id: id.clone(),
            algorithm: "Ed25519".into(),
            signature: String::new(),
        };
        let signature = key.sign(&checkpoint.message());
        checkpoint.signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        checkpoint
    }

    /// The public keys as a JSON Web Key Set (RFC 7517, Ed25519 keys per RFC 8037).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(id, key)| {
                json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": id,
                    "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    pub fn verifying_keys(&self) -> VerifyingKeys {
        VerifyingKeys {
            keys: self
                .keys
                .iter()
                .map(|(id, key)| (Some(id.clone()), key.verifying_key()))
                .collect(),
        }
    }
}

/// Why a checkpoint's signature does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("no public key with id {0}")]
    UnknownKey(String),
    #[error("unsupported algorithm {0}")]
    Algorithm(String),
    #[error("the signature is malformed")]
    Malformed,
    #[error("the signature does not match (the checkpoint was altered or not signed by this key)")]
    Invalid,
}

/// Public keys an auditor trusts; a key without an id matches any `key_id`.
#[derive(Default)]
pub struct VerifyingKeys {
    keys: Vec<(Option<String>, VerifyingKey)>,
}

impl VerifyingKeys {
    /// From a JWKS document (as served at `/.well-known/jwks.json`).
    pub fn from_jwks(jwks: &Value) -> anyhow::Result<Self> {
        let mut out = Self::default();
        let keys = jwks["keys"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("not a JWKS document: no `keys` array"))?;
        for key in keys {
            if key["kty"] != "OKP" || key["crv"] != "Ed25519" {
                continue;
            }
            let x = key["x"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("a JWK has no `x`"))?;
            out.keys
                .push((key["kid"].as_str().map(str::to_owned), public_key(x)?));
        }
        if out.keys.is_empty() {
            anyhow::bail!("the JWKS document holds no Ed25519 key");
        }
        Ok(out)
    }

    /// `kid:base64url` or a bare base64url public key (32 bytes).
    pub fn add_public_key(&mut self, raw: &str) -> anyhow::Result<()> {
        let (id, encoded) = match raw.split_once(':') {
            Some((id, encoded)) => (Some(id.to_owned()), encoded),
            None => (None, raw),
        };
        self.keys.push((id, public_key(encoded)?));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        if checkpoint.algorithm != "Ed25519" {
            return Err(CheckpointError::Algorithm(checkpoint.algorithm.clone()));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(checkpoint.signature.trim_end_matches('='))
            .map_err(|_| CheckpointError::Malformed)?;
        let signature = Signature::from_slice(&bytes).map_err(|_| CheckpointError::Malformed)?;
        let message = checkpoint.message();
        let candidates: Vec<&VerifyingKey> = self
            .keys
            .iter()
            .filter(|(id, _)| id.as_deref().is_none_or(|id| id == checkpoint.key_id))
            .map(|(_, key)| key)
            .collect();
        if candidates.is_empty() {
            return Err(CheckpointError::UnknownKey(checkpoint.key_id.clone()));
        }
        if candidates
            .iter()
            .any(|key| key.verify_strict(&message, &signature).is_ok())
        {
            Ok(())
        } else {
            Err(CheckpointError::Invalid)
        }
    }
}

fn public_key(encoded: &str) -> anyhow::Result<VerifyingKey> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded.trim().trim_end_matches('='))
        .map_err(|_| anyhow::anyhow!("a public key is not base64url"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("an Ed25519 public key is 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| anyhow::anyhow!("not an Ed25519 public key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SigningKeys {
        SigningKeys::new(vec![("k2".into(), [7; 32]), ("k1".into(), [8; 32])])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_checkpoint_verifies_with_the_published_key_only() {
        let keys = keys();
        let checkpoint = keys.sign("s", Some(0), (10, "ab"), "2026-11-28T00:00:00Z");
        assert_eq!(checkpoint.key_id, "k2");
        let published = VerifyingKeys::from_jwks(&keys.jwks()).unwrap_or_default();
        assert_eq!(published.verify(&checkpoint), Ok(()));

        for altered in [
            Checkpoint {
                seq: 9,
                ..checkpoint.clone()
            },
            Checkpoint {
                after_seq: Some(1),
                ..checkpoint.clone()
            },
            Checkpoint {
                after_seq: None,
                ..checkpoint.clone()
            },
        ] {
            assert_eq!(published.verify(&altered), Err(CheckpointError::Invalid));
        }
        let mut stranger = VerifyingKeys::default();
        let other =
            SigningKeys::new(vec![("k2".into(), [9; 32])]).unwrap_or_else(|e| panic!("{e}"));
        let x = other.jwks()["keys"][0]["x"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        stranger
            .add_public_key(&x)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stranger.verify(&checkpoint), Err(CheckpointError::Invalid));
    }

    #[test]
    fn every_signed_member_and_every_signature_byte_is_covered() {
        let keys = keys();
        let checkpoint = keys.sign("s", Some(0), (10, "ab"), "2026-11-28T00:00:00Z");
        assert_eq!(
            String::from_utf8_lossy(&checkpoint.message()),
            r#"{"after_seq":0,"at":"2026-11-28T00:00:00Z","hash":"ab","sender_id":"s","seq":10,"type":"consentry.checkpoint.v1"}"#
        );
        let published = VerifyingKeys::from_jwks(&keys.jwks()).unwrap_or_default();
        for altered in [
            Checkpoint {
                hash: "ac".into(),
                ..checkpoint.clone()
            },
            Checkpoint {
                at: "2026-11-28T00:00:01Z".into(),
                ..checkpoint.clone()
            },
            Checkpoint {
                sender_id: "t".into(),
                ..checkpoint.clone()
            },
        ] {
            assert_eq!(published.verify(&altered), Err(CheckpointError::Invalid));
        }
        let mut signature = URL_SAFE_NO_PAD
            .decode(&checkpoint.signature)
            .unwrap_or_default();
        assert_eq!(signature.len(), 64);
        for i in 0..signature.len() {
            signature[i] ^= 1;
            let altered = Checkpoint {
                signature: URL_SAFE_NO_PAD.encode(&signature),
                ..checkpoint.clone()
            };
            assert!(published.verify(&altered).is_err(), "byte {i}");
            signature[i] ^= 1;
        }
        // An older key still listed verifies what it signed; the algorithm is not negotiable.
        let old = SigningKeys::new(vec![("k1".into(), [8; 32])]).unwrap_or_else(|e| panic!("{e}"));
        let by_old = old.sign("s", None, (1, "ab"), "2026-11-28T00:00:00Z");
        assert_eq!(published.verify(&by_old), Ok(()));
        let other_algorithm = Checkpoint {
            algorithm: "HS256".into(),
            ..checkpoint
        };
        assert_eq!(
            published.verify(&other_algorithm),
            Err(CheckpointError::Algorithm("HS256".into()))
        );
    }

    #[test]
    fn an_unknown_key_id_is_named() {
        let keys = keys();
        let checkpoint = Checkpoint {
            key_id: "k9".into(),
            ..keys.sign("s", None, (1, "ab"), "2026-11-28T00:00:00Z")
        };
        let published = VerifyingKeys::from_jwks(&keys.jwks()).unwrap_or_default();
        assert_eq!(
            published.verify(&checkpoint),
            Err(CheckpointError::UnknownKey("k9".into()))
        );
    }
}
