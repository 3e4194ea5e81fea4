//! The metrics server (`metrics: yes`): `/metrics` parses with a Prometheus text parser
//! (`prometheus-parse`), holds MediaMTX's names, the seed's three names, per-camera health,
//! recorder, spool and outbox families, and its values move as a publisher (ffmpeg over RTSP)
//! and readers (ffmpeg over RTSP, an HLS client) come and go.

use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};
use vigia_conformance::clips::Clip;
use vigia_conformance::{Background, Ports, Vigia, eventually, free_port, http};

/// Families every scrape describes, whatever runs (sample names of counters end in `_total`).
const FAMILIES: &[&str] = &[
    // MediaMTX's.
    "paths",
    "paths_readers",
    "paths_inbound_bytes",
    "paths_bytes_received",
    "paths_outbound_bytes",
    "paths_bytes_sent",
    "rtsp_conns",
    "rtsp_conns_inbound_bytes",
    "rtsp_conns_bytes_received",
    "rtsp_conns_outbound_bytes",
    "rtsp_conns_bytes_sent",
    "rtsp_sessions",
    "rtsp_sessions_inbound_bytes",
    "rtsp_sessions_bytes_received",
    "rtsp_sessions_outbound_bytes",
    "rtsp_sessions_bytes_sent",
    "webrtc_sessions",
    "webrtc_sessions_inbound_bytes",
    "webrtc_sessions_bytes_received",
    "webrtc_sessions_outbound_bytes",
    "webrtc_sessions_bytes_sent",
    "hls_muxers",
    "hls_muxers_outbound_bytes",
    "hls_muxers_bytes_sent",
    "hls_muxers_outbound_frames_discarded",
    // The seed's.
    "http_requests",
    "http_request_duration_seconds",
    "streaming_active_cameras",
    // Per-camera health and the hubs.
    "vigia_camera_fps",
    "vigia_camera_bitrate_bits_per_second",
    "vigia_camera_last_frame_age_seconds",
    "vigia_camera_frames",
    "vigia_camera_reconnects",
    "vigia_reader_lag_skips",
    "vigia_hub_dropped_items",
    "vigia_hub_readers",
    // Recorder, spool, outbox.
    "vigia_spool_bytes",
    "vigia_spool_max_bytes",
    "vigia_upload_segments",
    "vigia_recorder_lagged_units",
    "vigia_recorder_backlog_bytes",
    "vigia_events_outbox_pending",
    // The heap.
    "vigia_heap_allocated_bytes",
    "vigia_heap_resident_bytes",
];

const PATH: &str = "cam1";
const WAIT: Duration = Duration::from_secs(20);

/// A running server with metrics on, and its metrics port.
struct Server {
    _vigia: Vigia,
    ports: Ports,
    metrics: u16,
}

impl Server {
    fn start() -> Server {
        let metrics = free_port();
        let config = format!(
            "metrics: yes\nmetricsAddress: 127.0.0.1:{metrics}\nhlsMuxerCloseAfter: 2s\n\
             paths:\n  all_others:\n"
        );
        let (mut vigia, ports) = Vigia::start_on_fresh_ports(&config);
        vigia.wait_listening(metrics);
        Server {
            _vigia: vigia,
            ports,
            metrics,
        }
    }

    /// One scrape, parsed.
    fn scrape(&self) -> Scrape {
        let response = http::get(self.metrics, "/metrics", &[]).expect("GET /metrics");
        assert_eq!(response.status, 200, "{}", response.head);
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        let text = response.text();
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Scrape::parse(lines).unwrap_or_else(|e| panic!("unparsable metrics: {e}\n{text}"))
    }

    /// Scrapes until `check` holds for a scrape, or fails naming `what`.
    fn until(&self, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
        eventually(WAIT, || Some(self.scrape()).filter(|s| check(s))).unwrap_or_else(|| {
            panic!(
                "never saw {what}; last scrape: {:#?}",
                self.scrape().samples
            )
        })
    }
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && has_labels(s, labels))
        .and_then(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

fn has_labels(sample: &Sample, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v))
}

