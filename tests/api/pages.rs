//! Recipient pages: headers, languages, bad and expired links.

use consentry::domain::token::{sign, Action, LinkClaims};

use crate::support::{spawn_app, TestApp};

#[tokio::test]
async fn pages_send_privacy_headers_and_speak_the_subscriptions_language() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.signup("newsletter", "yoko@example.jp").await;
    let (confirm, _) = TestApp::links_of(&app.mail_to("yoko@example.jp", 1).await);

    let page = app.open(&confirm).await;

    let headers = page.headers().clone();
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-robots-tag"], "noindex");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    let html = page.text().await.unwrap();
    assert!(html.contains("lang=\"ja\""), "the list's locale is ja");
    assert!(!html.contains("<script"));
    let english = app
        .client
        .get(format!("{}?lang=en", app.local(&confirm)))
        .send()
        .await
        .unwrap();
    assert!(english.text().await.unwrap().contains("lang=\"en\""));
}

#[tokio::test]
async fn tampered_and_misused_links_answer_400_and_change_nothing() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.signup("newsletter", "ken@example.jp").await;
    let (confirm, refuse) = TestApp::links_of(&app.mail_to("ken@example.jp", 1).await);
    let token = confirm.rsplit('/').next().unwrap();
    let mut tampered = token.to_owned();
    tampered.insert(token.len() / 2, 'x');
    let refuse_token = refuse.rsplit('/').next().unwrap();

    for path in [
        format!("/c/{tampered}"),
        format!("/c/{}", &token[..token.len() - 4]),
        format!("/c/{refuse_token}"),
        format!("/u/{token}"),
        "/c/nonsense".to_owned(),
    ] {
        let response = app
            .client
            .post(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
    }
    assert_eq!(
        app.check("newsletter", "ken@example.jp").await["reason"],
        "pending"
    );
}

#[tokio::test]
async fn an_expired_confirm_link_answers_410_and_explains_how_to_sign_up_again() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let id = app.signup("newsletter", "late@example.jp").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = LinkClaims {
        action: Action::Confirm,
        consent_id: id.parse().unwrap(),
        nonce: "00".repeat(12),
        expires_at: Some(chrono::Utc::now().timestamp() - 60),
    };
    let token = sign(&app.state.secrets.token_keys, &claims);

    for response in [
        app.client
            .get(format!("{}/c/{token}?lang=en", app.url))
            .send()
            .await
            .unwrap(),
        app.client
            .post(format!("{}/c/{token}?lang=en", app.url))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 410);
        assert!(response
            .text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("sign up again"));
    }
    assert_eq!(
        app.check("newsletter", "late@example.jp").await["reason"],
        "pending"
    );
}
