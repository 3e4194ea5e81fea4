//! The JSON report: the options, one sample per second, and a summary.
//!
//! Units are in the field names (`_ms`, `_s`, `_mib`, `_pct`). CPU percentages are of one core
//! (200 % = both cores of a 2-core machine busy).

use std::collections::BTreeMap;

use crate::cli::{Options, Protocol};
use crate::procfs::ProcSample;
use crate::stats::{Percentiles, Snapshot};

/// Format version of the report; bumped when a field changes meaning.
pub const REPORT_VERSION: u32 = 1;

const MIB: f64 = 1024.0 * 1024.0;

/// The whole report.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The options of the run.
    pub options: Options,
    /// Wall-clock start of the run (UNIX ms).
    pub started_unix_ms: i64,
    /// One entry per second.
    pub series: Vec<Second>,
    /// Totals and derived figures.
    pub summary: Summary,
}

/// What happened during one second of the run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Second {
    /// Seconds since the start, at the end of this interval.
    pub t_s: f64,
    /// Cameras sending at the end of the second.
    pub cameras: u64,
    /// Readers receiving at the end of the second.
    pub readers: u64,
    /// Frames cameras sent during the second.
    pub frames_sent: u64,
    /// Frames readers received during the second.
    pub frames_received: u64,
    /// Bytes readers received during the second.
    pub bytes_received: u64,
    /// Gaps seen during the second.
    pub gaps: u64,
    /// Stalls seen during the second.
    pub stalls: u64,
    /// Latency of the frames received during the second.
    pub latency: Percentiles,
    /// Server CPU during the second (% of one core), if sampled.
    pub server_cpu_pct: Option<f64>,
    /// Server RSS at the end of the second (MiB), if sampled.
    pub server_rss_mib: Option<f64>,
    /// The load generator's own CPU during the second (% of one core).
    pub loadgen_cpu_pct: f64,
    /// The load generator's RSS (MiB).
    pub loadgen_rss_mib: f64,
}

/// Totals of the run and the figures derived from them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Latency over the whole run, keyed by reader protocol (`rtsp`, `hls`).
    pub latency: BTreeMap<String, Percentiles>,
    /// Cameras sending at the busiest second.
    pub cameras_peak: u64,
    /// Readers receiving at the busiest second.
    pub readers_peak: u64,
    /// Camera-minutes published (integral of cameras over time / 60).
    pub stream_minutes: f64,
    /// Frames cameras sent.
    pub frames_sent: u64,
    /// Frames sent over frames due at the clip's frame rate, over the seconds when every camera
    /// was already up during the previous second (1.0: the cameras kept time).
    pub send_schedule_ratio: f64,
    /// Frames readers received.
    pub frames_received: u64,
    /// Frames received without a wall-clock stamp.
    pub frames_unstamped: u64,
    /// Frames stamped before their reader joined (the buffered GOP a new reader starts with),
    /// left out of the latency figures.
    pub frames_catchup: u64,
    /// Bytes cameras sent.
    pub bytes_sent: u64,
    /// Bytes readers received.
    pub bytes_received: u64,
    /// Lost RTP packets (RTSP) or skipped parts (LL-HLS).
    pub gaps: u64,
    /// Times a reader got nothing for a second or more.
    pub stalls: u64,
    /// Connections that failed.
    pub errors: u64,
    /// The server's cost, when it was sampled.
    pub server: Option<ServerCost>,
    /// The load generator's own cost.
    pub loadgen: LoadgenCost,
}

/// The server's cost over the run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServerCost {
    /// Process sampled.
    pub pid: u32,
    /// CPU seconds used during the run.
    pub cpu_s: f64,
    /// CPU seconds per camera-minute published.
    pub cpu_s_per_stream_minute: f64,
    /// Mean CPU (% of one core) over the seconds when every camera was up.
    pub cpu_pct_full_load: f64,
    /// RSS before the first camera (MiB).
    pub rss_start_mib: f64,
    /// Largest RSS seen (MiB).
    pub rss_peak_mib: f64,
    /// (peak − start) / peak cameras (MiB).
    pub rss_per_camera_mib: f64,
    /// Mean CPU (% of one core) over the seconds when every camera and every reader was up
    /// (0 without readers).
    #[serde(default)]
    pub cpu_pct_all_readers_up: f64,
    /// Peak readers per core of server CPU over those seconds: readers / (CPU % / 100).
    #[serde(default)]
    pub readers_per_core: f64,
    /// (peak − start) / peak readers (MiB).
    #[serde(default)]
    pub rss_per_reader_mib: f64,
}

