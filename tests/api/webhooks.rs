//! Webhooks: a real receiver over HTTP gets confirmed, unsubscribed and refused events,
//! signed per Standard Webhooks (checked with the `standardwebhooks` crate, which shares no
//! code with ours), at least once across a receiver outage.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::receiver::WebhookReceiver;
use crate::support::{spawn_app, Answer, TestApp};

async fn put_webhook(app: &TestApp, body: &Value) -> reqwest::Response {
    app.put("/v1/webhook", &app.sender_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Registers `receiver` for `events`; returns the secret.
async fn subscribe(app: &TestApp, receiver: &WebhookReceiver, events: &[&str]) -> String {
    let response = put_webhook(app, &json!({"url": receiver.url(), "events": events})).await;
    assert_eq!(response.status(), 200);
    let saved: Value = response.json().await.unwrap();
    assert_eq!(saved["events"], json!(events));
    saved["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn subscribed_events_arrive_signed_per_standard_webhooks() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let receiver = WebhookReceiver::start().await;
    let secret = subscribe(&app, &receiver, &["confirmed", "unsubscribed"]).await;
    assert!(secret.starts_with("whsec_"));

    let id = app
        .confirmed_signup("newsletter", "taro@example.jp", 1)
        .await;
    let response = app
        .post("/v1/unsubscribes", &app.sender_key)
        .json(&json!({"email": "taro@example.jp", "channel": "phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let deliveries = receiver.wait_for(2).await;
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for delivery in &deliveries {
        verifier
            .verify(&delivery.body, &delivery.header_map())
            .expect("signature verifies independently");
        assert!(delivery.headers["webhook-signature"].starts_with("v1,"));
    }
    // At least once, in no promised order: receivers order by `seq`.
    let of_type = |kind: &str| {
        deliveries
            .iter()
            .find(|d| d.json()["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} delivery"))
    };
    let confirmed = of_type("consent.confirmed");
    let body = confirmed.json();
    assert_eq!(body["data"]["consent_id"], id);
    assert_eq!(body["data"]["email"], "taro@example.jp");
    assert_eq!(
        confirmed.headers["webhook-id"],
        body["data"]["event_id"].as_str().unwrap()
    );
    assert!(
        of_type("consent.unsubscribed").json()["data"]["seq"].as_i64()
            > body["data"]["seq"].as_i64()
    );
    // A tampered body does not verify.
    let mut forged = deliveries[0].body.clone();
    forged[10] ^= 1;
    assert!(verifier
        .verify(&forged, &deliveries[0].header_map())
        .is_err());
    // Only the subscribed kinds: no `requested`, no `confirmation_sent`. A later subscribed
    // event, once delivered, shows the worker went past every earlier event.
    app.confirmed_signup("newsletter", "hanako@example.jp", 2)
        .await;
    let received = receiver.wait_for(3).await;
    assert_eq!(received.len(), 3);
    let types: Vec<Value> = received.iter().map(|d| d.json()["type"].clone()).collect();
    assert_eq!(
        types.iter().filter(|t| *t == "consent.confirmed").count(),
        2,
        "{types:?}"
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "consent.unsubscribed")
            .count(),
        1,
        "{types:?}"
    );
}

#[tokio::test]
async fn a_delivery_survives_a_receiver_outage() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let mut receiver = WebhookReceiver::start().await;
    let secret = subscribe(&app, &receiver, &["refused"]).await;
    receiver.stop().await;

    app.signup("newsletter", "taro@example.jp").await;
    let mail = app.mail_to("taro@example.jp", 1).await;
    let (_, refuse) = TestApp::links_of(&mail);
    assert_eq!(app.press(&refuse).await.status(), 200);
    let failing = crate::support::eventually(|| async {
        let shown: Value = app.get_json("/v1/webhook", &app.sender_key).await;
        shown["deliveries"]["last_error"].is_string() && shown["deliveries"]["queued"] == 1
    })
    .await;
    assert!(failing, "attempts fail while the receiver is down");

    receiver.restart().await;

    let deliveries = receiver.wait_for(1).await;
    assert_eq!(deliveries[0].json()["type"], "consent.refused");
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&deliveries[0].body, &deliveries[0].header_map())
        .unwrap();
    // The outcome is recorded after the receiver has answered.
    let settled = crate::support::eventually(|| async {
        let shown: Value = app.get_json("/v1/webhook", &app.sender_key).await;
        shown["deliveries"]["queued"] == 0
    })
    .await;
    assert!(settled, "the delivery is recorded as sent");
    let shown: Value = app.get_json("/v1/webhook", &app.sender_key).await;
    assert_eq!(shown["url"], receiver.url());
    assert!(shown.get("secret").is_none(), "GET never shows the secret");
}

#[tokio::test]
async fn updating_keeps_the_secret_unless_asked_and_delete_stops_deliveries() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let receiver = WebhookReceiver::start().await;
    let first = subscribe(&app, &receiver, &["confirmed"]).await;
    let same = subscribe(&app, &receiver, &["confirmed", "refused"]).await;
    assert_eq!(first, same);
    let rotated = app
        .call(
            Method::PUT,
            "/v1/webhook",
            Some(&app.sender_key),
            Some(&json!({"url": receiver.url(), "events": ["confirmed"], "rotate_secret": true})),
        )
        .await
        .expect(200);
    let rotated = rotated["secret"]
        .as_str()
        .expect("the new secret")
        .to_owned();
    assert!(rotated.starts_with("whsec_"));
    assert_ne!(json!(rotated), json!(first));
    // The rotated secret is the one deliveries are signed with.
    app.confirmed_signup("newsletter", "taro@example.jp", 1)
        .await;
    let signed = receiver.wait_for(1).await;
    let verify = |secret: &str| {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&signed[0].body, &signed[0].header_map())
    };
    assert!(verify(&rotated).is_ok());
    assert!(verify(&first).is_err());

    let deleted = app
        .delete("/v1/webhook", &app.sender_key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let shown = app
        .get("/v1/webhook", &app.sender_key)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 404);

    // An event after the DELETE is not delivered: once a webhook is set again, the next
    // event arrives and the one from before it never does.
    let unheard = app
        .confirmed_signup("newsletter", "hanako@example.jp", 2)
        .await;
    let again = WebhookReceiver::start().await;
    subscribe(&app, &again, &["confirmed"]).await;
    let heard = app
        .confirmed_signup("newsletter", "jiro@example.jp", 3)
        .await;
    let heard_it = crate::support::eventually(|| async {
        again
            .received()
            .iter()
            .any(|d| d.json()["data"]["consent_id"] == heard.as_str())
    })
    .await;
    assert!(
        heard_it,
        "the event after setting the webhook again arrives"
    );
    let later = again.received();
    assert_eq!(later.len(), 1);
    assert_ne!(later[0].json()["data"]["consent_id"], json!(unheard));
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing more to the deleted hook"
    );
}

#[tokio::test]
async fn bad_webhooks_are_refused_with_problems() {
    let app = TestApp::builder()
        .webhook_allow_private_targets(false)
        .spawn()
        .await;
    for body in [
        json!({"url": "http://hooks.example.jp/x", "events": ["confirmed"]}),
        json!({"url": "https://127.0.0.1/x", "events": ["confirmed"]}),
        json!({"url": "https://169.254.169.254/latest", "events": ["confirmed"]}),
        json!({"url": "https://hooks.example.jp/x", "events": []}),
        json!({"url": "https://hooks.example.jp/x", "events": ["requested"]}),
    ] {
        let response = put_webhook(&app, &body).await;
        Answer::read(response)
            .await
            .expect_problem(400, "invalid_request");
    }
    let auditor = app
        .put("/v1/webhook", &app.auditor_key)
        .json(&json!({"url": "https://hooks.example.jp/x", "events": ["confirmed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(auditor.status(), 403);
}
