//! Typed settings from `CONSENTRY_*` environment variables over an optional TOML file.
//!
//! A TOML file uses the same names in lower case without the prefix (`database_url = "..."`),
//! either flat as the README lists them or in sections (`[mail] max_attempts = 8`); the
//! sections are the structs below and [`names::NAMES`] maps each flat name to its place. The
//! environment wins over the file; unknown names in the file are an error, so a typo is
//! caught instead of silently ignored.

mod layers;
pub mod names;
mod standing;
mod values;

use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::db::DatabaseUrl;

pub use layers::ConfigError;
pub use names::NAMES;
pub use standing::StandingSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting, grouped as in a sectioned TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(deserialize_with = "values::database_url")]
    pub database_url: DatabaseUrl,
    #[serde(deserialize_with = "values::optional_number")]
    pub db_pool_size: Option<u32>,
    #[serde(deserialize_with = "values::text")]
    pub log: String,
    #[serde(deserialize_with = "values::log_format")]
    pub log_format: LogFormat,
    /// Directory whose templates override the embedded ones (same relative names).
    #[serde(deserialize_with = "values::optional_text")]
    pub templates_dir: Option<String>,
    pub http: HttpSettings,
    pub keys: KeySettings,
    pub flow: FlowSettings,
    pub mail: MailSettings,
    pub audit: AuditSettings,
    pub webhooks: WebhookSettings,
    pub standing: StandingSettings,
}

/// The HTTP server and what each instance keeps in memory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    #[serde(deserialize_with = "values::text")]
    pub bind: String,
    /// Public base of every link; never taken from a request's `Host`. No trailing slash.
    #[serde(deserialize_with = "values::base_url")]
    pub base_url: String,
    #[serde(deserialize_with = "values::optional_number")]
    pub workers: Option<usize>,
    #[serde(deserialize_with = "values::number")]
    pub max_body_bytes: usize,
    /// Take the client IP of page requests from `X-Forwarded-For` (behind a trusted proxy).
    #[serde(deserialize_with = "values::flag")]
    pub trust_forwarded_for: bool,
    /// How long a client may take to send a request's headers.
    #[serde(rename = "header_timeout_ms", deserialize_with = "values::period_ms")]
    pub header_timeout: Duration,
    /// How long a client may take to send a whole body; a streamed batch check may instead
    /// pause no longer than this between two parts of its body.
    #[serde(rename = "body_timeout_ms", deserialize_with = "values::period_ms")]
    pub body_timeout: Duration,
    /// Open connections one client address may hold; 0 means no limit (behind a proxy every
    /// client shares the proxy's address).
    #[serde(deserialize_with = "values::number")]
    pub max_connections_per_ip: usize,
    /// How often every instance looks for revoked keys and changed lists made elsewhere.
    #[serde(rename = "cache_refresh_ms", deserialize_with = "values::period_ms")]
    pub cache_refresh: Duration,
    /// Exports and whole-chain verifications one sender may run at once in this instance.
    #[serde(deserialize_with = "values::number")]
    pub scans_per_sender: usize,
    /// Exports and whole-chain verifications of all senders at once in this instance.
    #[serde(deserialize_with = "values::number")]
    pub scans_total: usize,
    /// Streaming batch checks one sender may run at once in this instance.
    #[serde(deserialize_with = "values::number")]
    pub batch_checks_per_sender: usize,
    /// Answers a batch check holds in memory while its client is still sending (a client
    /// that reads only after sending everything); past it they spill to a temporary file.
    #[serde(deserialize_with = "values::number")]
    pub batch_hold_bytes: usize,
    /// Answers a batch check may spill to its temporary file (unlinked, so gone with the
    /// request); past it, the batch waits for the client to read.
    #[serde(deserialize_with = "values::number")]
    pub batch_spool_bytes: u64,
    /// Largest complaint report or pasted headers accepted (an ARF report with the whole
    /// reported mail); larger → `413`.
    #[serde(deserialize_with = "values::number")]
    pub max_report_bytes: usize,
    /// How long a streamed answer waits for the client to take its next part.
    #[serde(
        rename = "stream_send_timeout_ms",
        deserialize_with = "values::period_ms"
    )]
    pub stream_send_timeout: Duration,
    /// The longest a streamed answer (export, batch check) may run.
    #[serde(
        rename = "stream_max_seconds",
        deserialize_with = "values::period_seconds"
    )]
    pub stream_max: Duration,
}

/// Keys generated and stored on first start when unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// HMAC key for address lookup hashes.
    #[serde(deserialize_with = "values::optional_secret")]
    pub pepper: Option<SecretString>,
    /// `kid:base64url-key[,kid:key...]`, the first one signs.
    #[serde(deserialize_with = "values::optional_secret")]
    pub token_keys: Option<SecretString>,
    /// `kid:base64url-seed[,...]` Ed25519 keys for checkpoints.
    #[serde(deserialize_with = "values::optional_secret")]
    pub signing_keys: Option<SecretString>,
}