/// The load generator's own cost, to show it was not the bottleneck.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadgenCost {
    /// CPU seconds used during the run.
    pub cpu_s: f64,
    /// Mean CPU (% of one core).
    pub cpu_pct_mean: f64,
    /// Largest one-second CPU (% of one core).
    pub cpu_pct_peak: f64,
    /// CPU seconds per camera-minute (cameras and their readers).
    pub cpu_s_per_stream_minute: f64,
    /// Largest RSS (MiB).
    pub rss_peak_mib: f64,
    /// Whether it kept the frame schedule with CPU to spare (see `verdict`).
    pub not_bottleneck: bool,
    /// One sentence saying why.
    pub verdict: String,
}

/// Builds the report second by second.
#[derive(Debug)]
pub struct ReportBuilder {
    options: Options,
    started_unix_ms: i64,
    fps: f64,
    cores: usize,
    series: Vec<Second>,
    all_latencies_us: Vec<i64>,
    prev: Snapshot,
    server_pid: Option<u32>,
    server_start: Option<ProcSample>,
    server_prev: Option<ProcSample>,
    self_start: ProcSample,
    self_prev: ProcSample,
}

/// Readings taken at the end of one second.
#[derive(Clone, Debug, Default)]
pub struct Tick {
    /// Seconds since the start.
    pub t_s: f64,
    /// Seconds since the previous tick.
    pub dt_s: f64,
    /// The shared counters.
    pub snapshot: Snapshot,
    /// The server, if sampled.
    pub server: Option<ProcSample>,
    /// This process.
    pub own: ProcSample,
}

impl ReportBuilder {
    /// Starts a report; `server`/`own` are the readings before any camera starts.
    pub fn new(
        options: Options,
        started_unix_ms: i64,
        fps: f64,
        server: Option<(u32, ProcSample)>,
        own: ProcSample,
    ) -> Self {
        Self {
            options,
            started_unix_ms,
            fps,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            series: Vec::new(),
            all_latencies_us: Vec::new(),
            prev: Snapshot::default(),
            server_pid: server.map(|(pid, _)| pid),
            server_start: server.map(|(_, s)| s),
            server_prev: server.map(|(_, s)| s),
            self_start: own,
            self_prev: own,
        }
    }

    /// Adds one second; returns it (for the progress line).
    pub fn push(&mut self, mut tick: Tick) -> &Second {
        let s = &tick.snapshot;
        let p = &self.prev;
        let pct = |now: f64, before: f64| 100.0 * (now - before) / tick.dt_s.max(1e-3);
        let second = Second {
            t_s: tick.t_s,
            cameras: s.cameras_up,
            readers: s.readers_up,
            frames_sent: s.frames_sent.saturating_sub(p.frames_sent),
            frames_received: s.frames_received.saturating_sub(p.frames_received),
            bytes_received: s.bytes_received.saturating_sub(p.bytes_received),
            gaps: s.gaps.saturating_sub(p.gaps),
            stalls: s.stalls.saturating_sub(p.stalls),
            latency: Percentiles::of(&mut tick.snapshot.latencies_us),
            server_cpu_pct: tick
                .server
                .zip(self.server_prev)
                .map(|(n, b)| pct(n.cpu_s, b.cpu_s)),
            server_rss_mib: tick.server.map(|n| n.rss_bytes as f64 / MIB),
            loadgen_cpu_pct: pct(tick.own.cpu_s, self.self_prev.cpu_s),
            loadgen_rss_mib: tick.own.rss_bytes as f64 / MIB,
        };
        self.all_latencies_us
            .append(&mut tick.snapshot.latencies_us);
        self.server_prev = tick.server.or(self.server_prev);
        self.self_prev = tick.own;
        self.prev = tick.snapshot;
        self.series.push(second);
        self.series.last().expect("just pushed")
    }

    /// The finished report.
    pub fn finish(mut self) -> Report {
        let summary = self.summary();
        Report {
            version: REPORT_VERSION,
            options: self.options,
            started_unix_ms: self.started_unix_ms,
            series: self.series,
            summary,
        }
    }

    fn summary(&mut self) -> Summary {
        let s = &self.prev;
        let stream_minutes = stream_minutes(&self.series);
        let mut latency = BTreeMap::new();
        latency.insert(
            protocol_name(self.options.protocol).to_owned(),
            Percentiles::of(&mut self.all_latencies_us),
        );
        let send_schedule_ratio = schedule_ratio(&self.series, self.fps);
        let loadgen = self.loadgen_cost(stream_minutes, send_schedule_ratio);
        Summary {
            latency,
            cameras_peak: self.series.iter().map(|x| x.cameras).max().unwrap_or(0),
            readers_peak: self.series.iter().map(|x| x.readers).max().unwrap_or(0),
            stream_minutes,
            frames_sent: s.frames_sent,
            send_schedule_ratio,
            frames_received: s.frames_received,
            frames_unstamped: s.unstamped,
            frames_catchup: s.catchup,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            gaps: s.gaps,
            stalls: s.stalls,
            errors: s.errors,
            server: self.server_cost(stream_minutes),
            loadgen,
        }
    }

