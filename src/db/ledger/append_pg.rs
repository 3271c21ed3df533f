//! The PostgreSQL append: the event, its personal data, the sender's activity of the hour
//! and the new chain head in one statement, kept prepared.
//!
//! On PostgreSQL the chain head's row lock, taken by `lock_head`, is held until the
//! transaction commits, so every round trip after it is time in which no other event of the
//! same sender can be appended (measured: signups waited on `Lock:tuple` in 559 of 690
//! samples of active backends). The four statements here were three of those round trips,
//! and the activity's upsert, which diesel never keeps prepared, was parsed every time.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use super::rows::EventRow;
use crate::db::activity::Counts;
use crate::db::cached_writes::{ACTIVITY_ADD, ACTIVITY_COLUMNS};
use consentry_ledger::pii::PiiRecord;

/// `INSERT` the event (and its personal data, when it has any) and move the head to it.
pub struct AppendOnPg<'a> {
    row: &'a EventRow,
    consent_id: Option<&'a str>,
    /// email, ip, user agent, note, salt
    pii: [Option<&'a str>; 5],
    has_pii: bool,
    hour: chrono::NaiveDateTime,
    /// requested, queued, mailed, confirmed, refused, expired, unsubscribed, complaints,
    /// throttled, sends_checked
    counts: [i64; 10],
    has_counts: bool,
}

impl<'a> AppendOnPg<'a> {
    pub fn new(
        row: &'a EventRow,
        pii: Option<&'a PiiRecord>,
        hour: chrono::NaiveDateTime,
        counts: &Counts,
    ) -> Self {
        let field =
            |get: fn(&'a PiiRecord) -> &'a Option<String>| pii.and_then(|p| get(p).as_deref());
        Self {
            row,
            consent_id: row.consent_id.as_ref().map(|c| c.as_str()),
            pii: [
                field(|p| &p.email),
                field(|p| &p.ip),
                field(|p| &p.user_agent),
                field(|p| &p.note),
                field(|p| &p.salt),
            ],
            has_pii: pii.is_some(),
            hour,
            counts: counts.in_column_order(),
            has_counts: !counts.is_empty(),
        }
    }
}

impl QueryId for AppendOnPg<'_> {
    type QueryId = AppendOnPg<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for AppendOnPg<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let row = self.row;
        out.push_sql(
            "WITH event AS (INSERT INTO events (id, sender_id, seq, at, kind, consent_id, \
             list_slug, subject_key, data, pii_sha256, prev_hash, hash) VALUES (",
        );
        out.push_bind_param::<Text, _>(&row.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(row.sender_id.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&row.seq)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&row.at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.consent_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.list_slug)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.subject_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.data)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&row.pii_sha256)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.prev_hash)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&row.hash)?;
        // One statement shape with or without personal data, so it stays one prepared
        // statement: the `SELECT` yields no row when there is none.
        out.push_sql(
            ") RETURNING id), pii AS (INSERT INTO event_pii (event_id, email, ip, user_agent, \
             note, salt) SELECT event.id, ",
        );
        for (i, value) in self.pii.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<Nullable<Text>, _>(value)?;
        }
        out.push_sql(" FROM event WHERE ");
        out.push_bind_param::<Bool, _>(&self.has_pii)?;
        out.push_sql("), activity AS (INSERT INTO sender_activity ");
        out.push_sql(ACTIVITY_COLUMNS);
        out.push_sql(" SELECT ");
        out.push_bind_param::<Text, _>(row.sender_id.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.hour)?;
        for count in &self.counts {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(count)?;
        }
        out.push_sql(" WHERE ");
        out.push_bind_param::<Bool, _>(&self.has_counts)?;
        out.push_sql(ACTIVITY_ADD);
        out.push_sql(") UPDATE chain_heads SET seq = ");
        out.push_bind_param::<BigInt, _>(&row.seq)?;
        out.push_sql(", hash = ");
        out.push_bind_param::<Text, _>(&row.hash)?;
        out.push_sql(", updated_at = ");
        out.push_bind_param::<Timestamp, _>(&row.at)?;
        out.push_sql(" WHERE sender_id = ");
        out.push_bind_param::<Text, _>(row.sender_id.as_str())?;
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for AppendOnPg<'_> {}
