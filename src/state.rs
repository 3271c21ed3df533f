//! What every handler shares: storage, caches, settings, secrets and metrics.

use std::sync::Arc;

use crate::cache::Caches;
use crate::config::Settings;
use crate::db::Db;
use crate::limits::SenderLimiter;
use crate::mail::templates::Templates;
use crate::metrics::Metrics;
use crate::secrets::Secrets;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub caches: Arc<Caches>,
    pub settings: Arc<Settings>,
    pub secrets: Arc<Secrets>,
    pub metrics: Arc<Metrics>,
    pub templates: Arc<Templates>,
    /// Wakes the mail worker after a transaction enqueued mail.
    pub mail_wake: Arc<tokio::sync::Notify>,
    pub limiter: Arc<SenderLimiter>,
}
