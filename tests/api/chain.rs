//! The stored chain: online verification catches each tampering, the database refuses to
//! change events, only auditors read the trail, checkpoints sign heads, and two instances
//! appending at once keep one chain.

use serde_json::{json, Value};

use crate::exports::app_with_history;
use crate::support::{spawn_app, Answer};

/// A fresh app with history whose database was tampered with by `sql`; the online report.
async fn tampered_online(sql: impl Fn(&str, bool) -> String) -> Value {
    let app = app_with_history().await;
    assert_eq!(app.verify().await["ok"], true);
    let sender = app.sender_id().await;
    let unlock = if app.on_postgres() {
        "ALTER TABLE events DISABLE TRIGGER USER;"
    } else {
        "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;"
    };
    app.sql(&format!("{unlock} {}", sql(&sender, app.on_postgres())))
        .await;
    app.verify().await
}

#[tokio::test]
async fn the_stored_chain_verifies_online_and_each_tampering_is_caught() {
    let app = app_with_history().await;
    let report = app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["head"]["seq"], 7);
    assert_eq!(report["pii_verified"], 5);

    let edited = tampered_online(|s, _| {
        format!("UPDATE events SET data = '{{\"attempt\":9}}' WHERE sender_id = '{s}' AND seq = 3;")
    })
    .await;
    assert_eq!(
        (edited["ok"].clone(), edited["first_bad_seq"].clone()),
        (json!(false), json!(3))
    );

    let removed = tampered_online(|s, _| {
        format!("DELETE FROM events WHERE sender_id = '{s}' AND kind = 'confirmation_sent' AND seq = (SELECT MIN(seq) FROM events WHERE sender_id = '{s}' AND kind = 'confirmation_sent');")
    })
    .await;
    assert_eq!(removed["ok"], false);
    assert!(removed["first_bad_seq"].as_i64().unwrap() <= 3, "{removed}");

    let inserted = tampered_online(|s, _| {
        format!("INSERT INTO events (id, sender_id, seq, at, kind, consent_id, list_slug, subject_key, data, pii_sha256, prev_hash, hash) \
                 SELECT 'forged', sender_id, 8, at, kind, consent_id, list_slug, subject_key, data, NULL, prev_hash, hash \
                 FROM events WHERE sender_id = '{s}' AND seq = 2;")
    })
    .await;
    assert_eq!(
        (inserted["ok"].clone(), inserted["first_bad_seq"].clone()),
        (json!(false), json!(8))
    );

    let reordered = tampered_online(|s, _| {
        format!(
            "UPDATE events SET seq = -1 WHERE sender_id = '{s}' AND seq = 4; \
                 UPDATE events SET seq = 4 WHERE sender_id = '{s}' AND seq = 5; \
                 UPDATE events SET seq = 5 WHERE sender_id = '{s}' AND seq = -1;"
        )
    })
    .await;
    assert_eq!(
        (reordered["ok"].clone(), reordered["first_bad_seq"].clone()),
        (json!(false), json!(4))
    );
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_an_event() {
    let app = app_with_history().await;
    let sender = app.sender_id().await;
    let db = app.db.clone();
    let attempts = [
        format!("UPDATE events SET kind = 'confirmed' WHERE sender_id = '{sender}' AND seq = 1"),
        format!("DELETE FROM events WHERE sender_id = '{sender}' AND seq = 2"),
    ];
    for statement in attempts {
        let db = db.clone();
        let refused = tokio::task::spawn_blocking(move || {
            use diesel::connection::SimpleConnection;
            db.get().unwrap().batch_execute(&statement)
        })
        .await
        .unwrap();
        let error = refused.expect_err("the ledger must refuse");
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn only_auditors_read_the_audit_trail_and_bad_queries_are_problems() {
    let app = app_with_history().await;

    for path in [
        "/v1/audit/events",
        "/v1/audit/verify",
        "/v1/audit/checkpoint",
    ] {
        let response = app.get(path, &app.sender_key).send().await.unwrap();
        Answer::read(response)
            .await
            .expect_problem(403, "forbidden");
    }
    for query in [
        "format=xml",
        "after_seq=-1",
        "limit=0",
        "after_seq=999",
        "after_seq=x",
    ] {
        let response = app
            .get(&format!("/v1/audit/events?{query}"), &app.auditor_key)
            .send()
            .await
            .unwrap();
        Answer::read(response)
            .await
            .expect_problem(400, "invalid_request");
    }
}

#[tokio::test]
async fn a_checkpoint_signs_the_current_head_once() {
    let app = app_with_history().await;

    let first: Value = app.get_json("/v1/audit/checkpoint", &app.auditor_key).await;
    let again: Value = app.get_json("/v1/audit/checkpoint", &app.auditor_key).await;

    assert_eq!(first["seq"], 7);
    assert_eq!(first, again, "one checkpoint per head");
    let report = app.verify().await;
    assert_eq!(report["checkpoints_verified"], 1, "{report}");
}

#[tokio::test]
async fn two_instances_appending_at_once_keep_one_unforked_chain() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let second = app.peer().await;

    let signups = (0..20).map(|i| {
        let instance = if i % 2 == 0 { &app } else { &second };
        async move {
            instance
                .bare_signup("newsletter", &format!("user{i}@example.jp"))
                .await
        }
    });
    futures_util::future::join_all(signups).await;
    app.smtp.wait_for(20).await;

    let report = app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["events"].as_u64().unwrap() >= 20);
}
