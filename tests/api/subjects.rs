//! Subject access (JSON and the printable page) and erasure, which leaves the chain
//! verifiable and the address nowhere: not in exports, not in logs.

use serde_json::{json, Value};

use crate::support::{spawn_app, Answer, TestApp};

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
        .delete("/v1/subjects", &app.sender_key)
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
async fn another_sender_learns_only_that_confirmation_mail_is_blocked_not_why_or_since_when() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.signup("newsletter", "jiro.private@example.jp").await;
    let (_, refuse) = TestApp::links_of(&app.mail_to("jiro.private@example.jp", 1).await);
    assert_eq!(app.press(&refuse).await.status(), 200);
    let other = app.other_sender_with_list("news").await;

    let seen = subject(&app, &other, "jiro.private@example.jp").await;

    assert_eq!(seen["consents"], json!([]));
    assert_eq!(
        seen["suppressions"],
        json!([{"scope": "global", "reason": "confirmation_mail_blocked", "since": null}]),
        "{seen}"
    );
    let text = seen.to_string();
    assert!(!text.contains("refused"), "{text}");
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
async fn an_erased_address_is_left_in_no_file_of_an_sqlite_database() {
    let app = spawn_app().await;
    let Some(path) = app
        .database_url
        .strip_prefix("sqlite://")
        .map(str::to_owned)
    else {
        return; // PostgreSQL keeps old row versions until vacuum; see SECURITY.md.
    };
    app.given_list("newsletter").await;
    app.confirmed_signup("newsletter", "kuro.erased@example.jp", 1)
        .await;

    erase(&app, "kuro.erased@example.jp").await;

    for file in [path.clone(), format!("{path}-wal")] {
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let found = bytes.windows(12).any(|w| w == b"kuro.erased@");
        assert!(!found, "the erased address is still in {file}");
    }
}

#[tokio::test]
async fn erasure_is_for_sender_keys_and_valid_addresses_only() {
    let app = spawn_app().await;
    let auditor = app
        .delete("/v1/subjects?email=a@example.jp", &app.auditor_key)
        .send()
        .await
        .unwrap();
    assert_eq!(auditor.status(), 403);
    let invalid = app
        .delete("/v1/subjects?email=not-an-address", &app.sender_key)
        .send()
        .await
        .unwrap();
    Answer::read(invalid)
        .await
        .expect_problem(400, "invalid_email");
}

#[tokio::test]
async fn no_log_line_carries_the_address_or_a_link_even_at_debug_level() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _postgres) = crate::support::test_database(dir.path());
    let sender = crate::support::cli_sender(&database_url, &[]);
    let key = crate::support::cli_key(&database_url, &sender, "sender");
    let auditor = crate::support::cli_key(&database_url, &sender, "auditor");
    let smtp = crate::support::smtp::SmtpServer::start().await;
    let log_path = dir.path().join("serve.log");
    // Port 0: the server keeps the port it binds, and its log says which one it got.
    let mut server = crate::support::consentry_cli(&database_url)
        .env("CONSENTRY_LOG", "debug")
        .env("CONSENTRY_BIND", "127.0.0.1:0")
        .env("CONSENTRY_BASE_URL", crate::support::BASE_URL)
        .env("CONSENTRY_MAIL_URL", smtp.url())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let port = crate::support::cli::listening_port(&log_path).await;
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    assert!(
        crate::support::eventually(|| async {
            client.get(format!("{url}/healthz")).send().await.is_ok()
        })
        .await
    );
    let created = client
        .post(format!("{url}/v1/lists"))
        .bearer_auth(&key)
        .json(&crate::support::list_body("news"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let signup = client
        .post(format!("{url}/v1/consents"))
        .bearer_auth(&key)
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
    let confirm = confirm.replacen(crate::support::BASE_URL, &url, 1);
    assert_eq!(client.post(&confirm).send().await.unwrap().status(), 200);
    let erased = client
        .delete(format!("{url}/v1/subjects?email=taro.secret@example.jp"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200);
    let export = client
        .get(format!("{url}/v1/audit/events"))
        .bearer_auth(&auditor)
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
    for secret in ["taro.secret", "198.51.100.23", "secret-agent", token, &key] {
        assert!(
            !log.to_lowercase().contains(&secret.to_lowercase()),
            "{secret} was logged"
        );
    }
}

#[tokio::test]
async fn a_form_url_is_kept_without_the_query_that_could_name_the_visitor() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let body = json!({"list": "newsletter", "email": "taro@example.jp", "evidence": {
        "source_url": "https://shop.example.jp/signup?email=taro%40example.jp&utm=x#form"}});

    let answer: Value = app
        .signup_as(&app.sender_key, &body)
        .await
        .json()
        .await
        .unwrap();

    let consent = app.consent(answer["id"].as_str().unwrap()).await;
    assert_eq!(consent["source_url"], "https://shop.example.jp/signup");
    assert_eq!(
        consent["events"][0]["data"]["source_url"],
        "https://shop.example.jp/signup"
    );
}
