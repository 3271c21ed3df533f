//! Storage-level checks that need no server.

use std::path::Path;

use super::*;

fn versions(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn migrations_are_paired() {
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("postgres"));
}

#[test]
fn a_fresh_sqlite_file_migrates_and_twice_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .unwrap_or_else(|e| panic!("{e}"));
    let pool = connect(&url, 2).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        migrate(&mut conn).map(|v| v.len()).ok(),
        Some(versions("sqlite").len())
    );
    assert_eq!(migrate(&mut conn).map(|v| v.len()).ok(), Some(0));
}

#[test]
fn write_transaction_rolls_back_on_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .unwrap_or_else(|e| panic!("{e}"));
    let db = open(&url, 2).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = db.get().unwrap_or_else(|e| panic!("{e}"));
    let result: Result<(), StoreError> = write_transaction(&mut conn, |conn| {
        epochs::bump(conn, epochs::LISTS)?;
        Err(StoreError::Cancelled)
    });
    assert!(result.is_err());
    let epochs = epochs::load_epochs(&mut conn).unwrap_or_else(|e| panic!("{e}"));
    assert!(epochs.iter().all(|(_, e)| *e == 0), "{epochs:?}");
}

/// What `check_rows` relies on: by the key's bytes, with the sender and list, SQLite answers
/// a check's and a batch check's lookup from the covering index alone, never the table.
#[test]
fn a_check_reads_only_the_covering_index_on_sqlite() {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .unwrap_or_else(|e| panic!("{e}"));
    let db = open(&url, 2).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = db.get().unwrap_or_else(|e| panic!("{e}"));
    let DbConn::Sqlite(lite) = &mut *conn else {
        panic!("a SQLite URL opens SQLite")
    };
    for columns in [
        "status, current_consent_id, confirmed_at, evidence_sha256",
        "status, current_consent_id",
    ] {
        let plan: Vec<Step> = diesel::sql_query(format!(
            "EXPLAIN QUERY PLAN SELECT {columns} FROM subscriptions \
             WHERE sender_id = 's' AND list_id = 'l' AND unhex(address_key) = x'00'"
        ))
        .load(lite)
        .unwrap_or_else(|e| panic!("{e}"));
        let details: Vec<&str> = plan.iter().map(|s| s.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "SEARCH subscriptions USING COVERING INDEX subscriptions_check \
              (<expr>=? AND sender_id=? AND list_id=?)"
            ],
            "{columns}"
        );
    }

    // An address's subscriptions across lists (subject access, erasure, opt-out) keep the
    // index's first two columns.
    let plan: Vec<Step> = diesel::sql_query(
        "EXPLAIN QUERY PLAN SELECT * FROM subscriptions \
         WHERE sender_id = 's' AND unhex(address_key) = x'00'",
    )
    .load(lite)
    .unwrap_or_else(|e| panic!("{e}"));
    let details: Vec<&str> = plan.iter().map(|s| s.detail.as_str()).collect();
    assert_eq!(
        details,
        ["SEARCH subscriptions USING INDEX subscriptions_check (<expr>=? AND sender_id=?)"]
    );
}

#[test]
fn key_bytes_decodes_lower_case_keys_as_the_hex_crate_does() {
    use super::subscriptions::key_bytes;
    let hasher = crate::domain::email::AddressHasher::new(b"pepper-pepper-pepper-pepper-pepper");
    for address in ["a@example.jp", "user42@example.com", "x.y+z@mail.example"] {
        let email =
            crate::domain::email::EmailAddress::parse(address).unwrap_or_else(|e| panic!("{e}"));
        let key = hasher.address_key(&email);
        let expected: [u8; 32] = hex::decode(&key)
            .unwrap_or_else(|e| panic!("{e}"))
            .try_into()
            .unwrap_or_else(|_| panic!("32 bytes"));
        assert_eq!(key_bytes(&key), Some(expected));
    }
    let upper = "AB".repeat(32);
    for not_a_key in [
        "",
        "ab",
        &"0".repeat(63),
        &"0".repeat(65),
        &upper,
        &"0g".repeat(32),
    ] {
        assert_eq!(key_bytes(not_a_key), None, "{not_a_key}");
    }
}

mod group_commit {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;

    use super::super::group::GroupWriter;
    use super::*;

