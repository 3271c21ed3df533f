//! Typed settings from `CONSENTRY_*` environment variables over an optional TOML file.
//!
//! A TOML file uses the same names in lower case without the prefix (`database_url = "..."`).
//! The environment wins over the file; unknown names in the file are an error, so a typo is
//! caught instead of silently ignored.

use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

use crate::db::{DatabaseUrl, DatabaseUrlError};

/// Every setting the service reads, with its default. Documented in the README.
pub const KNOWN: &[(&str, &str)] = &[
    ("database_url", "sqlite://consentry.db"),
    ("bind", "127.0.0.1:8080"),
    ("base_url", "http://127.0.0.1:8080"),
    ("mail_url", "file://./var/mail"),
    ("mail_from", "Consentry <no-reply@localhost>"),
    ("pepper", ""),
    ("token_keys", ""),
    ("signing_keys", ""),
    ("db_pool_size", ""),
    ("workers", ""),
    ("cache_refresh_ms", "1000"),
    ("max_body_bytes", "65536"),
    ("log", "info"),
    ("log_format", "text"),
    ("confirm_ttl_hours", "168"),
    ("resend_window_minutes", "60"),
    ("cap_mails_per_address_24h", "3"),
    ("cap_signups_per_ip_hour", "20"),
    ("sender_rate_per_second", "100"),
    ("sender_burst", "1000"),
    ("mail_max_attempts", "8"),
    ("mail_retry_base_ms", "5000"),
    ("mail_retry_max_ms", "3600000"),
    ("unsubscribe_mailto", ""),
    ("dkim_selector", ""),
    ("dkim_domain", ""),
    ("dkim_key_file", ""),
    ("templates_dir", ""),
    ("expiry_sweep_seconds", "60"),
    ("trust_forwarded_for", "false"),
    ("retention_sweep_seconds", "3600"),
    ("checkpoint_interval_seconds", "3600"),
    ("webhook_max_attempts", "12"),
    ("webhook_timeout_ms", "10000"),
    ("webhook_allow_private_targets", "false"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub bind: String,
    /// Public base of every link; never taken from a request's `Host`. No trailing slash.
    pub base_url: String,
    pub mail_url: SecretString,
    pub mail_from: String,
    /// HMAC key for address lookup hashes; generated and stored on first start when unset.
    pub pepper: Option<SecretString>,
    /// `kid:base64url-key[,kid:key...]`, the first one signs; generated when unset.
    pub token_keys: Option<SecretString>,
    /// `kid:base64url-seed[,...]` Ed25519 keys for checkpoints; generated when unset.
    pub signing_keys: Option<SecretString>,
    pub db_pool_size: Option<u32>,
    pub workers: Option<usize>,
    /// How often every instance looks for revoked keys and changed lists made elsewhere.
    pub cache_refresh: Duration,
    pub max_body_bytes: usize,
    pub log: String,
    pub log_format: LogFormat,
    pub flow: FlowSettings,
    pub mail: MailSettings,
    /// Take the client IP of page requests from `X-Forwarded-For` (behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Directory whose templates override the embedded ones (same relative names).
    pub templates_dir: Option<String>,
    pub audit: AuditSettings,
    pub webhooks: WebhookSettings,
}

/// Background audit work in `serve`.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// How often personal data past each sender's retention period is minimised.
    pub retention_sweep: Duration,
    /// How often every chain head that moved gets a signed checkpoint.
    pub checkpoint_interval: Duration,
}

/// Webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub max_attempts: i64,
    pub timeout: Duration,
    /// Allow `http://` and private, loopback or link-local targets (tests, private networks).
    pub allow_private_targets: bool,
}

/// Double opt-in rules and abuse caps.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// Lifetime of a pending request and of its confirm/refuse links.
    pub confirm_ttl: chrono::Duration,
    /// A repeated signup for a pending address within this window mails nothing.
    pub resend_window: chrono::Duration,
    /// Confirmation mails per abuse key per 24 h, across every sender.
    pub cap_mails_per_address: i64,
    /// Mailed signups per claimed client IP per sender per hour.
    pub cap_signups_per_ip: i64,
    pub sender_rate_per_second: u32,
    pub sender_burst: u32,
    pub expiry_sweep: Duration,
}

/// Outbox delivery.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub max_attempts: i64,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Address for a `mailto:` List-Unsubscribe beside the HTTPS one.
    pub unsubscribe_mailto: Option<String>,
    /// (selector, domain, PEM key file) when mail is DKIM-signed.
    pub dkim: Option<(String, String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("unknown setting `{0}` in config file")]
    Unknown(String),
    #[error("CONSENTRY_DATABASE_URL: {0}")]
    DatabaseUrl(#[from] DatabaseUrlError),
    #[error("CONSENTRY_{name}: {reason}")]
    Invalid { name: String, reason: String },
}

