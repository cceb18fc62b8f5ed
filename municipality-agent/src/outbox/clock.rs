//! Time and the retry schedule: the outbox reads the time from an injected
//! [`Clock`] so retry schedules are testable, and spaces retries by [`Backoff`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rand::Rng;

/// A source of the current time, in seconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now_unix(&self) -> i64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that moves only when told to (for tests and simulations).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }
    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Exponential back-off with jitter: attempt `n` waits a random time in
/// `[d/2, d]` where `d = min(cap, base * 2^(n-1))`, so waits never shrink as
/// failures accumulate and many agents do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure (before jitter).
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The delay after `attempts` failed attempts (1 for the first failure).
    pub fn delay(&self, attempts: u32, rng: &mut impl Rng) -> Duration {
        let shift = attempts.saturating_sub(1).min(40);
        let full = self
            .base
            .checked_mul(1u32 << shift.min(31))
            .unwrap_or(self.cap);
        let full = if shift > 31 {
            self.cap
        } else {
            full.min(self.cap)
        };
        let ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
        let lo = ms / 2;
        Duration::from_millis(if lo >= ms {
            ms
        } else {
            rng.random_range(lo..=ms)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_is_within_bounds_and_capped() {
        let b = Backoff {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(300),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempts in 1..100u32 {
            let full = (10u64 << (attempts - 1).min(20)).min(300);
            let d = b.delay(attempts, &mut rng).as_millis() as u64;
            assert!(
                d >= full * 500 && d <= full * 1000,
                "attempt {attempts}: {d} ms for {full} s"
            );
        }
    }
}
