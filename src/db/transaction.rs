//! Transactions: the write transaction that takes SQLite's lock up front, and a read-only
//! snapshot for scans.

use diesel::Connection;

use super::{DbConn, StoreError};

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

/// After personal data is erased: on SQLite, copies the WAL into the database file and
/// truncates it, so the frames that still hold the old plaintext are gone (secure_delete
/// already overwrites the pages in the file). A reader holding an old snapshot can keep the
/// WAL from being reset; the next erasure or checkpoint clears it then. PostgreSQL keeps
/// old row versions until vacuum; that is the operator's setting (see SECURITY.md).
pub fn discard_erased_frames(conn: &mut DbConn) -> Result<(), StoreError> {
    use diesel::connection::SimpleConnection;
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    Ok(())
}
