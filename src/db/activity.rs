//! The `sender_activity` table: per sender and hour, how many signups, confirmation mails,
//! confirmations, refusals, expiries, opt-outs, complaints, throttled requests and announced
//! sends there were. Counted as each ledger event is appended (in its transaction), so a
//! reputation window is a sum over at most `window × 24` rows, never a scan of the chain.

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;

use super::schema::sender_activity as activity;
use super::{DbConn, StoreError};
use crate::domain::event_kind::EventKind;
use crate::domain::ids::SenderId;

/// What one hour's row counts. The names are the reputation's `counts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Queryable)]
pub struct Counts {
    pub requested: i64,
    /// Confirmation mails enqueued (the probation cap counts these).
    #[serde(skip)]
    pub queued: i64,
    pub mailed: i64,
    pub confirmed: i64,
    pub refused: i64,
    pub expired: i64,
    pub unsubscribed: i64,
    pub complaints: i64,
    pub throttled: i64,
    /// Sends the sender announced by a check that allowed them (single and batch).
    pub sends_checked: i64,
}

impl Counts {
    /// The counts in the order of the table's columns, as the activity upserts bind them.
    pub fn in_column_order(&self) -> [i64; 10] {
        [
            self.requested,
            self.queued,
            self.mailed,
            self.confirmed,
            self.refused,
            self.expired,
            self.unsubscribed,
            self.complaints,
            self.throttled,
            self.sends_checked,
        ]
    }

    /// Whether nothing is counted.
    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }

    /// The counts the reputation shows, by name, in a fixed order.
    pub fn named(&self) -> [(&'static str, i64); 9] {
        [
            ("requested", self.requested),
            ("mailed", self.mailed),
            ("confirmed", self.confirmed),
            ("refused", self.refused),
            ("expired", self.expired),
            ("unsubscribed", self.unsubscribed),
            ("complaints", self.complaints),
            ("throttled", self.throttled),
            ("sends_checked", self.sends_checked),
        ]
    }

    /// Both counts added.
    pub fn plus(&self, other: &Counts) -> Counts {
        Counts {
            requested: self.requested + other.requested,
            queued: self.queued + other.queued,
            mailed: self.mailed + other.mailed,
            confirmed: self.confirmed + other.confirmed,
            refused: self.refused + other.refused,
            expired: self.expired + other.expired,
            unsubscribed: self.unsubscribed + other.unsubscribed,
            complaints: self.complaints + other.complaints,
            throttled: self.throttled + other.throttled,
            sends_checked: self.sends_checked + other.sends_checked,
        }
    }
}

/// The hour a moment is counted in.
pub fn hour_of(at: NaiveDateTime) -> NaiveDateTime {
    at.date().and_hms_opt(at.hour(), 0, 0).unwrap_or(at)
}

/// Adds `add` to the sender's row for the hour of `at` (creating it). Call inside a write
/// transaction.
pub fn add(
    conn: &mut DbConn,
    sender_id: &SenderId,
    at: NaiveDateTime,
    add: &Counts,
) -> Result<(), StoreError> {
    if add.is_empty() {
        return Ok(());
    }
    let statement = super::cached_writes::AddActivity {
        sender_id: sender_id.as_str(),
        hour: hour_of(at),
        counts: add.in_column_order(),
    };
    crate::on_backend!(conn, |c| statement.execute(c))?;
    Ok(())
}

/// The sums of the sender's rows for the hours from `since` (inclusive of its hour): at most
/// one row per hour, summed here (SUM over BIGINT has a different type on each backend).
pub fn sum_since(
    conn: &mut DbConn,
    sender_id: &SenderId,
    since: NaiveDateTime,
) -> Result<Counts, StoreError> {
    let rows: Vec<Counts> = activity::table
        .filter(activity::sender_id.eq(sender_id))
        .filter(activity::hour.ge(hour_of(since)))
        .select((
            activity::requested,
            activity::queued,
            activity::mailed,
            activity::confirmed,
            activity::refused,
            activity::expired,
            activity::unsubscribed,
            activity::complaints,
            activity::throttled,
            activity::sends_checked,
        ))
        .load(conn)?;
    Ok(rows.iter().fold(Counts::default(), |a, b| a.plus(b)))
}

