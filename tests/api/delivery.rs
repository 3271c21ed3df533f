//! The outbox survives an SMTP outage and a restart: nothing queued is lost.

use crate::helpers::{
    dead_port, event_kinds, eventually, seed_sender, spawn_app_with, start_server, test_database,
    Api,
};
use crate::smtp::SmtpServer;

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
        event_kinds(&consent)
            .iter()
            .any(|k| k == "confirmation_sent")
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
    let api = Api::new(&url, &key);
    api.create_list("newsletter").await;
    let answer = api.signup("newsletter", "kept@example.jp").await;
    assert_eq!(answer["confirmation"], "queued");

    handle.stop(true).await;
    let smtp = SmtpServer::start_on(port).await.unwrap();
    let (_, _, _handle) = start_server(&database_url, dir.path(), &mail_url).await;

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["kept@example.jp"]);
}

#[tokio::test]
async fn two_instances_on_one_database_never_send_one_mail_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _postgres) = test_database(dir.path());
    let smtp = SmtpServer::start().await;
    let mail_url = [("mail_url", smtp.url())];
    let (first, state, _h1) = start_server(&database_url, dir.path(), &mail_url).await;
    let (second, _, _h2) = start_server(&database_url, dir.path(), &mail_url).await;
    let (_, key, _) = seed_sender(&state.db, "Shop").await;
    let apis = [Api::new(&first, &key), Api::new(&second, &key)];
    apis[0].create_list("newsletter").await;

    for i in 0..20 {
        let email = format!("reader{i}@example.jp");
        apis[i % 2].signup("newsletter", &email).await;
    }

    smtp.wait_for(20).await;
    // Let a duplicate, if any, arrive before counting.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut recipients: Vec<String> = smtp.mails().into_iter().map(|m| m.to[0].clone()).collect();
    recipients.sort();
    let total = recipients.len();
    recipients.dedup();
    assert_eq!((total, recipients.len()), (20, 20));
}
