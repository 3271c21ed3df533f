//! A sender's standing and the rules that move it: new senders start on probation with a
//! daily cap on confirmation mails that rises in steps while their record stays clean;
//! refusal and complaint rates (over a minimum volume) and traffic-pattern signals move a
//! sender to `watch` or `restricted`. Pure functions over counts, so the rules can be read
//! and tested apart from storage and time.

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use super::text_enum::text_enum;

text_enum! {
    /// How far Consentry trusts a sender with confirmation mail.
    pub enum Standing ("standing") {
        /// New: confirmation mails are capped per 24 h; the cap rises in steps.
        Probation => "probation",
        /// No cap.
        Good => "good",
        /// Mail continues; the record needs the operator's eye and the cap does not rise.
        Watch => "watch",
        /// Signups are recorded and answered `throttled`; nothing is mailed.
        Restricted => "restricted",
    }
}

text_enum! {
    /// Who set the standing last.
    pub enum SetBy ("standing setter") {
        Auto => "auto",
        Operator => "operator",
    }
}

/// The thresholds (settings; the README lists them with their sources).
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub window_days: i64,
    /// The daily caps of probation, one per step; empty: new senders start `good`.
    pub probation_caps: Vec<i64>,
    pub step_days: i64,
    pub step_mails: i64,
    pub step_max_refusal_percent: f64,
    pub step_max_complaint_percent: f64,
    /// Confirmation mails in the window before rates count.
    pub min_volume: i64,
    pub watch_refusal_percent: f64,
    pub watch_complaint_percent: f64,
    pub restrict_refusal_percent: f64,
    pub restrict_complaint_percent: f64,
    pub surge_factor: i64,
    pub surge_floor: i64,
    pub network_share_percent: f64,
    pub network_min_signups: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            window_days: 30,
            probation_caps: vec![200, 1_000, 10_000],
            step_days: 3,
            step_mails: 100,
            step_max_refusal_percent: 1.0,
            step_max_complaint_percent: 0.1,
            min_volume: 200,
            watch_refusal_percent: 2.0,
            watch_complaint_percent: 0.1,
            restrict_refusal_percent: 5.0,
            restrict_complaint_percent: 0.3,
            surge_factor: 10,
            surge_floor: 50,
            network_share_percent: 80.0,
            network_min_signups: 50,
        }
    }
}

/// What the rates are computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Confirmation mails handed to the relay.
    pub mailed: i64,
    pub refused: i64,
    pub complaints: i64,
    /// Mails the sender announced by an allowed check (its own campaign mail).
    pub sends_checked: i64,
}

impl Tally {
    /// Refusals per confirmation mail, in percent.
    pub fn refusal_percent(&self) -> f64 {
        percent(self.refused, self.mailed)
    }

    /// Complaints per mail (confirmation mail and announced sends), in percent, as mailbox
    /// providers count them (complaints over delivered mail).
    pub fn complaint_percent(&self) -> f64 {
        percent(self.complaints, self.mailed + self.sends_checked)
    }
}

/// `part` of `whole` in percent; 0 for nothing.
pub fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    part as f64 * 100.0 / whole as f64
}

/// A traffic pattern that needs an eye.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signal {
    /// `refusal_rate`, `complaint_rate`, `signup_surge`, `one_network`.
    pub code: &'static str,
    /// Why, in words (no addresses).
    pub detail: String,
}

/// What a sender's standing record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub standing: Standing,
    /// Index into the probation caps; `None` once out of probation.
    pub probation_step: Option<i64>,
    pub step_since: NaiveDateTime,
    pub set_by: SetBy,
}

impl Record {
    /// The confirmation mails this sender may have queued in any 24 h; `None`: no cap.
    pub fn daily_cap(&self, rules: &Rules) -> Option<i64> {
        if self.standing == Standing::Restricted {
            return Some(0);
        }
        let step = usize::try_from(self.probation_step?).ok()?;
        Some(rules.probation_caps.get(step).copied().unwrap_or(0))
    }
}

/// The standing a new sender starts in.
pub fn first_record(rules: &Rules, now: NaiveDateTime) -> Record {
    let on_probation = !rules.probation_caps.is_empty();
    Record {
        standing: if on_probation {
            Standing::Probation
        } else {
            Standing::Good
        },
        probation_step: on_probation.then_some(0),
        step_since: now,
        set_by: SetBy::Auto,
    }
}

