//! The `sender_standing` table: each sender's standing, probation step, the operator's last
//! review and the signals of the last assessment.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{consents, sender_standing};
use super::{DbConn, StoreError};
use crate::domain::ids::SenderId;
use crate::domain::standing::{Record, SetBy, Standing};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sender_standing, treat_none_as_null = true)]
pub struct StandingRow {
    pub sender_id: SenderId,
    pub standing: Standing,
    pub probation_step: Option<i64>,
    pub step_since: NaiveDateTime,
    pub reviewed_at: Option<NaiveDateTime>,
    pub set_by: SetBy,
    pub reason: Option<String>,
    /// JSON array of `{code, since, detail}`.
    pub signals: String,
    pub updated_at: NaiveDateTime,
}

impl StandingRow {
    /// The part the rules read and write.
    pub fn record(&self) -> Record {
        Record {
            standing: self.standing,
            probation_step: self.probation_step,
            step_since: self.step_since,
            set_by: self.set_by,
        }
    }
}

pub fn insert_standing(conn: &mut DbConn, row: &StandingRow) -> Result<(), StoreError> {
    diesel::insert_into(sender_standing::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn update_standing(conn: &mut DbConn, row: &StandingRow) -> Result<(), StoreError> {
    diesel::update(sender_standing::table.find(&row.sender_id))
        .set(row)
        .execute(conn)?;
    Ok(())
}

/// The sender's standing; `lock` takes the row lock on PostgreSQL (SQLite's write
/// transaction already holds the only write lock), so two instances' assessments take turns.
pub fn find_standing(
    conn: &mut DbConn,
    sender_id: &SenderId,
    lock: bool,
) -> Result<Option<StandingRow>, StoreError> {
    // A select clause is typed by its backend, so each arm builds its own.
    let rows: Vec<StandingRow> = match conn {
        DbConn::Postgres(pg) if lock => sender_standing::table
            .find(sender_id)
            .select(StandingRow::as_select())
            .for_update()
            .load(pg)?,
        other => crate::on_backend!(other, |c| sender_standing::table
            .find(sender_id)
            .select(StandingRow::as_select())
            .load(c))?,
    };
    Ok(rows.into_iter().next())
}

/// Every sender with a standing record.
pub fn senders_with_standing(conn: &mut DbConn) -> Result<Vec<SenderId>, StoreError> {
    Ok(sender_standing::table
        .select(sender_standing::sender_id)
        .order(sender_standing::sender_id.asc())
        .load(conn)?)
}

/// The network keys of the sender's latest signups since `since` that claimed an IP, newest
/// first, at most `limit`.
pub fn recent_networks(
    conn: &mut DbConn,
    sender_id: &SenderId,
    since: NaiveDateTime,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let keys: Vec<Option<String>> = consents::table
        .filter(consents::sender_id.eq(sender_id))
        .filter(consents::network_key.is_not_null())
        .filter(consents::requested_at.gt(since))
        .order(consents::requested_at.desc())
        .limit(limit)
        .select(consents::network_key)
        .load(conn)?;
    Ok(keys.into_iter().flatten().collect())
}
