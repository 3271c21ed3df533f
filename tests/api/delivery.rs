//! The outbox survives an SMTP outage and a restart: nothing queued is lost.

use crate::support::smtp::DownSmtpServer;
use crate::support::{event_kinds, eventually, spawn_app, TestApp};

#[tokio::test]
async fn a_mail_queued_while_smtp_is_down_is_delivered_once_it_is_back() {
    let down = DownSmtpServer::reserve();
    let app = TestApp::builder().mail_url(down.url()).spawn().await;
    app.given_list("newsletter").await;

    let id = app.signup("newsletter", "patient@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        eventually(|| async { app.mail_attempts(&id).await >= 1 }).await,
        "a failed attempt"
    );
    let smtp = down.start();

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
    let down = DownSmtpServer::reserve();
    let app = TestApp::builder().mail_url(down.url()).spawn().await;
    app.given_list("newsletter").await;
    let answer = app.bare_signup("newsletter", "kept@example.jp").await;
    assert_eq!(answer["confirmation"], "queued");

    app.stop().await;
    let smtp = down.start();
    let _restarted = app.peer().await;

    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, ["kept@example.jp"]);
}

#[tokio::test]
async fn two_instances_on_one_database_never_send_one_mail_twice() {
    let first = spawn_app().await;
    let second = first.peer().await;
    let instances = [&first, &second];
    first.given_list("newsletter").await;

    let mut ids = Vec::new();
    for i in 0..20 {
        let email = format!("reader{i}@example.jp");
        let answer = instances[i % 2].bare_signup("newsletter", &email).await;
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }

    first.smtp.wait_for(20).await;
    // Before counting, both workers prove they finished with those jobs: every mail is
    // recorded as sent, and each instance then sends one more mail.
    for id in &ids {
        let sent = eventually(|| async {
            event_kinds(&first.consent(id).await)
                .iter()
                .any(|k| k == "confirmation_sent")
        })
        .await;
        assert!(sent, "{id} recorded as sent");
    }
    for (i, instance) in instances.iter().enumerate() {
        let email = format!("marker{i}@example.jp");
        instance.bare_signup("newsletter", &email).await;
        instance.mail_to(&email, 21 + i).await;
    }
    let mut recipients: Vec<String> = first
        .smtp
        .mails()
        .into_iter()
        .map(|m| m.to[0].clone())
        .collect();
    recipients.sort();
    let total = recipients.len();
    recipients.dedup();
    assert_eq!((total, recipients.len()), (22, 22));
}
