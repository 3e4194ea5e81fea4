//! Issue 8, "broker down for 30 s while cameras run", against the real broker at 127.0.0.1:5672.
//!
//! The vigia under test reaches the broker only through a [`TcpProxy`], which the test takes
//! down for 30 s (every connection closed, the port refusing). It records two cameras: `cam`, a
//! pulled camera (a second vigia serving its synthetic clip), and `enc`, an encoder pushing
//! RTSP (ffmpeg). During the outage the test reads `cam` over RTSP, kills the camera (→ `offline`
//! health) and starts it again (→ `online`), stops the encoder (→ `recording.stopped`) and starts
//! it again (→ a new `recording.started`), while `cam`'s `stream.health_check` keeps coming every
//! 2 s. A pulled camera that comes back with the same tracks keeps its stream, hence its
//! recording run: its death shows in health, not in `recording.*`, which is why the encoder is
//! there.
//!
//! Once the proxy is back, a [`Collector`] bound directly to the broker must have every event of
//! the node's outbox (read at the end of the outage, when nothing can have been confirmed or
//! compacted away) within 30 s, in outbox order, each handled once by the deduplicating
//! consumer. The run prints how many came more than once on the wire.
//!
//! Node and path names are unique per run and the collector keeps only this node's events about
//! these paths, so other tests on the same broker do not interfere.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use vigia_conformance::bus::{Collector, Filter, node_queues, unique};
use vigia_conformance::clips::Clip;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::tcp_proxy::TcpProxy;
use vigia_conformance::{Background, Ports, TempDir, Vigia, eventually};
use vigia_events::{Event, EventData, HealthStatus};

const OUTAGE: Duration = Duration::from_secs(30);
/// How long after the broker is back every event of the outage must have arrived.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// Longest gap between two health reports of a path reported every 2 s and sampled every 1 s
/// (3 s), plus scheduling slack.
const MAX_HEALTH_GAP: Duration = Duration::from_secs(4);

/// The camera: a vigia serving its synthetic clip at `demo`.
fn start_camera(ports: &Ports) -> Vigia {
    let config = format!("{}paths:\n  demo:\n    source: synthetic\n", ports.yaml());
    Vigia::start(&config, ports.rtsp)
}

/// The run's node name and path names.
struct Names {
    node: String,
    cam: String,
    enc: String,
}

impl Names {
    fn new() -> Names {
        Names {
            node: unique("conformance-outage"),
            cam: unique("cam"),
            enc: unique("enc"),
        }
    }

    /// Keeps events this node published about these paths.
    fn filter(&self) -> Filter {
        let source = format!("/vigia/{}", self.node);
        let subjects = [&self.cam, &self.enc].map(|p| format!("camera/{p}"));
        Arc::new(move |e: &Event| {
            e.source == source && subjects.iter().any(|s| e.subject.as_ref() == Some(s))
        })
    }
}

/// The vigia under test, with its state (outbox) under `state`.
struct Node {
    vigia: Vigia,
    ports: Ports,
    state: TempDir,
    names: Names,
}

impl Node {
    /// Starts the node publishing through the proxy on `broker_port`, recording `cam` (pulled
    /// from `camera`'s `demo`) and `enc` (published to).
    fn start(names: Names, camera: &Ports, broker_port: u16) -> Node {
        let (ports, state) = (Ports::fresh(), TempDir::new("vigia-outage-state"));
        let dir = state.path().display();
        let config = format!(
            "{}eventsURL: amqp://guest:guest@127.0.0.1:{broker_port}/%2f\neventsHealthInterval: 2s\nrecordSpoolDirectory: {dir}/spool\npathDefaults:\n  record: yes\n  recordPath: {dir}/rec/%path/%s-%f\n  recordSegmentDuration: 4s\npaths:\n  {}:\n    source: {}\n  {}:\n",
            ports.yaml(),
            names.cam,
            camera.rtsp_url("demo"),
            names.enc,
        );
        let work = TempDir::new("vigia-outage");
        std::fs::write(work.path().join("vigia.yml"), config).expect("write config");
        let env = [("VIGIA_NODE", names.node.as_str())];
        let vigia = Vigia::spawn(work, &["vigia.yml"], &env, ports.rtsp);
        Node {
            vigia,
            ports,
            state,
            names,
        }
    }

