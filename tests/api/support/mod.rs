//! Test support, one file per job: the app under test and its builder ([`app`]), the
//! per-test database ([`database`]), the one request helper and problem checks
//! ([`requests`]), reads straight from storage ([`store`]), the CLI and seeding ([`cli`]), a
//! real SMTP server ([`smtp`]) and a webhook receiver ([`receiver`]).

// Not every test module uses every helper.
#![allow(dead_code, unused_imports)]

pub mod actions;
pub mod app;
pub mod cli;
pub mod database;
pub mod receiver;
pub mod requests;
pub mod smtp;
pub mod store;

use std::time::Duration;

use serde_json::{json, Value};

pub use app::{spawn_app, test_settings, test_settings_with, TestApp, TestAppBuilder, BASE_URL};
pub use cli::{cli_key, cli_sender, consentry_cli, json_output, seed, seed_sender, SeededSender};
pub use database::{test_database, PostgresDb, TestDatabase};
pub use requests::{problem_code, Answer};

/// A list as `POST /v1/lists` takes it.
pub fn list_body(slug: &str) -> Value {
    json!({
        "slug": slug,
        "name": "Weekly offers",
        "consent_text": "I agree to receive weekly offers by email from Example KK.",
        "policy_url": "https://shop.example.jp/privacy/v3",
        "locale": "ja"
    })
}

/// The kinds of a consent's events (`GET /v1/consents/{id}`), in chain order.
pub fn event_kinds(consent: &Value) -> Vec<String> {
    consent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The first event of `kind` in a consent (`GET /v1/consents/{id}`); fails if there is none.
pub fn event_of<'a>(consent: &'a Value, kind: &str) -> &'a Value {
    consent["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event"))
}

/// Polls `probe` until it returns true, for effects that reach every instance on a schedule
/// (cache refresh); fails after a generous bound rather than asserting on timing.
pub async fn eventually<F, Fut>(mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if probe().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// `body` with what changes from run to run (or between SQLite and PostgreSQL) replaced,
/// for whole-body snapshots: ids (`id`, `*_id`, `List-Id`, any UUID) as `[id]`, times
/// (`at`, `*_at`, any RFC 3339 string) as `[time]`, hashes and signatures (`hash`,
/// `*_hash`, `*sha256`) as `[hash]`, links (`*url`, `List-Unsubscribe`) as `[link]`,
/// tokens, secrets and salts as `[secret]`, and elapsed seconds as `[seconds]`. `null`
/// stays `null`, so a snapshot still shows which of these are set.
pub fn redacted(body: &Value) -> Value {
    fn walk(key: &str, value: &Value) -> Value {
        match value {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), walk(k, v))).collect(),
            Value::Array(items) => items.iter().map(|v| walk(key, v)).collect(),
            Value::String(text) => match redact_string(&key.to_ascii_lowercase(), text) {
                Some(shown) => Value::String(shown.to_owned()),
                None => value.clone(),
            },
            Value::Number(_) if key.contains("seconds") => Value::String("[seconds]".to_owned()),
            _ => value.clone(),
        }
    }
    fn redact_string(key: &str, text: &str) -> Option<&'static str> {
        // Secrets first: a salt or token may look like an id.
        let shown = if key.contains("secret") || key.contains("token") || key == "salt" {
            "[secret]"
        } else if key == "id"
            || key.ends_with("_id")
            || key.ends_with("-id")
            || uuid::Uuid::parse_str(text).is_ok()
        {
            "[id]"
        } else if key == "at"
            || key.ends_with("_at")
            || chrono::DateTime::parse_from_rfc3339(text).is_ok()
        {
            "[time]"
        } else if key == "hash"
            || key.ends_with("_hash")
            || key.ends_with("sha256")
            || key.contains("signature")
        {
            "[hash]"
        } else if key.ends_with("url") || key == "list-unsubscribe" {
            "[link]"
        } else {
            return None;
        };
        Some(shown)
    }
    walk("", body)
}
