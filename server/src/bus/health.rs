//! Stream health, sans-IO: samples of each pulled path in, `stream.health_check` reports out.
//!
//! The driver samples every pulled path about once a second. Each sample decides a status:
//!
//! - **offline** when the source does not play, or its last frame is [`STALE_AFTER_US`] (5 s)
//!   old or more. The reason is the source's last error classified by [`classify`]
//!   (`connection_refused`, `timeout`, `unsupported_codec` naming the codec, `auth_failure`, …),
//!   or `timeout` when frames stopped without an error.
//! - **degraded** when it plays but one of these holds (checked in this order, the first names
//!   the reason):
//!   - `stalled`: the last frame is [`STALL_AFTER_US`] (2 s) old or more;
//!   - `low_fps`: the frame rate over the last [`RATE_WINDOW_US`] (5 s) is under half the
//!     stream's usual rate, the usual rate being that window rate averaged over about
//!     [`USUAL_FPS_TAU_US`] (5 min) — so a camera set to a lower rate for good is degraded for
//!     a couple of minutes, then online at its new rate. Streams usually under [`MIN_USUAL_FPS`]
//!     (2 fps) are not judged by rate;
//!   - `recorder_backlog`: a recorded path's oldest complete segment has waited
//!     [`BACKLOG_AFTER_US`] (60 s) or more for upload (the object store fails or lags).
//!
//!   A path stays degraded until [`DEGRADED_HOLD_US`] (10 s) pass without any of these, so a
//!   stuttering camera is reported once, not every second.
//! - **online** otherwise.
//!
//! A path is reported every `eventsHealthInterval` (fps and bitrate averaged since its previous
//! report), and at once when its status changes. Every report carries the reconnect count, the
//! last frame's age and, for recorded paths, the recorder's upload backlog; offline and degraded
//! reports carry the reason and its detail. A path starts offline (connecting); the outcome of
//! its first connection is reported at once: its first frames (`online`), or its source's first
//! failure (`offline` with the reason, e.g. `unsupported_codec` for a camera offering only MJPEG).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use vigia_events::{HealthReason, HealthStatus, StreamHealthCheck};
use vigia_storage::spool::Backlog;

use crate::paths::SourceStatus;

/// A periodic report is due this much before its interval is over: samples come about once a
/// second, so one a few microseconds early would otherwise push the report a whole second late.
const SAMPLE_SLACK_US: i64 = 500_000;

/// A source whose last frame is this old (5 s) is offline.
pub(crate) const STALE_AFTER_US: i64 = 5_000_000;
/// A playing source whose last frame is this old (2 s) is degraded (`stalled`).
pub(crate) const STALL_AFTER_US: i64 = 2_000_000;
/// The window of the frame rate compared with the usual rate (5 s).
pub(crate) const RATE_WINDOW_US: i64 = 5_000_000;
/// Time constant of the usual frame rate's moving average (5 min).
pub(crate) const USUAL_FPS_TAU_US: i64 = 300_000_000;
/// Streams whose usual rate is under this are not judged by rate (2 fps).
pub(crate) const MIN_USUAL_FPS: f64 = 2.0;
/// A recorded segment waiting this long (60 s) for upload makes its path degraded.
pub(crate) const BACKLOG_AFTER_US: i64 = 60_000_000;
/// A degraded path is online again after this long (10 s) without a cause.
pub(crate) const DEGRADED_HOLD_US: i64 = 10_000_000;

/// One path, as seen by the driver at one instant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// Path name (the camera id for cameras from events).
    pub(crate) path: String,
    /// The source's connection state.
    pub(crate) source: SourceStatus,
    /// Frames of the leading track received so far by the current stream (0 without one).
    pub(crate) frames: u64,
    /// Payload bytes received so far by the current stream.
    pub(crate) bytes: u64,
    /// Arrival of the last frame (UNIX µs), 0 if none.
    pub(crate) last_frame_us: i64,
    /// Readers attached.
    pub(crate) readers: u32,
    /// The recorder's upload backlog, for recorded paths (zero when nothing waits).
    pub(crate) backlog: Option<Backlog>,
}

/// A report to publish.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    /// The payload.
    pub(crate) data: StreamHealthCheck,
    /// Whether the status changed (an immediate report, not a periodic one).
    pub(crate) changed: bool,
}

/// Per-path report state.
#[derive(Debug, Default)]
pub(crate) struct HealthMonitor {
    interval_us: i64,
    paths: HashMap<String, Tracked>,
}

#[derive(Debug)]
struct Tracked {
    status: HealthStatus,
    /// Whether the outcome of the first connection was reported.
    settled: bool,
    reported_us: i64,
    frames: u64,
    bytes: u64,
    rate: FrameRate,
    /// Degraded until then (the hold), with the latest cause seen.
    degraded_until_us: i64,
    cause: Option<(HealthReason, String)>,
}