    fn server_cost(&self, stream_minutes: f64) -> Option<ServerCost> {
        let (pid, start, end) = (self.server_pid?, self.server_start?, self.server_prev?);
        let peak_cameras = self.series.iter().map(|x| x.cameras).max().unwrap_or(0);
        let rss_start_mib = start.rss_bytes as f64 / MIB;
        let rss_peak_mib = self
            .series
            .iter()
            .filter_map(|x| x.server_rss_mib)
            .fold(rss_start_mib, f64::max);
        let cpu_s = end.cpu_s - start.cpu_s;
        let peak_readers = self.series.iter().map(|x| x.readers).max().unwrap_or(0);
        let cpu_when = |all_up: &dyn Fn(&Second) -> bool| -> Vec<f64> {
            let up = self.series.iter().filter(|x| all_up(x));
            up.filter_map(|x| x.server_cpu_pct).collect()
        };
        let full = cpu_when(&|x| x.cameras == peak_cameras && peak_cameras > 0);
        let readers_up = mean(&cpu_when(&|x| {
            x.cameras == peak_cameras && x.readers == peak_readers && peak_readers > 0
        }));
        Some(ServerCost {
            pid,
            cpu_s,
            cpu_s_per_stream_minute: ratio(cpu_s, stream_minutes),
            cpu_pct_full_load: mean(&full),
            rss_start_mib,
            rss_peak_mib,
            rss_per_camera_mib: ratio(rss_peak_mib - rss_start_mib, peak_cameras as f64),
            cpu_pct_all_readers_up: readers_up,
            readers_per_core: ratio(100.0 * peak_readers as f64, readers_up),
            rss_per_reader_mib: ratio(rss_peak_mib - rss_start_mib, peak_readers as f64),
        })
    }

    fn loadgen_cost(&self, stream_minutes: f64, schedule: f64) -> LoadgenCost {
        let cpu_s = self.self_prev.cpu_s - self.self_start.cpu_s;
        let elapsed = self.series.last().map_or(0.0, |x| x.t_s);
        let cpu_pct_mean = 100.0 * ratio(cpu_s, elapsed);
        let cpu_pct_peak = self
            .series
            .iter()
            .map(|x| x.loadgen_cpu_pct)
            .fold(0.0, f64::max);
        let capacity = 100.0 * self.cores as f64;
        let not_bottleneck = schedule >= 0.99 && cpu_pct_peak < 0.5 * capacity;
        let verdict = format!(
            "sent {:.1} % of the frames due; used {cpu_pct_mean:.1} % of one core on average \
             (peak {cpu_pct_peak:.1} %) of {capacity:.0} % available: {}",
            100.0 * schedule,
            if not_bottleneck {
                "not the bottleneck"
            } else {
                "may be the bottleneck (fell behind schedule or used over half the machine)"
            }
        );
        LoadgenCost {
            cpu_s,
            cpu_pct_mean,
            cpu_pct_peak,
            cpu_s_per_stream_minute: ratio(cpu_s, stream_minutes),
            rss_peak_mib: self
                .series
                .iter()
                .map(|x| x.loadgen_rss_mib)
                .fold(0.0, f64::max),
            not_bottleneck,
            verdict,
        }
    }
}

/// The protocol's name as used in the report's keys.
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Rtsp => "rtsp",
        Protocol::Hls => "hls",
        Protocol::Webrtc => "webrtc",
    }
}

/// Camera-minutes: the sum over seconds of cameras × interval length, over 60.
pub fn stream_minutes(series: &[Second]) -> f64 {
    let mut prev_t = 0.0;
    let mut total = 0.0;
    for s in series {
        total += s.cameras as f64 * (s.t_s - prev_t);
        prev_t = s.t_s;
    }
    total / 60.0
}