    fn sqlite() -> (tempfile::TempDir, DatabaseUrl, Db) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .unwrap_or_else(|e| panic!("{e}"));
        let db = open(&url, 4).unwrap_or_else(|e| panic!("{e}"));
        (dir, url, db)
    }

    fn lists_epoch(db: &Db) -> i64 {
        let mut conn = db.get().unwrap_or_else(|e| panic!("{e}"));
        let epochs = epochs::load_epochs(&mut conn).unwrap_or_else(|e| panic!("{e}"));
        epochs
            .into_iter()
            .find_map(|(name, epoch)| (name == epochs::LISTS).then_some(epoch))
            .unwrap_or_else(|| panic!("no lists epoch"))
    }

    /// Holds the writer thread in a write of its own until the returned sender is used,
    /// so that everything queued meanwhile forms the next group.
    fn hold(
        writer: &GroupWriter,
    ) -> (
        mpsc::Sender<()>,
        impl std::future::Future<Output = Result<(), StoreError>>,
    ) {
        let (running, is_running) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let held = writer.write(move |_| {
            let _ = running.send(());
            let _ = released.recv();
            Ok(())
        });
        is_running.recv().unwrap_or_else(|e| panic!("{e}"));
        (release, held)
    }

    #[tokio::test]
    async fn waiting_writes_share_one_commit_and_a_failing_one_fails_alone() {
        let (_dir, url, db) = sqlite();
        let writer = GroupWriter::start(&url).unwrap_or_else(|e| panic!("{e}"));
        let (release, held) = hold(&writer);
        let writes: Vec<_> = (0..10)
            .map(|i| {
                writer.write(move |conn| {
                    epochs::bump(conn, epochs::LISTS)?;
                    if i == 4 {
                        return Err(StoreError::Cancelled);
                    }
                    Ok(i)
                })
            })
            .collect();
        let _ = release.send(());
        assert!(held.await.is_ok());

        let mut answers = Vec::new();
        for write in writes {
            answers.push(write.await.ok());
        }
        let expected: Vec<_> = (0..10).map(|i| (i != 4).then_some(i)).collect();
        assert_eq!(answers, expected);
        assert_eq!(
            lists_epoch(&db),
            9,
            "the failed write's bump was rolled back alone"
        );
        let committed = writer.committed();
        assert_eq!(committed.groups.load(Ordering::Relaxed), 2);
        assert_eq!(committed.writes.load(Ordering::Relaxed), 1 + 9);
    }

    #[tokio::test]
    async fn a_panicking_write_costs_only_itself() {
        let (_dir, url, db) = sqlite();
        let writer = GroupWriter::start(&url).unwrap_or_else(|e| panic!("{e}"));
        let (release, held) = hold(&writer);
        let bump = |conn: &mut DbConn| epochs::bump(conn, epochs::LISTS);
        let before = writer.write(bump);
        let panics = writer.write(|conn: &mut DbConn| -> Result<(), StoreError> {
            write_transaction(conn, |conn| {
                epochs::bump(conn, epochs::LISTS)?;
                panic!("a bug in a write")
            })
        });
        let after = writer.write(bump);
        let _ = release.send(());
        assert!(held.await.is_ok());

        assert!(before.await.is_ok());
        assert!(matches!(panics.await, Err(StoreError::Cancelled)));
        assert!(after.await.is_ok());
        assert_eq!(lists_epoch(&db), 2);
        assert!(writer.write(bump).await.is_ok(), "the writer goes on");
    }

    #[tokio::test]
    async fn an_answer_comes_only_after_the_commit() {
        let (_dir, _, db) = sqlite();
        let reader = db.clone();
        // Inside the write the change is not yet visible to another connection; once the
        // write is answered, it is.
        let seen_inside = db
            .write(move |conn| {
                epochs::bump(conn, epochs::LISTS)?;
                Ok(lists_epoch(&reader))
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen_inside, 0);
        assert_eq!(lists_epoch(&db), 1);
    }
}

mod checkpoints {
    use super::*;

    #[tokio::test]
    async fn grouped_writes_reach_the_database_file_without_anyone_asking() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("t.db");
        let url = DatabaseUrl::parse(&format!("sqlite://{}", file.display()))
            .unwrap_or_else(|e| panic!("{e}"));
        let db = open(&url, 2).unwrap_or_else(|e| panic!("{e}"));
        let modified = || std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        // Let the migrations' own checkpoint settle first.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let before = modified();

        let bumped = db.write(|conn| epochs::bump(conn, epochs::LISTS)).await;

        assert!(bumped.is_ok());
        let mut reached = false;
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if modified() != before {
                reached = true;
                break;
            }
        }
        assert!(reached, "the WAL was never checkpointed into the file");
    }

    /// Under writes that never pause the checkpoint thread never catches up with the writer,
    /// and SQLite starts the WAL over only from a fully checkpointed one: before the writer
    /// caught up itself, the file grew with every commit (1.5 GB in an 8-second run of the
    /// signup benchmark, for a 100 MB database).
    #[tokio::test]
    async fn the_wal_starts_over_under_writes_that_never_pause() {
        use diesel::connection::SimpleConnection;
        use futures_util::StreamExt;

        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .unwrap_or_else(|e| panic!("{e}"));
        let _migrated = open(&url, 2).unwrap_or_else(|e| panic!("{e}"));
        let limit = 1 << 20;
        let writer = super::super::group::GroupWriter::start_with_wal_limit(&url, limit)
            .unwrap_or_else(|e| panic!("{e}"));
        let wal = dir.path().join("t.db-wal");
        let wal_bytes = || std::fs::metadata(&wal).map_or(0, |m| m.len());
        let created = writer
            .write(|conn| Ok(conn.batch_execute("CREATE TABLE filler (page BLOB)")?))
            .await;
        assert!(created.is_ok());

        // About a page a write, each made slow enough that the checkpoint thread runs many
        // times while they are written; 16 always waiting; 32 MiB in all, 32 times the limit.
        const A_SLOW_PAGE: &str = "INSERT INTO filler SELECT randomblob(3000) FROM (WITH \
            RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
            SELECT max(i) FROM n)";
        let written = 32 * limit;
        let mut largest = 0;
        let mut answers = futures_util::stream::iter(0..written / 4096)
            .map(|_| writer.write(|conn| Ok(conn.batch_execute(A_SLOW_PAGE)?)))
            .buffer_unordered(16);
        while let Some(answer) = answers.next().await {
            assert!(answer.is_ok());
            largest = largest.max(wal_bytes());
        }
        // Started over, the WAL stays near its limit plus what the checkpoint thread's
        // period lets pile up; never started over, it holds all that was written.
        assert!(largest < written / 2, "the WAL grew to {largest} bytes");
    }
}
