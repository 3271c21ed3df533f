//! The connection manager that builds the URL's backend, the pool and the embedded
//! migrations.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{Backend, DatabaseUrl, DbConn, Pool, StoreError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Builds connections of the variant the URL's scheme picked. diesel's own manager would try
/// each variant in turn, and SQLite accepts any string as a file name.
#[derive(Debug)]
pub struct ConnectionManager {
    pub(super) url: DatabaseUrl,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        use diesel::r2d2::Error;
        match self.url.backend() {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(self.url.connection_string())
                    .map_err(Error::ConnectionError)?;
                // Per-connection settings; WAL is a file property set once at pool creation.
                // secure_delete: erased personal data is overwritten in the file, not left
                // in free pages. temp_store: the savepoint journal each grouped write keeps
                // (`group`) stays in memory; in a temporary file its writes were 11 % of the
                // group writer's time. mmap_size: reads come straight from the mapped file
                // (file pages, not this process's heap) however large the database grows;
                // `.cargo/config.toml` lifts the bundled SQLite's 2 GB cap on it.
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 68719476736; \
                     PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;",
                )
                .map_err(Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
            Backend::Postgres => PgConnection::establish(self.url.connection_string())
                .map(DbConn::Postgres)
                .map_err(Error::ConnectionError),
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// Opens a pool. SQLite gets WAL mode here, before any other connection exists.
pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Pool, StoreError> {
    let manager = ConnectionManager { url: url.clone() };
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        // A checkout must not cost a round trip; broken connections are caught by has_broken.
        .test_on_check_out(false)
        .build(manager)?;
    if url.backend() == Backend::Sqlite {
        pool.get()?.batch_execute("PRAGMA journal_mode = WAL;")?;
    }
    Ok(pool)
}

/// Applies pending migrations and returns the versions applied. On PostgreSQL an advisory
/// lock makes instances starting together take turns.
pub fn migrate(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?
            .iter()
            .map(|v| v.to_string())
            .collect(),
        DbConn::Postgres(c) => {
            c.batch_execute("SELECT pg_advisory_lock(7270961105)")?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|vs| vs.iter().map(|v| v.to_string()).collect::<Vec<_>>())
                .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
            c.batch_execute("SELECT pg_advisory_unlock(7270961105)")?;
            result?
        }
    };
    Ok(applied)
}
