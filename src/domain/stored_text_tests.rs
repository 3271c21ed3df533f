//! The typed states and ids against real databases: every variant and an id survive a write
//! and a read through diesel on SQLite and, when `CONSENTRY_TEST_POSTGRES_URL` is set,
//! PostgreSQL, both through the `MultiConnection` enum and on the concrete connection; text
//! no variant names fails to load; and the sets match the migrations' `CHECK` constraints.

use diesel::prelude::*;

use super::event_kind::EventKind;
use super::ids::{ConsentId, EventId, ListId, SenderId, SubscriptionId};
use super::job_kind::{OutboxKind, OutboxStatus};
use super::status::{ConsentStatus, SubscriptionStatus};
use crate::db::{connect, DatabaseUrl, DbConn, Pool};

diesel::table! {
    /// A session-local table, so tests on a shared PostgreSQL server never meet.
    typed_text (n) {
        n -> BigInt,
        value -> Text,
    }
}

const CREATE: &str =
    "CREATE TEMPORARY TABLE typed_text (n BIGINT PRIMARY KEY, value TEXT NOT NULL)";

/// An error and its causes, joined: diesel names the field and puts our error beneath.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// Writes every variant of `$ty` as a typed value, reads them back typed, filters by one,
/// and checks that the stored text is exactly `as_str`; then text no variant names fails.
macro_rules! round_trip_enum {
    ($conn:expr, $ty:ty) => {{
        let conn = $conn;
        diesel::delete(typed_text::table)
            .execute(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        for (n, variant) in <$ty>::ALL.iter().enumerate() {
            diesel::insert_into(typed_text::table)
                .values((typed_text::n.eq(n as i64), typed_text::value.eq(*variant)))
                .execute(conn)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let typed: Vec<$ty> = typed_text::table
            .select(typed_text::value)
            .order(typed_text::n)
            .load(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(typed, <$ty>::ALL);
        let text: Vec<String> = typed_text::table
            .select(typed_text::value)
            .order(typed_text::n)
            .load(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        let expected: Vec<&str> = <$ty>::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(text, expected);
        let last = <$ty>::ALL[<$ty>::ALL.len() - 1];
        let found: Vec<i64> = typed_text::table
            .filter(typed_text::value.eq(last))
            .select(typed_text::n)
            .load(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found, [(<$ty>::ALL.len() - 1) as i64]);

        diesel::insert_into(typed_text::table)
            .values((
                typed_text::n.eq(1000),
                typed_text::value.eq("no such state"),
            ))
            .execute(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        let unknown = typed_text::table
            .filter(typed_text::n.eq(1000))
            .select(typed_text::value)
            .load::<$ty>(conn);
        match unknown {
            Err(diesel::result::Error::DeserializationError(e)) => {
                let chain = error_chain(&*e);
                assert!(
                    chain.contains("unknown") && chain.contains("\"no such state\""),
                    "{chain}"
                )
            }
            other => panic!("unknown text loaded as {other:?}"),
        }
    }};
}

/// Writes a fresh id of `$ty` and an id of text written before the newtypes, reads both
/// back, and finds the row by the typed id.
macro_rules! round_trip_id {
    ($conn:expr, $ty:ty) => {{
        let conn = $conn;
        diesel::delete(typed_text::table)
            .execute(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        let id = <$ty>::new();
        diesel::insert_into(typed_text::table)
            .values((typed_text::n.eq(1), typed_text::value.eq(&id)))
            .execute(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        diesel::insert_into(typed_text::table)
            .values((typed_text::n.eq(2), typed_text::value.eq("legacy-id")))
            .execute(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<$ty> = typed_text::table
            .select(typed_text::value)
            .order(typed_text::n)
            .load(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], id);
        assert_eq!(ids[1], "legacy-id");
        let found: Vec<i64> = typed_text::table
            .filter(typed_text::value.eq(&id))
            .select(typed_text::n)
            .load(conn)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found, [1]);
    }};
}

macro_rules! round_trip_all {
    ($conn:expr) => {{
        let conn = $conn;
        round_trip_enum!(&mut *conn, SubscriptionStatus);
        round_trip_enum!(&mut *conn, ConsentStatus);
        round_trip_enum!(&mut *conn, EventKind);
        round_trip_enum!(&mut *conn, OutboxKind);
        round_trip_enum!(&mut *conn, OutboxStatus);
        round_trip_id!(&mut *conn, SenderId);
        round_trip_id!(&mut *conn, ListId);
        round_trip_id!(&mut *conn, SubscriptionId);
        round_trip_id!(&mut *conn, ConsentId);
        round_trip_id!(&mut *conn, EventId);
    }};
}

fn check_on(pool: &Pool) {
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
    let conn: &mut DbConn = &mut conn;
    diesel::sql_query(CREATE)
        .execute(conn)
        .unwrap_or_else(|e| panic!("{e}"));
    // Through the MultiConnection backend, as the table modules query.
    round_trip_all!(&mut *conn);
    // On the concrete connection, as the hot-path queries under `on_backend!` do.
    crate::on_backend!(conn, |c| round_trip_all!(c));
}

#[test]
fn every_state_and_id_round_trips_through_sqlite() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .unwrap_or_else(|e| panic!("{e}"));
    check_on(&connect(&url, 1).unwrap_or_else(|e| panic!("{e}")));
}

#[test]
fn every_state_and_id_round_trips_through_postgres() {
    let Some(raw) = std::env::var("CONSENTRY_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        return;
    };
    let url = DatabaseUrl::parse(&raw).unwrap_or_else(|e| panic!("{e}"));
    check_on(&connect(&url, 1).unwrap_or_else(|e| panic!("{e}")));
}

/// The values `CREATE TABLE <table>` allows in `column`, from its `CHECK (column IN (...))`.
fn allowed(sql: &str, table: &str, column: &str) -> Vec<String> {
    let start = sql
        .find(&format!("CREATE TABLE {table} ("))
        .unwrap_or_else(|| panic!("no table {table}"));
    let body = &sql[start..];
    let body = &body[..body.find(");").unwrap_or(body.len())];
    let marker = format!("CHECK ({column} IN (");
    let list = body
        .split_once(&marker)
        .and_then(|(_, rest)| rest.split_once(')'))
        .map_or_else(|| panic!("no CHECK on {table}.{column}"), |(list, _)| list);
    list.split(',')
        .map(|v| v.trim().trim_matches('\'').to_owned())
        .collect()
}

fn texts<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<String> {
    all.iter().map(|v| as_str(*v).to_owned()).collect()
}

#[test]
fn the_sets_are_what_the_migrations_allow() {
    let migrations = [
        include_str!("../../migrations/sqlite/2026-11-27-000001_foundation/up.sql"),
        include_str!("../../migrations/postgres/2026-11-27-000001_foundation/up.sql"),
    ];
    for sql in migrations {
        assert_eq!(
            allowed(sql, "subscriptions", "status"),
            texts(SubscriptionStatus::ALL, SubscriptionStatus::as_str)
        );
        assert_eq!(
            allowed(sql, "consents", "status"),
            texts(ConsentStatus::ALL, ConsentStatus::as_str)
        );
        assert_eq!(
            allowed(sql, "outbox", "kind"),
            texts(OutboxKind::ALL, OutboxKind::as_str)
        );
        assert_eq!(
            allowed(sql, "outbox", "status"),
            texts(OutboxStatus::ALL, OutboxStatus::as_str)
        );
    }
}

#[test]
fn serde_and_the_schema_use_the_stored_text() {
    for kind in EventKind::ALL {
        let json = serde_json::to_value(kind).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, serde_json::json!(kind.as_str()));
        let back: EventKind = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, *kind);
    }
    let unknown = serde_json::from_str::<ConsentStatus>("\"withdrawn\"");
    assert!(unknown.is_err_and(|e| e.to_string().contains("unknown consent status")));
    let schema = serde_json::to_value(<ConsentStatus as utoipa::PartialSchema>::schema())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        schema,
        serde_json::json!({
            "type": "string",
            "enum": ["pending", "confirmed", "unsubscribed", "expired", "refused"]
        })
    );
}
