//! Bad input answers problem JSON with a stable code, never a 500.

use crate::support::{problem_code, spawn_app};

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

    assert_eq!(response.status(), 400);
    assert_eq!(problem_code(response).await, "invalid_json");
}

#[tokio::test]
async fn unknown_fields_are_400_so_typos_surface() {
    let app = spawn_app().await;
    let mut body = crate::support::list_body("newsletter");
    body["polcy_url"] = "https://x.example/p".into();

    let response = app.create_list(&app.sender_key, &body).await;

    assert_eq!(response.status(), 400);
    assert_eq!(problem_code(response).await, "invalid_json");
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

    assert_eq!(response.status(), 415);
    assert_eq!(problem_code(response).await, "unsupported_media_type");
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

    assert_eq!(response.status(), 413);
    assert_eq!(problem_code(response).await, "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_problem_json() {
    let app = spawn_app().await;

    let response = app
        .get("/v1/nothing-here", &app.sender_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(problem_code(response).await, "not_found");

    let response = app
        .client
        .delete(format!("{}/v1/lists", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(problem_code(response).await, "method_not_allowed");
}
