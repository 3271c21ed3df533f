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
