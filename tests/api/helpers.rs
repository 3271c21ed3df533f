//! `spawn_app()` and the `TestApp` with a method per endpoint.

use std::time::Duration;

use consentry::cli::{key, sender};
use consentry::config::Settings;
use consentry::db::Db;
use consentry::domain::api_key::Role;
use consentry::domain::sender::SenderProfile;
use consentry::startup::Application;

use crate::smtp::SmtpServer;
use diesel::{Connection, PgConnection, RunQueryDsl};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// A running server with its own database, one sender and two keys, mailing a real SMTP
/// server on loopback.
pub struct TestApp {
    pub url: String,
    pub database_url: String,
    pub db: Db,
    pub state: consentry::state::AppState,
    pub smtp: SmtpServer,
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

/// Settings for a test server: port 0, fast cache refresh and retries, mail into the temp
/// dir; `overrides` win.
pub fn test_settings_with(
    database_url: &str,
    dir: &std::path::Path,
    overrides: &[(&str, String)],
) -> Settings {
    let mut values: Vec<(String, String)> = vec![
        ("database_url".into(), database_url.to_owned()),
        ("bind".into(), "127.0.0.1:0".into()),
        ("base_url".into(), "https://consent.example.jp".into()),
        (
            "mail_url".into(),
            format!("file://{}", dir.join("mail").display()),
        ),
        (
            "mail_from".into(),
            "Consentry <no-reply@consent.example.jp>".into(),
        ),
        ("cache_refresh_ms".into(), "50".into()),
        ("mail_retry_base_ms".into(), "100".into()),
        ("mail_retry_max_ms".into(), "400".into()),
        ("workers".into(), "2".into()),
        ("log".into(), "warn".into()),
        // Test receivers listen on loopback over plain HTTP.
        ("webhook_allow_private_targets".into(), "true".into()),
    ];
    for (name, value) in overrides {
        values.retain(|(n, _)| n != name);
        values.push(((*name).to_owned(), value.clone()));
    }
    Settings::from_lookup(move |name| {
        values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    })
    .expect("test settings")
}

pub fn test_settings(database_url: &str, dir: &std::path::Path) -> Settings {
    test_settings_with(database_url, dir, &[])
}

/// Starts a server on `database_url`; returns (url, state, handle).
pub async fn start_server(
    database_url: &str,
    dir: &std::path::Path,
    overrides: &[(&str, String)],
) -> (
    String,
    consentry::state::AppState,
    actix_web::dev::ServerHandle,
) {
    let app = Application::build(test_settings_with(database_url, dir, overrides))
        .await
        .expect("build app");
    let url = app.local_url();
    let state = app.state().clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (url, state, handle)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A test app with settings overridden (names as in `CONSENTRY_*`, lower case).
pub async fn spawn_app_with(overrides: &[(&str, String)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, postgres) = test_database(dir.path());
    let smtp = SmtpServer::start().await;
    let mut all = vec![("mail_url", smtp.url())];
    all.extend(overrides.iter().cloned());
    let (url, state, _) = start_server(&database_url, dir.path(), &all).await;
    let db = state.db.clone();

    let (_, sender_key, auditor_key) = seed_sender(&db, "Example").await;
    TestApp {
        url,
        database_url,
        db,
        state,
        smtp,
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

    pub fn delete(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(format!("{}{path}", self.url))
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

/// The base URL test servers put in links.
pub const BASE_URL: &str = "https://consent.example.jp";

impl TestApp {
    /// Creates the list `slug` with the sender key.
    pub async fn given_list(&self, slug: &str) {
        let response = self.create_list(&self.sender_key, &list_body(slug)).await;
        assert_eq!(response.status(), 201);
    }

    pub async fn signup_as(&self, key: &str, body: &Value) -> reqwest::Response {
        self.post("/v1/consents", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A signup that must be accepted; returns the 202 body.
    pub async fn signup(&self, list: &str, email: &str) -> Value {
        let body = json!({"list": list, "email": email, "evidence": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0 test"}});
        let response = self.signup_as(&self.sender_key, &body).await;
        assert_eq!(response.status(), 202);
        response.json().await.unwrap()
    }

    pub async fn check(&self, list: &str, email: &str) -> Value {
        let response = self
            .get("/v1/check", &self.sender_key)
            .query(&[("list", list), ("email", email)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn consent(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/consents/{id}"), &self.sender_key)
            .await
    }

    /// A link from a mail or an answer, pointed at this server instead of the base URL.
    pub fn local(&self, link: &str) -> String {
        assert!(link.starts_with(BASE_URL), "links use the base URL: {link}");
        link.replacen(BASE_URL, &self.url, 1)
    }

    /// GET a page link.
    pub async fn open(&self, link: &str) -> reqwest::Response {
        self.client.get(self.local(link)).send().await.unwrap()
    }

    /// POST a page link, as its button does.
    pub async fn press(&self, link: &str) -> reqwest::Response {
        self.client
            .post(self.local(link))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap()
    }

    /// Waits for the `n`-th mail to arrive and returns the latest mail sent to `email`.
    pub async fn mail_to(&self, email: &str, n: usize) -> crate::smtp::ReceivedMail {
        let mails = self.smtp.wait_for(n).await;
        mails
            .into_iter()
            .rev()
            .find(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(email)))
            .unwrap_or_else(|| panic!("no mail to {email}"))
    }

    /// (confirm link, refuse link) of a confirmation mail.
    pub fn links_of(mail: &crate::smtp::ReceivedMail) -> (String, String) {
        let links = mail.links();
        let confirm = links
            .iter()
            .find(|l| l.contains("/c/"))
            .expect("confirm link")
            .clone();
        let refuse = links
            .iter()
            .find(|l| l.contains("/r/"))
            .expect("refuse link")
            .clone();
        (confirm, refuse)
    }

    /// Mail jobs in the outbox for a consent, straight from storage.
    pub async fn mail_jobs(&self, consent_id: &str) -> i64 {
        use consentry::db::schema::outbox;
        use diesel::prelude::*;
        let db = self.db.clone();
        let id = consent_id.to_owned();
        tokio::task::spawn_blocking(move || {
            outbox::table
                .filter(outbox::consent_id.eq(id))
                .count()
                .get_result::<i64>(&mut *db.get().unwrap())
                .unwrap()
        })
        .await
        .unwrap()
    }
}

impl TestApp {
    /// Attempts made so far on a consent's mail jobs, straight from storage.
    pub async fn mail_attempts(&self, consent_id: &str) -> i64 {
        use consentry::db::schema::outbox;
        use diesel::prelude::*;
        let db = self.db.clone();
        let id = consent_id.to_owned();
        tokio::task::spawn_blocking(move || {
            outbox::table
                .filter(outbox::consent_id.eq(id))
                .select(outbox::attempts)
                .load::<i64>(&mut *db.get().unwrap())
                .unwrap()
                .into_iter()
                .sum()
        })
        .await
        .unwrap()
    }

    /// A ledger event by id, as (kind, data), if it exists.
    pub async fn event(&self, id: &str) -> Option<(String, Value)> {
        use consentry::db::schema::events;
        use diesel::prelude::*;
        let db = self.db.clone();
        let id = id.to_owned();
        let found: Option<(String, String)> = tokio::task::spawn_blocking(move || {
            events::table
                .find(id)
                .select((events::kind, events::data))
                .first(&mut *db.get().unwrap())
                .optional()
                .unwrap()
        })
        .await
        .unwrap();
        found.map(|(kind, data)| (kind, serde_json::from_str(&data).unwrap()))
    }
}

/// A loopback port with nothing listening (an SMTP server that is down).
pub async fn dead_port() -> u16 {
    let smtp = SmtpServer::start().await;
    let port = smtp.port();
    smtp.stop().await;
    port
}

/// A sender's key on a server that a test started itself.
pub struct Api {
    pub url: String,
    pub key: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(url: &str, key: &str) -> Self {
        Self {
            url: url.to_owned(),
            key: key.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    pub async fn create_list(&self, slug: &str) {
        let response = self
            .client
            .post(format!("{}/v1/lists", self.url))
            .bearer_auth(&self.key)
            .json(&list_body(slug))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    /// A signup that must be accepted; returns the 202 body.
    pub async fn signup(&self, list: &str, email: &str) -> Value {
        let response = self
            .client
            .post(format!("{}/v1/consents", self.url))
            .bearer_auth(&self.key)
            .json(&json!({"list": list, "email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        response.json().await.unwrap()
    }
}

impl TestApp {
    /// A second sender with its own list `slug`; returns its sender key.
    pub async fn other_sender_with_list(&self, slug: &str) -> String {
        let (_, key, _) = seed_sender(&self.db, "Other").await;
        let response = self.create_list(&key, &list_body(slug)).await;
        assert_eq!(response.status(), 201);
        key
    }
}

/// The kinds of a consent's events (`GET /v1/consents/{id}`), in chain order.
pub fn event_kinds(consent: &Value) -> Vec<String> {
    consent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

impl TestApp {
    /// A signup confirmed by the owner through the mailed link; `nth_mail` is how many mails
    /// the SMTP server will have received with this one. Returns the consent id.
    pub async fn confirmed_signup(&self, list: &str, email: &str, nth_mail: usize) -> String {
        let answer = self.signup(list, email).await;
        let mail = self.mail_to(email, nth_mail).await;
        let (confirm, _) = Self::links_of(&mail);
        assert_eq!(self.press(&confirm).await.status(), 200);
        answer["id"].as_str().unwrap().to_owned()
    }

    /// `GET /v1/audit/events?{query}` with the auditor key: (status, headers, body).
    pub async fn export(&self, query: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let response = self
            .get(&format!("/v1/audit/events?{query}"), &self.auditor_key)
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    }

    /// A GET with `key` whose answer is read as JSON, whatever its status.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        self.get(path, key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET /v1/audit/verify` with the auditor key.
    pub async fn verify(&self) -> Value {
        let response = self
            .get("/v1/audit/verify", &self.auditor_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The public signing keys (`/.well-known/jwks.json`).
    pub async fn jwks(&self) -> Value {
        self.client
            .get(format!("{}/.well-known/jwks.json", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Runs SQL straight on the test database, as someone with database access would.
    pub async fn sql(&self, statements: &str) {
        use diesel::connection::SimpleConnection;
        let db = self.db.clone();
        let statements = statements.to_owned();
        tokio::task::spawn_blocking(move || db.get().unwrap().batch_execute(&statements))
            .await
            .unwrap()
            .unwrap();
    }

    /// Whether the test database is PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.db.backend() == consentry::db::Backend::Postgres
    }

    /// The sender id of the test app's keys.
    pub async fn sender_id(&self) -> String {
        let state = self.state.clone();
        let key = self.sender_key.clone();
        let caller = consentry::auth::authenticate(&state.db, &state.caches, &key)
            .await
            .unwrap();
        caller.sender_id.clone()
    }
}

/// Runs a command that must succeed and print one JSON value; that value.
pub fn json_output(command: &mut std::process::Command) -> Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The `consentry` binary with a clean environment on `database_url`.
pub fn consentry_cli(database_url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"));
    command
        .env_clear()
        .env("CONSENTRY_DATABASE_URL", database_url)
        .env("CONSENTRY_LOG", "warn");
    command
}
