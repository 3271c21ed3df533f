//! State changes that race: a confirmation against an unsubscribe, two re-signups at once.
//! On PostgreSQL (READ COMMITTED, several instances) each transition must start from the
//! state it changes; on SQLite write transactions take turns, so these pass trivially there.

use consentry::domain::token::Action;
use serde_json::{json, Value};

use crate::support::{spawn_app, TestApp};

const RACES: usize = 200;

async fn unsubscribe(app: &TestApp, email: &str) -> u16 {
    app.post("/v1/unsubscribes", &app.sender_key)
        .json(&json!({"email": email, "channel": "phone"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_acknowledged_unsubscribe_is_never_undone_by_a_racing_confirmation() {
    let app = spawn_app().await;
    let other = app.peer().await;
    app.given_list("newsletter").await;
    for i in 0..RACES {
        let email = format!("race{i}@example.jp");
        let id = app.bare_signup("newsletter", &email).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let confirm = app.link_of(&id, Action::Confirm).await;

        let (pressed, unsubscribed) =
            tokio::join!(other.press(&confirm), unsubscribe(&app, &email));

        assert!(
            pressed.status().as_u16() < 500,
            "race {i}: {}",
            pressed.status()
        );
        assert_eq!(unsubscribed, 200);
        let check = app.check("newsletter", &email).await;
        assert_eq!(check["allowed"], false, "race {i}: {check}");
        assert_eq!(check["reason"], "unsubscribed", "race {i}: {check}");
    }
}

#[tokio::test]
async fn two_signups_at_once_make_one_pending_request_first_time_and_again() {
    let app = spawn_app().await;
    let other = app.peer().await;
    app.given_list("newsletter").await;
    for i in 0..RACES {
        let email = format!("again{i}@example.jp");
        let (a, b) = tokio::join!(
            app.bare_signup("newsletter", &email),
            other.bare_signup("newsletter", &email)
        );
        assert_eq!(a["id"], b["id"], "race {i}: one first request, {a} {b}");
        assert_eq!(unsubscribe(&app, &email).await, 200);

        let (a, b) = tokio::join!(
            app.bare_signup("newsletter", &email),
            other.bare_signup("newsletter", &email)
        );

        assert_eq!(a["id"], b["id"], "race {i}: one pending request, {a} {b}");
    }
}

/// One signup sent with `key` (when given); the status and body.
async fn signup_keyed(app: &TestApp, email: String, key: Option<String>) -> (u16, Value) {
    let mut request = app
        .post("/v1/consents", &app.sender_key)
        .json(&json!({"list": "newsletter", "email": email}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key.as_str());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Many signups at once share write transactions on SQLite (group commit); each must still
/// get exactly the answer it would get alone, and the rules between them must hold.
#[tokio::test]
async fn signups_at_once_each_get_their_own_answer_and_the_rules_between_them_hold() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let new: Vec<_> = (0..16).map(|i| format!("burst{i}@example.jp")).collect();
    let twice: Vec<_> = (0..8).map(|i| format!("twice{i}@example.jp")).collect();

    let mut calls = Vec::new();
    for email in &new {
        calls.push(signup_keyed(&app, email.clone(), None));
    }
    for email in twice.iter().chain(&twice) {
        calls.push(signup_keyed(&app, email.clone(), None));
    }
    for i in 0..4 {
        let key = format!("same-{i}");
        for _ in 0..2 {
            let email = format!("keyed{i}@example.jp");
            calls.push(signup_keyed(&app, email, Some(key.clone())));
        }
    }
    for i in 0..4 {
        let key = format!("reused-{i}");
        for which in ["a", "b"] {
            let email = format!("reused{i}{which}@example.jp");
            calls.push(signup_keyed(&app, email, Some(key.clone())));
        }
    }
    let answers = futures_util::future::join_all(calls).await;

    let (firsts, rest) = answers.split_at(new.len());
    let mut ids: Vec<_> = firsts.iter().map(|(_, body)| body["id"].clone()).collect();
    for (status, body) in firsts {
        assert_eq!(*status, 202, "{body}");
        assert_eq!(body["confirmation"], "queued", "{body}");
    }
    ids.sort_by_key(ToString::to_string);
    ids.dedup();
    assert_eq!(ids.len(), new.len(), "every new address its own consent");
    let (pairs, rest) = rest.split_at(2 * twice.len());
    let (first, again) = pairs.split_at(twice.len());
    for (a, b) in first.iter().zip(again) {
        assert_eq!((a.0, b.0), (202, 202));
        assert_eq!(a.1["id"], b.1["id"], "one pending request: {} {}", a.1, b.1);
    }
    let (keyed, reused) = rest.split_at(8);
    for pair in keyed.chunks(2) {
        assert_eq!((pair[0].0, pair[1].0), (202, 202));
        assert_eq!(
            pair[0].1["id"], pair[1].1["id"],
            "the stored answer replayed"
        );
    }
    for pair in reused.chunks(2) {
        let mut statuses = [pair[0].0, pair[1].0];
        statuses.sort_unstable();
        assert_eq!(statuses, [202, 409], "{} {}", pair[0].1, pair[1].1);
        let conflict = if pair[0].0 == 409 {
            &pair[0].1
        } else {
            &pair[1].1
        };
        assert_eq!(conflict["code"], "idempotency_conflict");
    }
    for email in &new {
        let check = app.check("newsletter", email).await;
        assert_eq!(check["allowed"], false, "{check}");
    }
}
