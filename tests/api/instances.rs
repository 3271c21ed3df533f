//! Several instances on one database: an opt-out recorded at one is what the very next
//! check at any other answers, also while that other instance is busy answering checks in
//! groups (PostgreSQL) and nothing is cached between them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use consentry::domain::token::Action;
use serde_json::json;

use crate::support::{spawn_app, TestApp};

const ADDRESSES: usize = 30;

/// A confirmed subscription of `email` to `newsletter`; returns its one-click unsubscribe URL.
async fn confirmed(app: &TestApp, email: &str) -> String {
    let id = app.bare_signup("newsletter", email).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirm = app.link_of(&id, Action::Confirm).await;
    assert_eq!(app.press(&confirm).await.status(), 200);
    let check = app.check("newsletter", email).await;
    assert_eq!(check["allowed"], true, "{check}");
    check["unsubscribe_url"].as_str().unwrap().to_owned()
}

/// Checks addresses that stay confirmed at `app` until told to stop, so that the checks under
/// test join groups while others are at the database; returns how many it made.
fn keep_checking(app: &TestApp, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    let (client, url, key) = (app.client.clone(), app.url.clone(), app.sender_key.clone());
    tokio::spawn(async move {
        let mut made = 0;
        while !stop.load(Ordering::Relaxed) {
            let checks = (0..8).map(|i| {
                client
                    .get(format!("{url}/v1/check"))
                    .bearer_auth(&key)
                    .query(&[
                        ("list", "newsletter"),
                        ("email", &format!("stays{i}@example.jp")),
                    ])
                    .send()
            });
            for answer in futures_util::future::join_all(checks).await {
                let body: serde_json::Value = answer.unwrap().json().await.unwrap();
                assert_eq!(body["allowed"], true, "{body}");
                made += 1;
            }
        }
        made
    })
}

#[tokio::test]
async fn an_opt_out_at_one_instance_is_what_the_very_next_check_at_another_answers() {
    let first = spawn_app().await;
    let second = first.peer().await;
    first.given_list("newsletter").await;
    for i in 0..8 {
        confirmed(&first, &format!("stays{i}@example.jp")).await;
    }
    let mut links = Vec::new();
    for i in 0..ADDRESSES {
        let email = format!("leaves{i}@example.jp");
        links.push((email.clone(), confirmed(&first, &email).await));
    }
    // The second instance has answered every one of them before: whatever it kept of those
    // answers must not outlive the opt-out.
    for (email, _) in &links {
        assert_eq!(second.check("newsletter", email).await["allowed"], true);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let busy = keep_checking(&second, stop.clone());

    for (i, (email, unsubscribe)) in links.iter().enumerate() {
        // Alternately the recipient's one-click link and the sender's own record.
        if i % 2 == 0 {
            let pressed = first
                .client
                .post(first.local(unsubscribe))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(pressed.status(), 200, "{email}");
        } else {
            let recorded = first
                .post("/v1/unsubscribes", &first.sender_key)
                .json(&json!({"email": email, "channel": "phone"}))
                .send()
                .await
                .unwrap();
            assert_eq!(recorded.status(), 200, "{email}");
        }

        let next = second.check("newsletter", email).await;

        assert_eq!(next["allowed"], false, "{email}: {next}");
        assert_eq!(next["reason"], "unsubscribed", "{email}: {next}");
    }
    stop.store(true, Ordering::Relaxed);
    let made = busy.await.unwrap();
    assert!(
        made > 0,
        "the second instance answered other checks meanwhile"
    );
}