/// The frame rate over the last [`RATE_WINDOW_US`] and the stream's usual rate.
#[derive(Debug, Default)]
struct FrameRate {
    /// `(now_us, frames)` samples; the first is the newest at least a window old.
    window: VecDeque<(i64, u64)>,
    usual_fps: Option<f64>,
}

impl HealthMonitor {
    /// A monitor reporting each path every `interval_us` µs.
    pub(crate) fn new(interval_us: i64) -> HealthMonitor {
        HealthMonitor {
            interval_us: interval_us.max(1),
            paths: HashMap::new(),
        }
    }

    /// Takes the samples of every pulled path at `now_us` (paths absent are forgotten) and
    /// returns the reports due.
    pub(crate) fn observe(&mut self, now_us: i64, samples: &[Sample]) -> Vec<Report> {
        self.paths
            .retain(|name, _| samples.iter().any(|s| &s.path == name));
        samples
            .iter()
            .filter_map(|s| self.observe_one(now_us, s))
            .collect()
    }

    fn observe_one(&mut self, now_us: i64, s: &Sample) -> Option<Report> {
        let interval = self.interval_us;
        let t = self
            .paths
            .entry(s.path.clone())
            .or_insert_with(|| Tracked::new(now_us, s));
        let (status, why) = t.assess(now_us, s);
        let changed = status != t.status || (!t.settled && s.source.failures > 0);
        t.settled |= changed;
        if !changed && now_us - t.reported_us + SAMPLE_SLACK_US < interval {
            return None;
        }
        // A new stream (reconnect) restarts its counters: count from zero then.
        let received = Received {
            dt_us: now_us - t.reported_us,
            frames: s.frames.checked_sub(t.frames).unwrap_or(s.frames),
            bytes: s.bytes.checked_sub(t.bytes).unwrap_or(s.bytes),
        };
        (t.status, t.reported_us, t.frames, t.bytes) = (status, now_us, s.frames, s.bytes);
        let data = payload(now_us, s, status, why, received);
        Some(Report { data, changed })
    }
}

impl Tracked {
    /// A path first seen at `now_us`: offline (connecting), counting from its current counters.
    fn new(now_us: i64, s: &Sample) -> Tracked {
        Tracked {
            status: HealthStatus::Offline,
            settled: false,
            reported_us: now_us,
            frames: s.frames,
            bytes: s.bytes,
            rate: FrameRate::default(),
            degraded_until_us: 0,
            cause: None,
        }
    }

    /// The status of `s` at `now_us` and, unless online, why.
    fn assess(
        &mut self,
        now_us: i64,
        s: &Sample,
    ) -> (HealthStatus, Option<(HealthReason, String)>) {
        let age_us = now_us.saturating_sub(s.last_frame_us);
        let fps = self.rate.push(now_us, s.frames);
        if !s.source.online || s.last_frame_us == 0 || age_us >= STALE_AFTER_US {
            self.degraded_until_us = 0;
            return (HealthStatus::Offline, Some(offline_reason(s, age_us)));
        }
        if let Some(cause) = self.degraded_cause(now_us, s, age_us, fps) {
            self.degraded_until_us = now_us.saturating_add(DEGRADED_HOLD_US);
            self.cause = Some(cause);
        }
        if let Some(fps) = fps {
            self.rate.learn(fps);
        }
        match &self.cause {
            Some(cause) if now_us < self.degraded_until_us => {
                (HealthStatus::Degraded, Some(cause.clone()))
            }
            _ => (HealthStatus::Online, None),
        }
    }

    /// The first degraded rule `s` breaks, if any (see the module doc).
    fn degraded_cause(
        &self,
        now_us: i64,
        s: &Sample,
        age_us: i64,
        fps: Option<f64>,
    ) -> Option<(HealthReason, String)> {
        if age_us >= STALL_AFTER_US {
            let detail = format!("no frame for {:.1} s", age_us as f64 / 1e6);
            return Some((HealthReason::Stalled, detail));
        }
        if let (Some(fps), Some(usual)) = (fps, self.rate.usual_fps)
            && usual >= MIN_USUAL_FPS
            && fps < usual / 2.0
        {
            let detail = format!("{fps:.1} fps, usual {usual:.1} fps");
            return Some((HealthReason::LowFps, detail));
        }
        let backlog = s.backlog.filter(|b| b.segments > 0)?;
        let waited_us = now_us.saturating_sub(backlog.oldest_end_us);
        (waited_us >= BACKLOG_AFTER_US).then(|| {
            let detail = format!(
                "{} segments ({} bytes) wait for upload, the oldest for {:.0} s",
                backlog.segments,
                backlog.bytes,
                waited_us as f64 / 1e6
            );
            (HealthReason::RecorderBacklog, detail)
        })
    }
}

