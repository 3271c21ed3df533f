//! Fixed test vectors: concrete events, their exact canonical bytes and hashes, a
//! personal-data digest and a checkpoint signed with a fixed Ed25519 seed. The expected
//! values were computed by an independent implementation (Python's `json`, `hashlib` and
//! `cryptography`), not by this crate, and `docs/ledger.md` lists the same values so that
//! an outside verifier can check itself against them.

use consentry_ledger::canonical::canonical_json;
use consentry_ledger::chain::{chain_hash, ChainedFields, GENESIS_HASH};
use consentry_ledger::checkpoint::{Checkpoint, CheckpointError, SigningKeys, VerifyingKeys};
use consentry_ledger::pii::PiiRecord;
use serde_json::json;

const SENDER: &str = "0193a1b2-0000-7000-8000-000000000001";

const PII_CANONICAL: &str = r#"{"email":"taro@example.jp","ip":"203.0.113.7","note":null,"salt":"00112233445566778899aabbccddeeff","user_agent":"Mozilla/5.0 \"x\""}"#;
const PII_SHA256: &str = "79df5ec74c071c1bbd3a4ce82e60fbaa1ed1cdb7afde14b4720b42b177fc97b9";

const EVENT1_CANONICAL: &str = r#"{"at":"2026-11-28T03:17:34.123456Z","consent_id":"0193a1b2-0000-7000-8000-0000000000c1","data":{"collection_method":"web_form","source":{"form":"footer","url":"https://shop.example/signup"},"text":"ニュースレター \"weekly\"\n","version":3},"id":"0193a1b2-0000-7000-8000-0000000000e1","kind":"requested","list":"newsletter","pii_sha256":"79df5ec74c071c1bbd3a4ce82e60fbaa1ed1cdb7afde14b4720b42b177fc97b9","sender_id":"0193a1b2-0000-7000-8000-000000000001","seq":1,"subject_key":"9a2e000000000000000000000000000000000000000000000000000000000000"}"#;
const EVENT1_HASH: &str = "0c217f7e9b32dde197ac49bb5c63f384bd1a0d631282bccd8ad6b2415243db27";

const EVENT2_CANONICAL: &str = r#"{"at":"2026-11-28T03:20:00Z","consent_id":null,"data":{},"id":"0193a1b2-0000-7000-8000-0000000000e2","kind":"checked","list":null,"pii_sha256":null,"sender_id":"0193a1b2-0000-7000-8000-000000000001","seq":2,"subject_key":null}"#;
const EVENT2_HASH: &str = "3442d27c6c530236efde01cbfb25bbd551bb0abccfe40931e64cca648eb2a0f2";

/// Ed25519 seed: 32 bytes of 0x07. Its public key, base64url without padding:
const PUBLIC_KEY_X: &str = "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw";
const CHECKPOINT_MESSAGE: &str = r#"{"after_seq":0,"at":"2026-11-28T04:00:00Z","hash":"3442d27c6c530236efde01cbfb25bbd551bb0abccfe40931e64cca648eb2a0f2","sender_id":"0193a1b2-0000-7000-8000-000000000001","seq":2,"type":"consentry.checkpoint.v1"}"#;
const CHECKPOINT_SIGNATURE: &str =
    "4T4ebpTO0Nq5CbDhgMygwk662z3Ou6PiLEE6XQhwSB2N-yiGkguXoAJ4K6DPsfbmFZilSqo5qIUlHruupKFwCQ";
/// The same head as a head checkpoint (no `after_seq`).
const HEAD_CHECKPOINT_SIGNATURE: &str =
    "P3ysngrCDi4oSrlAxEtzVr81BxNF8ZxdG3Wvr4HB4IEMjdIMdxcpFmLpTeIimucpJlIXNGFzgdMuU2-fiFH7Cg";

fn pii() -> PiiRecord {
    PiiRecord {
        email: Some("taro@example.jp".into()),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 \"x\"".into()),
        note: None,
        salt: Some("00112233445566778899aabbccddeeff".into()),
    }
}

fn keys() -> SigningKeys {
    SigningKeys::new(vec![("k1".into(), [7; 32])]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_personal_data_digest_is_the_fixed_vector() {
    let record = pii();
    let value = serde_json::to_value(&record).unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&canonical_json(&value)),
        PII_CANONICAL
    );
    assert_eq!(record.sha256(), PII_SHA256);
    assert!(record.as_ref().matches(PII_SHA256));
}

