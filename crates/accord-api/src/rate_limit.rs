//! Per-key request budgets per minute (§1.6), as a GCRA limiter keyed by API key or by
//! client IP and project: the budget may be spent in a burst and refills evenly over the
//! minute. The keyed state is sharded, so requests of different keys do not wait on one
//! lock. Each replica counts on its own: with N replicas a key may get up to N times the
//! budget, which degrades gracefully without any shared state.
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

/// Checks between two sweeps of keys whose budget is full again.
const SWEEP_EVERY: u32 = 16_384;

pub struct Limiter {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
    checks: AtomicU32,
}

impl Limiter {
    /// A budget of `per_minute` requests per key; 0 turns the limit off.
    pub fn new(per_minute: u32) -> Limiter {
        Limiter {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            clock: DefaultClock::default(),
            checks: AtomicU32::new(0),
        }
    }

    /// Counts one request for `key`; `Err(seconds)` until the next one is allowed.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_millis().div_ceil(1000).max(1) as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Limiter;

    #[test]
    fn budget_is_per_key_and_says_when_to_retry() {
        let l = Limiter::new(3);
        for _ in 0..3 {
            assert_eq!(l.check("a"), Ok(()));
        }
        let retry = l.check("a").unwrap_err();
        assert!((1..=20).contains(&retry), "{retry}");
        assert_eq!(l.check("b"), Ok(()));
        let off = Limiter::new(0);
        for _ in 0..10_000 {
            assert_eq!(off.check("a"), Ok(()));
        }
    }
}
