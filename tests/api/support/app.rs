//! The app under test: a real server on port 0 with its own database, one sender with a
//! sender key and an auditor key, mailing a real SMTP server on loopback. Built with
//! [`TestApp::builder`]; a second instance on the same database with [`TestApp::peer`].

use std::sync::Arc;

use consentry::config::Settings;
use consentry::db::Db;
use consentry::startup::Application;

use super::cli::seed;
use super::database::TestDatabase;
use super::smtp::SmtpServer;

/// The base URL test servers put in links.
pub const BASE_URL: &str = "https://consent.example.jp";

/// A running server with its own database, one sender and two keys, mailing a real SMTP
/// server on loopback.
pub struct TestApp {
    pub url: String,
    pub database_url: String,
    pub db: Db,
    pub state: consentry::state::AppState,
    pub smtp: Arc<SmtpServer>,
    pub sender_key: String,
    pub auditor_key: String,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    overrides: Vec<(String, String)>,
    database: Arc<TestDatabase>,
}

/// Settings for a test app; names as in `CONSENTRY_*`, lower case.
#[derive(Default)]
pub struct TestAppBuilder {
    overrides: Vec<(String, String)>,
}

impl TestAppBuilder {
    /// Any setting by its name (`CONSENTRY_*`, lower case); the last value given wins.
    pub fn setting(mut self, name: &str, value: impl ToString) -> Self {
        self.overrides.retain(|(n, _)| n != name);
        self.overrides.push((name.to_owned(), value.to_string()));
        self
    }

    /// Mail goes to `url` instead of the app's own SMTP server.
    pub fn mail_url(self, url: impl ToString) -> Self {
        self.setting("mail_url", url)
    }

    pub fn retention_sweep_seconds(self, seconds: u64) -> Self {
        self.setting("retention_sweep_seconds", seconds)
    }

    pub fn cap_signups_per_ip_hour(self, cap: u32) -> Self {
        self.setting("cap_signups_per_ip_hour", cap)
    }

    /// The per-sender request quota.
    pub fn sender_rate(self, per_second: u32, burst: u32) -> Self {
        self.setting("sender_rate_per_second", per_second)
            .setting("sender_burst", burst)
    }

    /// DKIM signing with the key in `key_file`.
    pub fn dkim(self, selector: &str, domain: &str, key_file: &std::path::Path) -> Self {
        self.setting("dkim_selector", selector)
            .setting("dkim_domain", domain)
            .setting("dkim_key_file", key_file.display())
    }

    pub fn webhook_allow_private_targets(self, allow: bool) -> Self {
        self.setting("webhook_allow_private_targets", allow)
    }

    /// Starts the app on a new database with a new SMTP server and seeds the sender.
    pub async fn spawn(self) -> TestApp {
        let database = Arc::new(TestDatabase::new());
        let smtp = Arc::new(SmtpServer::start().await);
        let mut overrides = vec![("mail_url".to_owned(), smtp.url())];
        overrides.retain(|(n, _)| !self.overrides.iter().any(|(o, _)| o == n));
        overrides.extend(self.overrides);
        let (url, state, handle) = start(&database, &overrides).await;
        let seeded = seed(&state.db, "Example").await;
        TestApp {
            url,
            database_url: database.url.clone(),
            db: state.db.clone(),
            state,
            smtp,
            sender_key: seeded.sender_key,
            auditor_key: seeded.auditor_key,
            client: client(),
            handle,
            overrides,
            database,
        }
    }
}

/// Settings for a test server: port 0, fast cache refresh and retries, mail into the temp
/// dir; `overrides` win.
pub fn test_settings_with(
    database_url: &str,
    dir: &std::path::Path,
    overrides: &[(String, String)],
) -> Settings {
    let mut values: Vec<(String, String)> = vec![
        ("database_url".into(), database_url.to_owned()),
        ("bind".into(), "127.0.0.1:0".into()),
        ("base_url".into(), BASE_URL.into()),
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
        values.push((name.clone(), value.clone()));
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

/// Starts a server on `database`; returns (url, state, handle).
async fn start(
    database: &TestDatabase,
    overrides: &[(String, String)],
) -> (
    String,
    consentry::state::AppState,
    actix_web::dev::ServerHandle,
) {
    let settings = test_settings_with(&database.url, database.dir(), overrides);
    let app = Application::build(settings).await.expect("build app");
    let url = app.local_url();
    let state = app.state().clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (url, state, handle)
}

/// The test's HTTP client. Idle connections are dropped before the server's keep-alive
/// (5 s) would close them, so a request after a long pause never meets a closed socket.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("an HTTP client")
}

/// A test app with the default settings.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// Another instance on the same database with the same settings (mail included) and
    /// the same keys, as a second replica behind a load balancer.
    pub async fn peer(&self) -> TestApp {
        let (url, state, handle) = start(&self.database, &self.overrides).await;
        TestApp {
            url,
            database_url: self.database_url.clone(),
            db: state.db.clone(),
            state,
            smtp: Arc::clone(&self.smtp),
            sender_key: self.sender_key.clone(),
            auditor_key: self.auditor_key.clone(),
            client: client(),
            handle,
            overrides: self.overrides.clone(),
            database: Arc::clone(&self.database),
        }
    }

    /// Stops this instance gracefully (the database stays for its peers).
    /// The server's socket address, for raw TCP clients.
    pub fn address(&self) -> std::net::SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// A second sender with its own list `slug`; returns its sender key.
    pub async fn other_sender_with_list(&self, slug: &str) -> String {
        let (_, key, _) = super::seed_sender(&self.db, "Other").await;
        let response = self.create_list(&key, &super::list_body(slug)).await;
        assert_eq!(response.status(), 201);
        key
    }
}
