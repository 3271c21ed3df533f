//! `/v1/lists`: create, read, list, new consent-text versions, validation.

use serde_json::{json, Value};

use crate::support::{list_body, redacted, spawn_app, Answer};

#[tokio::test]
async fn creating_a_list_answers_201_and_it_can_be_read_back() {
    let app = spawn_app().await;

    let response = app
        .create_list(&app.sender_key, &list_body("newsletter"))
        .await;

    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], "/v1/lists/newsletter");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["slug"], "newsletter");
    assert_eq!(created["locale"], "ja");
    let sha = created["consent_text_sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha.len(), 64);

    let fetched: Value = app
        .get_list(&app.sender_key, "newsletter")
        .await
        .json()
        .await
        .unwrap();
    insta::assert_json_snapshot!("list", redacted(&fetched));
    assert_eq!(fetched["consent_text_sha256"], sha.as_str());
    assert_eq!(fetched["consent_text_version"], 1);
    assert_eq!(
        fetched["consent_text"],
        "I agree to receive weekly offers by email from Example KK."
    );
    let all: Value = app.list_lists(&app.sender_key).await.json().await.unwrap();
    insta::assert_json_snapshot!("lists", redacted(&all));
    assert_eq!(all["lists"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_put_with_new_text_adds_a_version_and_keeps_the_old_one() {
    let app = spawn_app().await;
    app.create_list(&app.sender_key, &list_body("newsletter"))
        .await;
    let first: Value = app
        .get_list(&app.sender_key, "newsletter")
        .await
        .json()
        .await
        .unwrap();

    let response = app
        .put("/v1/lists/newsletter", &app.sender_key)
        .json(&json!({"consent_text": "I agree to receive offers twice a week.", "name": "Offers"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["consent_text_version"], 2);
    assert_eq!(updated["name"], "Offers");
    assert_ne!(updated["consent_text_sha256"], first["consent_text_sha256"]);
    let versions = updated["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["sha256"], first["consent_text_sha256"]);

    // The same text again changes nothing; the first text again becomes current, no new version.
    let again = app
        .put("/v1/lists/newsletter", &app.sender_key)
        .json(&json!({"consent_text": first["consent_text"]}))
        .send()
        .await
        .unwrap();
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["consent_text_sha256"], first["consent_text_sha256"]);
    assert_eq!(again["versions"].as_array().unwrap().len(), 2);
    assert_eq!(again["consent_text_version"], 1);
}

#[tokio::test]
async fn a_taken_slug_is_a_conflict() {
    let app = spawn_app().await;
    app.create_list(&app.sender_key, &list_body("newsletter"))
        .await;

    let response = app
        .create_list(&app.sender_key, &list_body("newsletter"))
        .await;

    Answer::read(response)
        .await
        .expect_problem(409, "list_exists");
}

#[tokio::test]
async fn invalid_fields_are_rejected_with_the_field_named() {
    let app = spawn_app().await;
    let cases = [
        ("slug", json!("Not A Slug")),
        ("name", json!("")),
        ("consent_text", json!("   ")),
        ("policy_url", json!("javascript:alert(1)")),
        ("locale", json!("fr")),
    ];
    for (field, value) in cases {
        let mut body = list_body("newsletter");
        body[field] = value;

        let response = app.create_list(&app.sender_key, &body).await;

        let answer = Answer::read(response).await;
        answer.expect_problem(400, "invalid_request");
        let problem = answer.body;
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{problem}"
        );
    }
    let all: Value = app.list_lists(&app.sender_key).await.json().await.unwrap();
    assert!(all["lists"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_list_is_404_unknown_list() {
    let app = spawn_app().await;

    let response = app.get_list(&app.sender_key, "nope").await;

    Answer::read(response)
        .await
        .expect_problem(404, "unknown_list");
    let put = app
        .put("/v1/lists/nope", &app.sender_key)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 404);
}

#[tokio::test]
async fn the_slug_cannot_be_changed_by_put() {
    let app = spawn_app().await;
    app.create_list(&app.sender_key, &list_body("newsletter"))
        .await;

    let response = app
        .put("/v1/lists/newsletter", &app.sender_key)
        .json(&json!({"slug": "other"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(
        app.get_list(&app.sender_key, "newsletter").await.status(),
        200
    );
}
