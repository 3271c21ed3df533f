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

/// How long [`discard_erased_frames`] keeps trying before it reports the WAL as kept.
const DISCARD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// After personal data is erased: on SQLite, copies the WAL into the database file and
/// truncates it, so the frames that still hold the old plaintext are gone (secure_delete
/// already overwrites the pages in the file). PostgreSQL keeps old row versions until
/// vacuum; that is the operator's setting (see SECURITY.md).
///
/// SQLite answers a checkpoint it could not finish with a row that says `busy`, not with an
/// error, and it does not wait at all while another connection checkpoints (the group
/// writer's checkpoint thread does, within 100 ms of every commit, the erasure's own
/// included). So the result is read, and the checkpoint tried again until it is done or
/// [`DISCARD_PATIENCE`] has passed; then the caller gets [`StoreError::ErasedFramesKept`]
/// and a retry (every erasure truncates, also one that finds nothing left) finishes it.
pub fn discard_erased_frames(conn: &mut DbConn) -> Result<(), StoreError> {
    truncate_wal(conn, DISCARD_PATIENCE)
}

fn truncate_wal(conn: &mut DbConn, patience: std::time::Duration) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    let DbConn::Sqlite(c) = conn else {
        return Ok(());
    };
    let gives_up = std::time::Instant::now() + patience;
    loop {
        let outcome: Checkpoint =
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(c)?;
        if outcome.busy == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= gives_up {
            return Err(StoreError::ErasedFramesKept);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The row `PRAGMA wal_checkpoint` answers with; only `busy` matters here.
#[derive(diesel::QueryableByName)]
struct Checkpoint {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::db::{epochs, open, DatabaseUrl, Db};
    use diesel::connection::SimpleConnection;

    /// A write committed while a reader on another connection holds the snapshot before it
    /// for `hold`; the writer's own connection waits only 20 ms in SQLite's busy handler.
    struct WrittenUnderAReader {
        dir: tempfile::TempDir,
        conn: crate::db::PooledConn,
        reading: std::thread::JoinHandle<()>,
        _db: Db,
    }

    impl WrittenUnderAReader {
        fn arrange(hold: Duration) -> Self {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join("t.db");
            let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display()))
                .unwrap_or_else(|e| panic!("{e}"));
            let db = open(&url, 3).unwrap_or_else(|e| panic!("{e}"));
            let mut reader = db.get().unwrap_or_else(|e| panic!("{e}"));
            let (taken, snapshot_taken) = std::sync::mpsc::channel();
            let reading = std::thread::spawn(move || {
                snapshot(&mut reader, |conn| {
                    epochs::load_epochs(conn)?;
                    let _ = taken.send(());
                    std::thread::sleep(hold);
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{e}"));
            });
            let _ = snapshot_taken.recv();
            let mut conn = db.get().unwrap_or_else(|e| panic!("{e}"));
            write_transaction(&mut conn, |conn| epochs::bump(conn, epochs::LISTS))
                .unwrap_or_else(|e| panic!("{e}"));
            conn.batch_execute("PRAGMA busy_timeout = 20;")
                .unwrap_or_else(|e| panic!("{e}"));
            Self {
                dir,
                conn,
                reading,
                _db: db,
            }
        }

        fn wal_bytes(&self) -> u64 {
            std::fs::metadata(self.dir.path().join("t.db-wal")).map_or(0, |m| m.len())
        }

        fn reader_done(self) {
            self.reading
                .join()
                .unwrap_or_else(|_| panic!("the reader panicked"));
        }
    }

    #[test]
    fn the_wal_is_truncated_once_a_reader_on_an_old_snapshot_is_gone() {
        // The reader holds longer than SQLite's own wait: only trying again gets there.
        let mut held = WrittenUnderAReader::arrange(Duration::from_millis(300));

        let discarded = discard_erased_frames(&mut held.conn);

        assert!(discarded.is_ok(), "{discarded:?}");
        assert_eq!(held.wal_bytes(), 0);
        held.reader_done();
    }

    #[test]
    fn a_wal_that_cannot_be_truncated_is_reported_not_ignored() {
        let mut held = WrittenUnderAReader::arrange(Duration::from_millis(1000));

        let discarded = truncate_wal(&mut held.conn, Duration::from_millis(100));

        assert!(
            matches!(discarded, Err(StoreError::ErasedFramesKept)),
            "{discarded:?}"
        );
        assert!(held.wal_bytes() > 0);
        held.reader_done();
    }
}
