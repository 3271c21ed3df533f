//! Complaints come back: a feedback loop's ARF report (built here as a mailbox provider
//! builds one, with mail-auth's generator), a mail forwarded by the recipient, a complaint
//! desk's call. Each becomes an opt-out and a `complained` record on the sender's chain.

use mail_auth::report::{Feedback, FeedbackType};
use serde_json::Value;

use crate::support::{event_of, spawn_app, TestApp};

/// A campaign mail as the sender builds it from a check answer's `headers`.
fn campaign_mail(check: &Value, to: &str) -> String {
    let headers = &check["headers"];
    format!(
        "From: Example Shop <news@shop.example.jp>\r\nTo: {to}\r\n\
         Subject: Winter sale\r\nMessage-ID: <campaign-1@shop.example.jp>\r\n\
         Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n\
         List-Unsubscribe: {}\r\nList-Unsubscribe-Post: {}\r\nList-Id: {}\r\nFeedback-ID: {}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Everything 20 % off this week.\r\n",
        headers["List-Unsubscribe"].as_str().unwrap(),
        headers["List-Unsubscribe-Post"].as_str().unwrap(),
        headers["List-Id"].as_str().unwrap(),
        headers["Feedback-ID"].as_str().unwrap(),
    )
}

/// An ARF report (RFC 5965) about `mail`, as a feedback loop sends it.
pub fn arf_report(kind: FeedbackType, mail: &str) -> String {
    Feedback::new(kind)
        .with_user_agent("ExampleFBL/1.0")
        .with_version(1)
        .with_arrival_date(1_796_000_000)
        .with_source_ip("192.0.2.1".parse().unwrap())
        .with_reported_domain("shop.example.jp")
        .with_message(mail)
        .to_rfc5322(
            "fbl@mailbox.example",
            "abuse@shop.example.jp",
            "FW: complaint",
        )
        .unwrap()
}

pub async fn complain(app: &TestApp, key: &str, content_type: &str, body: String) -> Value {
    let response = app
        .post("/v1/complaints", key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The kinds of the chain's events, from the auditor's export.
async fn exported_kinds(app: &TestApp) -> Vec<String> {
    let (status, _, body) = app.export("").await;
    assert_eq!(status, 200);
    body.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_feedback_loop_report_about_a_campaign_mail_unsubscribes_at_once_and_is_on_the_chain() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let check = app.check("offers", "taro@example.jp").await;
    assert_eq!(check["allowed"], true);

    let report = arf_report(
        FeedbackType::Abuse,
        &campaign_mail(&check, "taro@example.jp"),
    );
    let answer = complain(&app, &app.sender_key, "message/rfc822", report).await;

    assert_eq!(answer["action"], "unsubscribed");
    assert_eq!(answer["kind"], "campaign");
    assert_eq!(answer["feedback_type"], "abuse");
    assert_eq!(answer["consent_id"], id.as_str());
    assert_eq!(answer["list"], "offers");
    assert_eq!(answer["evidence"]["status"], "unsubscribed");
    assert!(answer["evidence"]["confirmed_at"].is_string());
    assert!(answer["evidence"]["receipt_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v1/consents/{id}/receipt")));
    // The very next check says no.
    let after = app.check("offers", "taro@example.jp").await;
    assert_eq!(
        (after["allowed"].clone(), after["reason"].clone()),
        (false.into(), "unsubscribed".into())
    );
    // The chain holds the opt-out and the complaint, and still verifies.
    let kinds = exported_kinds(&app).await;
    assert!(
        kinds.ends_with(&[
            "unsubscribed".into(),
            "complained".into(),
            "exported".into()
        ]),
        "{kinds:?}"
    );
    assert_eq!(app.verify().await["ok"], true);
    let consent = app.consent(&id).await;
    let complained = event_of(&consent, "complained");
    assert_eq!(complained["data"]["source"], "feedback_loop");
    assert_eq!(complained["data"]["arf"], true);
    assert_eq!(
        complained["data"]["report_sha256"].as_str().unwrap().len(),
        64
    );
    let unsubscribed = event_of(&consent, "unsubscribed");
    assert_eq!(unsubscribed["data"]["channel"], "complaint");
}

#[tokio::test]
async fn the_same_report_sent_twice_is_one_complaint() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let check = app.check("offers", "taro@example.jp").await;
    let report = arf_report(
        FeedbackType::Abuse,
        &campaign_mail(&check, "taro@example.jp"),
    );

    let first = complain(
        &app,
        &app.sender_key,
        "multipart/report; report-type=feedback-report",
        report.clone(),
    )
    .await;
    let again = complain(&app, &app.sender_key, "message/rfc822", report).await;

    assert_eq!(first, again);
    let complaints = exported_kinds(&app)
        .await
        .iter()
        .filter(|k| *k == "complained")
        .count();
    assert_eq!(complaints, 1);
}

