//! Time-driven behaviour: expiry of pending requests, and the per-IP cap.

use serde_json::{json, Value};

use crate::support::{event_kinds, spawn_app, TestApp};

#[tokio::test]
async fn a_pending_request_past_its_time_expires_and_a_new_signup_starts_afresh() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let first = app.signup("newsletter", "slow@example.jp").await;

    // The sweep that `serve` runs every minute, run as if eight days had passed.
    let db = app.db.clone();
    let later = consentry::clock::now() + chrono::Duration::days(8);
    let expired = tokio::task::spawn_blocking(move || {
        consentry::flows::pending::expire_due(&mut db.get().unwrap(), later, 100)
    })
    .await
    .unwrap()
    .unwrap();

    assert_eq!(expired, 1);
    assert_eq!(
        app.check("newsletter", "slow@example.jp").await["reason"],
        "expired"
    );
    let consent = app.consent(first["id"].as_str().unwrap()).await;
    assert_eq!(consent["status"], "expired");
    // The mail worker may record `confirmation_sent` after the expiry: look for it anywhere.
    let kinds = event_kinds(&consent);
    assert!(kinds.iter().any(|k| k == "expired"), "{kinds:?}");
    let again = app.signup("newsletter", "slow@example.jp").await;
    assert_ne!(again["id"], first["id"]);
    assert_eq!(again["status"], "pending");
}

#[tokio::test]
async fn signups_claimed_from_one_ip_are_capped_per_hour_but_still_recorded() {
    let app = TestApp::builder().cap_signups_per_ip_hour(2).spawn().await;
    app.given_list("newsletter").await;
    let signup = |email: &str| json!({"list": "newsletter", "email": email, "evidence": {"ip": "198.51.100.9"}});

    let mut answers = Vec::new();
    for email in ["a@example.jp", "b@example.jp", "c@example.jp"] {
        let answer: Value = app
            .signup_as(&app.sender_key, &signup(email))
            .await
            .json()
            .await
            .unwrap();
        answers.push(answer["confirmation"].as_str().unwrap().to_owned());
    }

    assert_eq!(answers, ["queued", "queued", "throttled"]);
    assert_eq!(
        app.check("newsletter", "c@example.jp").await["reason"],
        "pending"
    );
}