#[test]
fn events_give_the_fixed_canonical_bytes_and_hashes() {
    let data = json!({
        "version": 3, "text": "ニュースレター \"weekly\"\n", "collection_method": "web_form",
        "source": {"url": "https://shop.example/signup", "form": "footer"},
    });
    let first = ChainedFields {
        sender_id: SENDER,
        seq: 1,
        id: "0193a1b2-0000-7000-8000-0000000000e1",
        at: "2026-11-28T03:17:34.123456Z",
        kind: "requested",
        consent_id: Some("0193a1b2-0000-7000-8000-0000000000c1"),
        list: Some("newsletter"),
        subject_key: Some("9a2e000000000000000000000000000000000000000000000000000000000000"),
        data: &data,
        pii_sha256: Some(PII_SHA256),
    };
    assert_eq!(
        String::from_utf8_lossy(&first.canonical()),
        EVENT1_CANONICAL
    );
    assert_eq!(chain_hash(GENESIS_HASH, &first.canonical()), EVENT1_HASH);
    let mut buf = Vec::new();
    assert!(first.hash_matches(GENESIS_HASH, EVENT1_HASH, &mut buf));

    let empty = json!({});
    let second = ChainedFields {
        sender_id: SENDER,
        seq: 2,
        id: "0193a1b2-0000-7000-8000-0000000000e2",
        at: "2026-11-28T03:20:00Z",
        kind: "checked",
        consent_id: None,
        list: None,
        subject_key: None,
        data: &empty,
        pii_sha256: None,
    };
    assert_eq!(
        String::from_utf8_lossy(&second.canonical()),
        EVENT2_CANONICAL
    );
    assert_eq!(chain_hash(EVENT1_HASH, &second.canonical()), EVENT2_HASH);
    // The chain rule hashes the previous hash as its 64 ASCII hex characters.
    assert_ne!(chain_hash(GENESIS_HASH, &second.canonical()), EVENT2_HASH);
}

#[test]
fn a_checkpoint_with_a_fixed_seed_gives_the_fixed_signature() {
    let keys = keys();
    let jwks = keys.jwks();
    assert_eq!(jwks["keys"][0]["x"], PUBLIC_KEY_X);
    let checkpoint = keys.sign(SENDER, Some(0), (2, EVENT2_HASH), "2026-11-28T04:00:00Z");
    assert_eq!(
        String::from_utf8_lossy(&checkpoint.message()),
        CHECKPOINT_MESSAGE
    );
    assert_eq!(checkpoint.signature, CHECKPOINT_SIGNATURE);
    assert_eq!(checkpoint.key_id, "k1");
    assert_eq!(checkpoint.algorithm, "Ed25519");
    let head = keys.sign(SENDER, None, (2, EVENT2_HASH), "2026-11-28T04:00:00Z");
    assert_eq!(head.signature, HEAD_CHECKPOINT_SIGNATURE);
}

#[test]
fn the_fixed_checkpoint_verifies_from_its_public_key_and_fails_with_any_byte_flipped() {
    let checkpoint = Checkpoint {
        sender_id: SENDER.into(),
        after_seq: Some(0),
        seq: 2,
        hash: EVENT2_HASH.into(),
        at: "2026-11-28T04:00:00Z".into(),
        key_id: "k1".into(),
        algorithm: "Ed25519".into(),
        signature: CHECKPOINT_SIGNATURE.into(),
    };
    let mut trusted = VerifyingKeys::default();
    trusted
        .add_public_key(&format!("k1:{PUBLIC_KEY_X}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trusted.verify(&checkpoint), Ok(()));

    // Every byte of the signature and of the signed hash matters.
    for i in 0..CHECKPOINT_SIGNATURE.len() {
        let mut signature = CHECKPOINT_SIGNATURE.as_bytes().to_vec();
        signature[i] = if signature[i] == b'A' { b'B' } else { b'A' };
        let altered = Checkpoint {
            signature: String::from_utf8_lossy(&signature).into_owned(),
            ..checkpoint.clone()
        };
        assert!(trusted.verify(&altered).is_err(), "signature byte {i}");
    }
    for i in 0..EVENT2_HASH.len() {
        let mut hash = EVENT2_HASH.as_bytes().to_vec();
        hash[i] = if hash[i] == b'0' { b'1' } else { b'0' };
        let altered = Checkpoint {
            hash: String::from_utf8_lossy(&hash).into_owned(),
            ..checkpoint.clone()
        };
        assert_eq!(
            trusted.verify(&altered),
            Err(CheckpointError::Invalid),
            "hash byte {i}"
        );
    }
    for altered in [
        Checkpoint {
            at: "2026-11-28T04:00:01Z".into(),
            ..checkpoint.clone()
        },
        Checkpoint {
            sender_id: "0193a1b2-0000-7000-8000-000000000002".into(),
            ..checkpoint.clone()
        },
        Checkpoint {
            signature: HEAD_CHECKPOINT_SIGNATURE.into(),
            ..checkpoint.clone()
        },
    ] {
        assert_eq!(trusted.verify(&altered), Err(CheckpointError::Invalid));
    }
}
