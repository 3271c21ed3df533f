//! Storage: the database URL, one connection type over SQLite and PostgreSQL, the pool and
//! the embedded migrations. Table modules hold plain sync functions taking `&mut DbConn`.
//!
//! Lookups by a unique key read `.load(conn)?.into_iter().next()` rather than `.first()`:
//! `.first()` binds `LIMIT ?`, and SQLite re-prepares such a statement on every execution
//! (measured: the SQL parser was the top cost of a compliance check).

pub mod api_keys;
pub mod checkpoints;
pub mod consents;
pub mod epochs;
pub mod idempotency;
pub mod ledger;
pub mod lists;
pub mod outbox;
pub mod schema;
pub mod senders;
pub mod settings;
pub mod subscriptions;
pub mod suppressions;
pub mod webhooks;

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

/// Runs the same diesel expression on the concrete connection of either variant. Queries
/// through the MultiConnection enum are re-prepared on every call (measured: the SQL parser
/// was the top cost of a compliance check), so hot-path queries run on the variant, where
/// diesel's prepared-statement cache applies.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Postgres($c) => $body,
        }
    };
}
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

/// Failures of the storage layer; handlers turn them into problem responses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(#[from] r2d2::Error),
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot connect to storage: {0}")]
    Connect(diesel::r2d2::Error),
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
                // secure_delete: erased personal data is overwritten in the file, not left
                // in free pages.
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 1073741824; \
                     PRAGMA secure_delete = ON;",
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

/// The pool plus the ways request code reaches it: on a blocking thread, or, for a short
/// indexed SQLite read on the hot path, right here.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    url: DatabaseUrl,
}

std::thread_local! {
    /// One SQLite connection per server worker thread for `Db::read`, with the URL it is for.
    static READER: std::cell::RefCell<Option<(String, DbConn)>> = const { std::cell::RefCell::new(None) };
}

impl Db {
    pub fn new(pool: Pool, url: &DatabaseUrl) -> Self {
        Self {
            pool,
            backend: url.backend(),
            url: url.clone(),
        }
    }

    /// Runs a short read. On SQLite it runs on the calling thread with that thread's own
    /// connection: a point lookup by unique index in WAL mode takes microseconds and never
    /// waits for a writer, which costs less than the hop to the blocking pool and back (the
    /// hop, not the lookup, capped checks at ~1/6 of the HTTP layer's rate). On PostgreSQL a
    /// read is a network round trip, so it goes to the blocking pool like any other call.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        if self.backend != Backend::Sqlite {
            return self.run(f).await;
        }
        READER.with(|cell| {
            let mut slot = cell.borrow_mut();
            let url = self.url.connection_string();
            if slot.as_ref().is_none_or(|(for_url, _)| for_url != url) {
                let manager = ConnectionManager {
                    url: self.url.clone(),
                };
                let conn =
                    r2d2::ManageConnection::connect(&manager).map_err(StoreError::Connect)?;
                *slot = Some((url.to_owned(), conn));
            }
            let Some((_, conn)) = slot.as_mut() else {
                return Err(StoreError::Cancelled);
            };
            let result = f(conn);
            if result.is_err() {
                // A broken connection must not stick to this thread.
                *slot = None;
            }
            result
        })
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

    /// Runs `f` on the blocking pool with a [`Db::scan_connection`] of its own.
    pub async fn scan<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(&mut db.scan_connection()?))
            .await
            .map_err(|_| StoreError::Cancelled)?
    }

    /// A connection for synchronous callers (CLI commands, start-up).
    pub fn get(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// A connection of its own, outside the pool, for a long sequential scan (an export or a
    /// verification of a whole chain) that must not hold a pooled connection for minutes.
    /// On SQLite it reads without memory-mapping the file, so a scan of millions of events
    /// does not map the whole database into the process.
    pub fn scan_connection(&self) -> Result<DbConn, StoreError> {
        let manager = ConnectionManager {
            url: self.url.clone(),
        };
        let mut conn = r2d2::ManageConnection::connect(&manager).map_err(StoreError::Connect)?;
        if let DbConn::Sqlite(c) = &mut conn {
            c.batch_execute("PRAGMA mmap_size = 0;")?;
        }
        Ok(conn)
    }
}

/// Opens the database, applies migrations and returns the handle.
pub fn open(url: &DatabaseUrl, pool_size: u32) -> anyhow::Result<Db> {
    let pool = connect(url, pool_size)?;
    let applied = migrate(&mut *pool.get()?)?;
    for version in &applied {
        tracing::info!(version, "applied migration");
    }
    Ok(Db::new(pool, url))
}

/// Writers to a SQLite file take turns in this process. SQLite has one writer at a time
/// anyway; waiting here is a fair queue, where waiting in SQLite's busy handler is a series of
/// sleeps that collapses throughput under load.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` in a transaction that takes the write lock up front. On SQLite a plain (deferred)
/// transaction that reads and then writes fails with "database is locked" when another writer
/// got in between; `BEGIN IMMEDIATE` takes the lock first. Inside an open transaction it
/// runs as a savepoint.
pub fn write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <DbConn as Connection>::TransactionManager;
    let nested = Manager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .is_ok_and(|depth| depth.is_some());
    if nested {
        return conn.transaction(f);
    }
    let _turn = match conn {
        DbConn::Sqlite(c) => {
            let turn = SQLITE_WRITER
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            Some(turn)
        }
        DbConn::Postgres(_) => {
            Manager::begin_transaction(conn)?;
            None
        }
    };
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

/// Runs `f` in a read-only transaction that sees one snapshot throughout (`REPEATABLE READ`
/// on PostgreSQL; a deferred read transaction in WAL mode on SQLite), so a scan over many
/// queries sees a consistent state while writers go on.
pub fn snapshot<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <DbConn as Connection>::TransactionManager;
    match conn {
        DbConn::Postgres(pg) => AnsiTransactionManager::begin_transaction_sql(
            pg,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
        DbConn::Sqlite(lite) => AnsiTransactionManager::begin_transaction_sql(lite, "BEGIN")?,
    }
    let result = f(conn);
    // Nothing was written: ending the transaction either way releases the snapshot.
    Manager::rollback_transaction(conn)?;
    result
}

#[cfg(test)]
mod tests;
