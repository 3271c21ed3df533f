//! What a sender asks on behalf of one address, each in one write transaction: record an
//! opt-out it received another way, or erase the address's personal data.

use chrono::NaiveDateTime;

use super::erasure::erase_subject;
use super::optout::record;
use crate::db::{discard_erased_frames, lists, write_transaction, DbConn, StoreError};
use crate::domain::ids::SenderId;

pub use super::optout::OptOut;

/// Records the opt-out; returns the slugs of the lists the address is now unsubscribed
/// from.
pub fn record_unsubscribe(
    conn: &mut DbConn,
    opt_out: &OptOut<'_>,
    now: NaiveDateTime,
) -> Result<Vec<String>, StoreError> {
    let ids = write_transaction(conn, |conn| record(conn, opt_out, now))?;
    let all = lists::list_lists(conn, opt_out.sender_id)?;
    Ok(all
        .into_iter()
        .filter(|l| ids.contains(&l.id))
        .map(|l| l.slug)
        .collect())
}

/// Erases the address's personal data at this sender; returns how many consent records
/// held some. The chain, keyed hashes and suppressions stay.
pub fn erase(
    conn: &mut DbConn,
    sender_id: &SenderId,
    address_key: &str,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let erased = write_transaction(conn, |conn| {
        erase_subject(conn, sender_id, address_key, now)
    })?;
    // Also when nothing was left to erase: a retry after a WAL that could not be truncated
    // finishes the first attempt's work.
    discard_erased_frames(conn)?;
    Ok(erased)
}
