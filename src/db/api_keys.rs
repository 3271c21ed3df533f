//! The `api_keys` table: argon2id hashes of key secrets, their role and revocation.

use crate::domain::ids::SenderId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_keys;
use super::{epochs, DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: String,
    pub sender_id: SenderId,
    pub role: String,
    pub secret_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_api_key(conn: &mut DbConn, key: &ApiKeyRow) -> Result<(), StoreError> {
    diesel::insert_into(api_keys::table)
        .values(key)
        .execute(conn)?;
    Ok(())
}

pub fn find_api_key(conn: &mut DbConn, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .find(id)
        .select(ApiKeyRow::as_select())
        .load(conn)?
        .into_iter()
        .next())
}

pub fn list_api_keys(
    conn: &mut DbConn,
    sender_id: &SenderId,
) -> Result<Vec<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::sender_id.eq(sender_id))
        .order(api_keys::created_at.asc())
        .select(ApiKeyRow::as_select())
        .load(conn)?)
}

/// Marks a key revoked and bumps the key-cache epoch in one transaction, so every instance
/// drops its cached verification. Returns false when no such key exists.
pub fn revoke_api_key(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> Result<bool, StoreError> {
    conn.transaction(|conn| {
        let changed = diesel::update(api_keys::table.find(id))
            .filter(api_keys::revoked_at.is_null())
            .set(api_keys::revoked_at.eq(at))
            .execute(conn)?;
        let exists = changed > 0 || find_api_key(conn, id)?.is_some();
        if changed > 0 {
            epochs::bump(conn, epochs::API_KEYS)?;
        }
        Ok(exists)
    })
}

/// The ids of every revoked key, for evicting them from the verified-key caches.
pub fn revoked_key_ids(conn: &mut DbConn) -> Result<std::collections::HashSet<String>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::revoked_at.is_not_null())
        .select(api_keys::id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}
