//! Sender standing over time: the record a new sender starts with, the periodic assessment
//! that moves it (each change a `standing_changed` event on the sender's chain, and so a
//! webhook), and the operator's review.

use chrono::{Duration, NaiveDateTime};
use serde_json::json;

mod signals;
use signals::{stored_signals, traffic_signals};

use crate::db::activity::{self, Counts};
use crate::db::ledger::NewEvent;
use crate::db::standing::{self as rows, StandingRow};
use crate::db::{write_transaction, DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::SenderId;
use crate::domain::standing::{
    assess, first_record, Record, Rules, SetBy, Signal, Standing, Tally,
};

/// Creates the standing record of a new sender. Call inside the write transaction that
/// creates the sender.
pub fn start(
    conn: &mut DbConn,
    sender_id: &SenderId,
    rules: &Rules,
    set: Option<Standing>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let mut record = first_record(rules, now);
    let mut reason = None;
    if let Some(standing) = set {
        record.probation_step = match standing {
            Standing::Good => None,
            Standing::Probation => Some(0),
            _ => record.probation_step,
        };
        record.standing = standing;
        record.set_by = SetBy::Operator;
        reason = Some("set when the sender was created".to_owned());
    }
    rows::insert_standing(
        conn,
        &row(sender_id, &record, None, reason, "[]".into(), now),
    )
}

fn row(
    sender_id: &SenderId,
    record: &Record,
    reviewed_at: Option<NaiveDateTime>,
    reason: Option<String>,
    signals: String,
    now: NaiveDateTime,
) -> StandingRow {
    StandingRow {
        sender_id: sender_id.clone(),
        standing: record.standing,
        probation_step: record.probation_step,
        step_since: record.step_since,
        reviewed_at,
        set_by: record.set_by,
        reason,
        signals,
        updated_at: now,
    }
}

fn tally(counts: &Counts) -> Tally {
    Tally {
        mailed: counts.mailed,
        refused: counts.refused,
        complaints: counts.complaints,
        sends_checked: counts.sends_checked,
    }
}

/// The start of the window the rules read: the configured days back, or the operator's last
/// review if that is later (what the operator reviewed does not count twice).
pub fn window_start(row: &StandingRow, rules: &Rules, now: NaiveDateTime) -> NaiveDateTime {
    let days = now - Duration::days(rules.window_days);
    row.reviewed_at.map_or(days, |r| r.max(days))
}

/// What changed, for the caller's log and webhook wake-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub sender_id: SenderId,
    pub from: Standing,
    pub to: Standing,
}

/// Assesses one sender at `now` and stores the result; a change of standing is recorded on
/// its chain. Call inside a write transaction.
pub fn assess_sender(
    conn: &mut DbConn,
    sender_id: &SenderId,
    rules: &Rules,
    now: NaiveDateTime,
) -> Result<Option<Change>, StoreError> {
    let Some(current) = rows::find_standing(conn, sender_id, true)? else {
        return Ok(None);
    };
    let window = activity::sum_since(conn, sender_id, window_start(&current, rules, now))?;
    let at_step = activity::sum_since(conn, sender_id, current.step_since)?;
    let traffic = traffic_signals(conn, sender_id, rules, now)?;
    let (next, signals) = assess(
        &current.record(),
        &tally(&window),
        &tally(&at_step),
        traffic,
        rules,
        now,
    );
    let signals_text = stored_signals(&signals, &current.signals, now);
    let record = current.record();
    if next == record && signals_text == current.signals {
        return Ok(None);
    }
    let changed = next.standing != record.standing;
    let reason = if changed {
        Some(reason_of(&record, &next, &signals))
    } else {
        current.reason.clone()
    };
    let stored = row(
        sender_id,
        &next,
        current.reviewed_at,
        reason.clone(),
        signals_text,
        now,
    );
    rows::update_standing(conn, &stored)?;
    if next.probation_step != record.probation_step || changed {
        record_change(
            conn,
            &record,
            &next,
            SetBy::Auto,
            reason.as_deref(),
            &signals,
            &window,
            rules,
            sender_id,
            now,
        )?;
    }
    Ok(changed.then(|| Change {
        sender_id: sender_id.clone(),
        from: record.standing,
        to: next.standing,
    }))
}

fn reason_of(before: &Record, next: &Record, signals: &[Signal]) -> String {
    if signals.is_empty() {
        return match (before.standing, next.standing) {
            (Standing::Probation, Standing::Good) => "probation completed".into(),
            _ => "signals cleared".into(),
        };
    }
    signals
        .iter()
        .map(|s| s.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Records a `standing_changed` event (also for a probation step).
#[allow(clippy::too_many_arguments)]
fn record_change(
    conn: &mut DbConn,
    before: &Record,
    next: &Record,
    by: SetBy,
    reason: Option<&str>,
    signals: &[Signal],
    window: &Counts,
    rules: &Rules,
    sender_id: &SenderId,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let event = NewEvent::new(
        EventKind::StandingChanged,
        json!({
            "from": before.standing,
            "to": next.standing,
            "by": by,
            "reason": reason,
            "probation_step": next.probation_step,
            "daily_confirmation_cap": next.daily_cap(rules),
            "signals": signals.iter().map(|s| s.code).collect::<Vec<_>>(),
            "window": {
                "mailed": window.mailed, "refused": window.refused,
                "complaints": window.complaints, "sends_checked": window.sends_checked,
            },
        }),
    );
    super::record_event(conn, sender_id, event, now)?;
    Ok(())
}

/// Assesses every sender, each in its own transaction; returns the changes.
pub fn assess_all(
    conn: &mut DbConn,
    rules: &Rules,
    now: NaiveDateTime,
) -> Result<Vec<Change>, StoreError> {
    let mut changes = Vec::new();
    for sender_id in rows::senders_with_standing(conn)? {
        if let Some(change) =
            write_transaction(conn, |conn| assess_sender(conn, &sender_id, rules, now))?
        {
            changes.push(change);
        }
    }
    Ok(changes)
}

/// The operator sets the standing after a review. `good` ends probation; `probation` starts
/// it again from the first step. The assessment counts only what happens after the review.
/// Returns the standing before, or `None` when the sender has no record. Call inside a
/// write transaction.
pub fn set_by_operator(
    conn: &mut DbConn,
    sender_id: &SenderId,
    standing: Standing,
    reason: &str,
    rules: &Rules,
    now: NaiveDateTime,
) -> Result<Option<Standing>, StoreError> {
    let Some(current) = rows::find_standing(conn, sender_id, true)? else {
        return Ok(None);
    };
    let before = current.record();
    let probation_step = match standing {
        Standing::Good => None,
        Standing::Probation => Some(0),
        Standing::Watch | Standing::Restricted => before.probation_step,
    };
    let next = Record {
        standing,
        probation_step,
        step_since: if probation_step == before.probation_step {
            before.step_since
        } else {
            now
        },
        set_by: SetBy::Operator,
    };
    let window = activity::sum_since(conn, sender_id, window_start(&current, rules, now))?;
    rows::update_standing(
        conn,
        &row(
            sender_id,
            &next,
            Some(now),
            Some(reason.to_owned()),
            "[]".into(),
            now,
        ),
    )?;
    record_change(
        conn,
        &before,
        &next,
        SetBy::Operator,
        Some(reason),
        &[],
        &window,
        rules,
        sender_id,
        now,
    )?;
    Ok(Some(before.standing))
}
