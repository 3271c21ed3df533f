//! The `server_settings` table: server-wide values such as generated development secrets.

use diesel::prelude::*;

use super::schema::server_settings;
use super::{DbConn, StoreError};

pub fn find_setting(conn: &mut DbConn, name: &str) -> Result<Option<String>, StoreError> {
    Ok(server_settings::table
        .find(name)
        .select(server_settings::value)
        .load(conn)?
        .into_iter()
        .next())
}

/// Stores `value` under `name` unless a value is there already, and returns the stored one.
/// Two instances starting together therefore agree on one value.
pub fn insert_setting_once(
    conn: &mut DbConn,
    name: &str,
    value: &str,
) -> Result<String, StoreError> {
    let inserted = diesel::insert_into(server_settings::table)
        .values((
            server_settings::name.eq(name),
            server_settings::value.eq(value),
            server_settings::created_at.eq(crate::clock::now()),
        ))
        .execute(conn);
    match inserted.map_err(StoreError::from) {
        Ok(_) => Ok(value.to_owned()),
        Err(e) if e.is_unique_violation() => {
            find_setting(conn, name)?.ok_or(StoreError::Query(diesel::result::Error::NotFound))
        }
        Err(e) => Err(e),
    }
}
