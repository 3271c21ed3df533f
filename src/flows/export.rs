//! An export is itself evidence: it is recorded as an `exported` event (who, which range,
//! which format) before a byte of it is written.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use crate::audit::export::{Format, Range};
use crate::db::ledger::{self, EventRow, NewEvent};
use crate::db::{write_transaction, DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::SenderId;

/// What an export covers and who asked for it.
pub struct ExportRequest {
    pub after_seq: i64,
    pub limit: Option<i64>,
    pub format: Format,
    /// Who exported: a key id and role, or the operator's CLI.
    pub actor: Value,
}

/// Records the export as an event and returns the range to write, which ends at that event
/// unless `limit` ends it sooner; `None` when `after_seq` is past the chain head.
pub fn record_export(
    conn: &mut DbConn,
    sender_id: &SenderId,
    request: &ExportRequest,
    now: NaiveDateTime,
) -> Result<Option<(Range, EventRow)>, StoreError> {
    write_transaction(conn, |conn| {
        let (head_seq, _) = ledger::lock_head(conn, sender_id)?;
        if request.after_seq > head_seq {
            return Ok(None);
        }
        let through_seq = request.limit.map_or(head_seq + 1, |limit| {
            (request.after_seq + limit).min(head_seq + 1)
        });
        let event = NewEvent::new(
            EventKind::Exported,
            json!({
                "actor": request.actor,
                "after_seq": request.after_seq,
                "through_seq": through_seq,
                "format": request.format.extension(),
            }),
        );
        let row = super::record_event(conn, sender_id, event, now)?;
        Ok(Some((
            Range {
                after_seq: request.after_seq,
                through_seq,
            },
            row,
        )))
    })
}
