//! Records about one person: Kantara consent receipts, subject access (JSON and the
//! printable page), erasure that leaves the chain verifiable, and retention.

use serde_json::{json, Value};

use crate::helpers::{problem_code, seed_sender, spawn_app, spawn_app_with, TestApp};

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
        app.create_list(&key, &crate::helpers::list_body("news"))
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
    assert_eq!(response.status(), 409);
    assert_eq!(problem_code(response).await, "not_confirmed");

    let other = app.other_sender_with_list("news").await;
    let response = receipt(&app, &other, pending).await;
    assert_eq!(response.status(), 404);
}

async fn subject(app: &TestApp, key: &str, email: &str) -> Value {
    let response = app
        .get("/v1/subjects", key)
        .query(&[("email", email)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn erase(app: &TestApp, email: &str) -> Value {
    let response = app
        .client
        .delete(format!("{}/v1/subjects", app.url))
        .bearer_auth(&app.sender_key)
        .query(&[("email", email)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn subject_access_lists_every_record_of_the_address_with_its_evidence() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.given_list("offers").await;
    app.confirmed_signup("newsletter", "Taro@Example.JP", 1)
        .await;
    app.signup("offers", "taro@example.jp").await;
    app.signup("newsletter", "someone.else@example.jp").await;

    let view = subject(&app, &app.auditor_key, "taro@example.jp").await;

    let consents = view["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 2);
    let lists: Vec<&str> = consents
        .iter()
        .map(|c| c["list"].as_str().unwrap())
        .collect();
    assert!(lists.contains(&"newsletter") && lists.contains(&"offers"));
    let confirmed = consents.iter().find(|c| c["list"] == "newsletter").unwrap();
    assert_eq!(confirmed["status"], "confirmed");
    let requested = &confirmed["events"][0];
    assert_eq!(requested["kind"], "requested");
    assert_eq!(requested["pii"]["ip"], "203.0.113.7");
    assert_eq!(view["subject_key"].as_str().unwrap().len(), 64);

    // Another sender sees nothing of it.
    let other = app.other_sender_with_list("news").await;
    let foreign = subject(&app, &other, "taro@example.jp").await;
    assert_eq!(foreign["consents"], json!([]));
}

#[tokio::test]
async fn the_printable_history_shows_the_evidence_in_the_readers_language() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.confirmed_signup("newsletter", "taro@example.jp", 1)
        .await;

    let page = app
        .get("/v1/subjects", &app.auditor_key)
        .query(&[("email", "taro@example.jp")])
        .header("accept", "text/html")
        .header("accept-language", "ja")
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"ja\">"));
    assert!(html.contains("同意記録"));
    assert!(html.contains("taro@example.jp"));
    assert!(html.contains("Example K.K."));
    assert!(html.contains("I agree to receive weekly offers by email from Example KK."));
    assert!(html.contains("203.0.113.7"));
    assert!(html.contains("confirmed"));
    assert!(
        html.contains("Ed25519"),
        "a signed checkpoint closes the page"
    );

    let english = app
        .get("/v1/subjects?lang=en", &app.auditor_key)
        .query(&[("email", "taro@example.jp")])
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("Consent history"));
}

#[tokio::test]
async fn erasure_removes_the_address_everywhere_and_the_chain_still_verifies() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.confirmed_signup("newsletter", "taro@example.jp", 1)
        .await;
    app.confirmed_signup("newsletter", "hanako@example.jp", 2)
        .await;

    let answer = erase(&app, "Taro@example.jp").await;

    assert_eq!(answer, json!({"erased": 1}));
    let report = app.verify().await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["pii_erased"].as_u64().unwrap() >= 2);
    let (status, _, export) = app.export("").await;
    assert_eq!(status, 200);
    assert!(
        !export.to_lowercase().contains("taro@example.jp"),
        "erased address in export"
    );
    assert!(export.contains("hanako@example.jp"), "others untouched");
    assert!(export.contains("\"kind\":\"erased\""));
    let view = subject(&app, &app.sender_key, "taro@example.jp").await;
    let consent = &view["consents"][0];
    assert_eq!(consent["email"], Value::Null);
    assert_eq!(consent["status"], "unsubscribed");
    assert!(consent["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["pii"].is_null()));
    assert!(view["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["reason"] == "erased"));
    let check = app.check("newsletter", "taro@example.jp").await;
    assert_eq!(check["allowed"], false);

    // Erasing again finds nothing left to erase.
    assert_eq!(erase(&app, "taro@example.jp").await, json!({"erased": 0}));
    // The address may come back through a new double opt-in.
    let again = app.signup("newsletter", "taro@example.jp").await;
    assert_eq!(again["confirmation"], "queued");
    app.mail_to("taro@example.jp", 3).await;
}

#[tokio::test]
async fn erasure_is_for_sender_keys_and_valid_addresses_only() {
    let app = spawn_app().await;
    let auditor = app
        .client
        .delete(format!("{}/v1/subjects?email=a@example.jp", app.url))
        .bearer_auth(&app.auditor_key)
        .send()
        .await
        .unwrap();
    assert_eq!(auditor.status(), 403);
    let invalid = app
        .client
        .delete(format!("{}/v1/subjects?email=not-an-address", app.url))
        .bearer_auth(&app.sender_key)
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    assert_eq!(problem_code(invalid).await, "invalid_email");
}

/// Moves the end of every ended consent `days` into the past, as if time had passed.
async fn age_ended_consents(app: &TestApp, days: i64) {
    let shift = if app.on_postgres() {
        format!("ended_at - INTERVAL '{days} days'")
    } else {
        format!("datetime(ended_at, '-{days} days')")
    };
    app.sql(&format!(
        "UPDATE consents SET ended_at = {shift} WHERE ended_at IS NOT NULL;"
    ))
    .await;
}

#[tokio::test]
async fn personal_data_past_retention_is_minimised_unless_on_legal_hold() {
    let app = spawn_app_with(&[("retention_sweep_seconds", "1".into())]).await;
    app.given_list("newsletter").await;
    let id = app
        .confirmed_signup("newsletter", "taro@example.jp", 1)
        .await;
    let kept = app
        .confirmed_signup("newsletter", "hanako@example.jp", 2)
        .await;
    let response = app
        .post("/v1/unsubscribes", &app.sender_key)
        .json(&json!({"email": "taro@example.jp", "channel": "reply_mail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // On legal hold, nothing is minimised however old the record.
    let sender = app.sender_id().await;
    app.sql(&format!(
        "UPDATE senders SET legal_hold = TRUE WHERE id = '{sender}';"
    ))
    .await;
    age_ended_consents(&app, 40).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(app.consent(&id).await["email"], "taro@example.jp");

    app.sql(&format!(
        "UPDATE senders SET legal_hold = FALSE WHERE id = '{sender}';"
    ))
    .await;
    let minimised =
        crate::helpers::eventually(|| async { app.consent(&id).await["minimised_at"].is_string() })
            .await;
    assert!(minimised, "the sweep minimised the record");
    let consent = app.consent(&id).await;
    assert_eq!(consent["email"], Value::Null);
    let erased = consent["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(erased["kind"], "erased");
    assert_eq!(erased["data"]["reason"], "retention");
    assert_eq!(
        app.consent(&kept).await["email"],
        "hanako@example.jp",
        "still mailable"
    );
    assert_eq!(app.verify().await["ok"], true);
}

#[tokio::test]
async fn a_three_year_retention_keeps_what_one_month_would_not() {
    let app = spawn_app_with(&[("retention_sweep_seconds", "1".into())]).await;
    let (sender, key, _) = seed_sender(&app.db, "Longterm").await;
    let output = crate::helpers::consentry_cli(&app.database_url)
        .args(["sender", "update", &sender, "--retention", "3y"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1096 days"));
    assert_eq!(
        app.create_list(&key, &crate::helpers::list_body("news"))
            .await
            .status(),
        201
    );
    let answer: Value = app
        .signup_as(&key, &json!({"list": "news", "email": "taro@example.jp"}))
        .await
        .json()
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap();
    let response = app
        .post("/v1/unsubscribes", &key)
        .json(&json!({"email": "taro@example.jp", "channel": "phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    age_ended_consents(&app, 400).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let consent: Value = app
        .get(&format!("/v1/consents/{id}"), &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(consent["email"], "taro@example.jp");
    assert_eq!(consent["minimised_at"], Value::Null);
}

#[tokio::test]
async fn no_log_line_carries_the_address_or_a_link_even_at_debug_level() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _postgres) = crate::helpers::test_database(dir.path());
    let cli = |args: &[&str]| {
        let output = crate::helpers::consentry_cli(&database_url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let sender = cli(&[
        "sender",
        "create",
        "--name",
        "Shop",
        "--legal-name",
        "Shop KK",
        "--postal-address",
        "1-2-3 Chiyoda",
        "--contact",
        "privacy@shop.example.jp",
        "--json",
    ]);
    let sender = sender["id"].as_str().unwrap();
    let key = cli(&[
        "key", "create", "--sender", sender, "--role", "sender", "--json",
    ]);
    let auditor = cli(&[
        "key", "create", "--sender", sender, "--role", "auditor", "--json",
    ]);
    let smtp = crate::smtp::SmtpServer::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let mut server = crate::helpers::consentry_cli(&database_url)
        .env("CONSENTRY_LOG", "debug")
        .env("CONSENTRY_BIND", format!("127.0.0.1:{port}"))
        .env("CONSENTRY_BASE_URL", &url)
        .env("CONSENTRY_MAIL_URL", smtp.url())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    assert!(
        crate::helpers::eventually(|| async {
            client.get(format!("{url}/healthz")).send().await.is_ok()
        })
        .await
    );
    let key = key["key"].as_str().unwrap();
    let created = client
        .post(format!("{url}/v1/lists"))
        .bearer_auth(key)
        .json(&crate::helpers::list_body("news"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let signup = client
        .post(format!("{url}/v1/consents"))
        .bearer_auth(key)
        .json(&json!({"list": "news", "email": "Taro.Secret@example.jp",
                      "evidence": {"ip": "198.51.100.23", "user_agent": "Mozilla/5.0 secret-agent"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 202);
    let mail = smtp.wait_for(1).await.remove(0);
    let confirm = mail
        .links()
        .into_iter()
        .find(|l| l.contains("/c/"))
        .unwrap();
    assert_eq!(client.post(&confirm).send().await.unwrap().status(), 200);
    let erased = client
        .delete(format!("{url}/v1/subjects?email=taro.secret@example.jp"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200);
    let export = client
        .get(format!("{url}/v1/audit/events"))
        .bearer_auth(auditor["key"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!export.to_lowercase().contains("taro.secret"));

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("request"), "debug logging was on: {log}");
    let token = confirm.rsplit('/').next().unwrap();
    for secret in ["taro.secret", "198.51.100.23", "secret-agent", token, key] {
        assert!(
            !log.to_lowercase().contains(&secret.to_lowercase()),
            "{secret} was logged"
        );
    }
}
