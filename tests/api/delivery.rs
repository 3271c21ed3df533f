//! The outbox survives an SMTP outage and a restart: nothing queued is lost.

use crate::helpers::{
    dead_port, eventually, seed_sender, spawn_app_with, start_server, test_database,
};
use crate::smtp::SmtpServer;
use serde_json::{json, Value};

#[tokio::test]
async fn a_mail_queued_while_smtp_is_down_is_delivered_once_it_is_back() {
    let port = dead_port().await;
    let app = spawn_app_with(&[("mail_url", format!("smtp://127.0.0.1:{port}"))]).await;
    app.given_list("newsletter").await;

    let id = app.signup("newsletter", "patient@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        eventually(|| async { app.mail_attempts(&id).await >= 1 }).await,
        "a failed attempt"
    );
    let smtp = SmtpServer::start_on(port).await.unwrap();

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["patient@example.jp"]);
    let sent = eventually(|| async {
        let consent = app.consent(&id).await;
        consent["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "confirmation_sent")
    })
    .await;
    assert!(sent);
    assert_eq!(smtp.mails().len(), 1, "delivered once");
}

#[tokio::test]
async fn a_restart_with_a_queued_mail_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _postgres) = test_database(dir.path());
    let port = dead_port().await;
    let mail_url = [("mail_url", format!("smtp://127.0.0.1:{port}"))];
    let (url, state, handle) = start_server(&database_url, dir.path(), &mail_url).await;
    let (_, key, _) = seed_sender(&state.db, "Shop").await;
    let client = reqwest::Client::new();
    let list = crate::helpers::list_body("newsletter");
    let created = client
        .post(format!("{url}/v1/lists"))
        .bearer_auth(&key)
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let signup = json!({"list": "newsletter", "email": "kept@example.jp"});
    let answer: Value = client
        .post(format!("{url}/v1/consents"))
        .bearer_auth(&key)
        .json(&signup)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["confirmation"], "queued");

    handle.stop(true).await;
    let smtp = SmtpServer::start_on(port).await.unwrap();
    let (_, _, _handle) = start_server(&database_url, dir.path(), &mail_url).await;

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["kept@example.jp"]);
}
