//! Keys: missing, malformed, revoked, another sender's, the wrong role.

use serde_json::Value;

use crate::support::{eventually, list_body, seed_sender, spawn_app, Answer};

#[tokio::test]
async fn a_request_without_a_key_is_401_with_a_bearer_challenge() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(format!("{}/v1/lists", app.url))
        .send()
        .await
        .unwrap();

    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    Answer::read(response)
        .await
        .expect_problem(401, "unauthorized");
}

#[tokio::test]
async fn malformed_and_forged_keys_are_401() {
    let app = spawn_app().await;
    let forged = format!("{}0", &app.sender_key[..app.sender_key.len() - 1]);
    let forged = if forged == app.sender_key {
        format!("{}1", &app.sender_key[..app.sender_key.len() - 1])
    } else {
        forged
    };
    for key in ["nonsense", "csk_abc_def", forged.as_str()] {
        let response = app.list_lists(key).await;
        assert_eq!(response.status(), 401, "{key}");
    }
    assert_eq!(app.list_lists(&app.sender_key).await.status(), 200);
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    let app = spawn_app().await;
    assert_eq!(app.list_lists(&app.sender_key).await.status(), 200);
    let key_id = app.sender_key.split('_').nth(1).unwrap().to_owned();

    let db = app.db.clone();
    tokio::task::spawn_blocking(move || consentry::cli::key::revoke_key(&db, &key_id))
        .await
        .unwrap()
        .unwrap();

    // The key was verified and cached; the revocation reaches the cache on the next refresh.
    assert!(eventually(|| async { app.list_lists(&app.sender_key).await.status() == 401 }).await);
}

#[tokio::test]
async fn each_sender_sees_only_its_own_lists() {
    let app = spawn_app().await;
    let (_, other_key, _) = seed_sender(&app.db, "Other").await;
    app.create_list(&app.sender_key, &list_body("mine")).await;
    app.create_list(&other_key, &list_body("theirs")).await;

    let mine: Value = app.list_lists(&app.sender_key).await.json().await.unwrap();
    let slugs: Vec<_> = mine["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["slug"].clone())
        .collect();
    assert_eq!(slugs, ["mine"]);

    let response = app.get_list(&app.sender_key, "theirs").await;
    assert_eq!(response.status(), 404);
    // The same slug is free for each sender.
    assert_eq!(
        app.create_list(&app.sender_key, &list_body("theirs"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn an_auditor_key_may_not_manage_lists() {
    let app = spawn_app().await;

    let response = app
        .create_list(&app.auditor_key, &list_body("newsletter"))
        .await;

    Answer::read(response)
        .await
        .expect_problem(403, "forbidden");
    assert_eq!(app.list_lists(&app.auditor_key).await.status(), 403);
    assert_eq!(app.list_lists(&app.sender_key).await.status(), 200);
}
