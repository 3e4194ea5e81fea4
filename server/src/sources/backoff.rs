//! Exponential backoff with jitter for reconnecting sources: 1 s doubling to 30 s.

use std::time::Duration;

/// Delays between reconnect attempts: `initial` doubling up to `max`, each with ±20 % jitter so a
/// city's cameras don't all reconnect in the same instant after a network blip.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next attempt (without jitter), then doubles it.
    pub(crate) fn next_base(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// The delay before the next attempt, with ±20 % jitter, never above the cap (a camera
    /// that comes back is retried within `max`, as MediaMTX's flat 5 s retry promises).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next_base();
        let factor = 0.8 + rand::random::<f64>() * 0.4;
        base.mul_f64(factor).min(self.max)
    }

    /// Back to the initial delay, after a connection that worked.
    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let seen: Vec<u64> = (0..7).map(|_| b.next_base().as_secs()).collect();
        assert_eq!(seen, [1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next_base(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_under_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(4), Duration::from_secs(10));
        for _ in 0..100 {
            let d = b.next_delay().as_secs_f64();
            assert!((3.2..=10.0).contains(&d), "{d}");
        }
        let mut capped = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        for _ in 0..100 {
            let d = capped.next_delay().as_secs_f64();
            assert!((8.0..=10.0).contains(&d), "{d}");
        }
    }
}
