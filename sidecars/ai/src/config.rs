//! The binary's configuration, from environment variables, each with a default.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::TimeDelta;

use crate::pass::PassConfig;
use crate::pipeline::REPORT_GRACE;
use crate::snapshot::store::SnapshotTarget;

/// The default of [`Config::queue`].
pub const DEFAULT_QUEUE: &str = "vigia.ai.inputs";
/// The default of [`Config::http`].
pub const DEFAULT_HTTP: &str = "127.0.0.1:9120";

/// Everything `vigia-ai` reads from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `VIGIA_EVENTSURL`, default `amqp://guest:guest@127.0.0.1:5672/%2f`; empty writes the
    /// events to `<state dir>/events.jsonl` instead of the broker.
    pub events_url: Option<String>,
    /// `VIGIA_AI_EXCHANGE`, default `vigia.events` (the platform's): another name keeps test
    /// and load-test events off the platform's exchange.
    pub exchange: String,
    /// `VIGIA_AI_STATE_DIR`, default `vigia-ai-state`: the publisher's durable outbox, and for
    /// `run` the bus consumer's dedupe window and `bus-state.json` (cameras' cities, cities'
    /// CNPJs, cameras read from the bus).
    pub state_dir: PathBuf,
    /// `VIGIA_AI_WATCHLIST`: the watch list file (YAML, see the watchlist module); unset or
    /// empty for none (`replay`); `run` then uses `<state dir>/watchlist.yml`, created empty,
    /// which its watch list API changes.
    pub watchlist: Option<PathBuf>,
    /// `VIGIA_AI_PASS_WINDOW` (default `3s`) and `VIGIA_AI_SUPPRESS` (default `5m`): durations
    /// as `500ms`, `3s`, `5m` or `1h`.
    pub pass: PassConfig,
    /// `VIGIA_AI_CAMERAS`: the Vigia paths `vigia-ai run` reads, comma-separated (spaces around
    /// names ignored, no name twice); unset or empty for none (`run` then refuses to start).
    /// `all` (alone) leaves this empty and sets [`Config::all_cameras`].
    pub cameras: Vec<String>,
    /// `VIGIA_AI_CAMERAS=all`: `run` reads every camera the bus announces (`camera.created`
    /// starts one, `camera.deleted` stops it; its Vigia path is its `cameraId`).
    pub all_cameras: bool,
    /// `VIGIA_AI_QUEUE`, default `vigia.ai.inputs`: the durable queue `run` consumes the bus
    /// events it needs from (cameras, city plans, recordings), with its retry queues and
    /// `<queue>.dlq`; tests use one of their own.
    pub queue: String,
    /// `VIGIA_AI_HTTP`, default `127.0.0.1:9120`: where `run` serves `/metrics`, `/health`,
    /// `/ready` and the watch list API (`/v1/watchlist`); `none` for no HTTP endpoint.
    pub http: Option<SocketAddr>,
    /// `VIGIA_AI_REPORT_GRACE`, default `1m`: how long after local midnight a day's reports wait
    /// for the day's last passes (a duration as the pass window's).
    pub report_grace: TimeDelta,
    /// `VIGIA_AI_CLOCK_OFFSET`, default `0`: **for tests**, whole seconds (may be negative)
    /// added to every frame time and to the wall clock that closes passes and days, so a test
    /// can start a minute before local midnight and see the day's report. Never set it in
    /// production: `lpr.detected` carries the shifted times.
    pub clock_offset: TimeDelta,
    /// `VIGIA_AI_OCR_WORKERS`, default the machine's cores: how many pictures are read at once,
    /// each worker with its own models and a share of the cameras (a camera's pictures stay
    /// in order on one worker).
    pub ocr_workers: usize,
    /// `VIGIA_AI_OCR_THREADS`, default 1: the threads ONNX Runtime runs one worker's picture
    /// on. Measured on 2 cores (`bench/cost.py`, a busy 720p camera): 2 threads cost ~30 %
    /// more CPU than 1 (7.8 against 6.0 % of a core) for about the same time per picture, as
    /// the crops are small; more workers use more cores instead.
    pub ocr_threads: usize,
    /// `VIGIA_AI_RTSP`, default `rtsp://127.0.0.1:8554`: Vigia's RTSP address; a camera's
    /// stream is `<this>/<path>`.
    pub rtsp: String,
    /// `VIGIA_AI_SNAPSHOTS`: where `run` stores each detection's JPEG crop (`s3://bucket/prefix`,
    /// S3 settings from the `AWS_*` variables, or a directory as `file:///dir` or a path); unset
    /// or empty for none (no `snapshotKey` in the events). See the snapshot module.
    pub snapshots: Option<SnapshotTarget>,
}

