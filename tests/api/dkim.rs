//! DKIM, checked by an independent verifier: with `CONSENTRY_DKIM_*` set, the confirmation
//! mail as received over SMTP carries a DKIM-Signature that `mail-auth` accepts. `mail-auth`
//! shares no code with lettre's signer: its own header/body canonicalization and tag parsing,
//! and (feature `ring`) ring's SHA-256 and RSA instead of the `sha2` and `rsa` crates lettre
//! signs with. The public key is handed to it through its TXT cache, so no DNS is queried.
//!
//! `tests/fixtures/dkim-test-key.pem` is a TEST-ONLY 2048-bit RSA key (PKCS#1 PEM, which is
//! what lettre reads), generated for this test and published nowhere; never sign real mail
//! with it. `tests/fixtures/dkim-test-key.txt` is its public key as the DNS TXT record of
//! `test._domainkey.consent.example.jp`.

use std::borrow::Borrow;
use std::hash::Hash;
use std::path::PathBuf;
use std::time::Instant;

use mail_auth::common::crypto::CryptoError;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::DkimError;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::{
    AuthenticatedMessage, DkimResult, Error, MessageAuthenticator, Parameters, ResolverCache, Txt,
};

use crate::support::TestApp;

const SELECTOR: &str = "test";
const DOMAIN: &str = "consent.example.jp";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A TXT "cache" that holds exactly one record, the selector's public key, and never stores
/// anything else: the verifier finds the key here instead of asking DNS.
struct PublishedKey {
    name: Box<str>,
    record: Txt,
}

impl PublishedKey {
    fn from_fixture() -> Self {
        let txt = std::fs::read_to_string(fixture("dkim-test-key.txt")).unwrap();
        let key = DomainKey::parse(txt.trim().as_bytes()).expect("the TXT record parses");
        PublishedKey {
            // Fully qualified and lower case, as mail-auth looks names up.
            name: format!("{SELECTOR}._domainkey.{DOMAIN}.").into(),
            record: key.into(),
        }
    }
}

impl ResolverCache<Box<str>, Txt> for PublishedKey {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        (<Box<str> as Borrow<Q>>::borrow(&self.name) == name).then(|| self.record.clone())
    }

    fn remove<Q>(&self, _: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: Box<str>, _: Txt, _: Instant) {}
}

/// The DKIM results for `raw`, one per signature, with the key from the fixture and a
/// resolver that has no name server (any lookup past the injected key fails, offline).
async fn verify(raw: &str) -> Vec<DkimResult> {
    let authenticator = MessageAuthenticator::new(
        ResolverConfig::from_parts(None, vec![], vec![]),
        ResolverOpts::default(),
    )
    .expect("a resolver without name servers");
    let message = AuthenticatedMessage::parse(raw.as_bytes()).expect("mail-auth parses the mail");
    let key = PublishedKey::from_fixture();
    authenticator
        .verify_dkim(Parameters::new(&message).with_txt_cache(&key))
        .await
        .iter()
        .map(|output| output.result().clone())
        .collect()
}

/// `raw` with one character of the body changed: the "y" of the first "Consentry" in the
/// content (the HTML part, sent quoted-printable) becomes an "x".
fn with_one_body_character_changed(raw: &str) -> String {
    let body_start = raw.find("\r\n\r\n").expect("a header/body separator") + 4;
    let word = raw[body_start..]
        .find("Consentry")
        .expect("\"Consentry\" in the body as sent")
        + body_start;
    let y = word + "Consentr".len();
    let mut altered = raw.to_owned();
    altered.replace_range(y..=y, "x");
    assert_ne!(altered, raw);
    altered
}

#[tokio::test]
async fn confirmation_mail_carries_a_dkim_signature_an_independent_verifier_accepts() {
    let key_file = fixture("dkim-test-key.pem");
    let app = TestApp::builder()
        .dkim(SELECTOR, DOMAIN, &key_file)
        .spawn()
        .await;
    app.given_list("newsletter").await;
    app.signup("newsletter", "hanako@example.jp").await;
    let mail = app.mail_to("hanako@example.jp", 1).await;

    let signature = mail
        .header("DKIM-Signature")
        .expect("a DKIM-Signature header");
    let tags: Vec<String> = signature
        .split(';')
        .map(|tag| tag.split_whitespace().collect::<String>())
        .collect();
    assert!(tags.contains(&format!("d={DOMAIN}")), "{signature}");
    assert!(tags.contains(&format!("s={SELECTOR}")), "{signature}");
    assert!(tags.contains(&"a=rsa-sha256".to_owned()), "{signature}");

    assert_eq!(
        verify(&mail.raw).await,
        vec![DkimResult::Pass],
        "the mail as received must verify:\n{}",
        mail.raw
    );

    // Negative controls: the same verifier rejects the mail once it is altered.
    assert_eq!(
        verify(&with_one_body_character_changed(&mail.raw)).await,
        vec![DkimResult::Neutral(Error::Dkim(
            DkimError::FailedBodyHashMatch
        ))],
        "one changed body character breaks the body hash"
    );
    let from = "From: Consentry <no-reply@consent.example.jp>";
    assert!(
        mail.raw.contains(from),
        "From header as sent:\n{}",
        mail.raw
    );
    let forged = mail
        .raw
        .replacen(from, "From: Consentrx <no-reply@consent.example.jp>", 1);
    assert_eq!(
        verify(&forged).await,
        vec![DkimResult::Fail(Error::Crypto(
            CryptoError::FailedVerification
        ))],
        "a changed signed header breaks the signature"
    );

    // The MIME structure is signed, and From and Subject are oversigned: a second one added
    // on the way (which many clients would show) breaks the signature too.
    let signed = tags
        .iter()
        .find(|t| t.starts_with("h="))
        .unwrap()
        .to_lowercase();
    for covered in [
        "from:from",
        "subject:subject",
        "mime-version",
        "content-type",
    ] {
        assert!(signed.contains(covered), "{covered} not in {signed}");
    }
    let failed = vec![DkimResult::Fail(Error::Crypto(
        CryptoError::FailedVerification,
    ))];
    let second_from = format!("From: Security <alert@evil.example>\r\n{}", mail.raw);
    assert_eq!(
        verify(&second_from).await,
        failed,
        "an added From breaks it"
    );
    let second_subject = format!("Subject: Verify your account\r\n{}", mail.raw);
    assert_eq!(
        verify(&second_subject).await,
        failed,
        "an added Subject breaks it"
    );
    let retyped = mail
        .raw
        .replacen("multipart/alternative", "multipart/mixed", 1);
    assert_ne!(retyped, mail.raw);
    assert_eq!(
        verify(&retyped).await,
        failed,
        "a changed Content-Type breaks it"
    );
}
