//! `POST /v1/check`: streamed answers in input order, invalid lines inline, a ledger receipt.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{eventually, spawn_app, Answer, TestApp};

async fn confirmed(app: &TestApp, email: &str, n: usize) {
    app.signup("newsletter", email).await;
    let (confirm, _) = TestApp::links_of(&app.mail_to(email, n).await);
    assert_eq!(app.press(&confirm).await.status(), 200);
}

#[tokio::test]
async fn a_batch_answers_every_line_in_order_and_records_a_receipt() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    confirmed(&app, "ok@example.jp", 1).await;
    app.signup("newsletter", "waiting@example.jp").await;
    let input = "{\"email\":\"ok@example.jp\"}\n{\"email\":\"waiting@example.jp\"}\n{\"email\":\"not-an-address\"}\n\n{\"email\":\"stranger@example.jp\"}\nnot json\n{\"email\":\"OK@example.jp\"}";

    let response = app
        .post("/v1/check?list=newsletter", &app.sender_key)
        .header("content-type", "application/x-ndjson")
        .body(input)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let receipt = response.headers()["consentry-check-receipt"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.bytes().await.unwrap();
    let lines: Vec<Value> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let reasons: Vec<&str> = lines
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "confirmed",
            "pending",
            "invalid_email",
            "not_found",
            "invalid_email",
            "confirmed"
        ]
    );
    assert_eq!(lines[0]["allowed"], true);
    assert!(lines[0]["unsubscribe_url"]
        .as_str()
        .unwrap()
        .starts_with("https://consent.example.jp/u/"));
    assert!(lines[1].get("unsubscribe_url").is_none());

    // The receipt is written when the stream ends.
    let expected = hex::encode(Sha256::digest(&body));
    assert!(eventually(|| async { app.event(&receipt).await.is_some() }).await);
    let (kind, data) = app.event(&receipt).await.unwrap();
    assert_eq!(kind, "checked");
    assert_eq!(data["count"], 6);
    assert_eq!(data["allowed"], 2);
    assert_eq!(data["results_sha256"], expected);
}

#[tokio::test]
async fn plain_text_lines_work_and_other_media_types_are_415() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;

    let text = app
        .post("/v1/check?list=newsletter", &app.sender_key)
        .header("content-type", "text/plain")
        .body("a@example.jp\r\nb@example.jp\n")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().all(|l| l.contains("\"not_found\"")));

    let xml = app
        .post("/v1/check?list=newsletter", &app.sender_key)
        .header("content-type", "application/xml")
        .body("<a/>")
        .send()
        .await
        .unwrap();
    Answer::read(xml)
        .await
        .expect_problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn a_sender_over_its_quota_gets_429_with_retry_after() {
    let app = TestApp::builder().sender_rate(1, 2).spawn().await;
    app.given_list("newsletter").await;
    app.signup("newsletter", "one@example.jp").await;
    app.signup("newsletter", "two@example.jp").await;

    let response = app
        .post("/v1/consents", &app.sender_key)
        .json(&serde_json::json!({"list": "newsletter", "email": "three@example.jp"}))
        .send()
        .await
        .unwrap();

    assert!(
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    Answer::read(response)
        .await
        .expect_problem(429, "rate_limited");
}
