//! On demand: what a path starts when a reader asks for it and stops when nobody reads — a
//! pulled source with `sourceOnDemand`, or the `runOnDemand` command that publishes to the path.
//!
//! Both follow the same rules, MediaMTX's:
//! - a reader (or an RTSP DESCRIBE) that finds no stream starts it and waits for the stream up
//!   to the start timeout (`sourceOnDemandStartTimeout`, `runOnDemandStartTimeout`);
//! - if no stream came by then, it is stopped ("timed out");
//! - once the stream is ready with nobody reading (a DESCRIBE alone), or when the last reader
//!   leaves, it is stopped after the close delay (`…CloseAfter`) unless a reader comes first;
//! - stopping a source closes its stream; stopping `runOnDemand` interrupts the command (its
//!   publisher then leaves) and runs `runOnUnDemand` once. A retired path stops it too.
//!
//! [`Demand`] is the state machine, without I/O: each transition returns the [`Timer`] to arm,
//! if any. The path arms it (a sleeping task) and, when it fires, asks [`Demand::fire`]
//! whether it still counts: every transition bumps a generation, so a timer armed before a
//! later transition is stale and does nothing.

use std::time::Duration;

use crate::config::{PathConf, Source};
use crate::hooks::{self, Hook, HookEnv};
use crate::sources::SourceHandle;

/// How long readers wait for what a path starts on demand, and how long it runs unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Policy {
    /// Readers wait this long for the stream; then it is stopped.
    pub(super) start_timeout: Duration,
    /// It runs this long with no reader before it is stopped.
    pub(super) close_after: Duration,
}

/// The on-demand policy of a path: its source's (`sourceOnDemand`), else `runOnDemand`'s;
/// `None` when nothing starts on demand.
pub(super) fn policy(conf: &PathConf) -> Option<Policy> {
    if conf.source_on_demand && conf.source != Source::Publisher {
        return Some(Policy {
            start_timeout: conf.source_on_demand_start_timeout,
            close_after: conf.source_on_demand_close_after,
        });
    }
    let hooks = &conf.hooks;
    let command = conf.source == Source::Publisher && !hooks.run_on_demand.trim().is_empty();
    command.then_some(Policy {
        start_timeout: hooks.run_on_demand_start_timeout,
        close_after: hooks.run_on_demand_close_after,
    })
}

/// Where an on-demand start is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Phase {
    /// Nothing runs.
    #[default]
    Idle,
    /// Started; no stream yet.
    Starting,
    /// Streaming with readers (or started again for a reader while its stream is away).
    Ready,
    /// Streaming with no reader: stopped when the close timer fires.
    Closing,
}

/// Which deadline a [`Timer`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// The start timeout.
    Start,
    /// The close delay.
    Close,
}

/// A deadline to arm: after `after`, call [`Demand::fire`] with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timer {
    /// Which deadline.
    pub(super) kind: TimerKind,
    /// The generation it was armed in.
    pub(super) generation: u64,
    /// How long from now.
    pub(super) after: Duration,
}

impl Timer {
    /// Why the timer stops what runs, for the logs.
    pub(super) fn reason(&self) -> &'static str {
        match self.kind {
            TimerKind::Start => "timed out",
            TimerKind::Close => "not needed by anyone",
        }
    }
}

/// The on-demand state of one path (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Demand {
    phase: Phase,
    generation: u64,
}

impl Demand {
    /// Where it is.
    #[cfg(test)]
    pub(super) fn phase(&self) -> Phase {
        self.phase
    }

    /// A reader found no stream: starts unless already started. `Some(timer)` when the caller
    /// must start it and arm the start timer.
    pub(super) fn start(&mut self, policy: &Policy) -> Option<Timer> {
        if self.phase != Phase::Idle {
            return None;
        }
        Some(self.enter(Phase::Starting, TimerKind::Start, policy.start_timeout))
    }

    /// The stream is ready with `readers` readers: a start is over; with no reader, the close
    /// timer starts.
    pub(super) fn available(&mut self, readers: usize, policy: &Policy) -> Option<Timer> {
        if self.phase != Phase::Starting {
            return None;
        }
        if readers > 0 {
            self.move_to(Phase::Ready);
            return None;
        }
        Some(self.enter(Phase::Closing, TimerKind::Close, policy.close_after))
    }

    /// A reader came: a pending close is called off.
    pub(super) fn reader_added(&mut self) {
        if self.phase == Phase::Closing {
            self.move_to(Phase::Ready);
        }
    }

    /// The last reader left: the close timer starts.
    pub(super) fn readers_gone(&mut self, policy: &Policy) -> Option<Timer> {
        if self.phase != Phase::Ready {
            return None;
        }
        Some(self.enter(Phase::Closing, TimerKind::Close, policy.close_after))
    }

    /// `timer` fired: `true` when it still counts, and the caller must stop what runs.
    pub(super) fn fire(&mut self, timer: &Timer) -> bool {
        let armed_in = match timer.kind {
            TimerKind::Start => Phase::Starting,
            TimerKind::Close => Phase::Closing,
        };
        if timer.generation != self.generation || self.phase != armed_in {
            return false;
        }
        self.move_to(Phase::Idle);
        true
    }

    /// Stops whatever runs (the path is retired): `true` when something ran.
    pub(super) fn stop(&mut self) -> bool {
        let running = self.phase != Phase::Idle;
        self.move_to(Phase::Idle);
        running
    }

