//! Kantara Consent Receipts v1.1, validated against the published schema (a copy in
//! `tests/fixtures/`, from `shared/standards/`) with the jsonschema crate.

use serde_json::{json, Value};

use crate::support::{spawn_app, Answer, TestApp};

const SCHEMA: &str = include_str!("../fixtures/kantara-consent-receipt-v1.1.schema.json");

fn validate_receipt(receipt: &Value) {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(receipt)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "receipt does not validate: {errors:#?}\n{receipt:#}"
    );
}

async fn receipt(app: &TestApp, key: &str, id: &str) -> reqwest::Response {
    app.get(&format!("/v1/consents/{id}/receipt"), key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_confirmed_consent_has_a_kantara_receipt_that_validates() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let id = app
        .confirmed_signup("newsletter", "taro@example.jp", 1)
        .await;

    let response = receipt(&app, &app.auditor_key, &id).await;

    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    validate_receipt(&receipt);
    assert_eq!(receipt["version"], "KI-CR-v1.1.0");
    assert_eq!(receipt["jurisdiction"], "JP");
    assert_eq!(receipt["consentReceiptID"], id);
    assert_eq!(receipt["piiPrincipalId"], "taro@example.jp");
    assert_eq!(receipt["policyUrl"], "https://shop.example.jp/privacy/v3");
    assert_eq!(
        receipt["piiControllers"][0]["piiController"],
        "Example K.K."
    );
    assert_eq!(receipt["piiControllers"][0]["email"], "privacy@example.jp");
    let purpose = &receipt["services"][0]["purposes"][0];
    assert_eq!(receipt["services"][0]["service"], "Weekly offers");
    assert_eq!(purpose["purposeCategory"], json!(["Marketing"]));
    assert_eq!(purpose["consentType"], "EXPLICIT");
    assert_eq!(
        purpose["purpose"],
        "I agree to receive weekly offers by email from Example KK."
    );
    assert!(receipt["collectionMethod"]
        .as_str()
        .unwrap()
        .contains("double opt-in"));
    let consent = app.consent(&id).await;
    assert_eq!(
        receipt["consentry"]["consent_text_sha256"],
        consent["consent_text_sha256"]
    );
    assert_eq!(
        receipt["consentry"]["confirmed_event"]["hash"],
        consent["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "confirmed")
            .unwrap()["hash"]
    );
}

#[tokio::test]
async fn a_sender_on_behalf_of_another_names_both_controllers() {
    let app = spawn_app().await;
    let (sender_id, key) = {
        let db = app.db.clone();
        tokio::task::spawn_blocking(move || {
            let profile = consentry::domain::sender::SenderProfile::parse(
                "Agency",
                "Mail Agency K.K.",
                "4-5-6 Shibuya, Tokyo",
                "+81-3-1234-5678",
                Some("Client Shop K.K."),
                "JP",
            )
            .unwrap();
            let id = consentry::cli::sender::create_sender(&db, profile).unwrap();
            let (_, key) =
                consentry::cli::key::create_key(&db, &id, consentry::domain::api_key::Role::Sender)
                    .unwrap();
            (id, secrecy::ExposeSecret::expose_secret(&key).to_owned())
        })
        .await
        .unwrap()
    };
    assert!(!sender_id.is_empty());
    assert_eq!(
        app.create_list(&key, &crate::support::list_body("news"))
            .await
            .status(),
        201
    );
    let answer = app
        .signup_as(&key, &json!({"list": "news", "email": "jiro@example.jp"}))
        .await;
    let id: Value = answer.json().await.unwrap();
    let id = id["id"].as_str().unwrap().to_owned();
    let mail = app.mail_to("jiro@example.jp", 1).await;
    app.press(&TestApp::links_of(&mail).0).await;

    let receipt: Value = receipt(&app, &key, &id).await.json().await.unwrap();

    validate_receipt(&receipt);
    let controllers = receipt["piiControllers"].as_array().unwrap();
    assert_eq!(controllers.len(), 2);
    assert_eq!(controllers[0]["piiController"], "Mail Agency K.K.");
    assert_eq!(controllers[0]["onBehalf"], true);
    assert_eq!(controllers[0]["phone"], "+81-3-1234-5678");
    assert_eq!(controllers[1]["piiController"], "Client Shop K.K.");
}

#[tokio::test]
async fn an_unconfirmed_or_foreign_consent_has_no_receipt() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let pending = app.signup("newsletter", "taro@example.jp").await;
    let pending = pending["id"].as_str().unwrap();

    let response = receipt(&app, &app.sender_key, pending).await;
    Answer::read(response)
        .await
        .expect_problem(409, "not_confirmed");

    let other = app.other_sender_with_list("news").await;
    let response = receipt(&app, &other, pending).await;
    assert_eq!(response.status(), 404);
}
