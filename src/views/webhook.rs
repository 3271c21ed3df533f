//! The sender's webhook endpoint and how its deliveries are going (never the secret).

use crate::db::webhooks::{delivery_stats, find_webhook};
use crate::db::{DbConn, StoreError};
use crate::domain::ids::SenderId;

pub use crate::db::webhooks::WebhookRow;

/// Delivery counts of the endpoint.
pub struct DeliveryStats {
    /// Waiting for their first attempt or a retry.
    pub queued: i64,
    /// Given up after the last retry.
    pub failed: i64,
    pub last_error: Option<String>,
}

/// The endpoint and its delivery counts; `None` when the sender has none.
pub fn webhook_view(
    conn: &mut DbConn,
    sender_id: &SenderId,
) -> Result<Option<(WebhookRow, DeliveryStats)>, StoreError> {
    let Some(hook) = find_webhook(conn, sender_id)? else {
        return Ok(None);
    };
    let (queued, failed, last_error) = delivery_stats(conn, sender_id)?;
    Ok(Some((
        hook,
        DeliveryStats {
            queued,
            failed,
            last_error,
        },
    )))
}
