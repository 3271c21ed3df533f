//! The `suppressions` table: keyed address hashes that no confirmation mail may reach.
//! `scope` is a sender id, or `global` for "this wasn't me" (which binds every sender).

use diesel::prelude::*;

use super::schema::suppressions;
use super::{DbConn, StoreError};

pub const GLOBAL: &str = "global";

/// Adds a suppression unless it exists.
pub fn suppress(
    conn: &mut DbConn,
    scope: &str,
    address_key: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let exists = suppressions::table
        .find((scope, address_key))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        diesel::insert_into(suppressions::table)
            .values((
                suppressions::scope.eq(scope),
                suppressions::address_key.eq(address_key),
                suppressions::reason.eq(reason),
                suppressions::created_at.eq(crate::clock::now()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether confirmation mail to this address is suppressed for this sender.
pub fn is_suppressed(
    conn: &mut DbConn,
    sender_id: &str,
    address_key: &str,
) -> Result<bool, StoreError> {
    Ok(suppressions::table
        .filter(suppressions::scope.eq_any([sender_id, GLOBAL]))
        .filter(suppressions::address_key.eq(address_key))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Of `address_keys`, those suppressed for this sender (sender scope or global).
pub fn suppressed_among(
    conn: &mut DbConn,
    sender_id: &str,
    address_keys: &[String],
) -> Result<Vec<String>, StoreError> {
    Ok(suppressions::table
        .filter(suppressions::scope.eq_any([sender_id, GLOBAL]))
        .filter(suppressions::address_key.eq_any(address_keys))
        .select(suppressions::address_key)
        .load(conn)?)
}