/// Signups per hour for the hours from `since`, oldest first (hours without any are absent).
pub fn requested_per_hour(
    conn: &mut DbConn,
    sender_id: &SenderId,
    since: NaiveDateTime,
) -> Result<Vec<(NaiveDateTime, i64)>, StoreError> {
    Ok(activity::table
        .filter(activity::sender_id.eq(sender_id))
        .filter(activity::hour.ge(hour_of(since)))
        .order(activity::hour.asc())
        .select((activity::hour, activity::requested))
        .load(conn)?)
}

/// What an event adds to its hour: the one place an event kind becomes a count, so every
/// event appended through `ledger::record_event` is counted exactly once.
pub fn counts_of(kind: EventKind, data: &serde_json::Value) -> Counts {
    let confirmation = data.get("confirmation").and_then(|c| c.as_str());
    let one = |yes: bool| i64::from(yes);
    match kind {
        EventKind::Requested | EventKind::ResendRequested => Counts {
            requested: one(kind == EventKind::Requested),
            queued: one(confirmation == Some("queued")),
            throttled: one(confirmation == Some("throttled")),
            ..Counts::default()
        },
        EventKind::ConfirmationSent => Counts {
            mailed: 1,
            ..Counts::default()
        },
        EventKind::Confirmed => Counts {
            confirmed: 1,
            ..Counts::default()
        },
        EventKind::Refused => Counts {
            refused: 1,
            ..Counts::default()
        },
        EventKind::Expired => Counts {
            expired: 1,
            ..Counts::default()
        },
        EventKind::Unsubscribed => Counts {
            unsubscribed: 1,
            ..Counts::default()
        },
        EventKind::Complained => Counts {
            complaints: one(data.get("counted").and_then(|c| c.as_bool()) == Some(true)),
            ..Counts::default()
        },
        EventKind::Checked => Counts {
            sends_checked: data.get("allowed").and_then(|a| a.as_i64()).unwrap_or(0),
            ..Counts::default()
        },
        EventKind::ConfirmationFailed
        | EventKind::Exported
        | EventKind::Erased
        | EventKind::StandingChanged => Counts::default(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_event_kind_counts_where_the_reputation_expects_it() {
        let queued = counts_of(EventKind::Requested, &json!({"confirmation": "queued"}));
        assert_eq!(
            (queued.requested, queued.queued, queued.throttled),
            (1, 1, 0)
        );
        let throttled = counts_of(EventKind::Requested, &json!({"confirmation": "throttled"}));
        assert_eq!((throttled.requested, throttled.throttled), (1, 1));
        let resend = counts_of(
            EventKind::ResendRequested,
            &json!({"confirmation": "queued"}),
        );
        assert_eq!((resend.requested, resend.queued), (0, 1));
        assert_eq!(counts_of(EventKind::ConfirmationSent, &json!({})).mailed, 1);
        let complaint = counts_of(EventKind::Complained, &json!({"counted": true}));
        assert_eq!(complaint.complaints, 1);
        let not_spam = counts_of(EventKind::Complained, &json!({"counted": false}));
        assert!(not_spam.is_empty());
        assert_eq!(
            counts_of(EventKind::Checked, &json!({"allowed": 7})).sends_checked,
            7
        );
        assert!(counts_of(EventKind::StandingChanged, &json!({})).is_empty());
    }

    #[test]
    fn a_moment_is_counted_in_its_hour() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .and_then(|d| d.and_hms_micro_opt(13, 59, 59, 999_999))
            .unwrap();
        assert_eq!(hour_of(at).to_string(), "2026-12-02 13:00:00");
    }
}
