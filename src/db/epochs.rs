//! The `cache_epochs` table: counters that in-memory caches watch. A write that makes a cache
//! stale bumps its counter in the same transaction; every instance polls the counters.

use diesel::prelude::*;

use super::schema::cache_epochs;
use super::{DbConn, StoreError};

pub const API_KEYS: &str = "api_keys";
pub const LISTS: &str = "lists";

pub fn bump(conn: &mut DbConn, name: &str) -> Result<(), StoreError> {
    diesel::update(cache_epochs::table.find(name))
        .set(cache_epochs::epoch.eq(cache_epochs::epoch + 1))
        .execute(conn)?;
    Ok(())
}

/// All counters as (name, epoch).
pub fn load_epochs(conn: &mut DbConn) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(cache_epochs::table
        .select((cache_epochs::name, cache_epochs::epoch))
        .load(conn)?)
}
