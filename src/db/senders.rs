//! The `senders` table: tenants and the legal identity their mail must display.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::senders;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = senders)]
pub struct Sender {
    pub id: String,
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

pub fn find_sender(conn: &mut DbConn, id: &str) -> Result<Option<Sender>, StoreError> {
    Ok(senders::table
        .find(id)
        .select(Sender::as_select())
        .load(conn)?
        .into_iter()
        .next())
}
