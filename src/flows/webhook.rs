//! The sender's webhook endpoint: saving it keeps the signing secret unless a rotation is
//! asked for (a new endpoint always gets one); removing it drops undelivered events.

use crate::clock;
use crate::db::webhooks::{delete_webhook, find_webhook, save_webhook, WebhookRow};
use crate::db::{write_transaction, DbConn, StoreError};
use crate::domain::ids::SenderId;
use crate::domain::webhook::{new_secret, WebhookUrl};

/// A parsed endpoint configuration.
pub struct WebhookConfig {
    pub url: WebhookUrl,
    pub kinds: Vec<String>,
    pub rotate_secret: bool,
}

/// Saves the endpoint and returns the stored row (with the secret to hand to the sender).
pub fn configure(
    conn: &mut DbConn,
    sender_id: &SenderId,
    config: &WebhookConfig,
) -> Result<WebhookRow, StoreError> {
    let events = serde_json::to_string(&config.kinds).unwrap_or_default();
    write_transaction(conn, |conn| {
        let now = clock::now();
        let existing = find_webhook(conn, sender_id)?;
        let secret = match &existing {
            Some(hook) if !config.rotate_secret => hook.secret.clone(),
            _ => new_secret(),
        };
        let row = WebhookRow {
            sender_id: sender_id.to_owned(),
            url: config.url.as_str().to_owned(),
            events,
            secret,
            created_at: existing.map_or(now, |h| h.created_at),
            updated_at: now,
        };
        save_webhook(conn, &row)?;
        Ok(row)
    })
}

/// Removes the endpoint; false when there was none.
pub fn remove(conn: &mut DbConn, sender_id: &SenderId) -> Result<bool, StoreError> {
    write_transaction(conn, |conn| delete_webhook(conn, sender_id))
}
