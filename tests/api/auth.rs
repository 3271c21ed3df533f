//! Keys: missing, malformed, revoked, another sender's, the wrong role.

use serde_json::Value;

use crate::support::{eventually, list_body, seed_sender, spawn_app, Answer, TestApp};

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

/// Revokes a key as the CLI does (another process, as far as the server can tell).
async fn revoke(app: &TestApp, key: &str) {
    let key_id = key.split('_').nth(1).unwrap().to_owned();
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || consentry::cli::key::revoke_key(&db, &key_id))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    let app = spawn_app().await;
    assert_eq!(app.list_lists(&app.sender_key).await.status(), 200);

    revoke(&app, &app.sender_key).await;

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

#[tokio::test]
async fn a_flood_of_wrong_secrets_is_throttled_and_other_tenants_keys_still_work_at_once() {
    let app = spawn_app().await;
    assert_eq!(app.list_lists(&app.sender_key).await.status(), 200);
    // Another tenant's key, never used yet: its first request needs argon2 too.
    let (_, other_key, _) = seed_sender(&app.db, "Other").await;
    let key_id = app.sender_key.split('_').nth(1).unwrap().to_owned();
    let wrong = |i: usize| format!("csk_{key_id}_{i:064x}");
    // The flood comes from another address than the tenants' own requests.
    let attacker = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let lists = format!("{}/v1/lists", app.url);

    let flood = futures_util::future::join_all((0..200).map(|i| {
        let request = attacker.get(&lists).bearer_auth(wrong(i));
        async move { request.send().await.unwrap() }
    }))
    .await;

    let statuses: Vec<u16> = flood.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let throttled = flood
        .iter()
        .find(|r| r.status() == 429)
        .expect("some are throttled");
    assert!(throttled.headers().contains_key("retry-after"));
    assert_eq!(
        app.list_lists(&other_key).await.status(),
        200,
        "the other tenant is not held up"
    );
    assert_eq!(
        app.list_lists(&app.sender_key).await.status(),
        200,
        "a verified key stays"
    );
    // A wrong secret tried again is known at once, and is still a 401 or a 429.
    let again = attacker
        .get(&lists)
        .bearer_auth(wrong(0))
        .send()
        .await
        .unwrap();
    assert!(
        [401, 429].contains(&again.status().as_u16()),
        "{}",
        again.status()
    );
}

#[tokio::test]
async fn revoking_one_key_leaves_every_other_verified_key_cached() {
    use consentry::domain::api_key::cache_digest;
    let app = spawn_app().await;
    let (_, other_key, _) = seed_sender(&app.db, "Other").await;
    let cached = |key: &str| app.state.caches.keys.get(&cache_digest(key)).is_some();
    // The first epoch poll after start drops what was cached before it; after that, a
    // verified key stays.
    assert!(
        eventually(|| async {
            assert_eq!(app.list_lists(&app.sender_key).await.status(), 200);
            assert_eq!(app.list_lists(&other_key).await.status(), 200);
            tokio::time::sleep(std::time::Duration::from_millis(120)).await;
            cached(&app.sender_key) && cached(&other_key)
        })
        .await
    );

    revoke(&app, &app.sender_key).await;

    assert!(eventually(|| async { app.list_lists(&app.sender_key).await.status() == 401 }).await);
    assert!(cached(&other_key), "the other tenant's key was not evicted");
}
