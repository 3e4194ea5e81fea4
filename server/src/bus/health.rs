//! Stream health, sans-IO: samples of each pulled path in, `stream.health_check` reports out.
//!
//! A path is **online** when its source plays and its last frame arrived less than
//! [`STALE_AFTER_US`] ago; otherwise **offline**. The driver samples every second; a path is
//! reported every `eventsHealthInterval` (fps and bitrate averaged since its previous report),
//! and at once when its status changes, with the reason of an offline: the source's last error
//! classified by [`classify`] (`connection_refused`, `timeout`, `unsupported_codec` naming the
//! codec, `auth_failure`, …), or `timeout` when frames stopped without an error. A path starts
//! offline (connecting), so its first frames make an immediate `online` report.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use vigia_events::{HealthStatus, StreamHealthCheck};

use crate::paths::SourceStatus;

/// A source whose last frame is older than this is offline (5 s).
pub(crate) const STALE_AFTER_US: i64 = 5_000_000;

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
}

/// A report to publish.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    /// The payload.
    pub(crate) data: StreamHealthCheck,
    /// Why, when the path just went offline (a path coming back has `changed` and no reason).
    pub(crate) reason: Option<String>,
    /// Whether the status changed (an immediate report, not a periodic one).
    pub(crate) changed: bool,
    /// Connection failures of the source so far.
    pub(crate) reconnects: u64,
}

/// Per-path report state.
#[derive(Debug, Default)]
pub(crate) struct HealthMonitor {
    interval_us: i64,
    paths: HashMap<String, Tracked>,
}

#[derive(Debug)]
struct Tracked {
    online: bool,
    reported_us: i64,
    frames: u64,
    bytes: u64,
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
        let t = self.paths.entry(s.path.clone()).or_insert(Tracked {
            online: false,
            reported_us: now_us,
            frames: s.frames,
            bytes: s.bytes,
        });
        let age_us = now_us - s.last_frame_us;
        let online = s.source.online && s.last_frame_us > 0 && age_us < STALE_AFTER_US;
        let changed = online != t.online;
        if !changed && now_us - t.reported_us < interval {
            return None;
        }
        let dt_s = ((now_us - t.reported_us) as f64 / 1e6).max(1e-3);
        // A new stream (reconnect) restarts its counters: count from zero then.
        let frames = s.frames.checked_sub(t.frames).unwrap_or(s.frames);
        let bytes = s.bytes.checked_sub(t.bytes).unwrap_or(s.bytes);
        let reason = (changed && !online).then(|| offline_reason(s, age_us));
        *t = Tracked {
            online,
            reported_us: now_us,
            frames: s.frames,
            bytes: s.bytes,
        };
        let kbps = (bytes as f64 * 8.0 / 1000.0 / dt_s).round();
        let data = StreamHealthCheck {
            camera_id: s.path.clone(),
            path: s.path.clone(),
            status: if online {
                HealthStatus::Online
            } else {
                HealthStatus::Offline
            },
            bitrate_kbps: kbps.clamp(0.0, f64::from(u32::MAX)) as u32,
            fps: if online { frames as f64 / dt_s } else { 0.0 },
            readers: s.readers,
            last_frame_at: (s.last_frame_us > 0)
                .then(|| DateTime::<Utc>::from_timestamp_micros(s.last_frame_us))
                .flatten(),
        };
        Some(Report {
            data,
            reason,
            changed,
            reconnects: s.source.failures,
        })
    }
}

/// Why a path is offline: its source's last error, classified, else stale frames.
fn offline_reason(s: &Sample, age_us: i64) -> String {
    match (&s.source.last_error, s.source.online) {
        (Some(error), false) => format!("{}: {error}", classify(error)),
        _ if s.last_frame_us == 0 => "timeout: no frame received yet".to_owned(),
        _ => format!("timeout: no frame for {:.1} s", age_us as f64 / 1e6),
    }
}