fn path_value(scrape: &Scrape, name: &str) -> f64 {
    value(scrape, name, &[("name", PATH)]).unwrap_or(0.0)
}

/// cam1's `paths_readers` of `reader_type` (MediaMTX's `readerType` label).
fn readers(scrape: &Scrape, reader_type: &str) -> Option<f64> {
    value(
        scrape,
        "paths_readers",
        &[("name", PATH), ("readerType", reader_type)],
    )
}

fn camera_value(scrape: &Scrape, name: &str) -> Option<f64> {
    value(scrape, name, &[("path", PATH)])
}

fn active_cameras(scrape: &Scrape) -> f64 {
    value(scrape, "streaming_active_cameras", &[]).unwrap_or(-1.0)
}

#[test]
fn metrics_parse_hold_the_names_and_follow_publishers_and_readers() {
    let server = Server::start();
    let first = server.scrape();
    for family in FAMILIES {
        assert!(first.docs.contains_key(*family), "no {family} family");
    }
    assert_eq!(active_cameras(&first), 0.0);

    // A publisher comes: the path is ready, counted as a camera, its bytes and rates move.
    let url = server.ports.rtsp_url(PATH);
    let mut publisher = Clip::H264Aac.publish(&url, "tcp");
    let ready = server.until("cam1 ready with a frame rate", |s| {
        value(s, "paths", &[("name", PATH), ("state", "ready")]) == Some(1.0)
            && camera_value(s, "vigia_camera_fps").is_some_and(|fps| fps > 10.0)
    });
    assert_eq!(active_cameras(&ready), 1.0);
    let bytes = path_value(&ready, "paths_inbound_bytes");
    assert!(bytes > 0.0);
    let later = server.until("cam1's bytes grow", |s| {
        path_value(s, "paths_inbound_bytes") > bytes
    });
    assert!(camera_value(&later, "vigia_camera_bitrate_bits_per_second").unwrap_or(0.0) > 0.0);
    assert!(camera_value(&later, "vigia_camera_last_frame_age_seconds").unwrap_or(9.0) < 2.0);
    assert!(camera_value(&later, "vigia_camera_frames_total").unwrap_or(0.0) > 0.0);
    let heap = |s: &Scrape| value(s, "vigia_heap_allocated_bytes", &[]).unwrap_or(0.0);
    assert!(
        heap(&later) > heap(&first) && heap(&first) > 0.0,
        "the heap holds the stream: {} -> {} bytes",
        heap(&first),
        heap(&later)
    );
    assert!(value(&later, "vigia_heap_resident_bytes", &[]).unwrap_or(0.0) >= heap(&later) / 2.0);

    // Readers come: an RTSP reader and an HLS client (whose muxer reads the path).
    let mut rtsp_reader = Background::start(
        "ffmpeg",
        &[
            "-nostdin",
            "-rtsp_transport",
            "tcp",
            "-i",
            &url,
            "-c",
            "copy",
            "-f",
            "null",
            "-",
        ],
    );
    let playlist = http::get(server.ports.hls, &format!("/{PATH}/index.m3u8"), &[]);
    assert_eq!(playlist.map(|r| r.status), Some(200));
    let read = server.until("an RTSP and an HLS reader on cam1", |s| {
        readers(s, "rtspSession") == Some(1.0)
            && readers(s, "hlsMuxer") == Some(1.0)
            && value(s, "rtsp_sessions", &[("path", PATH), ("state", "read")]) == Some(1.0)
            && value(s, "hls_muxers", &[("name", PATH)]) == Some(1.0)
    });
    let publishing = [("path", PATH), ("state", "publish")];
    assert_eq!(value(&read, "rtsp_sessions", &publishing), Some(1.0));
    assert!(value(&read, "rtsp_sessions_inbound_bytes", &publishing).unwrap_or(0.0) > 0.0);
    let conns = read.samples.iter().filter(|s| s.metric == "rtsp_conns");
    assert_eq!(
        conns.count(),
        2,
        "the publisher's and the reader's connections"
    );
    assert!(path_value(&read, "hls_muxers_outbound_bytes") > 0.0);
    let reading = [("path", PATH), ("state", "read")];
    let rtsp_sent = value(&read, "rtsp_sessions_outbound_bytes", &reading).unwrap_or(0.0);
    assert!(rtsp_sent > 0.0, "the RTSP reader's bytes");
    let hls_sent = path_value(&read, "hls_muxers_outbound_bytes");
    assert!(path_value(&read, "paths_outbound_bytes") >= rtsp_sent + hls_sent);
    let hls_requests = value(&read, "http_requests_total", &[("listener", "hls")]);
    assert!(
        hls_requests.unwrap_or(0.0) >= 1.0,
        "HLS requests not counted"
    );
    let scrapes = value(&read, "http_requests_total", &[("listener", "metrics")]);
    assert!(scrapes.unwrap_or(0.0) >= 1.0, "scrapes not counted");

    // They go: the RTSP reader at once, the HLS muxer after hlsMuxerCloseAfter.
    rtsp_reader.stop();
    let left = server.until("no reader left on cam1", |s| {
        readers(s, "") == Some(0.0) && value(s, "hls_muxers", &[]).is_none()
    });
    assert_eq!(value(&left, "rtsp_sessions", &[("state", "read")]), None);

    // The publisher goes: the path is not ready, no camera is active.
    publisher.stop();
    let gone = server.until("cam1 not ready", |s| {
        value(s, "paths", &[("name", PATH), ("state", "notReady")]) == Some(1.0)
    });
    assert_eq!(active_cameras(&gone), 0.0);
    assert_eq!(camera_value(&gone, "vigia_camera_fps"), None);
    assert_eq!(value(&gone, "rtsp_conns", &[]), None, "no connection left");
}

