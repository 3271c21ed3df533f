//! Retention: personal data of ended consents is minimised after the sender's period, not
//! before, and never under a legal hold.

use serde_json::{json, Value};

use crate::support::{eventually, list_body, seed_sender, TestApp};

async fn age_ended_consents(app: &TestApp, days: i64) {
    let shift = if app.on_postgres() {
        format!("ended_at - INTERVAL '{days} days'")
    } else {
        format!("datetime(ended_at, '-{days} days')")
    };
    app.sql(&format!(
        "UPDATE consents SET ended_at = {shift} WHERE ended_at IS NOT NULL;"
    ))
    .await;
}

/// A sender created after every other one (the sweep goes through senders in creation
/// order) with one ended consent on the shortest retention; returns a probe for whether
/// the sweep minimised it: once true, a sweep has passed every other sender.
struct Control {
    key: String,
    id: String,
}

impl Control {
    async fn new(app: &TestApp) -> Self {
        let (_, key, _) = seed_sender(&app.db, "Control").await;
        let created = app.create_list(&key, &list_body("control")).await;
        assert_eq!(created.status(), 201);
        let answer: Value = app
            .signup_as(
                &key,
                &json!({"list": "control", "email": "control@example.jp"}),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = answer["id"].as_str().unwrap().to_owned();
        let response = app
            .post("/v1/unsubscribes", &key)
            .json(&json!({"email": "control@example.jp", "channel": "phone"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Self { key, id }
    }

    /// Waits until the sweep minimised the control consent (it must, once aged).
    async fn wait_until_swept(&self, app: &TestApp) {
        let path = format!("/v1/consents/{}", self.id);
        let swept = eventually(|| async {
            app.get_json(&path, &self.key).await["minimised_at"].is_string()
        })
        .await;
        assert!(swept, "the sweep ran and minimised the control consent");
    }
}

#[tokio::test]
async fn personal_data_past_retention_is_minimised_unless_on_legal_hold() {
    let app = TestApp::builder().retention_sweep_seconds(1).spawn().await;
    app.given_list("newsletter").await;
    let id = app
        .confirmed_signup("newsletter", "taro@example.jp", 1)
        .await;
    let kept = app
        .confirmed_signup("newsletter", "hanako@example.jp", 2)
        .await;
    let response = app
        .post("/v1/unsubscribes", &app.sender_key)
        .json(&json!({"email": "taro@example.jp", "channel": "reply_mail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // On legal hold, nothing is minimised however old the record.
    let sender = app.sender_id().await;
    app.sql(&format!(
        "UPDATE senders SET legal_hold = TRUE WHERE id = '{sender}';"
    ))
    .await;
    let control = Control::new(&app).await;
    age_ended_consents(&app, 40).await;
    control.wait_until_swept(&app).await;
    assert_eq!(app.consent(&id).await["email"], "taro@example.jp");

    app.sql(&format!(
        "UPDATE senders SET legal_hold = FALSE WHERE id = '{sender}';"
    ))
    .await;
    let minimised =
        eventually(|| async { app.consent(&id).await["minimised_at"].is_string() }).await;
    assert!(minimised, "the sweep minimised the record");
    let consent = app.consent(&id).await;
    assert_eq!(consent["email"], Value::Null);
    let erased = consent["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(erased["kind"], "erased");
    assert_eq!(erased["data"]["reason"], "retention");
    assert_eq!(
        app.consent(&kept).await["email"],
        "hanako@example.jp",
        "still mailable"
    );
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_three_year_retention_keeps_what_one_month_would_not() {
    let app = TestApp::builder().retention_sweep_seconds(1).spawn().await;
    let (sender, key, _) = seed_sender(&app.db, "Longterm").await;
    let output = crate::support::consentry_cli(&app.database_url)
        .args(["sender", "update", &sender, "--retention", "3y"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1096 days"));
    assert_eq!(
        app.create_list(&key, &crate::support::list_body("news"))
            .await
            .status(),
        201
    );
    let answer: Value = app
        .signup_as(&key, &json!({"list": "news", "email": "taro@example.jp"}))
        .await
        .json()
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap();
    let response = app
        .post("/v1/unsubscribes", &key)
        .json(&json!({"email": "taro@example.jp", "channel": "phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let control = Control::new(&app).await;
    age_ended_consents(&app, 400).await;
    control.wait_until_swept(&app).await;

    let consent: Value = app.get_json(&format!("/v1/consents/{id}"), &key).await;
    assert_eq!(consent["email"], "taro@example.jp");
    assert_eq!(consent["minimised_at"], Value::Null);
}
