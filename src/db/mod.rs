//! Storage: the database URL, one connection type over SQLite and PostgreSQL, the pool
//! (`pool`), the handle request code uses (`handle`) and transactions (`transaction`). Table modules hold plain sync functions taking `&mut DbConn`.
//!
//! Lookups by a unique key read `.load(conn)?.into_iter().next()` rather than `.first()`:
//! `.first()` binds `LIMIT ?`, and SQLite re-prepares such a statement on every execution
//! (measured: the SQL parser was the top cost of a compliance check).

pub mod activity;
pub mod api_keys;
pub mod check_rows;
pub mod checkpoints;
pub mod complaints;
pub mod consents;
pub mod epochs;
pub mod idempotency;
pub mod ledger;
pub mod lists;
pub mod outbox;
pub mod schema;
pub mod senders;
pub mod settings;
pub mod standing;
pub mod subscriptions;
pub mod suppressions;
pub mod webhooks;

mod url;

mod cached_writes;
mod group;
mod handle;
mod kept;
mod key_lookups;
mod pool;
mod stored_time;
mod transaction;
mod wal;

use diesel::{PgConnection, SqliteConnection};

pub use group::Committed;
pub use handle::{open, Db};
pub use kept::KeptConnection;
pub use pool::{connect, migrate, ConnectionManager};
pub use transaction::{discard_erased_frames, snapshot, write_transaction};
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
    /// A write that shared its transaction with others ([`Db::write`]) was not stored
    /// because that transaction failed as a whole.
    #[error("the shared write transaction failed: {0}")]
    SharedTransactionLost(String),
    /// A read that shared its query with others (a group of single checks) failed with it.
    #[error("the shared read failed: {0}")]
    SharedReadFailed(String),
    /// Erased data was committed, but SQLite's WAL, which still holds the old plaintext,
    /// could not be truncated (readers or another checkpoint kept it); a retry finishes it.
    #[error("the WAL that holds erased data could not be truncated")]
    ErasedFramesKept,
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

#[cfg(test)]
mod lookup_plan_tests;
#[cfg(test)]
mod tests;
