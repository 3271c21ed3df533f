//! A sender's reputation as `GET /v1/reputation` and `consentry sender reputation` show it:
//! counts and rates over the window, the standing with its daily cap, and the active signals.

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::clock;
use crate::db::activity::{self, Counts};
use crate::db::standing::find_standing;
use crate::db::{DbConn, StoreError};
use crate::domain::ids::SenderId;
use crate::domain::standing::{percent, Rules, Standing};

/// Rates over the window, as fractions (0.012 is 1.2 %).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Rates {
    /// Confirmations per confirmation mail.
    pub confirmation: f64,
    /// Refusals ("this wasn't me") per confirmation mail.
    pub refusal: f64,
    /// Complaints per mail: confirmation mails and the sends announced by allowed checks.
    pub complaint: f64,
    /// Opt-outs per mail, counted the same way.
    pub unsubscribe: f64,
}

impl Rates {
    pub fn of(c: &Counts) -> Self {
        let all_mail = c.mailed + c.sends_checked;
        let fraction = |part, whole| percent(part, whole) / 100.0;
        Self {
            confirmation: fraction(c.confirmed, c.mailed),
            refusal: fraction(c.refused, c.mailed),
            complaint: fraction(c.complaints, all_mail),
            unsubscribe: fraction(c.unsubscribed, all_mail),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reputation {
    pub sender_id: SenderId,
    pub window_days: i64,
    pub standing: Standing,
    /// Confirmation mails the sender may have queued in any 24 h; `null`: no cap.
    pub daily_confirmation_cap: Option<i64>,
    /// Confirmation mails queued in the last 24 h (what the cap counts).
    pub queued_last_24h: i64,
    /// The probation step (0 is the first cap); `null` out of probation.
    pub probation_step: Option<i64>,
    /// `auto` or `operator`.
    pub set_by: String,
    pub reason: Option<String>,
    /// The operator's last review; the rules count only what happened after it.
    pub reviewed_at: Option<String>,
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub counts: Counts,
    pub rates: Rates,
    /// `[{"code", "since", "detail"}]`: `refusal_rate`, `complaint_rate`, `signup_surge`,
    /// `one_network`.
    #[schema(value_type = Vec<Object>)]
    pub signals: Vec<Value>,
}

/// The sender's reputation at `now`; `None` if it has no standing record.
pub fn reputation(
    conn: &mut DbConn,
    sender_id: &SenderId,
    rules: &Rules,
    now: NaiveDateTime,
) -> Result<Option<Reputation>, StoreError> {
    let Some(row) = find_standing(conn, sender_id, false)? else {
        return Ok(None);
    };
    let counts = activity::sum_since(conn, sender_id, now - Duration::days(rules.window_days))?;
    let day = activity::sum_since(conn, sender_id, now - Duration::hours(23))?;
    let record = row.record();
    Ok(Some(Reputation {
        sender_id: sender_id.clone(),
        window_days: rules.window_days,
        standing: row.standing,
        daily_confirmation_cap: record.daily_cap(rules),
        queued_last_24h: day.queued,
        probation_step: row.probation_step,
        set_by: row.set_by.to_string(),
        reason: row.reason,
        reviewed_at: row.reviewed_at.map(clock::rfc3339),
        updated_at: clock::rfc3339(row.updated_at),
        counts,
        rates: Rates::of(&counts),
        signals: serde_json::from_str(&row.signals).unwrap_or_default(),
    }))
}
