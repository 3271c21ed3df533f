//! The `[standing]` settings and the rules they make.

use std::time::Duration;

use serde::Deserialize;

use super::values;

/// Sender standing: probation caps, the thresholds of `watch` and `restricted`, and the
/// traffic-pattern signals. The README's table gives each its source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandingSettings {
    #[serde(deserialize_with = "values::number")]
    pub window_days: i64,
    /// Daily confirmation-mail caps of probation, one per step; empty: no probation.
    #[serde(deserialize_with = "values::numbers")]
    pub probation_caps: Vec<i64>,
    #[serde(deserialize_with = "values::number")]
    pub probation_step_days: i64,
    #[serde(deserialize_with = "values::number")]
    pub probation_step_mails: i64,
    #[serde(deserialize_with = "values::percent")]
    pub probation_step_max_refusal_percent: f64,
    #[serde(deserialize_with = "values::percent")]
    pub probation_step_max_complaint_percent: f64,
    #[serde(deserialize_with = "values::number")]
    pub min_volume: i64,
    #[serde(deserialize_with = "values::percent")]
    pub watch_refusal_percent: f64,
    #[serde(deserialize_with = "values::percent")]
    pub watch_complaint_percent: f64,
    #[serde(deserialize_with = "values::percent")]
    pub restrict_refusal_percent: f64,
    #[serde(deserialize_with = "values::percent")]
    pub restrict_complaint_percent: f64,
    #[serde(deserialize_with = "values::number")]
    pub surge_factor: i64,
    #[serde(deserialize_with = "values::number")]
    pub surge_floor: i64,
    #[serde(deserialize_with = "values::percent")]
    pub network_share_percent: f64,
    #[serde(deserialize_with = "values::number")]
    pub network_min_signups: i64,
    /// How often each instance assesses every sender's standing.
    #[serde(rename = "sweep_seconds", deserialize_with = "values::period_seconds")]
    pub sweep: Duration,
}

impl StandingSettings {
    /// The rules these settings make.
    pub fn rules(&self) -> crate::domain::standing::Rules {
        crate::domain::standing::Rules {
            window_days: self.window_days,
            probation_caps: self.probation_caps.clone(),
            step_days: self.probation_step_days,
            step_mails: self.probation_step_mails,
            step_max_refusal_percent: self.probation_step_max_refusal_percent,
            step_max_complaint_percent: self.probation_step_max_complaint_percent,
            min_volume: self.min_volume,
            watch_refusal_percent: self.watch_refusal_percent,
            watch_complaint_percent: self.watch_complaint_percent,
            restrict_refusal_percent: self.restrict_refusal_percent,
            restrict_complaint_percent: self.restrict_complaint_percent,
            surge_factor: self.surge_factor,
            surge_floor: self.surge_floor,
            network_share_percent: self.network_share_percent,
            network_min_signups: self.network_min_signups,
        }
    }
}
