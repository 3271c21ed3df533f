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
            return Ok(Self {
                backend: Backend::Postgres,
                connection: raw.into(),
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
    fn debug_hides_postgres_credentials() {
        let url =
            DatabaseUrl::parse("postgres://user:hunter2@db/x").unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
