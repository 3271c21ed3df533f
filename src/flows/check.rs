//! The check's one write: a batch check recorded as one `checked` ledger event, its receipt.

use serde_json::json;

use crate::db::ledger::NewEvent;
use crate::db::{write_transaction, DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::SenderId;

/// What a batch answered: exactly the answers that were sent.
pub struct BatchSummary {
    pub count: u64,
    pub allowed: u64,
    /// SHA-256 (hex) of the answer bytes, in order.
    pub results_sha256: String,
    /// False when the input or the output stream broke off early.
    pub complete: bool,
}

/// Records the batch as one `checked` event with id `receipt` (the answer's
/// `Consentry-Check-Receipt` header), in a transaction of its own.
pub fn record_batch_receipt(
    conn: &mut DbConn,
    sender_id: &SenderId,
    receipt: String,
    list_slug: &str,
    summary: BatchSummary,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let event = NewEvent {
            id: Some(receipt),
            list_slug: Some(list_slug),
            ..NewEvent::new(
                EventKind::Checked,
                json!({
                    "count": summary.count,
                    "allowed": summary.allowed,
                    "results_sha256": summary.results_sha256,
                    "complete": summary.complete,
                }),
            )
        };
        super::record_event(conn, sender_id, event, crate::clock::now()).map(|_| ())
    })
}
