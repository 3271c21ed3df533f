//! The `idempotency_keys` table: the stored answer to a request that carried an
//! `Idempotency-Key`, so a retry gets the same answer and a different body gets a conflict.

use crate::domain::ids::SenderId;
use diesel::prelude::*;

use super::schema::idempotency_keys;
use super::{DbConn, StoreError};

/// A stored answer: (request digest, status, body).
pub fn find_answer(
    conn: &mut DbConn,
    sender_id: &SenderId,
    key: &str,
) -> Result<Option<(String, i64, String)>, StoreError> {
    let query = idempotency_keys::table.find((sender_id, key)).select((
        idempotency_keys::request_sha256,
        idempotency_keys::response_status,
        idempotency_keys::response_body,
    ));
    let rows: Vec<_> = crate::on_backend!(conn, |c| query.load(c))?;
    Ok(rows.into_iter().next())
}

pub fn store_answer(
    conn: &mut DbConn,
    sender_id: &SenderId,
    key: &str,
    request_sha256: &str,
    status: i64,
    body: &str,
) -> Result<(), StoreError> {
    let query = diesel::insert_into(idempotency_keys::table).values((
        idempotency_keys::sender_id.eq(sender_id),
        idempotency_keys::key.eq(key),
        idempotency_keys::request_sha256.eq(request_sha256),
        idempotency_keys::response_status.eq(status),
        idempotency_keys::response_body.eq(body),
        idempotency_keys::created_at.eq(crate::clock::now()),
    ));
    crate::on_backend!(conn, |c| query.execute(c))?;
    Ok(())
}

/// Forgets answers stored before `before`; returns how many.
pub fn delete_older_than(
    conn: &mut DbConn,
    before: chrono::NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
            .execute(conn)?,
    )
}
