//! The check's answer for one address or a chunk of them: may it be mailed on this list
//! now, and why (or why not).

use std::collections::HashSet;

use crate::db::check_rows::{check_many, check_one, status_many};
use crate::db::{suppressions, DbConn, StoreError};
use crate::domain::ids::{ListId, SenderId};
use crate::domain::status::SubscriptionStatus;

pub use crate::db::check_rows::{CheckRow, StatusRow};

/// The outcome for one address, with the row it was read from (a whole [`CheckRow`] for a
/// single check, a [`StatusRow`] for a batch).
pub struct Verdict<R = CheckRow> {
    pub allowed: bool,
    pub reason: &'static str,
    pub row: Option<R>,
}

/// A row that says the subscription's state.
pub trait HasStatus {
    fn status(&self) -> SubscriptionStatus;
}

impl HasStatus for CheckRow {
    fn status(&self) -> SubscriptionStatus {
        self.status
    }
}

impl HasStatus for StatusRow {
    fn status(&self) -> SubscriptionStatus {
        self.status
    }
}

/// `confirmed` is the only state that may be mailed; an address with no record is
/// `suppressed` if it refused ("this wasn't me") or was suppressed, else `not_found`.
pub fn verdict<R: HasStatus>(row: Option<R>, suppressed: bool) -> Verdict<R> {
    let status = row.as_ref().map(HasStatus::status);
    let reason = match status {
        // Every subscription state is its own reason, with the same text.
        Some(status) => status.as_str(),
        None if suppressed => "suppressed",
        None => "not_found",
    };
    Verdict {
        allowed: status == Some(SubscriptionStatus::Confirmed),
        reason,
        row,
    }
}

/// The verdict for one address (by its keyed hash): one indexed lookup, and a second only
/// when the address has no record on the list.
pub fn check_address(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_key: &str,
) -> Result<Verdict, StoreError> {
    let row = check_one(conn, sender_id, list_id, address_key)?;
    let suppressed = row.is_none() && suppressions::is_suppressed(conn, sender_id, address_key)?;
    Ok(verdict(row, suppressed))
}

/// The verdicts for a chunk of addresses, in the order of `address_keys`: one lookup per
/// key (SQLite) or one query for all (PostgreSQL), and the suppressions of those with no
/// record in one more.
pub fn check_addresses(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_keys: &[String],
) -> Result<Vec<Verdict>, StoreError> {
    let rows = check_many(conn, sender_id, list_id, address_keys)?;
    with_suppressions(conn, sender_id, address_keys, rows)
}

/// [`check_addresses`] for a batch chunk, whose answers show only the state and consent.
pub fn batch_addresses(
    conn: &mut DbConn,
    sender_id: &SenderId,
    list_id: &ListId,
    address_keys: &[String],
) -> Result<Vec<Verdict<StatusRow>>, StoreError> {
    let rows = status_many(conn, sender_id, list_id, address_keys)?;
    with_suppressions(conn, sender_id, address_keys, rows)
}

/// The verdicts of `rows` (one per key, in order), after looking up the suppressions of the
/// keys with no row, all in one query.
fn with_suppressions<R: HasStatus>(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_keys: &[String],
    rows: Vec<Option<R>>,
) -> Result<Vec<Verdict<R>>, StoreError> {
    let missing: Vec<String> = address_keys
        .iter()
        .zip(&rows)
        .filter(|(_, row)| row.is_none())
        .map(|(key, _)| key.clone())
        .collect();
    let suppressed: HashSet<String> = if missing.is_empty() {
        HashSet::new()
    } else {
        suppressions::suppressed_among(conn, sender_id, &missing)?
            .into_iter()
            .collect()
    };
    Ok(address_keys
        .iter()
        .zip(rows)
        .map(|(key, row)| verdict(row, suppressed.contains(key)))
        .collect())
}
