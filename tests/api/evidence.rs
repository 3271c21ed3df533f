//! From a mail in hand to the consent it was sent on: `POST /v1/evidence` for the sender and
//! its auditor, `consentry evidence` for the operator across every sender, and the printable
//! record a complaint desk or an ISP reads.

use serde_json::Value;

use crate::support::{consentry_cli, spawn_app, TestApp, BASE_URL};

/// The headers of a campaign mail as a recipient pastes them.
fn pasted_headers(check: &Value) -> String {
    format!(
        "Return-Path: <bounce@shop.example.jp>\nFrom: Example Shop <news@shop.example.jp>\n\
         Subject: Winter sale\nList-Unsubscribe: {}\nList-Id: {}\n",
        check["headers"]["List-Unsubscribe"].as_str().unwrap(),
        check["headers"]["List-Id"].as_str().unwrap()
    )
}

async fn lookup(app: &TestApp, key: &str, headers: &str) -> reqwest::Response {
    app.post("/v1/evidence", key)
        .header("content-type", "text/plain")
        .body(headers.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn pasted_headers_lead_the_sender_and_its_auditor_to_the_consent_record() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let headers = pasted_headers(&app.check("offers", "taro@example.jp").await);

    for key in [&app.sender_key, &app.auditor_key] {
        let response = lookup(&app, key, &headers).await;
        assert_eq!(response.status(), 200);
        let record: Value = response.json().await.unwrap();
        assert_eq!(record["id"], id.as_str());
        assert_eq!(record["status"], "confirmed");
        assert_eq!(record["mail_kind"], "campaign");
        assert_eq!(
            record["receipt_url"],
            format!("{BASE_URL}/v1/consents/{id}/receipt")
        );
        assert!(record["events"].as_array().unwrap().len() >= 3);
        assert_eq!(record["evidence"]["claimed"]["ip"], "203.0.113.7");
        assert_eq!(
            record["evidence"]["observed"]["confirmation"]["method"],
            "page_button_post"
        );
    }
    // Looking changes nothing.
    assert_eq!(
        app.check("offers", "taro@example.jp").await["allowed"],
        true
    );
}

#[tokio::test]
async fn another_sender_and_headers_without_a_link_find_nothing() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let headers = pasted_headers(&app.check("offers", "taro@example.jp").await);
    let other = app.other_sender_with_list("news").await;

    assert_eq!(lookup(&app, &other, &headers).await.status(), 404);
    assert_eq!(
        lookup(&app, &app.sender_key, "Subject: hello\n")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn the_operator_finds_sender_and_consent_of_a_saved_mail_across_every_sender() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.confirmed_signup("offers", "taro@example.jp", 1).await;
    let headers = pasted_headers(&app.check("offers", "taro@example.jp").await);
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("reported.eml");
    std::fs::write(&eml, format!("{headers}\nBuy now.\n")).unwrap();

    let output = consentry_cli(&app.database_url)
        .env("CONSENTRY_BASE_URL", BASE_URL)
        .args(["evidence", eml.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let record: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["evidence"]["sender"]["legal_name"], "Example K.K.");

    let text = consentry_cli(&app.database_url)
        .env("CONSENTRY_BASE_URL", BASE_URL)
        .args(["evidence", eml.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&id) && text.contains("confirmed"), "{text}");

    std::fs::write(&eml, "Subject: nothing of ours\n\nhi\n").unwrap();
    let none = consentry_cli(&app.database_url)
        .args(["evidence", eml.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
}

#[tokio::test]
async fn a_consent_record_prints_for_a_complaint_desk_in_japanese_and_english() {
    let app = spawn_app().await;
    app.given_list("offers").await;
    let id = app.confirmed_signup("offers", "taro@example.jp", 1).await;

    for (lang, title) in [("ja", "同意の証跡"), ("en", "Evidence of consent")] {
        let response = app
            .get(&format!("/v1/consents/{id}?lang={lang}"), &app.auditor_key)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let page = response.text().await.unwrap();
        assert!(page.contains(title), "{lang}");
        assert!(
            page.contains(&id) && page.contains("Example K.K.") && page.contains("taro@example.jp")
        );
        assert!(page.contains("page_button_post"));
    }
}
