//! The `senders` table: tenants and the legal identity their mail must display.

use crate::domain::ids::SenderId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::senders;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = senders)]
pub struct Sender {
    pub id: SenderId,
    pub name: String,
    pub legal_name: String,
    pub postal_address: String,
    pub contact: String,
    pub on_behalf_of: Option<String>,
    pub jurisdiction: String,
    pub retention_days: i64,
    pub legal_hold: bool,
    pub created_at: NaiveDateTime,
}

pub fn insert_sender(conn: &mut DbConn, sender: &Sender) -> Result<(), StoreError> {
    diesel::insert_into(senders::table)
        .values(sender)
        .execute(conn)?;
    Ok(())
}

pub fn find_sender(conn: &mut DbConn, id: &SenderId) -> Result<Option<Sender>, StoreError> {
    Ok(senders::table
        .find(id)
        .select(Sender::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

/// Every sender (the retention sweep visits each).
pub fn list_senders(conn: &mut DbConn) -> Result<Vec<Sender>, StoreError> {
    Ok(senders::table
        .order(senders::created_at.asc())
        .select(Sender::as_select())
        .load(conn)?)
}

/// Sets how long ended consents keep their personal data, and the legal hold that stops
/// minimisation; `None` leaves a value as it is. Returns false for an unknown sender.
pub fn update_retention(
    conn: &mut DbConn,
    id: &SenderId,
    retention_days: Option<i64>,
    legal_hold: Option<bool>,
) -> Result<bool, StoreError> {
    let mut found = find_sender(conn, id)?.is_some();
    if let Some(days) = retention_days {
        found &= diesel::update(senders::table.find(id))
            .set(senders::retention_days.eq(days))
            .execute(conn)?
            > 0;
    }
    if let Some(hold) = legal_hold {
        found &= diesel::update(senders::table.find(id))
            .set(senders::legal_hold.eq(hold))
            .execute(conn)?
            > 0;
    }
    Ok(found)
}
