//! PostgreSQL lookups of many address keys at once (a group of checks, a batch chunk), as
//! queries diesel keeps prepared.
//!
//! `diesel::sql_query` is never a cached statement, so PostgreSQL parsed and planned it for
//! every group of checks (measured: parsing and planning were most of the database's time
//! at 26,000 checks/s). The DSL's `address_key = ANY($3)` is cached, but its plan depends on
//! the statistics the table had when it was prepared: planned while the table was still
//! unanalysed (a new database, a bulk import), it matched only the sender and list on the
//! index and filtered the keys, a scan of the whole list for every group (15 ms for 2 keys
//! in a 20,000-address list). This row comparison, with the keys unnested in the subquery's
//! select list (so that PostgreSQL cannot turn the sender and list into a scan of their
//! own), probes a unique index (`subscriptions_list_address_bytes`: the key's bytes and the
//! list) once per key, whether the table has been analysed or not (`lookup_plan_tests`); a
//! fragment of our own lets diesel keep it prepared. The suppressions' lookup is a row
//! comparison on their primary key, for the same reason.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use crate::domain::ids::{ListId, SenderId};

/// `SELECT` the check columns of the subscriptions of `keys` on one sender's list.
pub struct CheckKeys<'a> {
    pub sender_id: &'a SenderId,
    pub list_id: &'a ListId,
    pub keys: &'a [String],
}

impl QueryId for CheckKeys<'_> {
    type QueryId = CheckKeys<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for CheckKeys<'_> {
    type SqlType = (Text, Text, Text, Nullable<Timestamp>, Text);
}

impl QueryFragment<Pg> for CheckKeys<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT address_key, status, current_consent_id, confirmed_at, evidence_sha256 \
             FROM subscriptions WHERE (decode(address_key, 'hex'), list_id, sender_id) \
             IN (SELECT decode(unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(self.keys)?;
        out.push_sql("::text[]), 'hex'), ");
        out.push_bind_param::<Text, _>(self.list_id.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.sender_id.as_str())?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for CheckKeys<'_> {}

/// `SELECT DISTINCT` those of `keys` that a suppression of this sender or the global scope
/// holds.
pub struct SuppressedKeys<'a> {
    pub sender_id: &'a SenderId,
    pub global: &'static str,
    pub keys: &'a [String],
}

impl QueryId for SuppressedKeys<'_> {
    type QueryId = SuppressedKeys<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for SuppressedKeys<'_> {
    type SqlType = Text;
}

impl QueryFragment<Pg> for SuppressedKeys<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT DISTINCT address_key FROM suppressions WHERE (scope, address_key) \
             IN (SELECT s, k FROM unnest(ARRAY[",
        );
        out.push_bind_param::<Text, _>(self.sender_id.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.global)?;
        out.push_sql("]) s, unnest(");
        out.push_bind_param::<Array<Text>, _>(self.keys)?;
        out.push_sql("::text[]) k)");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for SuppressedKeys<'_> {}
