//! The `outbox` table: durable mail and webhook jobs, claimed with a lease so that several
//! workers (several instances on PostgreSQL) never send the same job at once.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::schema::outbox;
use super::{write_transaction, DbConn, StoreError};
use crate::domain::ids::{ConsentId, SenderId};
use crate::domain::job_kind::{OutboxKind, OutboxStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    pub kind: OutboxKind,
    pub sender_id: SenderId,
    pub consent_id: Option<ConsentId>,
    pub abuse_key: Option<String>,
    pub payload: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// The instance that holds (or last held) the lease, as [`claim_due`] was told.
    pub locked_by: Option<String>,
}

impl OutboxRow {
    /// A job due now.
    pub fn new(
        kind: OutboxKind,
        sender_id: &SenderId,
        consent_id: Option<&ConsentId>,
        abuse_key: Option<&str>,
        payload: String,
        at: NaiveDateTime,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            sender_id: sender_id.to_owned(),
            consent_id: consent_id.cloned(),
            abuse_key: abuse_key.map(str::to_owned),
            payload,
            status: OutboxStatus::Queued,
            attempts: 0,
            next_attempt_at: at,
            locked_until: None,
            last_error: None,
            created_at: at,
            sent_at: None,
            locked_by: None,
        }
    }
}

pub fn enqueue(conn: &mut DbConn, job: &OutboxRow) -> Result<(), StoreError> {
    let query = diesel::insert_into(outbox::table).values(job);
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Mail jobs created for an abuse key since `since`, across every sender.
pub fn count_mail_for_abuse_key(
    conn: &mut DbConn,
    abuse_key: &str,
    since: NaiveDateTime,
) -> Result<i64, StoreError> {
    let query = outbox::table
        .filter(outbox::kind.eq(OutboxKind::Mail))
        .filter(outbox::abuse_key.eq(abuse_key))
        .filter(outbox::created_at.gt(since))
        .count();
    Ok(crate::on_backend!(conn, |c| query.get_result(c))?)
}

/// Serialises cap checks for one abuse key across PostgreSQL instances for the rest of the
/// transaction (SQLite transactions are serialised already).
pub fn lock_abuse_key(conn: &mut DbConn, abuse_key: &str) -> Result<(), StoreError> {
    if let DbConn::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1)) IS NULL")
            .bind::<diesel::sql_types::Text, _>(abuse_key)
            .execute(pg)?;
    }
    Ok(())
}

/// What claims a lease: the instance (`owner`, see `jobs::Instance`), for how long, how many.
pub struct Lease<'a> {
    pub owner: &'a str,
    pub length: Duration,
    pub limit: i64,
}

/// Claims up to `lease.limit` due jobs of `kind`: they are invisible to other workers until
/// the lease ends or the job is settled.
pub fn claim_due(
    conn: &mut DbConn,
    kind: OutboxKind,
    now: NaiveDateTime,
    lease: &Lease,
) -> Result<Vec<OutboxRow>, StoreError> {
    let (until, owner, limit) = (now + lease.length, lease.owner, lease.limit);
    match conn {
        DbConn::Postgres(pg) => Ok(diesel::sql_query(
            "UPDATE outbox SET locked_until = $1, locked_by = $5 WHERE id IN ( \
                 SELECT id FROM outbox WHERE kind = $2 AND status = 'queued' \
                 AND next_attempt_at <= $3 AND (locked_until IS NULL OR locked_until < $3) \
                 ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
        )
        .bind::<diesel::sql_types::Timestamp, _>(until)
        .bind::<diesel::sql_types::Text, _>(kind)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .bind::<diesel::sql_types::Text, _>(owner)
        .load(pg)?),
        sqlite => write_transaction(sqlite, |conn| {
            let due: Vec<OutboxRow> = outbox::table
                .filter(outbox::kind.eq(kind))
                .filter(outbox::status.eq(OutboxStatus::Queued))
                .filter(outbox::next_attempt_at.le(now))
                .filter(
                    outbox::locked_until
                        .is_null()
                        .or(outbox::locked_until.lt(now)),
                )
                .order(outbox::next_attempt_at.asc())
                .limit(limit)
                .select(OutboxRow::as_select())
                .load(conn)?;
            let ids: Vec<&str> = due.iter().map(|j| j.id.as_str()).collect();
            diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
                .set((outbox::locked_until.eq(until), outbox::locked_by.eq(owner)))
                .execute(conn)?;
            Ok(due)
        }),
    }
}