impl Settings {
    /// Reads the environment over the file at `path`, if given.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match path {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        Self::from_lookup(|name| {
            std::env::var(format!("CONSENTRY_{}", name.to_uppercase()))
                .ok()
                .or_else(|| file.get(name).map(toml_to_string))
        })
    }

    /// Builds settings from a lookup of lower-case names; missing names take their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| -> String {
            lookup(name).unwrap_or_else(|| {
                KNOWN
                    .iter()
                    .find(|(known, _)| *known == name)
                    .map(|(_, default)| (*default).to_owned())
                    .unwrap_or_default()
            })
        };
        let optional = |name: &str| Some(get(name)).filter(|v| !v.trim().is_empty());
        Ok(Self {
            database_url: DatabaseUrl::parse(&get("database_url"))?,
            bind: get("bind"),
            base_url: parse_base_url(&get("base_url"))?,
            mail_url: get("mail_url").into(),
            mail_from: get("mail_from"),
            pepper: optional("pepper").map(SecretString::from),
            token_keys: optional("token_keys").map(SecretString::from),
            signing_keys: optional("signing_keys").map(SecretString::from),
            db_pool_size: optional("db_pool_size")
                .map(|v| parse_number("db_pool_size", &v))
                .transpose()?,
            workers: optional("workers")
                .map(|v| parse_number("workers", &v))
                .transpose()?,
            cache_refresh: Duration::from_millis(period(&get, "cache_refresh_ms")?),
            max_body_bytes: parse_number("max_body_bytes", &get("max_body_bytes"))?,
            log: get("log"),
            log_format: match get("log_format").as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => {
                    return Err(invalid(
                        "log_format",
                        format!("`{other}` is not text or json"),
                    ))
                }
            },
            flow: FlowSettings {
                confirm_ttl: chrono::Duration::hours(number(&get, "confirm_ttl_hours")?),
                resend_window: chrono::Duration::minutes(number(&get, "resend_window_minutes")?),
                cap_mails_per_address: number(&get, "cap_mails_per_address_24h")?,
                cap_signups_per_ip: number(&get, "cap_signups_per_ip_hour")?,
                sender_rate_per_second: number(&get, "sender_rate_per_second")?,
                sender_burst: number(&get, "sender_burst")?,
                expiry_sweep: Duration::from_secs(period(&get, "expiry_sweep_seconds")?),
            },
            mail: MailSettings {
                max_attempts: number(&get, "mail_max_attempts")?,
                retry_base: Duration::from_millis(number(&get, "mail_retry_base_ms")?),
                retry_max: Duration::from_millis(number(&get, "mail_retry_max_ms")?),
                unsubscribe_mailto: optional("unsubscribe_mailto"),
                dkim: match (
                    optional("dkim_selector"),
                    optional("dkim_domain"),
                    optional("dkim_key_file"),
                ) {
                    (Some(s), Some(d), Some(k)) => Some((s, d, k)),
                    (None, None, None) => None,
                    _ => {
                        return Err(invalid(
                            "dkim_selector",
                            "DKIM needs CONSENTRY_DKIM_SELECTOR, _DOMAIN and _KEY_FILE together"
                                .into(),
                        ))
                    }
                },
            },
            trust_forwarded_for: flag(&get, "trust_forwarded_for")?,
            templates_dir: optional("templates_dir"),
            audit: AuditSettings {
                retention_sweep: Duration::from_secs(period(&get, "retention_sweep_seconds")?),
                checkpoint_interval: Duration::from_secs(period(
                    &get,
                    "checkpoint_interval_seconds",
                )?),
            },
            webhooks: WebhookSettings {
                max_attempts: number(&get, "webhook_max_attempts")?,
                timeout: Duration::from_millis(number(&get, "webhook_timeout_ms")?),
                allow_private_targets: flag(&get, "webhook_allow_private_targets")?,
            },
        })
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

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown.clone(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: shown,
        source,
    })?;
    if let Some(unknown) = table.keys().find(|k| !KNOWN.iter().any(|(n, _)| n == k)) {
        return Err(ConfigError::Unknown(unknown.clone()));
    }
    Ok(table)
}

fn toml_to_string(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn invalid(name: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_uppercase(),
        reason,
    }
}

fn flag(get: &impl Fn(&str) -> String, name: &str) -> Result<bool, ConfigError> {
    match get(name).as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(invalid(name, format!("`{other}` is not true or false"))),
    }
}

/// A period of a background task: a whole number of at least 1 (a timer cannot tick at 0).
fn period(get: &impl Fn(&str) -> String, name: &str) -> Result<u64, ConfigError> {
    match number(get, name)? {
        0 => Err(invalid(name, "must be at least 1".into())),
        n => Ok(n),
    }
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> String,
    name: &str,
) -> Result<T, ConfigError> {
    parse_number(name, &get(name))
}

fn parse_number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(name, format!("`{value}` is not a whole number")))
}

fn parse_base_url(raw: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(raw).map_err(|e| invalid("base_url", e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            "base_url",
            "must be an http(s) URL with a host".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "base_url",
            "must not have a query or fragment".into(),
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let s = settings(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.database_url.backend(), crate::db::Backend::Sqlite);
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.base_url, "http://127.0.0.1:8080");
        assert!(s.pepper.is_none());
        assert_eq!(s.pool_size(), 8);
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let err = settings(&[("database_url", "mysql://x")]).map(|_| ());
        assert!(matches!(err, Err(ConfigError::DatabaseUrl(_))));
        let err = settings(&[("base_url", "ftp://x")])
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("CONSENTRY_BASE_URL"));
        assert!(settings(&[("max_body_bytes", "lots")]).is_err());
        assert!(settings(&[("log_format", "xml")]).is_err());
        for period in [
            "cache_refresh_ms",
            "expiry_sweep_seconds",
            "retention_sweep_seconds",
            "checkpoint_interval_seconds",
        ] {
            assert!(settings(&[(period, "0")]).is_err(), "{period}");
        }
        assert!(settings(&[("webhook_allow_private_targets", "maybe")]).is_err());
    }

    #[test]
    fn base_url_loses_its_trailing_slash() {
        let s = settings(&[("base_url", "https://consent.example.jp/")]);
        assert_eq!(
            s.map(|s| s.base_url).ok().as_deref(),
            Some("https://consent.example.jp")
        );
    }

    #[test]
    fn file_rejects_unknown_names() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "databse_url = \"sqlite://x.db\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(read_file(&path), Err(ConfigError::Unknown(_))));
    }
}
