//! What every handler shares: storage, caches, settings and secrets. Metrics are app data
//! of their own (`web::Data<Metrics>`), so the middleware needs nothing of this.

use std::sync::Arc;

use crate::auth::gate::KeyGate;
use crate::cache::Caches;
use crate::config::Settings;
use crate::db::Db;
use crate::limits::SenderLimiter;
use crate::mail::templates::Templates;
use crate::permits::Permits;
use crate::reputation::SendTally;
use crate::secrets::Secrets;
use crate::views::check_queue::CheckQueue;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub caches: Arc<Caches>,
    pub settings: Arc<Settings>,
    pub secrets: Arc<Secrets>,
    pub templates: Arc<Templates>,
    /// Wakes the mail worker after a transaction enqueued mail.
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// Wakes the webhook worker after a transaction recorded an event a webhook may announce
    /// (it also polls every second, for events recorded elsewhere).
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// Turns at exports and whole-chain verifications, per sender and in all: each holds a
    /// database connection of its own for as long as it streams.
    pub scans: Arc<Permits>,
    /// Turns at streaming batch checks, per sender.
    pub batch_checks: Arc<Permits>,
    /// Batch-check chunks at the database at once, across every batch: each holds a pooled
    /// connection while it runs, and half the pool stays for everything else.
    pub batch_chunks: Arc<tokio::sync::Semaphore>,
    pub limiter: Arc<SenderLimiter>,
    /// In front of argon2 for keys not yet verified.
    pub key_gate: Arc<KeyGate>,
    /// Allowed single checks per sender, added to the reputation at each sweep.
    pub sends_checked: Arc<SendTally>,
    /// Where single checks are answered (in groups on PostgreSQL).
    pub checks: CheckQueue,
}
