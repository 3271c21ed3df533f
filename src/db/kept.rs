//! A connection outside the pool that one worker keeps for the same few statements.

use std::sync::{Arc, Mutex, PoisonError};

use super::{Db, DbConn, StoreError};

/// A connection of one worker's own, opened on first use with `settings` applied and again
/// after any error, used on the blocking pool one call at a time. For work that runs the
/// same statements over and over and wants session settings the pool's connections must
/// not have (the grouped check lookups on PostgreSQL, `views::check_queue`).
#[derive(Clone)]
pub struct KeptConnection {
    db: Db,
    settings: &'static str,
    conn: Arc<Mutex<Option<DbConn>>>,
}

impl KeptConnection {
    /// Nothing is opened until the first [`KeptConnection::run`].
    pub fn new(db: Db, settings: &'static str) -> Self {
        Self {
            db,
            settings,
            conn: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `f` on the blocking pool with the kept connection; a second call waits for the
    /// first.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let kept = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut slot = kept.conn.lock().unwrap_or_else(PoisonError::into_inner);
            let conn = match &mut *slot {
                Some(conn) => conn,
                empty => empty.insert(kept.open()?),
            };
            let result = f(conn);
            if result.is_err() {
                // The error may have broken the connection, and a new one costs one connect.
                *slot = None;
            }
            result
        })
        .await
        .map_err(|_| StoreError::Cancelled)?
    }

    fn open(&self) -> Result<DbConn, StoreError> {
        use diesel::connection::SimpleConnection;
        let mut conn = self.db.unpooled_connection()?;
        conn.batch_execute(self.settings)?;
        Ok(conn)
    }
}