/// The signals a window's rates raise: (`watch` signals, whether they call for `restricted`).
pub fn rate_signals(window: &Tally, rules: &Rules) -> (Vec<Signal>, bool) {
    let mut signals = Vec::new();
    if window.mailed < rules.min_volume {
        return (signals, false);
    }
    let (refusals, complaints) = (window.refusal_percent(), window.complaint_percent());
    let restrict = refusals >= rules.restrict_refusal_percent
        || complaints >= rules.restrict_complaint_percent;
    if refusals >= rules.watch_refusal_percent {
        signals.push(Signal {
            code: "refusal_rate",
            detail: format!(
                "{} refusals per {} confirmation mails ({refusals:.2} %)",
                window.refused, window.mailed
            ),
        });
    }
    if complaints >= rules.watch_complaint_percent {
        signals.push(Signal {
            code: "complaint_rate",
            detail: format!(
                "{} complaints per {} mails ({complaints:.3} %)",
                window.complaints,
                window.mailed + window.sends_checked
            ),
        });
    }
    (signals, restrict)
}

/// A surge: signups in the last hour above `surge_factor` × the median of the hours of the
/// seven days before it (hours without signups count as 0), and above the floor.
pub fn surge_signal(last_hour: i64, earlier_hours: &[i64], rules: &Rules) -> Option<Signal> {
    let mut hours = earlier_hours.to_vec();
    hours.resize(7 * 24, 0);
    hours.sort_unstable();
    let median = hours[hours.len() / 2];
    let bar = (median * rules.surge_factor).max(rules.surge_floor);
    (last_hour > bar).then(|| Signal {
        code: "signup_surge",
        detail: format!(
            "{last_hour} signups in the last hour; the 7-day hourly median is {median}"
        ),
    })
}

/// Most recent signups claim one network: the largest share of one network among `recent`
/// (network keys, newest first) at or above the setting, over the minimum count.
pub fn network_signal(recent: &[String], rules: &Rules) -> Option<Signal> {
    if (recent.len() as i64) < rules.network_min_signups {
        return None;
    }
    let mut counts = std::collections::HashMap::<&str, i64>::new();
    for key in recent {
        *counts.entry(key.as_str()).or_default() += 1;
    }
    let top = counts.values().copied().max().unwrap_or(0);
    let share = percent(top, recent.len() as i64);
    (share >= rules.network_share_percent).then(|| Signal {
        code: "one_network",
        detail: format!(
            "{top} of the last {} signups claim one network ({share:.0} %)",
            recent.len()
        ),
    })
}

/// The next record after an assessment at `now`: `window` is the reputation window (from the
/// operator's last review at the earliest), `at_step` what happened since the current
/// probation step began, `signals` the traffic-pattern signals.
///
/// `restricted` stays until the operator lifts it (a restricted sender mails nothing, so its
/// rates could never recover by themselves); an operator's `watch` stays until the operator
/// changes it; an automatic `watch` ends when its signals do.
pub fn assess(
    record: &Record,
    window: &Tally,
    at_step: &Tally,
    mut signals: Vec<Signal>,
    rules: &Rules,
    now: NaiveDateTime,
) -> (Record, Vec<Signal>) {
    let (mut rate, restrict) = rate_signals(window, rules);
    rate.append(&mut signals);
    let signals = rate;
    let mut next = record.clone();
    if record.standing == Standing::Restricted {
        return (next, signals);
    }
    if restrict {
        next.standing = Standing::Restricted;
        next.set_by = SetBy::Auto;
        return (next, signals);
    }
    if !signals.is_empty() {
        if next.standing != Standing::Watch {
            next.standing = Standing::Watch;
            next.set_by = SetBy::Auto;
        }
        return (next, signals);
    }
    if record.standing == Standing::Watch && record.set_by == SetBy::Operator {
        return (next, signals);
    }
    next.set_by = record.set_by;
    match record.probation_step {
        Some(step) => {
            let due = now - record.step_since >= Duration::days(rules.step_days)
                && at_step.mailed >= rules.step_mails
                && at_step.refusal_percent() < rules.step_max_refusal_percent
                && at_step.complaint_percent() < rules.step_max_complaint_percent;
            if due {
                next.step_since = now;
                next.probation_step =
                    (step + 1 < rules.probation_caps.len() as i64).then_some(step + 1);
            }
            next.standing = if next.probation_step.is_some() {
                Standing::Probation
            } else {
                Standing::Good
            };
        }
        None => next.standing = Standing::Good,
    }
    (next, signals)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "standing_tests.rs"]
mod tests;