/// Background audit work in `serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// How often personal data past each sender's retention period is minimised.
    #[serde(
        rename = "retention_sweep_seconds",
        deserialize_with = "values::period_seconds"
    )]
    pub retention_sweep: Duration,
    /// How often every chain head that moved gets a signed checkpoint.
    #[serde(
        rename = "checkpoint_interval_seconds",
        deserialize_with = "values::period_seconds"
    )]
    pub checkpoint_interval: Duration,
}

/// Webhook delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    #[serde(deserialize_with = "values::number")]
    pub max_attempts: i64,
    #[serde(rename = "timeout_ms", deserialize_with = "values::millis")]
    pub timeout: Duration,
    /// Allow `http://` and private, loopback or link-local targets (tests, private networks).
    #[serde(deserialize_with = "values::flag")]
    pub allow_private_targets: bool,
    /// Proxy for every delivery (`http://host:port`); unset means none, whatever
    /// `HTTPS_PROXY` or `ALL_PROXY` say, because a proxy resolves the target itself and the
    /// public-address check would never see the address.
    #[serde(deserialize_with = "values::optional_secret")]
    pub proxy: Option<SecretString>,
}

/// Double opt-in rules and abuse caps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    /// Lifetime of a pending request and of its confirm/refuse links.
    #[serde(rename = "confirm_ttl_hours", deserialize_with = "values::hours")]
    pub confirm_ttl: chrono::Duration,
    /// A repeated signup for a pending address within this window mails nothing.
    #[serde(rename = "resend_window_minutes", deserialize_with = "values::minutes")]
    pub resend_window: chrono::Duration,
    /// Confirmation mails per abuse key per 24 h, across every sender.
    #[serde(
        rename = "cap_mails_per_address_24h",
        deserialize_with = "values::number"
    )]
    pub cap_mails_per_address: i64,
    /// Mailed signups per claimed client IP per sender per hour.
    #[serde(
        rename = "cap_signups_per_ip_hour",
        deserialize_with = "values::number"
    )]
    pub cap_signups_per_ip: i64,
    #[serde(deserialize_with = "values::number")]
    pub sender_rate_per_second: u32,
    #[serde(deserialize_with = "values::number")]
    pub sender_burst: u32,
    #[serde(
        rename = "expiry_sweep_seconds",
        deserialize_with = "values::period_seconds"
    )]
    pub expiry_sweep: Duration,
    /// The standing rules (from the `[standing]` settings), which also decide whether a
    /// confirmation mail may go.
    #[serde(skip)]
    pub standing: crate::domain::standing::Rules,
}

/// Outbox delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// Transport URL (`file://`, `smtp://user:pass@…`); may hold a password.
    #[serde(deserialize_with = "values::secret")]
    pub url: SecretString,
    #[serde(deserialize_with = "values::text")]
    pub from: String,
    /// Attempts before a mail is given up; 0: no limit on the count, only `retry_for`.
    #[serde(deserialize_with = "values::number")]
    pub max_attempts: i64,
    /// How long after it was queued a mail is still tried (as MTAs keep a message for days).
    #[serde(rename = "retry_for_minutes", deserialize_with = "values::minutes")]
    pub retry_for: chrono::Duration,
    #[serde(rename = "retry_base_ms", deserialize_with = "values::millis")]
    pub retry_base: Duration,
    #[serde(rename = "retry_max_ms", deserialize_with = "values::millis")]
    pub retry_max: Duration,
    /// Confirmation mails in flight at once in one instance (each over its own pooled SMTP
    /// connection).
    #[serde(deserialize_with = "values::number")]
    pub concurrency: usize,
    /// Of those, at most this many to one recipient domain, so one domain is never flooded.
    #[serde(deserialize_with = "values::number")]
    pub per_domain_concurrency: usize,
    /// Address for a `mailto:` List-Unsubscribe beside the HTTPS one.
    #[serde(deserialize_with = "values::optional_text")]
    pub unsubscribe_mailto: Option<String>,
    /// Let `smtp://user:pass@` send its password without TLS (a relay on a network you trust).
    #[serde(deserialize_with = "values::flag")]
    pub allow_plaintext_auth: bool,
    /// (selector, domain, PEM key file) when mail is DKIM-signed.
    #[serde(deserialize_with = "values::dkim")]
    pub dkim: Option<(String, String, String)>,
}

impl Settings {
    /// Reads the environment over the file at `path`, if given.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        layers::build(path, |name| {
            std::env::var(format!("CONSENTRY_{}", name.to_uppercase())).ok()
        })
        .map(Self::with_rules)
    }

    /// Builds settings from a lookup of flat lower-case names (as in the environment, without
    /// the prefix); missing names take their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        layers::build(None, lookup).map(Self::with_rules)
    }

    /// Copies the standing rules where the flows read them.
    fn with_rules(mut self) -> Self {
        self.flow.standing = self.standing.rules();
        self
    }

    /// Pool size: small for SQLite (one writer; larger pools measured slower), larger for
    /// PostgreSQL.
    pub fn pool_size(&self) -> u32 {
        self.db_pool_size
            .unwrap_or(match self.database_url.backend() {
                crate::db::Backend::Sqlite => 8,
                crate::db::Backend::Postgres => 16,
            })
    }
}

#[cfg(test)]
mod tests;
