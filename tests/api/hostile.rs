//! Hostile input: requests shaped to grow the server's state or store nonsense get a clear
//! answer and change nothing.

use crate::support::{spawn_app, Answer};

#[tokio::test]
async fn made_up_http_methods_share_one_metrics_label() {
    let app = spawn_app().await;
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        app.client
            .request(method, format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap();
    }

    let text = app.metrics().await;

    assert!(!text.contains("BREW"), "{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
}

#[tokio::test]
async fn an_export_range_that_overflows_is_refused_and_nothing_is_recorded() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.bare_signup("newsletter", "range@example.jp").await;

    let (status, _, body) = app.export(&format!("after_seq=1&limit={}", i64::MAX)).await;

    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_request"), "{body}");
    let (status, _, all) = app.export("").await;
    assert_eq!(status, 200);
    assert_eq!(
        all.matches(r#""kind":"exported""#).count(),
        1,
        "only this export's own event, none for the refused one: {all}"
    );
}

#[tokio::test]
async fn a_json_body_that_names_a_key_twice_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    let twice = r#"{"list":"newsletter","email":"first@example.jp","email":"second@example.jp"}"#;
    let nested = r#"{"list":"newsletter","email":"third@example.jp","evidence":{"ip":"192.0.2.1","ip":"192.0.2.2"}}"#;

    for body in [twice, nested] {
        let response = app
            .post("/v1/consents", &app.sender_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let answer = Answer::read(response).await;
        answer.expect_problem(400, "invalid_request");
        assert!(answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("more than once"));
    }

    for email in ["first@example.jp", "second@example.jp", "third@example.jp"] {
        assert_eq!(app.check("newsletter", email).await["reason"], "not_found");
    }
    assert_eq!(app.smtp.mails().len(), 0);
}