#[test]
fn metrics_need_the_metrics_permission_and_answer_allowed_origins() {
    let metrics = free_port();
    let config = format!(
        "metrics: yes\nmetricsAddress: 127.0.0.1:{metrics}\n\
         metricsAllowOrigins: ['http://*.example.org']\nauthInternalUsers:\n\
         - user: any\n  permissions: [{{action: read}}]\n- user: prom\n  pass: secret\n  \
         permissions: [{{action: metrics}}]\n"
    );
    let (mut vigia, _ports) = Vigia::start_on_fresh_ports(&config);
    vigia.wait_listening(metrics);
    let anonymous = http::get(metrics, "/metrics", &[]).expect("GET /metrics");
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.header("www-authenticate").is_some());
    let body: serde_json::Value = serde_json::from_slice(&anonymous.body).expect("a JSON error");
    assert_eq!(body["status"], "error", "MediaMTX's error body");
    // prom:secret
    let prom = "Authorization: Basic cHJvbTpzZWNyZXQ=";
    let grafana = "Origin: http://grafana.example.org";
    let authorized = http::get(metrics, "/metrics", &[prom, grafana]).expect("GET /metrics");
    assert_eq!(authorized.status, 200);
    let allowed = authorized.header("access-control-allow-origin");
    assert_eq!(allowed, Some("http://grafana.example.org"));
    let elsewhere = http::get(metrics, "/metrics", &[prom, "Origin: http://evil.test"]);
    let elsewhere = elsewhere.expect("GET /metrics");
    assert_eq!(elsewhere.header("access-control-allow-origin"), None);
}

