//! Double opt-in end to end: a real SMTP server receives the mail, its links are followed
//! over HTTP, and the compliance check follows every step.

use serde_json::{json, Value};

use crate::support::{event_kinds, redacted, spawn_app, Answer, TestApp};

#[tokio::test]
async fn a_signup_becomes_mailable_only_after_the_owner_confirms_by_post() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;

    let answer = app.signup("newsletter", "Taro.Yamada@Example.JP").await;
    insta::assert_json_snapshot!("signup_answer", redacted(&answer));
    assert_eq!(answer["status"], "pending");
    assert_eq!(answer["confirmation"], "queued");
    let id = answer["id"].as_str().unwrap();

    let mail = app.mail_to("Taro.Yamada@example.jp", 1).await;
    assert!(
        mail.text_body().contains("Example K.K."),
        "sender's legal name shown"
    );
    assert!(
        mail.text_body().contains("1-2-3 Chiyoda, Tokyo"),
        "postal address shown"
    );
    assert!(mail.header("Message-ID").is_some());
    let (confirm, _) = TestApp::links_of(&mail);
    assert_eq!(
        app.check("newsletter", "taro.yamada@example.jp").await["reason"],
        "pending"
    );

    // A mail scanner fetching the link changes nothing.
    let page = app.open(&confirm).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("method=\"post\""));
    assert_eq!(
        app.check("newsletter", "taro.yamada@example.jp").await["allowed"],
        false
    );

    let confirmed = app.press(&confirm).await;
    assert_eq!(confirmed.status(), 200);

    let check = app.check("newsletter", "taro.yamada@example.jp").await;
    insta::assert_json_snapshot!("confirmed_check", redacted(&check));
    assert_eq!(check["allowed"], true);
    assert_eq!(check["reason"], "confirmed");
    assert_eq!(check["consent_id"], id);
    assert_eq!(
        check["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let unsubscribe = check["unsubscribe_url"].as_str().unwrap();
    assert!(unsubscribe.starts_with("https://consent.example.jp/u/"));
    assert_eq!(
        check["headers"]["List-Unsubscribe"],
        format!("<{unsubscribe}>")
    );
    assert_eq!(check["display"]["sender_name"], "Example K.K.");

    // Confirming twice shows success again.
    assert_eq!(app.press(&confirm).await.status(), 200);

    let consent = app.consent(id).await;
    insta::assert_json_snapshot!("consent_view", redacted(&consent));
    assert_eq!(
        event_kinds(&consent),
        ["requested", "confirmation_sent", "confirmed"]
    );
    let confirmed_event = &consent["events"][2]["data"];
    assert!(confirmed_event["seconds_since_mail_sent"].is_i64());
    assert_eq!(
        consent["events"][1]["data"]["message_id"],
        mail.header("Message-ID")
            .map(|m| format!("<{}>", m.trim_matches(['<', '>'])))
            .unwrap()
    );
}

#[tokio::test]
async fn one_click_unsubscribe_takes_effect_for_the_next_check() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.signup("newsletter", "hanako@example.jp").await;
    let (confirm, _) = TestApp::links_of(&app.mail_to("hanako@example.jp", 1).await);
    app.press(&confirm).await;
    let check = app.check("newsletter", "hanako@example.jp").await;
    let unsubscribe = app.local(check["unsubscribe_url"].as_str().unwrap());

    // RFC 8058: a POST with List-Unsubscribe=One-Click, no cookie, no auth.
    let response = app
        .client
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    assert!(response.headers().get("set-cookie").is_none());
    let check = app.check("newsletter", "hanako@example.jp").await;
    assert_eq!(check["allowed"], false);
    assert_eq!(check["reason"], "unsubscribed");

    // Idempotent, and multipart works too.
    let form = reqwest::multipart::Form::new().text("List-Unsubscribe", "One-Click");
    let again = app
        .client
        .post(&unsubscribe)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn the_prankster_case_this_wasnt_me_stops_mail_from_every_sender() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let other_key = app.other_sender_with_list("deals").await;

    app.signup("newsletter", "victim@example.jp").await;
    let (_, refuse) = TestApp::links_of(&app.mail_to("victim@example.jp", 1).await);
    assert_eq!(app.open(&refuse).await.status(), 200);
    assert_eq!(app.press(&refuse).await.status(), 200);
    assert_eq!(
        app.check("newsletter", "victim@example.jp").await["reason"],
        "refused"
    );

    let response = app
        .signup_as(
            &other_key,
            &json!({"list": "deals", "email": "victim@example.jp"}),
        )
        .await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "suppressed");
    assert_eq!(answer["confirmation"], "suppressed");
    assert_eq!(app.mail_jobs(answer["id"].as_str().unwrap()).await, 0);

    // A later signup for someone else is mailed; the victim got exactly one mail.
    app.signup("newsletter", "someone@example.jp").await;
    let mails = app.smtp.wait_for(2).await;
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.to.contains(&"victim@example.jp".to_owned()))
            .count(),
        1
    );
}