/// A variable with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The variable.
    pub var: &'static str,
    /// What is wrong with its value.
    pub message: String,
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads any source of variables (for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let events_url = match var(vigia_events::URL_ENV) {
            None => Some("amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
            Some(v) => (!v.trim().is_empty()).then(|| v.trim().to_owned()),
        };
        let defaults = PassConfig::default();
        let cameras_text = non_empty("VIGIA_AI_CAMERAS").unwrap_or_default();
        let all_cameras = cameras_text.trim() == "all";
        let duration = |name: &'static str, default: TimeDelta| match non_empty(name) {
            None => Ok(default),
            Some(v) => parse_duration(&v).map_err(|message| ConfigError { var: name, message }),
        };
        let count = |name: &'static str, default: usize, what: &str| match non_empty(name) {
            None => Ok(default),
            Some(v) => parse_count(&v).ok_or_else(|| ConfigError {
                var: name,
                message: format!("{v:?} is not a number of {what} from 1 to 64"),
            }),
        };
        Ok(Config {
            events_url,
            exchange: non_empty("VIGIA_AI_EXCHANGE")
                .unwrap_or_else(|| vigia_events::EXCHANGE.to_owned()),
            state_dir: non_empty("VIGIA_AI_STATE_DIR")
                .map_or_else(|| PathBuf::from("vigia-ai-state"), PathBuf::from),
            watchlist: non_empty("VIGIA_AI_WATCHLIST").map(PathBuf::from),
            pass: PassConfig {
                window: duration("VIGIA_AI_PASS_WINDOW", defaults.window)?,
                suppress: duration("VIGIA_AI_SUPPRESS", defaults.suppress)?,
            },
            cameras: if all_cameras {
                Vec::new()
            } else {
                parse_cameras(&cameras_text).map_err(|message| ConfigError {
                    var: "VIGIA_AI_CAMERAS",
                    message,
                })?
            },
            all_cameras,
            queue: non_empty("VIGIA_AI_QUEUE")
                .map_or_else(|| DEFAULT_QUEUE.to_owned(), |q| q.trim().to_owned()),
            http: parse_http(non_empty("VIGIA_AI_HTTP").as_deref()).map_err(|message| {
                ConfigError {
                    var: "VIGIA_AI_HTTP",
                    message,
                }
            })?,
            report_grace: duration("VIGIA_AI_REPORT_GRACE", REPORT_GRACE)?,
            ocr_workers: count(
                "VIGIA_AI_OCR_WORKERS",
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                "workers",
            )?,
            ocr_threads: count("VIGIA_AI_OCR_THREADS", 1, "threads")?,
            clock_offset: parse_offset(non_empty("VIGIA_AI_CLOCK_OFFSET").as_deref()).map_err(
                |message| ConfigError {
                    var: "VIGIA_AI_CLOCK_OFFSET",
                    message,
                },
            )?,
            rtsp: parse_rtsp(non_empty("VIGIA_AI_RTSP").as_deref()).map_err(|message| {
                ConfigError {
                    var: "VIGIA_AI_RTSP",
                    message,
                }
            })?,
            snapshots: non_empty("VIGIA_AI_SNAPSHOTS")
                .map(|v| SnapshotTarget::parse(&v))
                .transpose()
                .map_err(|message| ConfigError {
                    var: "VIGIA_AI_SNAPSHOTS",
                    message,
                })?,
        })
    }

    /// The RTSP URL of a camera's stream: [`Config::rtsp`]`/<path>`.
    pub fn stream_url(&self, path: &str) -> String {
        format!("{}/{path}", self.rtsp)
    }
}

/// A count of threads or workers: 1 to 64.
fn parse_count(text: &str) -> Option<usize> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=64).contains(n))
}

