//! The per-sender request quota for requests that can cause mail (signups, resends): a token
//! bucket per sender in this process. Exceeding it answers 429 with `Retry-After`.

use crate::domain::ids::SenderId;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

pub struct SenderLimiter {
    limiter: RateLimiter<SenderId, DefaultKeyedStateStore<SenderId>, DefaultClock>,
    clock: DefaultClock,
}

impl SenderLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(per_second);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` if the sender may proceed; otherwise the whole seconds to wait (at least 1).
    pub fn check(&self, sender_id: &SenderId) -> Result<(), u64> {
        self.limiter
            .check_key(sender_id)
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
            .map_err(|s| s.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_sender_waits_alone() {
        let limiter = SenderLimiter::new(1, 3);
        let (a, b) = (SenderId::new(), SenderId::new());
        for _ in 0..3 {
            assert!(limiter.check(&a).is_ok());
        }
        assert_eq!(limiter.check(&a), Err(1));
        assert!(limiter.check(&b).is_ok());
    }
}