#[tokio::test]
async fn twelve_signups_for_one_gmail_box_across_two_senders_send_at_most_three_mails() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let other_key = app.other_sender_with_list("deals").await;
    let variants = [
        "taro@gmail.com",
        "t.aro@gmail.com",
        "taro+1@gmail.com",
        "ta.ro+x@googlemail.com",
        "TARO@gmail.com",
        "t.a.r.o@gmail.com",
        "taro+2@googlemail.com",
        "tar.o@gmail.com",
        "taro+news@gmail.com",
        "t.aro+3@gmail.com",
        "ta.r.o@googlemail.com",
        "taro+z@gmail.com",
    ];

    let mut queued = 0;
    for (i, email) in variants.iter().enumerate() {
        let (key, list) = if i % 2 == 0 {
            (&app.sender_key, "newsletter")
        } else {
            (&other_key, "deals")
        };
        let answer: Value = app
            .signup_as(key, &json!({"list": list, "email": email}))
            .await
            .json()
            .await
            .unwrap();
        if answer["confirmation"] == "queued" {
            queued += 1;
        } else {
            // `not_needed`: TARO@ repeats taro@ for the same sender (same identity).
            let held = ["throttled", "not_needed"].map(Value::from);
            assert!(held.contains(&answer["confirmation"]), "{answer}");
            assert_eq!(
                answer["status"], "pending",
                "a throttled signup is still recorded"
            );
        }
    }

    assert_eq!(queued, 3);
    app.signup("newsletter", "control@example.jp").await;
    let mails = app.smtp.wait_for(4).await;
    assert_eq!(
        mails.iter().filter(|m| m.to[0].contains("gmail")).count(),
        3
    );
}

#[tokio::test]
async fn a_repeated_pending_signup_returns_the_same_id_and_mails_once() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;

    let first = app.signup("newsletter", "jiro@example.jp").await;
    let second = app.signup("newsletter", "JIRO@example.jp").await;

    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["confirmation"], "not_needed");
    assert_eq!(app.mail_jobs(first["id"].as_str().unwrap()).await, 1);
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_answer_and_another_body_conflicts() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let body = json!({"list": "newsletter", "email": "saburo@example.jp"});
    let send = |body: Value| {
        app.post("/v1/consents", &app.sender_key)
            .header("Idempotency-Key", "signup-42")
            .json(&body)
            .send()
    };

    let first: Value = send(body.clone()).await.unwrap().json().await.unwrap();
    let again: Value = send(body).await.unwrap().json().await.unwrap();
    let other = send(json!({"list": "newsletter", "email": "shiro@example.jp"}))
        .await
        .unwrap();

    assert_eq!(first, again);
    Answer::read(other)
        .await
        .expect_problem(409, "idempotency_conflict");
    assert_eq!(app.mail_jobs(first["id"].as_str().unwrap()).await, 1);
}

