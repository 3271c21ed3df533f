//! Storage: the database URL, one connection type over SQLite and PostgreSQL, the pool and
//! the embedded migrations. Table modules hold plain sync functions taking `&mut DbConn`.

pub mod api_keys;
pub mod consents;
pub mod epochs;
pub mod idempotency;
pub mod ledger;
pub mod lists;
pub mod outbox;
pub mod schema;
pub mod senders;
pub mod settings;
pub mod suppressions;

mod url;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use url::{Backend, DatabaseUrl, DatabaseUrlError};

/// A connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

/// Failures of the storage layer; handlers turn them into problem responses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(#[from] r2d2::Error),
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("storage task was cancelled")]
    Cancelled,
}

impl StoreError {
    /// True when a unique constraint rejected the write (a duplicate slug, say).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Builds connections of the variant the URL's scheme picked. diesel's own manager would try
/// each variant in turn, and SQLite accepts any string as a file name.
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
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
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA synchronous = NORMAL;",
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

/// The pool plus the one way request code reaches it: on a blocking thread.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
}

impl Db {
    pub fn new(pool: Pool, backend: Backend) -> Self {
        Self { pool, backend }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, so diesel never blocks
    /// the async reactor.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|_| StoreError::Cancelled)?
    }

    /// A connection for synchronous callers (CLI commands, start-up).
    pub fn get(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }
}

/// Opens the database, applies migrations and returns the handle.
pub fn open(url: &DatabaseUrl, pool_size: u32) -> anyhow::Result<Db> {
    let pool = connect(url, pool_size)?;
    let applied = migrate(&mut *pool.get()?)?;
    for version in &applied {
        tracing::info!(version, "applied migration");
    }
    Ok(Db::new(pool, url.backend()))
}

/// Runs `f` in a transaction that takes the write lock up front. On SQLite a plain (deferred)
/// transaction that reads and then writes fails with "database is locked" when another writer
/// got in between; `BEGIN IMMEDIATE` waits for the lock (busy_timeout) instead.
pub fn write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <DbConn as Connection>::TransactionManager;
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(_) => Manager::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => match Manager::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = Manager::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            Manager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests;
