//! Bad input answers problem JSON with a stable code, never a 500.

use crate::support::{redacted, spawn_app, Answer};

#[tokio::test]
async fn a_body_that_is_not_json_is_400_invalid_json() {
    let app = spawn_app().await;

    let response = app
        .post("/v1/lists", &app.sender_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();

    Answer::read(response)
        .await
        .expect_problem(400, "invalid_json");
}

#[tokio::test]
async fn unknown_fields_are_400_so_typos_surface() {
    let app = spawn_app().await;
    let mut body = crate::support::list_body("newsletter");
    body["polcy_url"] = "https://x.example/p".into();

    let response = app.create_list(&app.sender_key, &body).await;

    let answer = Answer::read(response).await;
    answer.expect_problem(400, "invalid_json");
    insta::assert_json_snapshot!("problem_unknown_field", redacted(&answer.body));
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = spawn_app().await;

    let response = app
        .post("/v1/lists", &app.sender_key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();

    Answer::read(response)
        .await
        .expect_problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app().await;
    let huge = format!("{{\"slug\":\"x\",\"name\":\"{}\"}}", "a".repeat(70_000));

    let response = app
        .post("/v1/lists", &app.sender_key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();

    Answer::read(response)
        .await
        .expect_problem(413, "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_problem_json() {
    let app = spawn_app().await;

    let response = app
        .get("/v1/nothing-here", &app.sender_key)
        .send()
        .await
        .unwrap();
    Answer::read(response)
        .await
        .expect_problem(404, "not_found");

    let response = app
        .client
        .delete(format!("{}/v1/lists", app.url))
        .send()
        .await
        .unwrap();
    Answer::read(response)
        .await
        .expect_problem(405, "method_not_allowed");
}

#[tokio::test]
async fn a_method_a_resource_does_not_have_is_405_naming_the_ones_it_has() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("TRACE", "/healthz", "GET"),
        ("DELETE", "/v1/lists", "GET, POST"),
        ("PATCH", "/v1/webhook", "GET, PUT, DELETE"),
        ("PUT", "/c/some-token", "GET, POST"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        Answer::read(response)
            .await
            .expect_problem(405, "method_not_allowed");
    }
}
