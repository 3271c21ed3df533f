//! Requests to the app under test: request builders per method, the one helper that sends a
//! JSON request and answers status and JSON ([`TestApp::call`]), and problem checks.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::app::TestApp;

/// An answer read whole: status, headers, and the body as JSON (`Null` when empty, a JSON
/// string holding the text when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// The body, after checking the status is `status`.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Checks the answer is a problem document (RFC 9457) with `status` and `code`.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        let content_type = self.headers["content-type"].to_str().unwrap();
        assert_eq!(content_type, "application/problem+json");
        check_problem_shape(&self.body, status);
        assert_eq!(self.body["code"], code, "{}", self.body);
    }
}

/// Reads a problem document and checks its shape; returns its `code`.
pub async fn problem_code(response: reqwest::Response) -> String {
    let answer = Answer::read(response).await;
    let content_type = answer.headers["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    check_problem_shape(&answer.body, answer.status.as_u16());
    answer.body["code"].as_str().unwrap().to_owned()
}

fn check_problem_shape(body: &Value, status: u16) {
    assert_eq!(body["status"], status);
    let code = body["code"].as_str().unwrap();
    assert_eq!(body["type"], format!("urn:consentry:problem:{code}"));
    assert!(body["title"].is_string() && body["detail"].is_string());
}

impl TestApp {
    /// Sends `method path` with `key` as bearer (if any) and `body` as JSON (if any); the
    /// whole answer, whatever its status.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    /// A GET with `key` whose answer is read as JSON, whatever its status.
    /// The `/metrics` page as text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        self.call(Method::GET, path, Some(key), None).await.body
    }

    pub fn get(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.request(Method::GET, path, key)
    }

    pub fn post(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.request(Method::POST, path, key)
    }

    pub fn put(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.request(Method::PUT, path, key)
    }

    pub fn delete(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.request(Method::DELETE, path, key)
    }

    fn request(&self, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    pub async fn create_list(&self, key: &str, body: &Value) -> reqwest::Response {
        self.post("/v1/lists", key).json(body).send().await.unwrap()
    }

    pub async fn get_list(&self, key: &str, slug: &str) -> reqwest::Response {
        self.get(&format!("/v1/lists/{slug}"), key)
            .send()
            .await
            .unwrap()
    }

    pub async fn list_lists(&self, key: &str) -> reqwest::Response {
        self.get("/v1/lists", key).send().await.unwrap()
    }
}
