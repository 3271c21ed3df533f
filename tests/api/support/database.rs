//! One database per test: a temporary SQLite file, or a fresh PostgreSQL database when
//! `CONSENTRY_TEST_POSTGRES_URL` is set, dropped after the test.

use diesel::{Connection, PgConnection, RunQueryDsl};

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

/// A test's database with the temp dir the servers on it write mail files into; every
/// instance of a test shares one.
pub struct TestDatabase {
    pub url: String,
    // Field order: the PostgreSQL database is dropped before the dir goes.
    _postgres: Option<PostgresDb>,
    dir: tempfile::TempDir,
}

impl TestDatabase {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, postgres) = test_database(dir.path());
        Self {
            url,
            _postgres: postgres,
            dir,
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