/// `metricsEncryption` serves HTTPS (`conformance/tests/tls.rs`); without its key and
/// certificate files the server stops at start, naming the key.
#[test]
fn metrics_encryption_without_its_files_stops_the_server() {
    let dir = vigia_conformance::TempDir::new("vigia-metrics-tls");
    let config = dir.path().join("vigia.yml");
    let ports = Ports::fresh();
    let metrics = free_port();
    let keys = format!(
        "{}metrics: yes\nmetricsAddress: 127.0.0.1:{metrics}\nmetricsEncryption: yes\n\
         metricsServerKey: {}/missing.key\n",
        ports.yaml(),
        dir.path().display()
    );
    std::fs::write(&config, keys).expect("write config");
    let output = vigia_conformance::run_with_timeout(
        vigia_conformance::vigia_bin().to_str().expect("utf-8 path"),
        &[config.to_str().expect("utf-8 path")],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("metricsServerKey") && stderr.contains("missing.key"),
        "{stderr}"
    );
}

/// Every metric the Grafana dashboard (`docs/grafana/vigia.json`) queries is a family the server
/// describes.
#[test]
fn the_grafana_dashboard_queries_only_exported_families() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana/vigia.json");
    let text = std::fs::read_to_string(&file).expect("read the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut queried = Vec::new();
    collect_metric_names(&dashboard, &mut queried);
    assert!(queried.len() >= 20, "too few metrics found: {queried:?}");
    let server = Server::start();
    let families = server.scrape().docs;
    for name in &queried {
        let family = name
            .strip_suffix("_total")
            .or_else(|| name.strip_suffix("_bucket"))
            .unwrap_or(name);
        assert!(
            families.contains_key(family),
            "the dashboard queries {name}, not exported"
        );
    }
}

/// The metric names in every `expr` and `query` string under `value`.
fn collect_metric_names(value: &serde_json::Value, names: &mut Vec<String>) {
    const PREFIXES: [&str; 6] = ["paths", "rtsp_", "hls_", "http_", "streaming_", "vigia_"];
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                if let (true, Some(expr)) = (key == "expr" || key == "query", item.as_str()) {
                    let tokens = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
                    names.extend(
                        tokens
                            .filter(|t| PREFIXES.iter().any(|p| t.starts_with(p)))
                            .map(str::to_owned),
                    );
                }
                collect_metric_names(item, names);
            }
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|i| collect_metric_names(i, names))
        }
        _ => {}
    }
}

/// With the broker down and a path recording, the spool fills and the `recording.started` event
/// waits in the outbox: the recorder, spool and outbox families have values, and they move.
#[test]
fn spool_and_outbox_figures_move_while_recording_with_the_broker_down() {
    let metrics = free_port();
    let config = format!(
        "metrics: yes\nmetricsAddress: 127.0.0.1:{metrics}\n\
         eventsURL: amqp://guest:guest@127.0.0.1:1/%2f\n\
         paths:\n  all_others:\n    record: yes\n"
    );
    let (mut vigia, ports) = Vigia::start_on_fresh_ports(&config);
    vigia.wait_listening(metrics);
    let server = Server {
        _vigia: vigia,
        ports,
        metrics,
    };
    let idle = server.scrape();
    assert_eq!(value(&idle, "vigia_spool_bytes", &[]), Some(0.0));
    assert_eq!(value(&idle, "vigia_recorder_backlog_bytes", &[]), Some(0.0));
    assert_eq!(value(&idle, "vigia_events_outbox_pending", &[]), Some(0.0));
    assert!(value(&idle, "vigia_spool_max_bytes", &[]).unwrap_or(0.0) > 0.0);
    let _publisher = Clip::H264Aac.publish(&server.ports.rtsp_url(PATH), "tcp");
    let recording = server.until("the spool filling and an event waiting", |s| {
        value(s, "vigia_spool_bytes", &[]).unwrap_or(0.0) > 0.0
            && value(s, "vigia_events_outbox_pending", &[]).unwrap_or(0.0) >= 1.0
    });
    assert!(value(&recording, "vigia_events_accepted_total", &[]).unwrap_or(0.0) >= 1.0);
    assert_eq!(
        value(&recording, "vigia_events_confirmed_total", &[]),
        Some(0.0)
    );
    assert!(value(&recording, "vigia_spool_segments", &[]).unwrap_or(0.0) >= 1.0);
}