#[tokio::test]
async fn an_idempotency_key_built_from_the_address_is_not_stored_in_the_clear() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let body = json!({"list": "newsletter", "email": "goro@example.jp"});
    let send = || {
        app.post("/v1/consents", &app.sender_key)
            .header("Idempotency-Key", "signup-goro@example.jp")
            .json(&body)
            .send()
    };

    let first: Value = send().await.unwrap().json().await.unwrap();
    let again: Value = send().await.unwrap().json().await.unwrap();

    assert_eq!(first, again, "the stored digest still finds the answer");
    let stored = app.idempotency_keys().await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains("goro"), "{stored:?}");
    assert_eq!(stored[0].len(), 64, "a keyed digest: {stored:?}");
}

#[tokio::test]
async fn bad_signups_are_rejected_with_clear_codes_and_record_nothing() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let cases = [
        (
            json!({"list": "newsletter", "email": "not an address"}),
            400,
            "invalid_email",
        ),
        (
            json!({"list": "newsletter", "email": "Taro <taro@example.jp>"}),
            400,
            "invalid_email",
        ),
        (
            json!({"list": "nope", "email": "taro@example.jp"}),
            404,
            "unknown_list",
        ),
        (
            json!({"list": "newsletter", "email": "taro@example.jp", "evidence": {"consent_text_sha256": "00"}}),
            400,
            "unknown_consent_text",
        ),
        (
            json!({"list": "newsletter", "email": "taro@example.jp", "evidence": {"ip": "999.1.1.1"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"list": "newsletter", "email": "taro@example.jp", "evidence": {"collection_method": "telepathy"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"list": "newsletter", "email": "taro@example.jp", "comment": "hi"}),
            400,
            "invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let response = app.signup_as(&app.sender_key, &body).await;
        Answer::read(response).await.expect_problem(status, code);
    }
    assert_eq!(
        app.check("newsletter", "taro@example.jp").await["reason"],
        "not_found"
    );
    let invalid = app
        .get("/v1/check?list=newsletter&email=nope", &app.sender_key)
        .send()
        .await
        .unwrap();
    Answer::read(invalid)
        .await
        .expect_problem(400, "invalid_email");
}

#[tokio::test]
async fn a_resend_rotates_the_link_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let id = app.signup("newsletter", "goro@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (old_confirm, _) = TestApp::links_of(&app.mail_to("goro@example.jp", 1).await);

    let response = app
        .post(&format!("/v1/consents/{id}/resend"), &app.sender_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.json::<Value>().await.unwrap()["confirmation"],
        "queued"
    );
    let (new_confirm, _) = TestApp::links_of(&app.mail_to("goro@example.jp", 2).await);

    assert_ne!(old_confirm, new_confirm);
    assert_eq!(app.press(&old_confirm).await.status(), 400);
    assert_eq!(
        app.check("newsletter", "goro@example.jp").await["reason"],
        "pending"
    );
    assert_eq!(app.press(&new_confirm).await.status(), 200);
    assert_eq!(
        app.check("newsletter", "goro@example.jp").await["reason"],
        "confirmed"
    );
}

#[tokio::test]
async fn signing_up_again_after_unsubscribing_needs_a_new_confirmation() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let first = app.signup("newsletter", "rokuro@example.jp").await;
    let (confirm, _) = TestApp::links_of(&app.mail_to("rokuro@example.jp", 1).await);
    app.press(&confirm).await;
    let response = app
        .post("/v1/unsubscribes", &app.sender_key)
        .json(&json!({"email": "rokuro@example.jp", "channel": "phone", "note": "called the shop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["unsubscribed"],
        json!(["newsletter"])
    );
    assert_eq!(
        app.check("newsletter", "rokuro@example.jp").await["reason"],
        "unsubscribed"
    );

    let second = app.signup("newsletter", "rokuro@example.jp").await;

    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["status"], "pending");
    assert_eq!(
        app.check("newsletter", "rokuro@example.jp").await["reason"],
        "pending"
    );
    // The old confirm link cannot bring the address back.
    assert_eq!(app.press(&confirm).await.status(), 410);
    assert_eq!(
        app.check("newsletter", "rokuro@example.jp").await["reason"],
        "pending"
    );
}