    /// ffmpeg publishing the H.264+AAC clip to `enc`, looped; killed on drop.
    fn encoder(&self) -> Background {
        Clip::H264Aac.publish(&self.ports.rtsp_url(&self.names.enc), "tcp")
    }

    /// Seconds of video (by RTP time, 90 kHz) an RTSP reader of `cam` receives in 2 s of
    /// reading; 0 if it cannot play.
    fn plays(&self) -> f64 {
        let url = self.ports.rtsp_url(&self.names.cam);
        let Ok(mut client) = RtspClient::connect(self.ports.rtsp, &url) else {
            return 0.0;
        };
        if client.play_tcp().is_err() {
            return 0.0;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut stamps = Vec::new();
        while Instant::now() < deadline {
            match client.read_frame() {
                Ok(f) if f.channel == 0 && f.packet.len() >= 12 => stamps.push(rtp_time(&f.packet)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let span = match (stamps.first(), stamps.last()) {
            (Some(a), Some(b)) => b.wrapping_sub(*a),
            _ => 0,
        };
        f64::from(span) / 90_000.0
    }

    /// Log lines about `path` that contain `text`.
    fn log_lines(&self, path: &str, text: &str) -> usize {
        let tag = format!("path={path}");
        let logs = self.vigia.logs();
        logs.lines()
            .filter(|l| l.contains(text) && l.contains(&tag))
            .count()
    }

    /// Waits up to `limit` for `n` log lines about `path` containing `text`.
    fn wait_log(&self, path: &str, text: &str, n: usize, limit: Duration) {
        let seen = eventually(limit, || (self.log_lines(path, text) >= n).then_some(()));
        assert!(
            seen.is_some(),
            "no {n}× \"{text}\" for {path}:\n{}",
            self.vigia.logs()
        );
    }

    /// Every event of the run in the outbox files (`<spool>.state/outbox/outbox.*.log`, one
    /// `<type>\t<json>` line each), in outbox order.
    fn outbox(&self) -> Vec<Event> {
        let dir = self.state.path().join("spool.state/outbox");
        let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("outbox directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort_by_key(|p| generation(p));
        let text: String = logs
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect();
        let keep = self.names.filter();
        text.lines()
            .filter_map(|l| Event::from_slice(l.split_once('\t')?.1.as_bytes()).ok())
            .filter(|e| keep(e))
            .collect()
    }
}

/// `outbox.<generation>.log` → generation.
fn generation(p: &Path) -> u64 {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    stem.rsplit('.')
        .next()
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

/// The RTP timestamp of `packet` (RFC 3550 §5.1).
fn rtp_time(packet: &[u8]) -> u32 {
    u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]])
}

/// A health report's status and fps.
fn health(e: &Event) -> Option<(HealthStatus, f64)> {
    match &e.data {
        EventData::StreamHealthCheck(h) => Some((h.status, h.fps)),
        _ => None,
    }
}

/// A recording event's path, kind and recording id.
fn recording(e: &Event) -> Option<(&str, &'static str, &str)> {
    match &e.data {
        EventData::RecordingStarted(r) => Some((&r.path, "started", &r.recording_id)),
        EventData::RecordingStopped(r) => Some((&r.path, "stopped", &r.recording_id)),
        _ => None,
    }
}

/// Deliveries per event id.
fn counts(events: &[Event]) -> HashMap<&str, usize> {
    let mut n = HashMap::new();
    for e in events {
        *n.entry(e.id.as_str()).or_insert(0) += 1;
    }
    n
}

/// One line per event, for failure messages.
fn listing(events: &[Event]) -> String {
    let line = |e: &Event| {
        let subject = e.subject.as_deref().unwrap_or("-");
        format!(
            "{} {} {subject} {}",
            e.time.to_rfc3339(),
            e.event_type(),
            e.id
        )
    };
    events.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// Whether `cam` was reported online and both paths started recording.
fn ready(events: &[Event], names: &Names) -> bool {
    let online = |e: &Event| matches!(health(e), Some((HealthStatus::Online, _)));
    let started = |path: &str| {
        let is =
            |e: &Event| recording(e).is_some_and(|(p, kind, _)| p == path && kind == "started");
        events.iter().any(is)
    };
    events.iter().any(online) && started(&names.cam) && started(&names.enc)
}

/// What happens while the broker is away: `cam` plays; the camera dies and comes back; the
/// encoder stops and starts again; `cam` plays again. Returns the new camera and encoder.
fn during_outage(
    node: &Node,
    mut camera: Vigia,
    encoder: Background,
    ports: &Ports,
) -> (Vigia, Background) {
    let (cam, enc) = (&node.names.cam, &node.names.enc);
    let played = node.plays();
    assert!(
        played >= 1.0,
        "cam plays, broker down: {played:.2} s in 2 s"
    );
    camera.stop();
    drop(encoder);
    node.wait_log(cam, "camera offline", 1, Duration::from_secs(10));
    node.wait_log(enc, "recording stopped", 1, Duration::from_secs(10));
    let camera = start_camera(ports);
    let encoder = node.encoder();
    node.wait_log(cam, "camera online", 2, Duration::from_secs(15));
    node.wait_log(enc, "recording 2 tracks", 2, Duration::from_secs(15));
    let played = node.plays();
    assert!(
        played >= 1.0,
        "cam plays again, broker down: {played:.2} s in 2 s"
    );
    (camera, encoder)
}

/// The deduplicating consumer handled every created event exactly once, in outbox order.
fn check_once_in_order(created: &[Event], handled: &[Event]) {
    let twice: Vec<_> = counts(handled)
        .into_iter()
        .filter(|&(_, n)| n > 1)
        .collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    let ours: HashSet<&str> = created.iter().map(|e| e.id.as_str()).collect();
    let order: Vec<&str> = handled
        .iter()
        .map(|e| e.id.as_str())
        .filter(|id| ours.contains(id))
        .collect();
    let want: Vec<&str> = created.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        order,
        want,
        "handled out of outbox order:\n{}",
        listing(handled)
    );
}

/// Health reports created during the outage (`window`, `down`..`up`): every 2 s throughout,
/// offline then online, and frames in every online one.
fn check_health(window: &[Event], down: DateTime<Utc>, up: DateTime<Utc>) {
    let reports = window
        .iter()
        .filter(|e| health(e).is_some())
        .map(|e| e.time);
    let times: Vec<DateTime<Utc>> = [down].into_iter().chain(reports).chain([up]).collect();
    let gap = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        gap.to_std().unwrap_or_default() <= MAX_HEALTH_GAP,
        "a health gap of {gap} in the outage:\n{}",
        listing(window)
    );
    let statuses: Vec<(HealthStatus, f64)> = window.iter().filter_map(health).collect();
    let offline = statuses.iter().position(|s| s.0 == HealthStatus::Offline);
    let online_again = offline.and_then(|i| {
        statuses[i..]
            .iter()
            .position(|s| s.0 == HealthStatus::Online)
    });
    assert!(online_again.is_some(), "offline then online: {statuses:?}");
    let frameless = |s: &(HealthStatus, f64)| s.0 == HealthStatus::Online && s.1 <= 0.0;
    assert!(
        !statuses.iter().any(frameless),
        "online reports without frames: {statuses:?}"
    );
}

/// `enc`'s recording events: its run started before the outage, stopped in it, and a new run
/// started in it.
fn check_recordings(created: &[Event], window: &[Event], enc: &str) {
    let of_enc = |events: &[Event]| -> Vec<(&'static str, String)> {
        let runs = events.iter().filter_map(recording).filter(|r| r.0 == enc);
        runs.map(|(_, kind, id)| (kind, id.to_owned())).collect()
    };
    let runs = of_enc(created);
    let [("started", a), ("stopped", b), ("started", c)] = &runs[..] else {
        panic!("recording events of enc {runs:?}, want started, stopped, started");
    };
    assert!(a == b && b != c, "recording ids {runs:?}");
    assert_eq!(
        of_enc(window),
        runs[1..],
        "the stop and the new start are in the outage"
    );
}

/// Waits until `cam` is online and both paths record.
fn wait_ready(collector: &Collector, node: &Node) {
    let ok = eventually(Duration::from_secs(20), || {
        ready(&collector.handled(), &node.names).then_some(())
    });
    assert!(
        ok.is_some(),
        "online and recording before the outage:\n{}\n{}",
        listing(&collector.handled()),
        node.vigia.logs()
    );
}

/// Waits until the collector handled every event of `created`; returns how long it took.
fn wait_drained(collector: &Collector, created: &[Event], node: &Node) -> Duration {
    let start = Instant::now();
    let drained = eventually(DRAIN_LIMIT, || {
        let handled = collector.handled();
        let ids: HashSet<&str> = handled.iter().map(|e| e.id.as_str()).collect();
        let all = created.iter().all(|e| ids.contains(e.id.as_str()));
        all.then(|| start.elapsed())
    });
    drained.unwrap_or_else(|| {
        panic!(
            "not every event arrived within {DRAIN_LIMIT:?}:\ncreated:\n{}\nhandled:\n{}\n{}",
            listing(created),
            listing(&collector.handled()),
            node.vigia.logs()
        )
    })
}

#[test]
fn events_of_a_broker_outage_arrive_once_it_is_back() {
    Clip::H264Aac.path(); // encode the clip (once per machine) before anything runs
    let camera_ports = Ports::fresh();
    let camera = start_camera(&camera_ports);
    let mut proxy = TcpProxy::start(([127, 0, 0, 1], 5672).into());
    let names = Names::new();
    let patterns = ["stream.health_check", "recording.*"];
    let queue = format!("conformance.{}", names.node);
    let mut collector = Collector::start(&queue, &patterns, names.filter());
    collector.delete_on_drop(node_queues(&names.node));
    let node = Node::start(names, &camera_ports, proxy.port());
    let encoder = node.encoder();
    wait_ready(&collector, &node);

    let (down_at, down) = (Utc::now(), Instant::now());
    proxy.down();
    let _still_running = during_outage(&node, camera, encoder, &camera_ports);
    std::thread::sleep(OUTAGE.saturating_sub(down.elapsed()));
    let created = node.outbox();
    let up_at = Utc::now();
    proxy.up();
    let drain = wait_drained(&collector, &created, &node);
    std::thread::sleep(Duration::from_secs(2)); // room for late duplicates

    check_once_in_order(&created, &collector.handled());
    let during = |e: &&Event| e.time >= down_at && e.time <= up_at;
    let window: Vec<Event> = created.iter().filter(during).cloned().collect();
    check_health(&window, down_at, up_at);
    check_recordings(&created, &window, &node.names.enc);
    report(&created, &window, &collector.deliveries(), drain);
}

/// Prints what the run measured (shown with `--nocapture`).
fn report(created: &[Event], window: &[Event], deliveries: &[Event], drain: Duration) {
    let times: Vec<DateTime<Utc>> = window
        .iter()
        .filter(|e| health(e).is_some())
        .map(|e| e.time)
        .collect();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_seconds_f64())
        .collect();
    let widest = gaps.iter().copied().fold(0.0, f64::max);
    let ours: HashSet<&str> = created.iter().map(|e| e.id.as_str()).collect();
    let wire = counts(deliveries);
    let wire: Vec<usize> = ours
        .iter()
        .map(|id| wire.get(id).copied().unwrap_or(0))
        .collect();
    let twice = wire.iter().filter(|&&n| n > 1).count();
    eprintln!(
        "bus_outage: {} events created during the {OUTAGE:?} outage ({} health, at most {widest:.1} s apart; {} recording), {} in the outbox; all handled once, in outbox order, {drain:.1?} after the broker came back; on the wire {} deliveries of those {}, {twice} delivered more than once",
        window.len(),
        times.len(),
        window.len() - times.len(),
        created.len(),
        wire.iter().sum::<usize>(),
        created.len(),
    );
}
