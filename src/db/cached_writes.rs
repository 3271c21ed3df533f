//! The updates and the upsert that every signup runs, as statements diesel keeps prepared.
//!
//! diesel never caches an `UPDATE` or an `ON CONFLICT DO UPDATE` (a changeset may leave out
//! columns), so SQLite parsed and planned them for every signup: 14 % of the group writer's
//! time at 2,500 signups/s, and the writer's one core is what limits signups (measured).
//! Written out here with a fixed text, they are prepared once per connection.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

/// `sender_activity`'s columns as the activity upserts bind them (sender, hour, then
/// [`super::activity::Counts::in_column_order`]).
pub const ACTIVITY_COLUMNS: &str = "(sender_id, hour, requested, queued, mailed, confirmed, \
     refused, expired, unsubscribed, complaints, throttled, sends_checked)";

/// Adds the proposed row's counts to the existing row's.
pub const ACTIVITY_ADD: &str = " ON CONFLICT (sender_id, hour) DO UPDATE SET \
     requested = sender_activity.requested + excluded.requested, \
     queued = sender_activity.queued + excluded.queued, \
     mailed = sender_activity.mailed + excluded.mailed, \
     confirmed = sender_activity.confirmed + excluded.confirmed, \
     refused = sender_activity.refused + excluded.refused, \
     expired = sender_activity.expired + excluded.expired, \
     unsubscribed = sender_activity.unsubscribed + excluded.unsubscribed, \
     complaints = sender_activity.complaints + excluded.complaints, \
     throttled = sender_activity.throttled + excluded.throttled, \
     sends_checked = sender_activity.sends_checked + excluded.sends_checked";

macro_rules! cached_statement {
    ($name:ident) => {
        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn: diesel::Connection> RunQueryDsl<Conn> for $name<'_> {}
    };
}

/// `sender_activity` += `counts` for the sender's hour, creating the row.
pub struct AddActivity<'a> {
    pub sender_id: &'a str,
    pub hour: NaiveDateTime,
    /// In [`super::activity::Counts::in_column_order`].
    pub counts: [i64; 10],
}

cached_statement!(AddActivity);

impl<DB: Backend> QueryFragment<DB> for AddActivity<'_>
where
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("INSERT INTO sender_activity ");
        out.push_sql(ACTIVITY_COLUMNS);
        out.push_sql(" VALUES (");
        out.push_bind_param::<Text, str>(self.sender_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.hour)?;
        for count in &self.counts {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, i64>(count)?;
        }
        out.push_sql(")");
        out.push_sql(ACTIVITY_ADD);
        Ok(())
    }
}

/// The sender's chain head moved to a new event.
pub struct AdvanceHead<'a> {
    pub sender_id: &'a str,
    pub seq: i64,
    pub hash: &'a str,
    pub at: NaiveDateTime,
}

cached_statement!(AdvanceHead);

impl<DB: Backend> QueryFragment<DB> for AdvanceHead<'_>
where
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE chain_heads SET seq = ");
        out.push_bind_param::<BigInt, i64>(&self.seq)?;
        out.push_sql(", hash = ");
        out.push_bind_param::<Text, str>(self.hash)?;
        out.push_sql(", updated_at = ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.at)?;
        out.push_sql(" WHERE sender_id = ");
        out.push_bind_param::<Text, str>(self.sender_id)?;
        Ok(())
    }
}

/// One more confirmation mail counted on a consent.
pub struct NoteMailEnqueued<'a> {
    pub consent_id: &'a str,
    pub at: NaiveDateTime,
}

cached_statement!(NoteMailEnqueued);

impl<DB: Backend> QueryFragment<DB> for NoteMailEnqueued<'_>
where
    str: ToSql<Text, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE consents SET mail_count = mail_count + 1, last_mailed_at = ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.at)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, str>(self.consent_id)?;
        Ok(())
    }
}
