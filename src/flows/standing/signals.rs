//! The traffic-pattern signals of a sender (a signup surge, signups from one network) and
//! how signals are stored with the time each was first seen.

use chrono::{Duration, NaiveDateTime, Timelike};
use serde_json::{json, Value};

use crate::db::activity;
use crate::db::standing as rows;
use crate::db::{DbConn, StoreError};
use crate::domain::ids::SenderId;
use crate::domain::standing::{network_signal, surge_signal, Rules, Signal};

/// Signups looked at for the one-network signal.
const RECENT_SIGNUPS: i64 = 100;

/// The traffic-pattern signals of a sender at `now`.
pub(super) fn traffic_signals(
    conn: &mut DbConn,
    sender_id: &SenderId,
    rules: &Rules,
    now: NaiveDateTime,
) -> Result<Vec<Signal>, StoreError> {
    let this_hour = activity::hour_of(now);
    let hours =
        activity::requested_per_hour(conn, sender_id, this_hour - Duration::hours(24 * 7 + 1))?;
    let count_at = |hour: NaiveDateTime| {
        hours
            .iter()
            .find(|(h, _)| *h == hour)
            .map_or(0, |(_, n)| *n)
    };
    // The last 60 minutes: this hour so far, and the part of the previous hour they reach.
    let previous = this_hour - Duration::hours(1);
    let elapsed = i64::from(now.minute());
    let last_hour = count_at(this_hour) + count_at(previous) * (60 - elapsed) / 60;
    let earlier: Vec<i64> = hours
        .iter()
        .filter(|(h, _)| *h < previous)
        .map(|(_, n)| *n)
        .collect();
    let mut signals: Vec<Signal> = surge_signal(last_hour, &earlier, rules)
        .into_iter()
        .collect();
    let recent = rows::recent_networks(conn, sender_id, now - Duration::hours(24), RECENT_SIGNUPS)?;
    signals.extend(network_signal(&recent, rules));
    Ok(signals)
}

/// The stored form of signals: each with the time it was first seen (kept from `before`).
pub(super) fn stored_signals(signals: &[Signal], before: &str, now: NaiveDateTime) -> String {
    let before: Vec<Value> = serde_json::from_str(before).unwrap_or_default();
    let since = |code: &str| {
        before
            .iter()
            .find(|s| s["code"] == code)
            .and_then(|s| s["since"].as_str().map(str::to_owned))
            .unwrap_or_else(|| crate::clock::rfc3339(now))
    };
    Value::Array(
        signals
            .iter()
            .map(|s| json!({"code": s.code, "since": since(s.code), "detail": s.detail}))
            .collect(),
    )
    .to_string()
}
