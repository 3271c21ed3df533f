//! `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.

use crate::support::{list_body, spawn_app};

#[tokio::test]
async fn health_and_readiness_answer_ok() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    app.create_list(&app.sender_key, &list_body("newsletter"))
        .await;
    app.get_list(&app.sender_key, "newsletter").await;
    app.get_list(&app.sender_key, "missing").await;

    let text = app.metrics().await;

    assert!(
        text.contains(
            r#"consentry_http_requests_total{method="GET",route="/v1/lists/{slug}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="/v1/lists/{slug}",status="404"} 1"#));
    assert!(text.contains("consentry_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"consentry_db_pool_connections{state="max"}"#));
    // Path values (slugs, later tokens) never become labels.
    assert!(!text.contains("newsletter"));
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let app = spawn_app().await;

    let doc = app
        .call(reqwest::Method::GET, "/openapi.json", None, None)
        .await
        .expect(200);

    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/v1/lists", "post"),
        ("/v1/lists/{slug}", "put"),
        ("/v1/consents", "post"),
        ("/v1/consents/{id}", "get"),
        ("/v1/consents/{id}/resend", "post"),
        ("/v1/consents/{id}/receipt", "get"),
        ("/v1/check", "post"),
        ("/v1/unsubscribes", "post"),
        ("/v1/subjects", "get"),
        ("/v1/subjects", "delete"),
        ("/v1/webhook", "put"),
        ("/v1/webhook", "delete"),
        ("/v1/audit/events", "get"),
        ("/v1/audit/verify", "get"),
        ("/v1/audit/checkpoint", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/u/{token}", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn the_openapi_document_declares_queries_in_the_query_and_errors_as_problem_json() {
    let app = spawn_app().await;
    let doc = app
        .call(reqwest::Method::GET, "/openapi.json", None, None)
        .await
        .expect(200);

    let check = &doc["paths"]["/v1/check"]["get"];
    for param in check["parameters"].as_array().unwrap() {
        assert_eq!(param["in"], "query", "{param}");
    }
    let signup = &doc["paths"]["/v1/consents"]["post"]["responses"];
    for status in ["400", "401", "403", "413", "415", "429"] {
        let content = &signup[status]["content"];
        assert!(
            content.get("application/problem+json").is_some(),
            "{status}: {content}"
        );
        assert!(
            content.get("application/json").is_none(),
            "{status}: {content}"
        );
    }
    let export = &doc["paths"]["/v1/audit/events"]["get"]["responses"]["200"]["content"];
    assert!(export.get("text/csv").is_some() && export.get("application/x-ndjson").is_some());
}

#[tokio::test]
async fn metrics_count_the_writes_that_shared_a_commit_on_sqlite_and_none_on_postgres() {
    let app = spawn_app().await;
    app.given_list("newsletter").await;
    app.bare_signup("newsletter", "grouped@example.jp").await;

    let text = app.metrics().await;

    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok())
    };
    let (groups, writes) = (
        value("consentry_db_write_groups_total"),
        value("consentry_db_grouped_writes_total"),
    );
    if app.on_postgres() {
        assert_eq!((groups, writes), (Some(0), Some(0)), "{text}");
    } else {
        // At least the signup; the outbox's claim and outcome may have joined by now.
        assert!(groups.is_some_and(|g| g >= 1), "{text}");
        assert!(writes >= groups, "{text}");
    }
}