impl FrameRate {
    /// Adds the stream's frame count at `now_us`; returns the rate over the last window once
    /// the samples span one. A count that went down is a new stream: the window starts again
    /// (the usual rate, the camera's, is kept).
    fn push(&mut self, now_us: i64, frames: u64) -> Option<f64> {
        if self
            .window
            .back()
            .is_some_and(|&(t, f)| frames < f || now_us <= t)
        {
            self.window.clear();
        }
        self.window.push_back((now_us, frames));
        while self
            .window
            .get(1)
            .is_some_and(|&(t, _)| now_us - t >= RATE_WINDOW_US)
        {
            self.window.pop_front();
        }
        let &(t0, f0) = self.window.front()?;
        let span_us = now_us - t0;
        if span_us < RATE_WINDOW_US {
            return None;
        }
        Some(frames.saturating_sub(f0) as f64 * 1e6 / span_us as f64)
    }

    /// Moves the usual rate towards `fps`, the rate of a window while the path played (an
    /// exponential average over [`USUAL_FPS_TAU_US`], one step per sample of about a second);
    /// the first window sets it.
    fn learn(&mut self, fps: f64) {
        let weight = 1e6 / USUAL_FPS_TAU_US as f64;
        let usual = self.usual_fps.map_or(fps, |u| u + (fps - u) * weight);
        self.usual_fps = Some(usual);
    }
}

/// What a path received since its previous report.
struct Received {
    dt_us: i64,
    frames: u64,
    bytes: u64,
}

/// The report of `s` at `now_us`: its `status` and, unless online, `why`.
fn payload(
    now_us: i64,
    s: &Sample,
    status: HealthStatus,
    why: Option<(HealthReason, String)>,
    received: Received,
) -> StreamHealthCheck {
    let dt_s = (received.dt_us as f64 / 1e6).max(1e-3);
    let kbps = (received.bytes as f64 * 8.0 / 1000.0 / dt_s).round();
    let playing = status != HealthStatus::Offline;
    let (reason, detail) = why.unzip();
    let backlog = s.backlog;
    StreamHealthCheck {
        camera_id: s.path.clone(),
        path: s.path.clone(),
        status,
        bitrate_kbps: kbps.clamp(0.0, f64::from(u32::MAX)) as u32,
        fps: if playing {
            received.frames as f64 / dt_s
        } else {
            0.0
        },
        readers: s.readers,
        last_frame_at: (s.last_frame_us > 0)
            .then(|| DateTime::<Utc>::from_timestamp_micros(s.last_frame_us))
            .flatten(),
        last_frame_age_ms: (s.last_frame_us > 0).then(|| age_ms(now_us, s.last_frame_us)),
        reason,
        detail,
        reconnects: Some(s.source.failures),
        recorder_backlog_segments: backlog.map(|b| b.segments),
        recorder_backlog_bytes: backlog.map(|b| b.bytes),
        recorder_backlog_age_ms: backlog
            .filter(|b| b.segments > 0)
            .map(|b| age_ms(now_us, b.oldest_end_us)),
    }
}

/// Milliseconds from `then_us` to `now_us`, 0 if `then_us` is later.
fn age_ms(now_us: i64, then_us: i64) -> u64 {
    u64::try_from(now_us.saturating_sub(then_us) / 1000).unwrap_or(0)
}

/// Why a path is offline: its source's last error, classified, else stale frames.
fn offline_reason(s: &Sample, age_us: i64) -> (HealthReason, String) {
    match (&s.source.last_error, s.source.online) {
        (Some(error), false) => (classify(error), error.clone()),
        _ if s.last_frame_us == 0 => (HealthReason::Timeout, "no frame received yet".to_owned()),
        _ => (
            HealthReason::Timeout,
            format!("no frame for {:.1} s", age_us as f64 / 1e6),
        ),
    }
}

/// The kind of a source error: `connection_refused`, `timeout`, `unsupported_codec`,
/// `auth_failure`, `not_found`, `source_ended` or `error`.
pub(crate) fn classify(error: &str) -> HealthReason {
    let e = error.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| e.contains(w));
    if has(&["unsupported codec"]) {
        HealthReason::UnsupportedCodec
    } else if has(&["refused"]) {
        HealthReason::ConnectionRefused
    } else if has(&["401", "unauthorized", "403", "forbidden", "authentication"]) {
        HealthReason::AuthFailure
    } else if has(&["timed out", "timeout", "deadline"]) {
        HealthReason::Timeout
    } else if has(&["404", "not found"]) {
        HealthReason::NotFound
    } else if has(&["ended the stream", "eof"]) {
        HealthReason::SourceEnded
    } else {
        HealthReason::Error
    }
}

#[cfg(test)]
mod tests;