/// Frames sent over frames due during the seconds that follow a full-load second.
pub fn schedule_ratio(series: &[Second], fps: f64) -> f64 {
    let peak = series.iter().map(|x| x.cameras).max().unwrap_or(0);
    let (mut sent, mut due) = (0.0, 0.0);
    for w in series.windows(2) {
        if w[0].cameras == peak && w[1].cameras == peak {
            sent += w[1].frames_sent as f64;
            due += peak as f64 * (w[1].t_s - w[0].t_s) * fps;
        }
    }
    ratio(sent, due)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn mean(v: &[f64]) -> f64 {
    ratio(v.iter().sum(), v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(cpu_s: f64, rss_mib: u64) -> ProcSample {
        ProcSample {
            cpu_s,
            rss_bytes: rss_mib << 20,
        }
    }

    /// Two cameras for 60 one-second ticks; the server uses 0.1 CPU-s and 1 MiB more per second.
    fn two_camera_report() -> Report {
        let options = Options::default();
        let mut b =
            ReportBuilder::new(options, 0, 25.0, Some((42, proc(10.0, 100))), proc(1.0, 20));
        for i in 1..=60u64 {
            let snapshot = Snapshot {
                cameras_up: 2,
                readers_up: 2,
                frames_sent: 50 * i,
                frames_received: 50 * i,
                bytes_received: 1000 * i,
                gaps: u64::from(i >= 30),
                latencies_us: vec![100_000, 200_000],
                ..Snapshot::default()
            };
            let own = proc(1.0 + 0.01 * i as f64, 20);
            let server = Some(proc(10.0 + 0.1 * i as f64, 100 + i));
            b.push(Tick {
                t_s: i as f64,
                dt_s: 1.0,
                snapshot,
                server,
                own,
            });
        }
        b.finish()
    }

    #[test]
    fn summary_figures() {
        let r = two_camera_report();
        let s = &r.summary;
        assert!((s.stream_minutes - 2.0).abs() < 1e-9);
        assert!((s.send_schedule_ratio - 1.0).abs() < 1e-9);
        assert_eq!((s.frames_sent, s.gaps, s.cameras_peak), (3000, 1, 2));
        let lat = s.latency["rtsp"];
        assert_eq!((lat.samples, lat.p50_ms, lat.max_ms), (120, 100.0, 200.0));
        let server = s.server.as_ref().unwrap();
        assert!((server.cpu_s - 6.0).abs() < 1e-6);
        assert!((server.cpu_s_per_stream_minute - 3.0).abs() < 1e-6);
        assert!((server.cpu_pct_full_load - 10.0).abs() < 1e-6);
        assert!((server.rss_per_camera_mib - 30.0).abs() < 1e-9);
        // 2 readers on 10 % of a core: 20 readers per core; 60 MiB more over 2 readers.
        assert!((server.cpu_pct_all_readers_up - 10.0).abs() < 1e-6);
        assert!((server.readers_per_core - 20.0).abs() < 1e-6);
        assert!((server.rss_per_reader_mib - 30.0).abs() < 1e-9);
        assert!((s.loadgen.cpu_pct_mean - 1.0).abs() < 1e-6);
        assert!(s.loadgen.not_bottleneck, "{}", s.loadgen.verdict);
        assert_eq!(r.series[29].gaps, 1);
        assert_eq!(r.series[0].frames_sent, 50);
    }

    #[test]
    fn serde_round_trip_and_required_keys() {
        let r = two_camera_report();
        let json = serde_json::to_value(&r).unwrap();
        for key in ["version", "options", "started_unix_ms", "series", "summary"] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        let summary = &json["summary"];
        for key in [
            "latency",
            "stream_minutes",
            "send_schedule_ratio",
            "frames_received",
            "gaps",
            "stalls",
            "bytes_received",
            "errors",
            "server",
            "loadgen",
        ] {
            assert!(summary.get(key).is_some(), "missing summary.{key}");
        }
        for key in ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "samples"] {
            assert!(
                summary["latency"]["rtsp"].get(key).is_some(),
                "missing latency {key}"
            );
        }
        for key in [
            "cpu_s_per_stream_minute",
            "rss_per_camera_mib",
            "readers_per_core",
            "rss_per_reader_mib",
        ] {
            assert!(summary["server"].get(key).is_some(), "missing server.{key}");
        }
        for key in [
            "t_s",
            "cameras",
            "latency",
            "server_cpu_pct",
            "loadgen_cpu_pct",
        ] {
            assert!(json["series"][0].get(key).is_some(), "missing series.{key}");
        }
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn no_server_means_no_server_figures() {
        let mut b = ReportBuilder::new(Options::default(), 0, 25.0, None, proc(0.0, 1));
        b.push(Tick {
            t_s: 1.0,
            dt_s: 1.0,
            ..Tick::default()
        });
        let r = b.finish();
        assert_eq!(r.summary.server, None);
        assert_eq!(r.series[0].server_cpu_pct, None);
    }
}