pub fn mark_sent(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> Result<(), StoreError> {
    let query = diesel::update(outbox::table.find(id)).set((
        outbox::status.eq(OutboxStatus::Sent),
        outbox::sent_at.eq(at),
        outbox::locked_until.eq(None::<NaiveDateTime>),
        outbox::attempts.eq(outbox::attempts + 1),
    ));
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or failed for good when `None`.
pub fn mark_attempt_failed(
    conn: &mut DbConn,
    id: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> Result<(), StoreError> {
    let status = if retry_at.is_some() {
        OutboxStatus::Queued
    } else {
        OutboxStatus::Failed
    };
    let query = diesel::update(outbox::table.find(id)).set((
        outbox::status.eq(status),
        outbox::attempts.eq(outbox::attempts + 1),
        outbox::last_error.eq(error),
        outbox::locked_until.eq(None::<NaiveDateTime>),
        outbox::next_attempt_at.eq(retry_at.unwrap_or_else(crate::clock::now)),
    ));
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Gives a claimed job back without an attempt: due as before, claimable at once.
pub fn release(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    let query =
        diesel::update(outbox::table.find(id)).set(outbox::locked_until.eq(None::<NaiveDateTime>));
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Ends the leases `owner` still holds: called when an instance starts, before its workers
/// run, so the jobs an earlier run of it left leased (killed mid-send) go out at once.
/// Only the same instance can name itself (`jobs::Instance`), so no live worker's lease ends.
pub fn release_all_of(conn: &mut DbConn, owner: &str) -> Result<usize, StoreError> {
    Ok(diesel::update(
        outbox::table
            .filter(outbox::locked_by.eq(owner))
            .filter(outbox::status.eq(OutboxStatus::Queued))
            .filter(outbox::locked_until.is_not_null()),
    )
    .set(outbox::locked_until.eq(None::<NaiveDateTime>))
    .execute(conn)?)
}

/// Jobs still queued (for metrics and tests).
pub fn count_queued(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(outbox::table
        .filter(outbox::status.eq(OutboxStatus::Queued))
        .count()
        .get_result(conn)?)
}

/// Forgets the delivery errors of these consents' jobs (an SMTP error can quote the address).
pub fn clear_errors_of_consents(
    conn: &mut DbConn,
    consent_ids: &[ConsentId],
) -> Result<(), StoreError> {
    diesel::update(outbox::table.filter(outbox::consent_id.eq_any(consent_ids)))
        .set(outbox::last_error.eq(None::<String>))
        .execute(conn)?;
    Ok(())
}

/// Extends the leases of jobs still being worked on (queued, not yet settled), so a lease
/// can be short: a dead instance's jobs come back within one lease, not minutes later.
pub fn renew_leases(
    conn: &mut DbConn,
    ids: &[String],
    until: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(match conn {
        // A row locked now is being settled (`mail::settler`): it needs no longer lease, and
        // waiting for it while that batch waits for a row this update holds is a deadlock.
        DbConn::Postgres(pg) => diesel::sql_query(
            "UPDATE outbox SET locked_until = $1 WHERE id IN ( \
                 SELECT id FROM outbox WHERE id = ANY($2) AND status = 'queued' \
                 AND locked_until IS NOT NULL FOR UPDATE SKIP LOCKED)",
        )
        .bind::<diesel::sql_types::Timestamp, _>(until)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(ids)
        .execute(pg)?,
        sqlite => diesel::update(
            outbox::table
                .filter(outbox::id.eq_any(ids))
                .filter(outbox::status.eq(OutboxStatus::Queued))
                .filter(outbox::locked_until.is_not_null()),
        )
        .set(outbox::locked_until.eq(until))
        .execute(sqlite)?,
    })
}
