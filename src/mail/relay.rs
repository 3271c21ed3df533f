//! Whether the mail relay can be reached, as an MTA keeps a "host down" record: when a relay
//! refuses connections (or will not open a session), every mail in the queue would fail the
//! same way, so the whole queue waits and one mail at a time probes the relay, at growing
//! intervals, until a session opens again. A mail the relay itself refuses (a 550 for one
//! recipient) says the relay is up. Instants are passed in so the schedule is testable.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::jobs::Claim;

/// The first probe after the relay went down comes this soon; each failed probe doubles the
/// wait, up to [`PROBE_MAX`], so the queue resumes within that long of the relay's return.
const PROBE_FIRST: Duration = Duration::from_secs(1);
pub const PROBE_MAX: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Relay {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `None` while the relay is up.
    down: Option<Down>,
}

struct Down {
    since: Instant,
    failed_probes: u32,
    next_probe: Instant,
    probing: bool,
}

/// Whether a claimed mail may go to the relay now.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Admission {
    Send,
    /// The relay is down and this mail is the one probe.
    Probe,
    /// The relay is down and a probe is out or not yet due: give the mail back untouched.
    Hold,
}

/// A change worth telling the operator about.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    WentDown,
    StillDown {
        down_for: Duration,
        next_probe_in: Duration,
    },
    CameBack {
        after: Duration,
    },
}

impl Relay {
    pub fn is_up(&self) -> bool {
        self.lock().down.is_none()
    }

    /// What the outbox loop may claim: a batch while the relay is up, one mail when a probe is
    /// due, otherwise nothing for a while.
    pub fn claim(&self, now: Instant) -> Claim {
        match &self.lock().down {
            None => Claim::Batch,
            Some(down) if down.probing => Claim::Wait(PROBE_FIRST),
            Some(down) if down.next_probe <= now => Claim::One,
            Some(down) => Claim::Wait(down.next_probe - now),
        }
    }

    /// Whether a mail about to be sent may go: the first due one while the relay is down
    /// becomes the probe.
    pub fn admit(&self, now: Instant) -> Admission {
        let mut state = self.lock();
        match &mut state.down {
            None => Admission::Send,
            Some(down) if !down.probing && down.next_probe <= now => {
                down.probing = true;
                Admission::Probe
            }
            Some(_) => Admission::Hold,
        }
    }

    /// Records whether a send reached the relay (opened a session), whatever became of the
    /// mail itself.
    pub fn record(&self, now: Instant, admission: Admission, reached: bool) -> Option<Change> {
        let mut state = self.lock();
        match (&mut state.down, reached) {
            (None, true) => None,
            (None, false) => {
                state.down = Some(Down {
                    since: now,
                    failed_probes: 0,
                    next_probe: now + PROBE_FIRST,
                    probing: false,
                });
                Some(Change::WentDown)
            }
            (Some(down), true) => {
                let after = now.saturating_duration_since(down.since);
                state.down = None;
                Some(Change::CameBack { after })
            }
            // A mail sent before the relay went down failing too tells nothing new.
            (Some(_), false) if admission != Admission::Probe => None,
            (Some(down), false) => {
                down.failed_probes = down.failed_probes.saturating_add(1);
                let wait = PROBE_FIRST
                    .saturating_mul(2u32.saturating_pow(down.failed_probes.min(16)))
                    .min(PROBE_MAX);
                down.next_probe = now + wait;
                down.probing = false;
                Some(Change::StillDown {
                    down_for: now.saturating_duration_since(down.since),
                    next_probe_in: wait,
                })
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_down_for_fifteen_minutes_is_probed_by_one_mail_at_a_time() {
        let relay = Relay::default();
        let start = Instant::now();
        assert_eq!(relay.claim(start), Claim::Batch);
        assert_eq!(relay.admit(start), Admission::Send);
        assert_eq!(
            relay.record(start, Admission::Send, false),
            Some(Change::WentDown)
        );
        // The rest of the batch in flight fails too and changes nothing.
        assert_eq!(relay.record(start, Admission::Send, false), None);
        assert_eq!(relay.admit(start), Admission::Hold, "held, not tried");

        let back_at = start + Duration::from_secs(15 * 60);
        let (mut now, mut probes) = (start, 0);
        while now < back_at {
            match relay.claim(now) {
                Claim::Batch => panic!("the queue resumed while the relay was down"),
                Claim::Wait(wait) => now += wait,
                Claim::One => {
                    assert_eq!(relay.admit(now), Admission::Probe);
                    assert_eq!(relay.admit(now), Admission::Hold, "one probe at a time");
                    assert!(matches!(relay.claim(now), Claim::Wait(_)));
                    probes += 1;
                    relay.record(now, Admission::Probe, false);
                }
            }
        }
        assert!(
            (25..=40).contains(&probes),
            "{probes} probes in 15 minutes, not one attempt per mail"
        );
        // The relay is back: the next probe is at most PROBE_MAX away and resumes the queue.
        if let Claim::Wait(wait) = relay.claim(now) {
            assert!(wait <= PROBE_MAX);
            now += wait;
        }
        assert_eq!(relay.claim(now), Claim::One);
        assert_eq!(relay.admit(now), Admission::Probe);
        let change = relay.record(now, Admission::Probe, true);
        assert!(
            matches!(change, Some(Change::CameBack { after }) if after >= Duration::from_secs(900))
        );
        assert_eq!(relay.claim(now), Claim::Batch);
        assert!(relay.is_up());
    }

    #[test]
    fn a_mail_the_relay_answers_says_it_is_up_whatever_became_of_the_mail() {
        let relay = Relay::default();
        let now = Instant::now();
        relay.record(now, Admission::Send, false);
        assert!(!relay.is_up());
        // A mail in flight from before the outage got an answer (say, a 550): the relay is up.
        assert!(matches!(
            relay.record(now, Admission::Send, true),
            Some(Change::CameBack { .. })
        ));
        assert_eq!(relay.claim(now), Claim::Batch);
    }
}