/// Comma-separated Vigia paths: names trimmed, empty entries skipped, no name twice, no
/// spaces or URL characters that would change the stream's URL.
fn parse_cameras(text: &str) -> Result<Vec<String>, String> {
    let mut cameras: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name.contains(|c: char| c.is_whitespace() || "?#".contains(c)) {
            return Err(format!("{name:?} is not a Vigia path"));
        }
        if cameras.iter().any(|c| c == name) {
            return Err(format!("{name:?} is listed twice"));
        }
        cameras.push(name.to_owned());
    }
    Ok(cameras)
}

/// The HTTP endpoint's address: `none` for none, else `host:port` (an IP address).
fn parse_http(value: Option<&str>) -> Result<Option<SocketAddr>, String> {
    let v = value.map_or(DEFAULT_HTTP, str::trim);
    if v == "none" {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("{v:?} is not an address like {DEFAULT_HTTP}, nor `none`"))
}

/// The test clock offset: whole seconds, may be negative.
fn parse_offset(value: Option<&str>) -> Result<TimeDelta, String> {
    let Some(v) = value.map(str::trim) else {
        return Ok(TimeDelta::zero());
    };
    v.parse::<i64>()
        .ok()
        .and_then(TimeDelta::try_seconds)
        .ok_or_else(|| format!("{v:?} is not a whole number of seconds"))
}

/// Vigia's RTSP address: an `rtsp://` URL without a trailing slash.
fn parse_rtsp(value: Option<&str>) -> Result<String, String> {
    let Some(v) = value.map(str::trim) else {
        return Ok("rtsp://127.0.0.1:8554".to_owned());
    };
    match url::Url::parse(v) {
        Ok(u) if u.scheme() == "rtsp" && u.host().is_some() => {
            Ok(v.trim_end_matches('/').to_owned())
        }
        _ => Err(format!(
            "{v:?} is not an rtsp:// URL like rtsp://127.0.0.1:8554"
        )),
    }
}

