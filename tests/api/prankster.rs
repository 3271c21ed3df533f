//! The prankster and the victim: whatever someone does with a sender's signup form and API,
//! the owner of the mailbox keeps the last word.

use consentry::domain::token::Action;
use serde_json::{json, Value};

use crate::support::smtp::DownSmtpServer;
use crate::support::{eventually, list_body, spawn_app, Answer, TestApp};

async fn resend(app: &TestApp, id: &str) -> String {
    let response = app
        .post(&format!("/v1/consents/{id}/resend"), &app.sender_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["confirmation"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_refuse_link_the_victim_received_still_works_after_resends() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let id = app.signup("newsletter", "victim@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = app.mail_to("victim@example.jp", 1).await;
    let expires_at = app.consent(&id).await["expires_at"].clone();

    // The default cap (3 mails a day per address) lets two resends through.
    let answers = [
        resend(&app, &id).await,
        resend(&app, &id).await,
        resend(&app, &id).await,
    ];
    assert_eq!(answers, ["queued", "queued", "throttled"]);
    let last = app.mail_to("victim@example.jp", 3).await;

    assert_eq!(
        app.consent(&id).await["expires_at"],
        expires_at,
        "resends never push the expiry past the first mail's"
    );
    let (_, last_refuse) = TestApp::links_of(&last);
    let (_, first_refuse) = TestApp::links_of(&first);
    assert_eq!(app.open(&last_refuse).await.status(), 200);
    assert_eq!(app.open(&first_refuse).await.status(), 200);
    assert_eq!(app.press(&first_refuse).await.status(), 200);
    assert_eq!(
        app.check("newsletter", "victim@example.jp").await["reason"],
        "refused"
    );
    assert_eq!(app.consent(&id).await["status"], "refused");
    assert_eq!(
        app.press(&last_refuse).await.status(),
        200,
        "already refused"
    );
}

#[tokio::test]
async fn a_throttled_resend_leaves_the_last_mail_s_links_working() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let id = app.signup("newsletter", "owner@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(resend(&app, &id).await, "queued");
    assert_eq!(resend(&app, &id).await, "queued");
    let last = app.mail_to("owner@example.jp", 3).await;
    assert_eq!(resend(&app, &id).await, "throttled");

    let (confirm, _) = TestApp::links_of(&last);
    assert_eq!(app.press(&confirm).await.status(), 200);
    assert_eq!(
        app.check("newsletter", "owner@example.jp").await["reason"],
        "confirmed"
    );
}

#[tokio::test]
async fn a_mail_queued_before_a_refusal_elsewhere_is_never_sent() {
    let down = DownSmtpServer::reserve();
    let app = TestApp::builder().mail_url(down.url()).spawn().await;
    app.given_list("newsletter").await;
    let other_key = app.other_sender_with_list("offers").await;
    let at_a = app.signup("newsletter", "target@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .signup_as(
            &other_key,
            &serde_json::json!({"list": "offers", "email": "target@example.jp"}),
        )
        .await;
    let at_b: Value = response.json().await.unwrap();
    let at_b = at_b["id"].as_str().unwrap().to_owned();
    assert!(
        eventually(|| async { app.mail_attempts(&at_b).await >= 1 }).await,
        "B's mail is retrying"
    );

    // The owner refuses from the mail of sender A (it reached them through another path).
    let refuse = app.link_of(&at_a, Action::Refuse).await;
    assert_eq!(app.press(&refuse).await.status(), 200);
    let smtp = down.start();

    let settled = eventually(|| async {
        app.mail_job_states(&at_b)
            .await
            .iter()
            .all(|(status, _)| status != "queued")
    })
    .await;
    assert!(settled, "B's job is settled");
    assert_eq!(
        app.mail_job_states(&at_b).await[0].0,
        "failed",
        "given up, not sent"
    );
    assert!(smtp.mails().is_empty(), "nothing reached the victim");
}

#[tokio::test]
async fn a_list_name_cannot_carry_a_link_into_signed_mail() {
    let app = spawn_app().await;
    for name in [
        "Security alert: verify at https://evil.example/login",
        "Verify at evil.example/login",
        "Your account www.evil.example",
    ] {
        let mut body = list_body("alert");
        body["name"] = json!(name);
        let answer = Answer::read(app.create_list(&app.sender_key, &body).await).await;
        answer.expect_problem(400, "invalid_request");
        assert!(
            answer.body["detail"].as_str().unwrap().contains("name"),
            "{}",
            answer.body
        );
    }
    app.given_list("newsletter").await;
    let renamed = app
        .put("/v1/lists/newsletter", &app.sender_key)
        .json(&json!({"name": "Log in at https://evil.example/login"}))
        .send()
        .await
        .unwrap();
    Answer::read(renamed)
        .await
        .expect_problem(400, "invalid_request");
}

#[tokio::test]
async fn the_subject_shows_a_bounded_list_name() {
    let app = spawn_app().await;
    let mut body = list_body("long");
    body["name"] = json!("A".repeat(150));
    assert_eq!(app.create_list(&app.sender_key, &body).await.status(), 201);
    app.signup("long", "reader@example.jp").await;

    let mail = app.mail_to("reader@example.jp", 1).await;
    let subject = mail.header("Subject").unwrap();
    assert!(!subject.contains(&"A".repeat(61)), "{subject}");
    assert!(
        mail.text_body().contains(&"A".repeat(150)),
        "the body names it whole"
    );
}
