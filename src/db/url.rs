//! `CONSENTRY_DATABASE_URL`: the scheme picks the backend; anything else is an error, so a
//! typo never silently creates an empty SQLite file.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A validated database URL. The PostgreSQL form may carry a password, so it is kept secret.
#[derive(Clone)]
pub struct DatabaseUrl {
    backend: Backend,
    connection: SecretString,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatabaseUrlError {
    #[error("database URL must start with sqlite://, postgres:// or postgresql://")]
    UnknownScheme,
    #[error("sqlite:// URL names no file (use sqlite://consentry.db or sqlite:///abs/path.db)")]
    MissingPath,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, DatabaseUrlError> {
        let raw = raw.trim();
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DatabaseUrlError::MissingPath);
            }
            return Ok(Self {
                backend: Backend::Sqlite,
                connection: path.into(),
            });
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let pgsslmode_set = std::env::var_os("PGSSLMODE").is_some();
            return Ok(Self {
                backend: Backend::Postgres,
                connection: loopback_without_tls(raw, pgsslmode_set).into(),
            });
        }
        Err(DatabaseUrlError::UnknownScheme)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What the driver is given: a file path for SQLite, the URL for PostgreSQL.
    pub fn connection_string(&self) -> &str {
        self.connection.expose_secret()
    }
}

/// The URL with `sslmode=allow` added when it reaches PostgreSQL over loopback only and says
/// nothing about TLS or where to connect besides its hosts (no `ssl…` or `host=` parameter,
/// no `PGSSLMODE`). libpq's default, `prefer`, encrypts whenever the server offers TLS, and
/// on the same host that protects nothing while it costs a tenth of the check throughput
/// (measured: 49 k against 55 k checks/s).
/// `allow` still connects with TLS to a server that accepts nothing else (`hostssl`).
fn loopback_without_tls(raw: &str, pgsslmode_set: bool) -> String {
    let (before_query, query) = raw.split_once('?').unwrap_or((raw, ""));
    let chooses_tls_or_socket = query
        .split('&')
        .any(|pair| pair.starts_with("ssl") || pair.starts_with("host="));
    let authority = before_query
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let loopback = !hosts.is_empty() && hosts.split(',').all(is_loopback);
    if pgsslmode_set || chooses_tls_or_socket || !loopback {
        return raw.to_owned();
    }
    let joiner = if query.is_empty() { "?" } else { "&" };
    format!("{}{joiner}sslmode=allow", raw.trim_end_matches('?'))
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback(host_port: &str) -> bool {
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.backend {
            Backend::Sqlite => write!(f, "sqlite://{}", self.connection.expose_secret()),
            Backend::Postgres => f.write_str("postgres://[redacted]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_picks_the_backend() {
        let cases = [
            ("sqlite://consentry.db", Ok(Backend::Sqlite)),
            ("sqlite:///var/lib/consentry.db", Ok(Backend::Sqlite)),
            ("postgres://postgres@127.0.0.1/x", Ok(Backend::Postgres)),
            ("postgresql://u:p@db/x", Ok(Backend::Postgres)),
            ("sqlite://", Err(DatabaseUrlError::MissingPath)),
            ("consentry.db", Err(DatabaseUrlError::UnknownScheme)),
            (
                "mysql://root@localhost/x",
                Err(DatabaseUrlError::UnknownScheme),
            ),
            ("postgre://typo", Err(DatabaseUrlError::UnknownScheme)),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                DatabaseUrl::parse(raw).map(|u| u.backend()),
                expected,
                "{raw}"
            );
        }
    }

    #[test]
    fn loopback_postgres_skips_tls_unless_the_url_or_environment_asks_for_it() {
        let cases = [
            (
                "postgres://u@127.0.0.1:5432/x",
                "postgres://u@127.0.0.1:5432/x?sslmode=allow",
            ),
            (
                "postgres://localhost/x",
                "postgres://localhost/x?sslmode=allow",
            ),
            (
                "postgres://u:p@[::1]:5432/x?application_name=c",
                "postgres://u:p@[::1]:5432/x?application_name=c&sslmode=allow",
            ),
            (
                "postgres://127.0.0.1,localhost/x",
                "postgres://127.0.0.1,localhost/x?sslmode=allow",
            ),
            // TLS or the socket named: as written.
            (
                "postgres://u@127.0.0.1/x?sslmode=require",
                "postgres://u@127.0.0.1/x?sslmode=require",
            ),
            (
                "postgres://u@127.0.0.1/x?sslrootcert=/ca.pem",
                "postgres://u@127.0.0.1/x?sslrootcert=/ca.pem",
            ),
            (
                "postgres:///x?host=/run/postgresql",
                "postgres:///x?host=/run/postgresql",
            ),
            // Another host, or any host not on loopback: libpq's default stands.
            ("postgres://u@db.internal/x", "postgres://u@db.internal/x"),
            (
                "postgres://127.0.0.1,db.internal/x",
                "postgres://127.0.0.1,db.internal/x",
            ),
            (
                "postgres://u@10.0.0.5:5432/x",
                "postgres://u@10.0.0.5:5432/x",
            ),
            (
                "postgres://localhost.evil.example/x",
                "postgres://localhost.evil.example/x",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(loopback_without_tls(raw, false), expected, "{raw}");
        }
        let asked = "postgres://u@127.0.0.1/x";
        assert_eq!(loopback_without_tls(asked, true), asked, "PGSSLMODE set");
    }

    #[test]
    fn debug_hides_postgres_credentials() {
        let url =
            DatabaseUrl::parse("postgres://user:hunter2@db/x").unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
