//! A circuit breaker for calls to another service (shared by the sidecars through `#[path]`).
//!
//! [`Breaker`] is the state machine, without I/O or clock (the time is passed in):
//! - **closed**: every call goes through; [`FAILURES`] consecutive failures open it;
//! - **open**: no call goes through for [`OPEN_FOR`];
//! - **half-open**: after that, one trial call goes through; its success closes the breaker,
//!   its failure opens it for another [`OPEN_FOR`]. A trial that never reports (its caller was
//!   cancelled) is replaced by another after [`OPEN_FOR`].
//!
//! [`CircuitBreaker`] shares one across tasks, logs every change of state and sets the
//! `circuit_breaker_open{target}` gauge (1 while open or half-open).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;

/// Consecutive failures that open the breaker.
pub const FAILURES: u32 = 5;
/// How long an open breaker refuses calls before a trial.
pub const OPEN_FOR: Duration = Duration::from_secs(60);

/// The state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Calls go through.
    Closed,
    /// Calls are refused.
    Open,
    /// One trial call is under way.
    HalfOpen,
}

impl Phase {
    /// The phase's name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Open => "open",
            Phase::HalfOpen => "half-open",
        }
    }
}

/// The sans-IO state machine.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    failures: u32,
    phase: Phase,
    /// When the breaker opened (open) or the trial started (half-open).
    since: Option<Instant>,
}

impl Default for Breaker {
    fn default() -> Breaker {
        Breaker::new(FAILURES, OPEN_FOR)
    }
}

impl Breaker {
    /// A closed breaker opening after `threshold` consecutive failures, for `open_for`.
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            failures: 0,
            phase: Phase::Closed,
            since: None,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a call may be made at `now`; when the breaker has been open long enough this
    /// call becomes the half-open trial.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Closed => true,
            Phase::Open | Phase::HalfOpen => {
                let due = self
                    .since
                    .is_none_or(|since| now.saturating_duration_since(since) >= self.open_for);
                if due {
                    self.phase = Phase::HalfOpen;
                    self.since = Some(now);
                }
                due
            }
        }
    }

    /// Records a call's success: closes the breaker.
    pub fn success(&mut self) {
        self.failures = 0;
        self.phase = Phase::Closed;
        self.since = None;
    }

    /// Records a call's failure at `now`: the threshold reached in the closed phase, or a failed
    /// trial, opens the breaker.
    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let open = match self.phase {
            Phase::Closed => self.failures >= self.threshold,
            Phase::HalfOpen => true,
            // A call allowed before the breaker opened, failing late: it stays open as it was.
            Phase::Open => false,
        };
        if open {
            self.phase = Phase::Open;
            self.since = Some(now);
        }
    }
}

/// A [`Breaker`] shared across tasks in front of one target, logging its changes of state and
/// exporting them as a gauge; cheap to clone.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    target: Arc<str>,
    breaker: Arc<Mutex<Breaker>>,
    gauge: Gauge,
}

impl Default for CircuitBreaker {
    /// A breaker with the default policy whose gauge is not registered anywhere.
    fn default() -> CircuitBreaker {
        CircuitBreaker::new("unnamed", Breaker::default(), Gauge::default())
    }
}

impl CircuitBreaker {
    /// A breaker in front of `target`, reporting on `gauge`.
    pub fn new(target: &str, breaker: Breaker, gauge: Gauge) -> CircuitBreaker {
        gauge.set(i64::from(breaker.phase() != Phase::Closed));
        CircuitBreaker {
            target: target.into(),
            breaker: Arc::new(Mutex::new(breaker)),
            gauge,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.lock().phase()
    }

    /// Whether a call may be made now.
    pub fn allow(&self) -> bool {
        self.step(|b| b.allow(Instant::now()))
    }

    /// Records the outcome of a call allowed by [`CircuitBreaker::allow`].
    pub fn record(&self, ok: bool) {
        self.step(|b| {
            if ok {
                b.success();
            } else {
                b.failure(Instant::now());
            }
        });
    }

    fn step<T>(&self, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let (before, after, out) = {
            let mut b = self.lock();
            let before = b.phase();
            let out = f(&mut b);
            (before, b.phase(), out)
        };
        if before != after {
            self.gauge.set(i64::from(after != Phase::Closed));
            let (target, from, to) = (&*self.target, before.name(), after.name());
            if after == Phase::Open {
                tracing::warn!(target_service = target, from, to, "circuit breaker opened");
            } else {
                tracing::info!(target_service = target, from, to, "circuit breaker changed");
            }
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn opens_after_five_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for i in 0..4 {
            assert!(b.allow(at(t0, i)));
            b.failure(at(t0, i));
            assert_eq!(b.phase(), Phase::Closed, "after {} failures", i + 1);
        }
        assert!(b.allow(at(t0, 4)));
        b.failure(at(t0, 4));
        assert_eq!(b.phase(), Phase::Open);
        assert!(!b.allow(at(t0, 5)));
        assert!(!b.allow(at(t0, 63)), "still open 59 s after opening");
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..4 {
            b.failure(t0);
        }
        b.success();
        for _ in 0..4 {
            b.failure(t0);
        }
        assert_eq!(b.phase(), Phase::Closed);
        b.failure(t0);
        assert_eq!(b.phase(), Phase::Open);
    }

    #[test]
    fn one_trial_after_sixty_seconds_closes_on_success() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..5 {
            b.failure(t0);
        }
        assert!(b.allow(at(t0, 60)), "the trial");
        assert_eq!(b.phase(), Phase::HalfOpen);
        assert!(!b.allow(at(t0, 61)), "only one trial at a time");
        b.success();
        assert_eq!(b.phase(), Phase::Closed);
        assert!(b.allow(at(t0, 61)));
    }

    #[test]
    fn a_failed_trial_opens_for_another_sixty_seconds() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..5 {
            b.failure(t0);
        }
        assert!(b.allow(at(t0, 70)));
        b.failure(at(t0, 70));
        assert_eq!(b.phase(), Phase::Open);
        assert!(!b.allow(at(t0, 129)));
        assert!(b.allow(at(t0, 130)));
    }

    #[test]
    fn a_trial_that_never_reports_is_replaced() {
        let t0 = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..5 {
            b.failure(t0);
        }
        assert!(b.allow(at(t0, 60)));
        assert!(!b.allow(at(t0, 119)));
        assert!(b.allow(at(t0, 120)));
        assert_eq!(b.phase(), Phase::HalfOpen);
    }

    #[test]
    fn the_gauge_follows_the_phase() {
        let gauge = Gauge::default();
        let b = CircuitBreaker::new("redis", Breaker::new(2, Duration::ZERO), gauge.clone());
        assert_eq!(gauge.get(), 0);
        b.record(false);
        assert_eq!(gauge.get(), 0);
        b.record(false);
        assert_eq!((b.phase(), gauge.get()), (Phase::Open, 1));
        assert!(b.allow(), "open for zero seconds: the trial");
        assert_eq!((b.phase(), gauge.get()), (Phase::HalfOpen, 1));
        b.record(true);
        assert_eq!((b.phase(), gauge.get()), (Phase::Closed, 0));
    }
}
