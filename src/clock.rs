//! The one source of "now" for stored times.

use chrono::{NaiveDateTime, SubsecRound, Utc};

/// Current UTC time truncated to microseconds: PostgreSQL stores microseconds, so truncating
/// here makes a value read back from either backend equal to the value written.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// RFC 3339 UTC rendering used in every JSON answer (`2026-11-27T10:00:00.123456Z`).
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
