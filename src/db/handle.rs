//! `Db`: the pool plus the ways request code reaches it (blocking pool, thread-local reader,
//! scan connection).

use std::sync::Arc;

use diesel::connection::SimpleConnection;

use super::group::{Committed, GroupWriter};
use super::pool::{connect, migrate, ConnectionManager};
use super::{Backend, DatabaseUrl, DbConn, Pool, PooledConn, StoreError};

/// The pool plus the ways request code reaches it: on a blocking thread, or, for a short
/// indexed SQLite read on the hot path, right here.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    url: DatabaseUrl,
    /// SQLite only: the thread that commits [`Db::write`]s in groups.
    writer: Option<Arc<GroupWriter>>,
}

std::thread_local! {
    /// One SQLite connection per server worker thread for `Db::read_here`, with the URL it is
    /// for.
    static READER: std::cell::RefCell<Option<(String, DbConn)>> = const { std::cell::RefCell::new(None) };
}

impl Db {
    /// The handle over `pool`; on SQLite this starts the group writer's thread, which ends
    /// when the last clone of the handle is dropped.
    pub fn new(pool: Pool, url: &DatabaseUrl) -> std::io::Result<Self> {
        let writer = match url.backend() {
            Backend::Sqlite => Some(Arc::new(GroupWriter::start(url)?)),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend: url.backend(),
            url: url.clone(),
            writer,
        })
    }

    /// SQLite: runs a short read on the calling thread with that thread's own connection. A
    /// point lookup by unique index in WAL mode takes microseconds and never waits for a
    /// writer, which costs less than the hop to the blocking pool and back (the hop, not the
    /// lookup, capped checks at ~1/6 of the HTTP layer's rate); and `f` may borrow what the
    /// caller holds. On PostgreSQL a read is a network round trip that must not hold this
    /// thread: callers pick by [`Db::backend`], and this refuses.
    pub fn read_here<T>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Cancelled);
        }
        READER.with(|cell| {
            let mut slot = cell.borrow_mut();
            let url = self.url.connection_string();
            if slot.as_ref().is_none_or(|(for_url, _)| for_url != url) {
                *slot = Some((url.to_owned(), self.unpooled_connection()?));
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

    /// Readiness: storage answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|conn| Ok(conn.batch_execute("SELECT 1")?)).await
    }

    /// Whether `other` is a handle on the same database (tests run several in one process).
    pub fn same_database(&self, other: &Db) -> bool {
        self.url.connection_string() == other.url.connection_string()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// What group commit has committed so far (SQLite; `None` on PostgreSQL).
    pub fn write_groups(&self) -> Option<&Committed> {
        self.writer.as_deref().map(GroupWriter::committed)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, so diesel never blocks
    /// the async reactor.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(f).await.map_err(|_| StoreError::Cancelled)?
    }

    /// Runs a write transaction that may share its commit with concurrent ones. `f` runs
    /// inside an already open transaction (a [`write_transaction`] in it is a savepoint), so
    /// it must not do anything a rollback cannot undo; it is answered only once the shared
    /// transaction has committed, and its own failure rolls back only its own writes. On
    /// SQLite this is group commit ([`super::group`]). On PostgreSQL it is [`Db::run`]:
    /// writers of different senders run side by side there, and one writer per instance
    /// would queue whole signups behind each other (measured: what limits signups there is
    /// the row lock on a sender's chain head, not the commit).
    ///
    /// [`write_transaction`]: super::write_transaction
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.write(f).await,
            None => self.run(f).await,
        }
    }

    /// Starts `f` with a pooled connection on the blocking thread pool and returns its
    /// handle without waiting, so a stream can keep several such calls in flight.
    pub fn spawn<T, F>(&self, f: F) -> tokio::task::JoinHandle<Result<T, StoreError>>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
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

    /// A connection outside the pool, with the settings every pooled one gets.
    pub fn unpooled_connection(&self) -> Result<DbConn, StoreError> {
        let manager = ConnectionManager {
            url: self.url.clone(),
        };
        r2d2::ManageConnection::connect(&manager).map_err(StoreError::Connect)
    }

    /// A connection of its own, outside the pool, for a long sequential scan (an export or a
    /// verification of a whole chain) that must not hold a pooled connection for minutes.
    /// On SQLite it reads without memory-mapping the file, so a scan of millions of events
    /// does not map the whole database into the process.
    pub fn scan_connection(&self) -> Result<DbConn, StoreError> {
        let mut conn = self.unpooled_connection()?;
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
    Ok(Db::new(pool, url)?)
}
