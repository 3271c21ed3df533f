//! Exports (NDJSON, CSV) that end with a signed checkpoint, and their offline verification
//! by the CLI, which catches edited, inserted, reordered and removed events.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::support::{consentry_cli, spawn_app, TestApp};

/// A sender with history: two confirmed signups, one of them unsubscribed by phone.
pub async fn app_with_history() -> TestApp {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.confirmed_signup("newsletter", "taro@example.jp", 1)
        .await;
    app.confirmed_signup("newsletter", "hanako@example.jp", 2)
        .await;
    let response = app
        .post("/v1/unsubscribes", &app.sender_key)
        .json(
            &json!({"email": "hanako@example.jp", "channel": "phone", "note": "called on Monday"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app
}

/// The lines of an NDJSON export.
async fn export_lines(app: &TestApp, query: &str) -> Vec<String> {
    let (status, _, body) = app.export(query).await;
    assert_eq!(status, 200, "{body}");
    body.lines().map(str::to_owned).collect()
}

fn json_of(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// Where the public keys are written for the CLI.
async fn jwks_file(app: &TestApp, dir: &Path) -> PathBuf {
    let path = dir.join("jwks.json");
    std::fs::write(&path, app.jwks().await.to_string()).unwrap();
    path
}

/// Runs `consentry audit verify FILE --keys JWKS --json` on `lines`: (exit ok, report).
fn verify_offline(lines: &[String], dir: &Path, keys: &Path) -> (bool, Value) {
    let file = dir.join("export.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    verify_file(&file, keys)
}

fn verify_file(file: &Path, keys: &Path) -> (bool, Value) {
    // Offline: no database URL that works.
    let output = consentry_cli("sqlite:///nonexistent/dir/none.db")
        .args(["audit", "verify"])
        .arg(file)
        .arg("--keys")
        .arg(keys)
        .arg("--json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON report: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

/// The index of the first line of `kind`.
fn line_of(lines: &[String], kind: &str) -> usize {
    lines
        .iter()
        .position(|l| json_of(l)["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event"))
}

#[tokio::test]
async fn an_export_ends_with_a_signed_checkpoint_and_verifies_offline() {
    let app = app_with_history().await;
    let dir = tempfile::tempdir().unwrap();

    let (status, headers, body) = app.export("").await;

    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let lines: Vec<&str> = body.lines().collect();
    let events: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| json_of(l))
        .collect();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], i as i64 + 1);
        assert_eq!(event["hash"].as_str().unwrap().len(), 64);
        if i > 0 {
            assert_eq!(event["prev_hash"], events[i - 1]["hash"]);
        }
    }
    let requested = &events[0];
    assert_eq!(requested["kind"], "requested");
    assert_eq!(requested["pii"]["email"], "taro@example.jp");
    assert_eq!(requested["pii"]["ip"], "203.0.113.7");
    assert!(requested["pii_sha256"].is_string());
    let unsubscribed = events.iter().find(|e| e["kind"] == "unsubscribed").unwrap();
    assert_eq!(unsubscribed["pii"]["note"], "called on Monday");
    // The export is recorded, and covered by its own checkpoint.
    let exported = events.last().unwrap();
    assert_eq!(exported["kind"], "exported");
    assert_eq!(exported["data"]["actor"]["role"], "auditor");
    assert_eq!(exported["data"]["through_seq"], exported["seq"]);
    assert_eq!(
        headers["consentry-export-event"].to_str().unwrap(),
        exported["id"].as_str().unwrap()
    );
    let checkpoint = &json_of(lines.last().unwrap())["checkpoint"];
    assert_eq!(checkpoint["seq"], exported["seq"]);
    assert_eq!(checkpoint["hash"], exported["hash"]);
    assert_eq!(checkpoint["after_seq"], 0);

    let keys = jwks_file(&app, dir.path()).await;
    let lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let (ok, report) = verify_offline(&lines, dir.path(), &keys);
    assert!(ok, "{report}");
    assert_eq!(report["events"], events.len());
    assert_eq!(report["signature_verified"], true);
    assert_eq!(report["pii_verified"], 4 + 1);
}

#[tokio::test]
async fn the_checkpoint_signature_holds_under_an_independent_ed25519_check() {
    let app = app_with_history().await;
    let lines = export_lines(&app, "").await;
    let checkpoint = json_of(lines.last().unwrap())["checkpoint"].clone();
    let jwks = app.jwks().await;
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == checkpoint["key_id"])
        .unwrap();
    assert_eq!(
        (&key["kty"], &key["crv"]),
        (&json!("OKP"), &json!("Ed25519"))
    );

    // The signed bytes as docs/ledger.md specifies them: canonical JSON, keys sorted.
    let message = format!(
        r#"{{"after_seq":{},"at":"{}","hash":"{}","sender_id":"{}","seq":{},"type":"consentry.checkpoint.v1"}}"#,
        checkpoint["after_seq"],
        checkpoint["at"].as_str().unwrap(),
        checkpoint["hash"].as_str().unwrap(),
        checkpoint["sender_id"].as_str().unwrap(),
        checkpoint["seq"],
    );
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(checkpoint["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
    let signature = ed25519_dalek::Signature::from_bytes(&signature);
    assert!(key.verify_strict(message.as_bytes(), &signature).is_ok());
}

#[tokio::test]
async fn edited_inserted_reordered_and_removed_events_are_caught_offline() {
    let app = app_with_history().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = jwks_file(&app, dir.path()).await;
    let lines = export_lines(&app, "").await;
    let last_event = lines.len() - 2;
    let sent = line_of(&lines, "confirmation_sent");
    let seq_at = |i: usize| json_of(&lines[i])["seq"].as_i64().unwrap();
    let first_bad = |tampered: Vec<String>| {
        let (ok, report) = verify_offline(&tampered, dir.path(), &keys);
        assert!(!ok, "tampering went unnoticed: {report}");
        assert_eq!(report["ok"], false);
        report["first_bad_seq"].as_i64().unwrap()
    };

    // Edited: one field of one event.
    let mut edited = lines.clone();
    edited[sent] = edited[sent].replace("\"attempt\":1", "\"attempt\":2");
    assert_ne!(edited[sent], lines[sent]);
    assert_eq!(first_bad(edited), seq_at(sent));

    // Edited personal data: the digest in the chain no longer matches.
    let mut other_address = lines.clone();
    other_address[0] = other_address[0].replace("taro@example.jp", "jiro@example.jp");
    assert_eq!(first_bad(other_address), 1);

    // Inserted: an event repeated.
    let mut inserted = lines.clone();
    inserted.insert(sent + 1, lines[sent].clone());
    assert_eq!(first_bad(inserted), seq_at(sent) + 1);

    // Reordered: two neighbours swapped.
    let mut reordered = lines.clone();
    reordered.swap(sent, sent + 1);
    assert_eq!(first_bad(reordered), seq_at(sent));

    // Removed: from the middle, the end and the start.
    let mut removed = lines.clone();
    removed.remove(sent);
    assert_eq!(first_bad(removed), seq_at(sent));
    let mut tail_cut = lines.clone();
    tail_cut.remove(last_event);
    assert_eq!(first_bad(tail_cut), seq_at(last_event));
    let mut head_cut = lines.clone();
    head_cut.remove(0);
    assert_eq!(first_bad(head_cut), 1);

    // Truncated (no checkpoint) and a checkpoint that was not signed by this service.
    let mut truncated = lines.clone();
    truncated.pop();
    assert_eq!(first_bad(truncated), seq_at(last_event) + 1);
    let mut forged = lines.clone();
    let mut checkpoint = json_of(forged.last().unwrap());
    checkpoint["checkpoint"]["signature"] = json!(URL_SAFE_NO_PAD.encode([7u8; 64]));
    *forged.last_mut().unwrap() = checkpoint.to_string();
    first_bad(forged);

    // Cut short and closed with a genuine head checkpoint signed earlier: refused, since
    // only the checkpoint of an export vouches for where the export starts and ends.
    let head: Value = app.get_json("/v1/audit/checkpoint", &app.auditor_key).await;
    let head_seq = head["seq"].as_i64().unwrap();
    let mut recut: Vec<String> = lines
        .iter()
        .filter(|l| {
            json_of(l)["seq"]
                .as_i64()
                .is_some_and(|seq| seq <= head_seq)
        })
        .cloned()
        .collect();
    assert_eq!(recut.len() as i64, head_seq);
    recut.push(json!({ "checkpoint": head }).to_string());
    assert_eq!(first_bad(recut), head_seq);

    // A field the chain does not cover, added to an event, is not passed over.
    let mut added = lines.clone();
    added[sent] = added[sent].replacen('{', r#"{"status":"confirmed","#, 1);
    assert_eq!(first_bad(added), seq_at(sent));
}

#[tokio::test]
async fn a_csv_export_verifies_and_catches_an_edited_cell() {
    let app = app_with_history().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = jwks_file(&app, dir.path()).await;

    let (status, headers, body) = app.export("format=csv").await;

    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(body.starts_with("seq,id,sender_id,at,kind,"));
    let file = dir.path().join("export.csv");
    std::fs::write(&file, &body).unwrap();
    let (ok, report) = verify_file(&file, &keys);
    assert!(ok, "{report}");
    assert_eq!(report["signature_verified"], true);

    std::fs::write(
        &file,
        body.replacen("taro@example.jp", "jiro@example.jp", 1),
    )
    .unwrap();
    let (ok, report) = verify_file(&file, &keys);
    assert!(!ok);
    assert_eq!(report["first_bad_seq"], 1);
}

#[tokio::test]
async fn a_partial_export_is_anchored_by_its_signed_range() {
    let app = app_with_history().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = jwks_file(&app, dir.path()).await;

    let (status, headers, body) = app.export("after_seq=2&limit=3").await;

    assert_eq!(status, 200);
    assert_eq!(headers["consentry-export-range"], "2..5");
    let lines: Vec<String> = body.lines().map(str::to_owned).collect();
    let seqs: Vec<i64> = lines[..3]
        .iter()
        .map(|l| json_of(l)["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5]);
    assert_eq!(json_of(&lines[3])["checkpoint"]["after_seq"], 2);
    let (ok, report) = verify_offline(&lines, dir.path(), &keys);
    assert!(ok, "{report}");

    let mut head_cut = lines.clone();
    head_cut.remove(0);
    let (ok, report) = verify_offline(&head_cut, dir.path(), &keys);
    assert!(!ok);
    assert_eq!(report["first_bad_seq"], 3);
}

#[tokio::test]
async fn the_cli_exports_with_a_recorded_event_and_prints_the_public_key() {
    let app = app_with_history().await;
    let dir = tempfile::tempdir().unwrap();
    let sender_id = app.sender_id().await;
    let out = dir.path().join("ledger.ndjson");

    let export = consentry_cli(&app.database_url)
        .args(["audit", "export", "--sender", &sender_id, "--out"])
        .arg(&out)
        .output()
        .unwrap();

    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert!(String::from_utf8_lossy(&export.stdout).contains("exported"));
    assert!(!dir.path().join("ledger.ndjson.partial").exists());
    let printed = consentry_cli(&app.database_url)
        .args(["audit", "public-key"])
        .output()
        .unwrap();
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(printed, app.jwks().await);
    let keys = jwks_file(&app, dir.path()).await;
    let (ok, report) = verify_file(&out, &keys);
    assert!(ok, "{report}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let exported = json_of(lines[lines.len() - 2]);
    assert_eq!(exported["kind"], "exported");
    assert_eq!(exported["data"]["actor"]["channel"], "cli");

    // Without a key the chain still verifies, and the output says the signature was not checked.
    let plain = consentry_cli("sqlite:///nonexistent/none.db")
        .args(["audit", "verify"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(plain.status.success());
    assert!(String::from_utf8_lossy(&plain.stdout).contains("NOT checked"));
}

/// The distinct `subject_key`s of an export's events about addresses.
fn subject_keys(lines: &[String]) -> std::collections::BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["subject_key"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn two_senders_exports_cannot_be_joined_on_the_subject_key() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let other = crate::support::cli::seed(&app.db, "Other").await;
    let list = app
        .create_list(&other.sender_key, &crate::support::list_body("news"))
        .await;
    assert_eq!(list.status(), 201);
    app.signup("newsletter", "shared@example.jp").await;
    let at_other = app
        .signup_as(
            &other.sender_key,
            &json!({"list": "news", "email": "shared@example.jp"}),
        )
        .await;
    assert_eq!(at_other.status(), 202);

    let ours = subject_keys(&export_lines(&app, "").await);
    let (status, _, other_export) = app.export_as(&other.auditor_key, "").await;
    assert_eq!(status, 200, "{other_export}");
    let theirs = subject_keys(&other_export.lines().map(str::to_owned).collect::<Vec<_>>());

    assert_eq!(
        ours.len(),
        1,
        "one key for the address within a chain: {ours:?}"
    );
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert!(
        ours.is_disjoint(&theirs),
        "the same address, a different key at each sender"
    );
    let view = app
        .get_json("/v1/subjects?email=shared@example.jp", &app.auditor_key)
        .await;
    assert_eq!(
        view["subject_key"].as_str(),
        ours.iter().next().map(String::as_str)
    );
}
