//! `spawn_app()` and the `TestApp` with a method per endpoint.

use std::time::Duration;

use consentry::cli::{key, sender};
use consentry::config::Settings;
use consentry::db::Db;
use consentry::domain::api_key::Role;
use consentry::domain::sender::SenderProfile;
use consentry::startup::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// A running server with its own database, one sender and two keys.
pub struct TestApp {
    pub url: String,
    pub db: Db,
    pub sender_key: String,
    pub auditor_key: String,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    _postgres: Option<PostgresDb>,
}

/// A database created for one test and dropped after it.
pub struct PostgresDb {
    admin_url: String,
    name: String,
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// The database URL for one test: a temp SQLite file or a new PostgreSQL database.
pub fn test_database(dir: &std::path::Path) -> (String, Option<PostgresDb>) {
    match std::env::var("CONSENTRY_TEST_POSTGRES_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("consentry_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin_url).expect("connect to PostgreSQL");
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("postgres URL");
            url.set_path(&name);
            (url.to_string(), Some(PostgresDb { admin_url, name }))
        }
        _ => (
            format!("sqlite://{}", dir.join("consentry.db").display()),
            None,
        ),
    }
}

/// Settings for a test server: port 0, fast cache refresh, mail into the temp dir.
pub fn test_settings(database_url: &str, dir: &std::path::Path) -> Settings {
    let mail = format!("file://{}", dir.join("mail").display());
    let database_url = database_url.to_owned();
    Settings::from_lookup(move |name| match name {
        "database_url" => Some(database_url.clone()),
        "bind" => Some("127.0.0.1:0".into()),
        "mail_url" => Some(mail.clone()),
        "cache_refresh_ms" => Some("50".into()),
        "workers" => Some("2".into()),
        "log" => Some("warn".into()),
        _ => None,
    })
    .expect("test settings")
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, postgres) = test_database(dir.path());
    let app = Application::build(test_settings(&database_url, dir.path()))
        .await
        .expect("build app");
    let url = app.local_url();
    let db = app.state().db.clone();
    tokio::spawn(app.run_until_stopped());

    let (_, sender_key, auditor_key) = seed_sender(&db, "Example").await;
    TestApp {
        url,
        db,
        sender_key,
        auditor_key,
        client: reqwest::Client::new(),
        _dir: dir,
        _postgres: postgres,
    }
}

/// Creates a sender with a sender key and an auditor key, as the CLI does.
pub async fn seed_sender(db: &Db, name: &str) -> (String, String, String) {
    let db = db.clone();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let profile = SenderProfile::parse(
            &name,
            &format!("{name} K.K."),
            "1-2-3 Chiyoda, Tokyo",
            "privacy@example.jp",
            None,
            "JP",
        )
        .unwrap();
        let id = sender::create_sender(&db, profile).unwrap();
        let (_, sender_key) = key::create_key(&db, &id, Role::Sender).unwrap();
        let (_, auditor_key) = key::create_key(&db, &id, Role::Auditor).unwrap();
        (
            id,
            sender_key.expose_secret().to_owned(),
            auditor_key.expose_secret().to_owned(),
        )
    })
    .await
    .unwrap()
}

pub fn list_body(slug: &str) -> Value {
    json!({
        "slug": slug,
        "name": "Weekly offers",
        "consent_text": "I agree to receive weekly offers by email from Example KK.",
        "policy_url": "https://shop.example.jp/privacy/v3",
        "locale": "ja"
    })
}

impl TestApp {
    pub fn get(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    pub fn post(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    pub fn put(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .put(format!("{}{path}", self.url))
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

/// Reads a problem document and checks its shape; returns its `code`.
pub async fn problem_code(response: reqwest::Response) -> String {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    let code = body["code"].as_str().unwrap().to_owned();
    assert_eq!(body["type"], format!("urn:consentry:problem:{code}"));
    assert!(body["title"].is_string() && body["detail"].is_string());
    code
}

/// Polls `probe` until it returns true, for effects that reach every instance on a schedule
/// (cache refresh); fails after a generous bound rather than asserting on timing.
pub async fn eventually<F, Fut>(mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if probe().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}
