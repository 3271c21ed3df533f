//! State changes that race: a confirmation against an unsubscribe, two re-signups at once.
//! On PostgreSQL (READ COMMITTED, several instances) each transition must start from the
//! state it changes; on SQLite write transactions take turns, so these pass trivially there.

use consentry::domain::token::Action;
use serde_json::json;

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
