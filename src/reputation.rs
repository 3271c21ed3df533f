//! Keeping reputation current inside `serve`: the allowed single checks counted in memory
//! (a write per check would slow the hottest call) and added to the activity table at each
//! sweep; every sender's standing assessed; the per-sender gauges of `/metrics` refreshed.
//! A kill loses at most one sweep's count of checks, which only dilutes a rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db::activity::{self, Counts};
use crate::db::{standing, write_transaction, Db, DbConn, StoreError};
use crate::domain::ids::SenderId;
use crate::domain::standing::{Rules, Standing};
use crate::metrics::Metrics;

/// Allowed single checks per sender since the last sweep.
#[derive(Default)]
pub struct SendTally(Mutex<HashMap<SenderId, i64>>);

impl SendTally {
    /// One allowed check: a send the sender announced.
    pub fn add(&self, sender_id: &SenderId) {
        if let Ok(mut counts) = self.0.lock() {
            // The hot path: no allocation once the sender has a slot.
            match counts.get_mut(sender_id) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(sender_id.clone(), 1);
                }
            }
        }
    }

    fn take(&self) -> HashMap<SenderId, i64> {
        self.0
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// Adds what was counted to the activity table (put back if storage fails).
    pub fn flush(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        let counts = self.take();
        if counts.is_empty() {
            return Ok(());
        }
        let now = crate::clock::now();
        let stored = write_transaction(conn, |conn| {
            for (sender_id, n) in &counts {
                let add = Counts {
                    sends_checked: *n,
                    ..Counts::default()
                };
                activity::add(conn, sender_id, now, &add)?;
            }
            Ok(())
        });
        if stored.is_err() {
            if let Ok(mut current) = self.0.lock() {
                for (sender_id, n) in counts {
                    *current.entry(sender_id).or_default() += n;
                }
            }
        }
        stored
    }
}

/// One sweep: flush the tally, assess every sender, refresh the gauges. Returns how many
/// standings changed.
fn sweep(
    conn: &mut DbConn,
    rules: &Rules,
    tally: &SendTally,
    metrics: &Metrics,
) -> Result<usize, StoreError> {
    tally.flush(conn)?;
    let now = crate::clock::now();
    let changes = crate::flows::standing::assess_all(conn, rules, now)?;
    for change in &changes {
        if change.to == Standing::Restricted {
            tracing::warn!(sender = %change.sender_id, from = %change.from, to = %change.to, "sender standing changed; its confirmation mail stops");
        } else {
            tracing::info!(sender = %change.sender_id, from = %change.from, to = %change.to, "sender standing changed");
        }
    }
    for sender_id in standing::senders_with_standing(conn)? {
        if let Some(view) = crate::views::reputation::reputation(conn, &sender_id, rules, now)? {
            metrics.set_reputation(&view);
        }
    }
    Ok(changes.len())
}

/// Runs the sweep every `every` until aborted.
pub async fn run(
    db: Db,
    rules: Rules,
    every: std::time::Duration,
    tally: Arc<SendTally>,
    metrics: Arc<Metrics>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (rules, tally, metrics) = (rules.clone(), tally.clone(), metrics.clone());
        match db
            .run(move |conn| sweep(conn, &rules, &tally, &metrics))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "sender standings changed"),
            Err(error) => tracing::warn!(%error, "reputation sweep failed"),
        }
    }
}
