//! API keys: `csk_<key id>_<secret>`. Only an argon2id hash of the secret is stored.

use crate::domain::ids::SenderId;
use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const PREFIX: &str = "csk_";
const ID_BYTES: usize = 12;
const SECRET_BYTES: usize = 32;

/// What a key may do. `auditor` keys only read audit data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Sender,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sender => "sender",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "sender" => Some(Role::Sender),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// A key as presented in `Authorization: Bearer ...`, split into id and secret.
pub struct PresentedKey {
    id: String,
    secret: SecretString,
}

impl PresentedKey {
    /// Parses the bearer value; `None` for anything not shaped like one of our keys.
    pub fn parse(raw: &str) -> Option<PresentedKey> {
        let rest = raw.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let is_hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex(id, ID_BYTES * 2) || !is_hex(secret, SECRET_BYTES * 2) {
            return None;
        }
        Some(PresentedKey {
            id: id.to_owned(),
            secret: secret.into(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Checks the secret against a stored argon2id hash (constant time inside argon2).
    pub fn verify(&self, stored_hash: &str) -> bool {
        PasswordHash::new(stored_hash).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(self.secret.expose_secret().as_bytes(), &hash)
                .is_ok()
        })
    }
}

impl fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresentedKey({})", self.id)
    }
}

/// SHA-256 of the whole presented bearer value: the in-memory cache key for verified keys.
pub fn cache_digest(raw: &str) -> [u8; 32] {
    Sha256::digest(raw.as_bytes()).into()
}

/// A freshly generated key: the full secret form is shown once, the hash is stored.
pub struct NewKey {
    pub id: String,
    pub full: SecretString,
    pub secret_hash: String,
}

/// Generates a key id and secret and hashes the secret with argon2id (default parameters).
pub fn generate() -> Result<NewKey, argon2::password_hash::Error> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let salt = SaltString::generate(&mut OsRng);
    let secret_hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)?
        .to_string();
    Ok(NewKey {
        full: format!("{PREFIX}{id}_{secret}").into(),
        id,
        secret_hash,
    })
}

/// An authenticated key: every query a request makes is scoped to `sender_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub sender_id: SenderId,
    pub role: Role,
}

impl Caller {
    /// A sender caller for unit tests.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self {
            key_id: "k".into(),
            sender_id: crate::domain::ids::SenderId::new(),
            role: Role::Sender,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_verifies_and_a_changed_one_does_not() {
        let key = generate().unwrap_or_else(|e| panic!("{e}"));
        let full = key.full.expose_secret();
        let presented = PresentedKey::parse(full).unwrap_or_else(|| panic!("parses"));
        assert_eq!(presented.id(), key.id);
        assert!(presented.verify(&key.secret_hash));

        let last = full.chars().last().unwrap_or('0');
        let flipped = format!(
            "{}{}",
            &full[..full.len() - 1],
            if last == '0' { '1' } else { '0' }
        );
        let forged = PresentedKey::parse(&flipped).unwrap_or_else(|| panic!("parses"));
        assert!(!forged.verify(&key.secret_hash));
    }

    #[test]
    fn malformed_bearer_values_are_rejected() {
        let good_id = "a".repeat(24);
        let good_secret = "b".repeat(64);
        for raw in [
            String::new(),
            "csk_".into(),
            format!("csx_{good_id}_{good_secret}"),
            format!("csk_{good_id}{good_secret}"),
            format!("csk_{}_{good_secret}", "a".repeat(23)),
            format!("csk_{good_id}_{}", "g".repeat(64)),
            format!("csk_{good_id}_{good_secret}_"),
        ] {
            assert!(PresentedKey::parse(&raw).is_none(), "{raw}");
        }
        assert!(PresentedKey::parse(&format!("csk_{good_id}_{good_secret}")).is_some());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = generate().unwrap_or_else(|e| panic!("{e}"));
        let presented = PresentedKey::parse(key.full.expose_secret()).unwrap_or_else(|| panic!());
        assert!(!format!("{presented:?}").contains(&key.full.expose_secret()[30..]));
    }
}