/// A positive duration written as a whole number and a unit: `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("{text:?} is not a duration like 500ms, 3s, 5m or 1h");
    let n: i64 = number.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => TimeDelta::try_milliseconds(n),
        "s" => TimeDelta::try_seconds(n),
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    if d <= TimeDelta::zero() {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.events_url.as_deref(),
            Some("amqp://guest:guest@127.0.0.1:5672/%2f")
        );
        assert_eq!(c.state_dir, PathBuf::from("vigia-ai-state"));
        assert_eq!(c.exchange, "vigia.events");
        assert_eq!((&c.watchlist, c.pass), (&None, PassConfig::default()));
        assert!(c.cameras.is_empty());
        assert_eq!(c.stream_url("cam1"), "rtsp://127.0.0.1:8554/cam1");
        assert!(!c.all_cameras);
        assert_eq!(c.queue, "vigia.ai.inputs");
        assert_eq!(c.http, Some("127.0.0.1:9120".parse().unwrap()));
        assert_eq!(c.report_grace, TimeDelta::minutes(1));
        assert_eq!(c.clock_offset, TimeDelta::zero());
        assert_eq!(c.snapshots, None);
        let c = config(&[
            ("VIGIA_AI_CAMERAS", " all "),
            ("VIGIA_AI_QUEUE", "vigia.ai.test"),
            ("VIGIA_AI_HTTP", "none"),
            ("VIGIA_AI_REPORT_GRACE", "2s"),
            ("VIGIA_AI_CLOCK_OFFSET", "-3600"),
        ])
        .unwrap();
        assert!(c.all_cameras && c.cameras.is_empty());
        assert_eq!((c.queue.as_str(), c.http), ("vigia.ai.test", None));
        assert_eq!(c.report_grace, TimeDelta::seconds(2));
        assert_eq!(c.clock_offset, TimeDelta::hours(-1));
        assert_eq!(c.ocr_threads, 1);
        assert!(c.ocr_workers >= 1);
        let c = config(&[
            ("VIGIA_AI_OCR_THREADS", "2"),
            ("VIGIA_AI_OCR_WORKERS", " 3 "),
        ])
        .unwrap();
        assert_eq!((c.ocr_threads, c.ocr_workers), (2, 3));
        for var in ["VIGIA_AI_OCR_THREADS", "VIGIA_AI_OCR_WORKERS"] {
            for bad in ["0", "two", "65"] {
                let err = config(&[(var, bad)]).unwrap_err();
                assert_eq!(err.var, var, "{bad}");
                assert!(err.message.contains("from 1 to 64"), "{}", err.message);
            }
        }
        let c = config(&[
            ("VIGIA_EVENTSURL", " "),
            ("VIGIA_AI_STATE_DIR", "/var/lib/vigia-ai"),
            ("VIGIA_AI_EXCHANGE", "vigia-ai.test"),
            ("VIGIA_AI_WATCHLIST", "/etc/vigia/watchlist.yml"),
            ("VIGIA_AI_PASS_WINDOW", "1500ms"),
            ("VIGIA_AI_SUPPRESS", "10m"),
            ("VIGIA_AI_CAMERAS", " cam1, rua-2/norte ,,"),
            ("VIGIA_AI_RTSP", "rtsp://vigia:8554/"),
            ("VIGIA_AI_SNAPSHOTS", "s3://snaps/vigia"),
        ])
        .unwrap();
        let s3 = SnapshotTarget::S3 {
            bucket: "snaps".into(),
            prefix: "vigia".into(),
        };
        assert_eq!(c.snapshots, Some(s3));
        assert_eq!(c.cameras, ["cam1", "rua-2/norte"]);
        assert_eq!(c.stream_url("cam1"), "rtsp://vigia:8554/cam1");
        assert_eq!(c.events_url, None);
        assert_eq!(c.exchange, "vigia-ai.test");
        assert_eq!(c.watchlist, Some(PathBuf::from("/etc/vigia/watchlist.yml")));
        assert_eq!(c.pass.window, TimeDelta::milliseconds(1500));
        assert_eq!(c.pass.suppress, TimeDelta::minutes(10));
    }

    #[test]
    fn bad_durations_name_the_variable() {
        let cases = [
            (
                "VIGIA_AI_PASS_WINDOW",
                "3",
                "VIGIA_AI_PASS_WINDOW: \"3\" is not a duration",
            ),
            (
                "VIGIA_AI_PASS_WINDOW",
                "3 s",
                "VIGIA_AI_PASS_WINDOW: \"3 s\" is not a duration",
            ),
            (
                "VIGIA_AI_SUPPRESS",
                "-5m",
                "VIGIA_AI_SUPPRESS: \"-5m\" is not a duration",
            ),
            (
                "VIGIA_AI_SUPPRESS",
                "0s",
                "VIGIA_AI_SUPPRESS: \"0s\" must be more than zero",
            ),
            (
                "VIGIA_AI_SUPPRESS",
                "5d",
                "VIGIA_AI_SUPPRESS: \"5d\" is not a duration",
            ),
            (
                "VIGIA_AI_CAMERAS",
                "cam1,cam2,cam1",
                "VIGIA_AI_CAMERAS: \"cam1\" is listed twice",
            ),
            (
                "VIGIA_AI_CAMERAS",
                "cam 1",
                "VIGIA_AI_CAMERAS: \"cam 1\" is not a Vigia path",
            ),
            (
                "VIGIA_AI_HTTP",
                "localhost",
                "VIGIA_AI_HTTP: \"localhost\" is not an address",
            ),
            (
                "VIGIA_AI_CLOCK_OFFSET",
                "1h",
                "VIGIA_AI_CLOCK_OFFSET: \"1h\" is not a whole number",
            ),
            (
                "VIGIA_AI_RTSP",
                "http://127.0.0.1:8554",
                "VIGIA_AI_RTSP: \"http://127.0.0.1:8554\" is not an rtsp:// URL",
            ),
            (
                "VIGIA_AI_SNAPSHOTS",
                "s3:///x",
                "VIGIA_AI_SNAPSHOTS: \"s3:///x\" has no valid bucket name",
            ),
        ];
        for (var, value, want) in cases {
            let err = config(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(want), "{value}: {err}");
        }
        assert_eq!(parse_duration("1h"), Ok(TimeDelta::hours(1)));
    }
}
