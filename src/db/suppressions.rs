//! The `suppressions` table: keyed address hashes that no confirmation mail may reach.
//! `scope` is a sender id, or `global` for "this wasn't me" (which binds every sender).

use crate::domain::ids::SenderId;
use diesel::prelude::*;

use super::schema::suppressions;
use super::{DbConn, StoreError};

pub const GLOBAL: &str = "global";

/// The reason of a sender's suppression of an address it erased.
pub const ERASED: &str = "erased";

/// Adds a suppression unless it exists (also when another writer adds it at the same time).
pub fn suppress(
    conn: &mut DbConn,
    scope: &str,
    address_key: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let row = (
        suppressions::scope.eq(scope),
        suppressions::address_key.eq(address_key),
        suppressions::reason.eq(reason),
        suppressions::created_at.eq(crate::clock::now()),
    );
    crate::on_backend!(conn, |c| diesel::insert_into(suppressions::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// Whether this address is suppressed for this sender, for any reason.
pub fn is_suppressed(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_key: &str,
) -> Result<bool, StoreError> {
    binding(conn, sender_id, address_key, true)
}

/// Whether confirmation mail to this address is suppressed for this sender. An erasure's
/// suppression does not count: after an erasure the address may sign up afresh.
pub fn blocks_confirmation_mail(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_key: &str,
) -> Result<bool, StoreError> {
    binding(conn, sender_id, address_key, false)
}

/// Whether a suppression of this sender's or the global scope holds the address.
fn binding(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_key: &str,
    erasures_count: bool,
) -> Result<bool, StoreError> {
    // Two equalities rather than `eq_any`: an `IN` list is never a cached statement.
    let query = suppressions::table
        .filter(
            suppressions::scope
                .eq(sender_id.as_str())
                .or(suppressions::scope.eq(GLOBAL)),
        )
        .filter(suppressions::address_key.eq(address_key));
    let count: i64 = if erasures_count {
        crate::on_backend!(conn, |c| query.count().get_result(c))?
    } else {
        let query = query.filter(suppressions::reason.ne(ERASED));
        crate::on_backend!(conn, |c| query.count().get_result(c))?
    };
    Ok(count > 0)
}

/// Of `address_keys`, those suppressed for this sender (sender scope or global).
pub fn suppressed_among(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_keys: &[String],
) -> Result<Vec<String>, StoreError> {
    if let DbConn::Postgres(pg) = conn {
        let query = super::key_lookups::SuppressedKeys {
            sender_id,
            global: GLOBAL,
            keys: address_keys,
        };
        return Ok(query.load(pg)?);
    }
    // On SQLite a cached lookup per key, as `check_rows::check_many` explains.
    super::snapshot(conn, |conn| {
        let mut found = Vec::new();
        for key in address_keys {
            if is_suppressed(conn, sender_id, key)? {
                found.push(key.clone());
            }
        }
        Ok(found)
    })
}

/// The suppressions of an address that bind this sender: (scope, reason, since), where scope
/// is `sender` or `global`.
pub fn suppressions_of(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_key: &str,
) -> Result<Vec<(String, String, chrono::NaiveDateTime)>, StoreError> {
    let rows: Vec<(String, String, chrono::NaiveDateTime)> = suppressions::table
        .filter(suppressions::scope.eq_any([sender_id.as_str(), GLOBAL]))
        .filter(suppressions::address_key.eq(address_key))
        .select((
            suppressions::scope,
            suppressions::reason,
            suppressions::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(scope, reason, at)| {
            let scope = if scope == GLOBAL { GLOBAL } else { "sender" };
            (scope.to_owned(), reason, at)
        })
        .collect())
}