    fn move_to(&mut self, phase: Phase) {
        self.phase = phase;
        self.generation += 1;
    }

    fn enter(&mut self, phase: Phase, kind: TimerKind, after: Duration) -> Timer {
        self.move_to(phase);
        Timer {
            kind,
            generation: self.generation,
            after,
        }
    }
}

/// What runs on demand for a path.
pub(super) enum Running {
    /// A pulled source (`sourceOnDemand`).
    Source(SourceHandle),
    /// `runOnDemand`, and `runOnUnDemand` to run when it is stopped.
    Command {
        /// The running `runOnDemand` (`None` if it could not start; readers then time out).
        hook: Option<Hook>,
        /// `runOnUnDemand`.
        un_demand: String,
        /// The variables both commands get.
        env: HookEnv,
    },
}

impl Running {
    /// Starts `runOnDemand` of the path `name` with its variables.
    pub(super) fn command(name: &str, conf: &PathConf, env: &HookEnv) -> Running {
        let h = &conf.hooks;
        let what = format!("runOnDemand of path {name}");
        let hook = hooks::start(&h.run_on_demand, env.clone(), h.run_on_demand_restart, what);
        Running::Command {
            hook,
            un_demand: h.run_on_un_demand.clone(),
            env: env.clone(),
        }
    }

    /// Stops it: a source's task ends; `runOnDemand` is interrupted, then `runOnUnDemand`
    /// runs. `name` and `reason` are for the logs.
    pub(super) fn stop(self, name: &str, reason: &str) {
        match self {
            Running::Source(source) => {
                source.stop();
                tracing::info!(path = %name, "on-demand source closed: {reason}");
            }
            Running::Command {
                hook,
                un_demand,
                env,
            } => {
                drop(hook);
                tracing::info!(path = %name, "runOnDemand command stopped: {reason}");
                let what = format!("runOnUnDemand of path {name}");
                hooks::run_detached(&un_demand, env, what);
            }
        }
    }

    /// Whether it is a source (whose stream ends with it).
    pub(super) fn is_source(&self) -> bool {
        matches!(self, Running::Source(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        start_timeout: Duration::from_secs(10),
        close_after: Duration::from_secs(3),
    };

    #[test]
    fn a_start_that_gets_no_stream_is_stopped_by_its_start_timer() {
        let mut d = Demand::default();
        let timer = d.start(&POLICY).expect("idle: starts");
        assert_eq!(
            (timer.kind, timer.after),
            (TimerKind::Start, POLICY.start_timeout)
        );
        assert_eq!(
            d.start(&POLICY),
            None,
            "a second reader waits for the same start"
        );
        assert!(d.fire(&timer), "no stream came");
        assert_eq!(d.phase(), Phase::Idle);
        assert!(!d.fire(&timer), "fires once");
    }

    #[test]
    fn a_ready_stream_calls_off_the_start_timer_and_closes_after_the_last_reader() {
        let mut d = Demand::default();
        let start = d.start(&POLICY).unwrap();
        assert_eq!(d.available(1, &POLICY), None, "a reader waits");
        assert!(
            !d.fire(&start),
            "the start timer is stale once the stream is ready"
        );
        assert_eq!(d.phase(), Phase::Ready);
        let close = d.readers_gone(&POLICY).expect("close timer");
        assert_eq!(
            (close.kind, close.after),
            (TimerKind::Close, POLICY.close_after)
        );
        d.reader_added();
        assert!(!d.fire(&close), "a reader came back in time");
        let close = d.readers_gone(&POLICY).unwrap();
        assert!(d.fire(&close));
        assert_eq!(d.phase(), Phase::Idle);
        assert_eq!(d.readers_gone(&POLICY), None, "nothing runs");
    }

    #[test]
    fn a_describe_alone_starts_the_close_timer_when_the_stream_is_ready() {
        let mut d = Demand::default();
        d.start(&POLICY).unwrap();
        let close = d.available(0, &POLICY).expect("nobody reads");
        assert_eq!(d.phase(), Phase::Closing);
        assert_eq!(
            d.available(0, &POLICY),
            None,
            "a source reconnecting changes nothing"
        );
        assert!(d.fire(&close));
    }

    #[test]
    fn a_close_timer_from_an_earlier_run_never_stops_a_later_one() {
        let mut d = Demand::default();
        d.start(&POLICY).unwrap();
        let old_close = d.available(0, &POLICY).unwrap();
        assert!(d.stop(), "retired");
        assert!(!d.stop());
        d.start(&POLICY).unwrap();
        d.available(0, &POLICY).unwrap();
        assert!(!d.fire(&old_close), "stale generation");
        assert_eq!(d.phase(), Phase::Closing);
    }

    #[test]
    fn the_policy_is_the_source_s_or_run_on_demand_s() {
        let mut conf = PathConf::default();
        assert_eq!(policy(&conf), None, "a publisher path without runOnDemand");
        conf.hooks.run_on_demand = "ffmpeg".into();
        conf.hooks.run_on_demand_close_after = Duration::from_secs(1);
        assert_eq!(
            policy(&conf).map(|p| p.close_after),
            Some(Duration::from_secs(1))
        );
        conf.source = Source::Synthetic(crate::config::SyntheticProfile::Default);
        assert_eq!(policy(&conf), None, "always on");
        conf.source_on_demand = true;
        assert_eq!(
            policy(&conf).map(|p| p.close_after),
            Some(Duration::from_secs(10))
        );
    }
}