#[tokio::test]
async fn a_complaint_about_a_confirmation_mail_suppresses_confirmation_mail_from_every_sender() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.signup("offers", "victim@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mail = app.mail_to("victim@example.jp", 1).await;

    let answer = complain(
        &app,
        &app.sender_key,
        "message/rfc822",
        arf_report(FeedbackType::Abuse, &mail.raw),
    )
    .await;

    assert_eq!(answer["kind"], "confirmation_mail");
    assert_eq!(answer["action"], "suppressed");
    assert_eq!(answer["consent_id"], id.as_str());
    assert_eq!(app.consent(&id).await["status"], "refused");
    // Another sender's signup for the victim sends nothing.
    let other = app.other_sender_with_list("news").await;
    let body = serde_json::json!({"list": "news", "email": "victim@example.jp"});
    let response = app.signup_as(&other, &body).await;
    assert_eq!(response.status(), 202);
    let signup: Value = response.json().await.unwrap();
    assert_eq!(signup["confirmation"], "suppressed");
}

#[tokio::test]
async fn a_confirmation_mail_reported_by_its_headers_alone_is_found_by_its_message_id() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    app.signup("offers", "victim@example.jp").await;
    let mail = app.mail_to("victim@example.jp", 1).await;
    // Only the headers: no link, only the Message-ID this service gave the mail.
    let headers = mail.raw.split("\r\n\r\n").next().unwrap().to_owned() + "\r\n\r\n";
    assert!(!headers.contains("/r/"));

    let answer = complain(&app, &app.sender_key, "text/plain", headers).await;

    assert_eq!(answer["kind"], "confirmation_mail");
    assert_eq!(answer["action"], "suppressed");
}

#[tokio::test]
async fn not_spam_feedback_is_recorded_and_changes_nothing() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let check = app.check("offers", "taro@example.jp").await;

    let report = arf_report(
        FeedbackType::NotSpam,
        &campaign_mail(&check, "taro@example.jp"),
    );
    let answer = complain(&app, &app.sender_key, "message/rfc822", report).await;

    assert_eq!(answer["action"], "recorded");
    assert_eq!(answer["feedback_type"], "not-spam");
    assert_eq!(
        app.check("offers", "taro@example.jp").await["allowed"],
        true
    );
    let reputation = app.get_json("/v1/reputation", &app.sender_key).await;
    assert_eq!(reputation["counts"]["complaints"], 0);
    assert!(exported_kinds(&app)
        .await
        .contains(&"complained".to_owned()));
}

#[tokio::test]
async fn another_sender_s_report_with_this_sender_s_token_is_not_found_like_an_unknown_one() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let check = app.check("offers", "taro@example.jp").await;
    let report = arf_report(
        FeedbackType::Abuse,
        &campaign_mail(&check, "taro@example.jp"),
    );
    let other = app.other_sender_with_list("news").await;

    let foreign = complain(&app, &other, "message/rfc822", report).await;
    let unknown = complain(
        &app,
        &other,
        "message/rfc822",
        arf_report(
            FeedbackType::Abuse,
            "From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n",
        ),
    )
    .await;

    let shape = |v: &Value| {
        let mut v = v.clone();
        v["complaint_id"] = Value::Null;
        v
    };
    assert_eq!(foreign["action"], "not_found");
    assert_eq!(shape(&foreign), shape(&unknown));
    assert_eq!(
        app.check("offers", "taro@example.jp").await["allowed"],
        true
    );
    assert!(!exported_kinds(&app)
        .await
        .contains(&"complained".to_owned()));
}

#[tokio::test]
async fn a_complaint_desk_s_call_in_json_unsubscribes_with_its_note_kept_apart() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let check = app.check("offers", "taro@example.jp").await;
    let body = serde_json::json!({
        "unsubscribe_url": check["unsubscribe_url"], "source": "complaint_desk",
        "received_at": "2026-12-01T09:30:00Z", "note": "called the desk on 1 Dec",
    });

    let response = app
        .post("/v1/complaints", &app.sender_key)
        .json(&body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["action"], "unsubscribed");
    let consent = app.consent(&id).await;
    let complained = event_of(&consent, "complained");
    assert_eq!(complained["data"]["source"], "complaint_desk");
    assert_eq!(complained["data"]["received_at"], "2026-12-01T09:30:00Z");
    assert_eq!(complained["pii"]["note"], "called the desk on 1 Dec");
    assert!(!complained["data"].to_string().contains("called the desk"));
}

#[tokio::test]
async fn a_complaint_that_is_not_a_report_gets_a_problem_and_changes_nothing() {
    let app = spawn_app().await;
    let response = app
        .post("/v1/complaints", &app.sender_key)
        .header("content-type", "image/png")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body = serde_json::json!({"unsubscribe_url": "https://evil.example/u/x.y.z"});
    let response = app
        .post("/v1/complaints", &app.sender_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let claimed = serde_json::json!({"unsubscribe_url": "https://consent.example.jp/u/x.y.z", "source": "recipient_page"});
    let response = app
        .post("/v1/complaints", &app.sender_key)
        .json(&claimed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let huge = "X-Pad: ".to_owned() + &"a".repeat(1_100_000);
    let response = app
        .post("/v1/complaints", &app.sender_key)
        .header("content-type", "message/rfc822")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}
