//! The plans PostgreSQL makes for the grouped check lookup (`key_lookups::CheckKeys`), as a
//! thread's lookup connection makes them: a generic plan, kept for the connection's life.
//! The lookup must probe the key index once per key even while the table's statistics are
//! stale (a bulk import not yet analysed) and right after the index was added to a table
//! analysed before it (an upgrade), or every group of checks scans the whole list.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::key_lookups::CheckKeys;
use super::*;
use crate::domain::ids::{ListId, SenderId};

/// A PostgreSQL database for this test, dropped after it.
struct Scratch {
    admin_url: String,
    name: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = diesel::sql_query(drop).execute(&mut admin);
        }
    }
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The generic plan of the check lookup for two keys, as text, prepared as `name` (its
/// parameters: the keys, the list, the sender).
fn lookup_plan(pg: &mut PgConnection, name: &str) -> String {
    let (sender_id, list_id) = (SenderId::from_trusted("s1"), ListId::from_trusted("l1"));
    let keys = vec!["ab".repeat(32), "cd".repeat(32)];
    let query = CheckKeys {
        sender_id: &sender_id,
        list_id: &list_id,
        keys: &keys,
    };
    let sql = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
    let sql = sql.split(" -- binds:").next().unwrap_or_default();
    pg.batch_execute(&format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE {name}(text[], text, text) AS {sql}"
    ))
    .unwrap_or_else(|e| panic!("{e}: {sql}"));
    let keys = keys.join(",");
    let lines: Vec<PlanLine> =
        diesel::sql_query(format!("EXPLAIN EXECUTE {name}('{{{keys}}}', 'l1', 's1')"))
            .load(pg)
            .unwrap_or_else(|e| panic!("{e}"));
    lines
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_probes_per_key(plan: &str) {
    assert!(
        plan.contains("Nested Loop")
            && plan.contains("subscriptions_list_address_bytes")
            && !plan.contains("Seq Scan")
            && !plan.contains("Hash Semi Join"),
        "the lookup does not probe the key index once per key:\n{plan}"
    );
}

#[test]
fn the_postgres_check_lookup_probes_the_key_index_even_with_stale_statistics() {
    let Some(admin_url) = std::env::var("CONSENTRY_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        return;
    };
    let scratch = Scratch {
        name: format!("consentry_plan_{}", uuid::Uuid::new_v4().simple()),
        admin_url,
    };
    let mut admin = PgConnection::establish(&scratch.admin_url).unwrap_or_else(|e| panic!("{e}"));
    diesel::sql_query(format!("CREATE DATABASE \"{}\"", scratch.name))
        .execute(&mut admin)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut url = ::url::Url::parse(&scratch.admin_url).unwrap_or_else(|e| panic!("{e}"));
    url.set_path(&scratch.name);
    let pool = connect(
        &DatabaseUrl::parse(url.as_str()).unwrap_or_else(|e| panic!("{e}")),
        1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
    migrate(&mut conn).unwrap_or_else(|e| panic!("{e}"));
    let DbConn::Postgres(pg) = &mut *conn else {
        panic!("a PostgreSQL URL opens PostgreSQL")
    };

    // 100,000 subscriptions on one list, imported in one statement and never analysed.
    pg.batch_execute(
        "ALTER TABLE subscriptions SET (autovacuum_enabled = false);
         INSERT INTO senders (id, name, legal_name, postal_address, contact, created_at)
             VALUES ('s1', 'S', 'S', 'A', 'c@example.com', now());
         INSERT INTO lists (id, sender_id, slug, name, policy_url, locale,
                            consent_text_sha256, created_at, updated_at)
             VALUES ('l1', 's1', 'news', 'News', 'https://example.com', 'en', 'x', now(), now());
         INSERT INTO subscriptions (id, sender_id, list_id, address_key, abuse_key, status,
                                    current_consent_id, evidence_sha256, updated_at)
             SELECT 'sub' || i, 's1', 'l1', encode(sha256(i::text::bytea), 'hex'), 'a',
                    'confirmed', 'c' || i, 'e', now()
             FROM generate_series(1, 100000) AS i;",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_probes_per_key(&lookup_plan(pg, "stale"));

    // An upgrade: the table analysed before the index existed, then the index's migration.
    pg.batch_execute("DROP INDEX subscriptions_list_address_bytes; ANALYZE subscriptions;")
        .unwrap_or_else(|e| panic!("{e}"));
    pg.batch_execute(include_str!(
        "../../migrations/postgres/2026-12-06-000002_postgres_key_bytes_index/up.sql"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_probes_per_key(&lookup_plan(pg, "upgraded"));
}