/// The kind of a source error: `connection_refused`, `timeout`, `unsupported_codec`,
/// `auth_failure`, `not_found`, `source_ended` or `error`.
pub(crate) fn classify(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| e.contains(w));
    if has(&["unsupported codec"]) {
        "unsupported_codec"
    } else if has(&["refused"]) {
        "connection_refused"
    } else if has(&["401", "unauthorized", "403", "forbidden", "authentication"]) {
        "auth_failure"
    } else if has(&["timed out", "timeout", "deadline"]) {
        "timeout"
    } else if has(&["404", "not found"]) {
        "not_found"
    } else if has(&["ended the stream", "eof"]) {
        "source_ended"
    } else {
        "error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;
    const T0: i64 = 1_700_000_000 * S;

    fn sample(online: bool, frames: u64, last_frame_us: i64) -> Sample {
        Sample {
            path: "cam".to_owned(),
            source: SourceStatus {
                online,
                failures: 0,
                last_error: None,
            },
            frames,
            bytes: frames * 1000,
            last_frame_us,
            readers: 2,
        }
    }

    #[test]
    fn classification_table() {
        let cases = [
            (
                "unsupported codec: the source offers only MJPEG",
                "unsupported_codec",
            ),
            ("Connection refused (os error 111)", "connection_refused"),
            ("Unexpected RTSP response 401 Unauthorized", "auth_failure"),
            ("connection timed out", "timeout"),
            ("the source ended the stream", "source_ended"),
            ("RTSP 404 Not Found", "not_found"),
            ("something else", "error"),
        ];
        for (text, kind) in cases {
            assert_eq!(classify(text), kind, "{text}");
        }
    }

    #[test]
    fn first_frames_report_online_at_once_then_every_interval() {
        let mut m = HealthMonitor::new(10 * S);
        assert!(
            m.observe(T0, &[sample(false, 0, 0)]).is_empty(),
            "connecting"
        );
        let r = m.observe(T0 + S, &[sample(true, 25, T0 + S)]);
        assert_eq!(r.len(), 1);
        assert!(r[0].changed);
        assert_eq!(r[0].data.status, HealthStatus::Online);
        for i in 2..11 {
            let now = T0 + i * S;
            let got = m.observe(now, &[sample(true, 25 * i as u64, now)]);
            assert!(got.is_empty(), "second {i}");
        }
        let now = T0 + 11 * S;
        let r = m.observe(now, &[sample(true, 275, now)]);
        assert_eq!(r.len(), 1, "periodic");
        assert!(!r[0].changed);
        assert!((r[0].data.fps - 25.0).abs() < 0.01, "{}", r[0].data.fps);
        assert_eq!(r[0].data.bitrate_kbps, 200);
        assert_eq!(r[0].data.readers, 2);
    }

    #[test]
    fn a_failed_source_goes_offline_at_once_with_the_reason() {
        let mut m = HealthMonitor::new(10 * S);
        m.observe(T0, &[sample(true, 25, T0)]);
        let mut s = sample(false, 25, T0);
        s.source.failures = 1;
        s.source.last_error = Some("unsupported codec: the source offers only MJPEG".into());
        let r = m.observe(T0 + S, &[s]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].data.status, HealthStatus::Offline);
        assert_eq!(r[0].reconnects, 1);
        let reason = r[0].reason.as_deref().unwrap();
        assert!(reason.starts_with("unsupported_codec") && reason.contains("MJPEG"));
    }

    #[test]
    fn frames_that_stop_without_an_error_are_a_timeout() {
        let mut m = HealthMonitor::new(10 * S);
        m.observe(T0, &[sample(true, 25, T0)]);
        assert!(m.observe(T0 + 4 * S, &[sample(true, 25, T0)]).is_empty());
        let r = m.observe(T0 + 6 * S, &[sample(true, 25, T0)]);
        assert_eq!(r[0].data.status, HealthStatus::Offline);
        assert!(r[0].reason.as_deref().unwrap().starts_with("timeout"));
        let back = m.observe(T0 + 7 * S, &[sample(true, 30, T0 + 7 * S)]);
        assert_eq!(back[0].data.status, HealthStatus::Online);
        assert!(back[0].changed && back[0].reason.is_none());
    }

    #[test]
    fn removed_paths_are_forgotten() {
        let mut m = HealthMonitor::new(10 * S);
        m.observe(T0, &[sample(true, 25, T0)]);
        m.observe(T0 + S, &[]);
        assert!(m.paths.is_empty());
    }
}
