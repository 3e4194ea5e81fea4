//! Cameras from the event bus, against the real broker at 127.0.0.1:5672: a `camera.created`
//! makes a pulled path that plays over RTSP and HLS within 5 s, a `camera.updated` moves it to a new URL,
//! a duplicate and a late (older) update change nothing, and a `camera.deleted` makes DESCRIBE
//! answer 404 within 5 s. The "cameras" are vigia's own synthetic paths `demo` (the default
//! clip) and `demo1080` (1080p), so which source plays is told by the picture height.
//!
//! Health: a recorded camera that dies is reported `offline` (with the reason) then `online`
//! again (with the reconnect counted), its reports carrying the recorder backlog; and a camera offering only MJPEG is reported `offline` at once with
//! reason `unsupported_codec` naming MJPEG; both read with `vigia events tail`.
//!
//! Each run uses its own node name (its own queue) and camera id, so other tests on the same
//! broker do not interfere.

use std::time::Duration;

use serde_json::json;
use std::sync::Arc;

use vigia_conformance::bus::{
    BROKER, BusNode, Collector, Filter, NodeQueues, camera, event, publish, unique, unix_ms,
};
use vigia_conformance::http;
use vigia_conformance::probe::ffprobe;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Ports, TempDir, Vigia, eventually, vigia_bin};
use vigia_events::{Event, EventData};

/// The height of the video `path` plays over RTSP, if it plays.
fn video_height(ports: &Ports, path: &str) -> Option<u64> {
    let probe = ffprobe(&ports.rtsp_url(path), &["-rtsp_transport", "tcp"], None);
    probe.stream("video").map(|s| s.height)
}

fn describe_status(ports: &Ports, path: &str) -> Option<u16> {
    let url = ports.rtsp_url(path);
    let mut client = RtspClient::connect(ports.rtsp, &url).ok()?;
    let response = client
        .request("DESCRIBE", &url, &["Accept: application/sdp"])
        .ok()?;
    Some(response.status)
}

#[test]
fn cameras_follow_camera_events() {
    let ports = Ports::fresh();
    let config = format!(
        "{}eventsURL: {BROKER}\npaths:\n  demo:\n    source: synthetic\n  demo1080:\n    source: synthetic:1080p\n",
        ports.yaml()
    );
    let bus = BusNode::start(&config, ports.rtsp);
    let vigia = &bus.vigia;
    let work = TempDir::new("vigia-bus-events");
    let cam = unique("cam");
    let corr = unique("corr");
    let t0 = unix_ms();
    let demo = ports.rtsp_url("demo");
    let demo1080 = ports.rtsp_url("demo1080");
    let small = video_height(&ports, "demo").expect("demo plays");

    let created = event(
        "camera.created",
        &unique("ev"),
        t0,
        &corr,
        camera(&cam, &demo),
    );
    publish(&work, &created);
    let height = eventually(Duration::from_secs(5), || video_height(&ports, &cam));
    assert_eq!(
        height,
        Some(small),
        "the camera plays within 5 s:\n{}",
        vigia.logs()
    );
    assert!(
        vigia.logs().contains(&corr),
        "the correlation id is on the camera's log lines:\n{}",
        vigia.logs()
    );
    let playlist = format!("/{cam}/index.m3u8");
    let hls = eventually(Duration::from_secs(5), || {
        http::get(ports.hls, &playlist, &[]).filter(|r| r.status == 200)
    });
    assert!(hls.is_some(), "the camera plays over HLS within 5 s");

    // The same event again changes nothing.
    publish(&work, &created);
    let updated = event(
        "camera.updated",
        &unique("ev"),
        t0 + 2_000,
        &corr,
        camera(&cam, &demo1080),
    );
    publish(&work, &updated);
    let height = eventually(Duration::from_secs(5), || {
        video_height(&ports, &cam).filter(|&h| h == 1080)
    });
    assert_eq!(
        height,
        Some(1080),
        "the updated URL plays:\n{}",
        vigia.logs()
    );

    // An update older than the one applied, delivered late, is ignored.
    let late = event(
        "camera.updated",
        &unique("ev"),
        t0 + 1_000,
        &corr,
        camera(&cam, &demo),
    );
    publish(&work, &late);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        video_height(&ports, &cam),
        Some(1080),
        "a late update does not win"
    );

    let deleted = event(
        "camera.deleted",
        &unique("ev"),
        t0 + 3_000,
        &corr,
        json!({"cameraId": cam, "cityId": "city-conformance"}),
    );
    publish(&work, &deleted);
    let gone = eventually(Duration::from_secs(5), || {
        (describe_status(&ports, &cam) == Some(404)).then_some(())
    });
    assert!(
        gone.is_some(),
        "DESCRIBE gets 404 within 5 s:\n{}",
        vigia.logs()
    );
}

/// `vigia events tail` of one camera's health events, its stdout in a file.
struct HealthTail {
    child: std::process::Child,
    /// `source=/vigia/<node>`: the header mark of the reports of the node under test. Every
    /// node consumes every `camera.*` event, so a test running alongside adds this camera too
    /// and reports its health under the same subject.
    source: String,
    out: std::path::PathBuf,
    _dir: TempDir,
}

impl HealthTail {
    fn start(cam: &str, node: &str) -> Self {
        let dir = TempDir::new("vigia-bus-tail");
        let out = dir.path().join("tail.txt");
        let file = std::fs::File::create(&out).expect("create tail output");
        let subject = format!("camera/{cam}");
        let child = std::process::Command::new(vigia_bin())
            .args(["events", "--url", BROKER, "tail"])
            .args([
                "--type",
                "stream.health_check",
                "--subject",
                subject.as_str(),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn vigia events tail");
        // Give it the time to bind its queue before anything is published.
        std::thread::sleep(Duration::from_secs(1));
        Self {
            child,
            source: format!("source=/vigia/{node}"),
            out,
            _dir: dir,
        }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// The payloads reported so far, in order (each printed as a header line, then its JSON;
    /// one still being written is left out).
    fn reports(&self) -> Vec<serde_json::Value> {
        let text = self.text();
        text.split("--- ")
            .filter_map(|block| block.split_once('\n'))
            .filter(|(header, _)| header.ends_with(&self.source))
            .filter_map(|(_, body)| serde_json::from_str(body).ok())
            .collect()
    }

    /// The statuses reported so far, in order.
    fn statuses(&self) -> Vec<String> {
        self.reports()
            .iter()
            .filter_map(|r| r["status"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for HealthTail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_camera_that_dies_is_reported_offline_then_online() {
    // The camera: another vigia serving its synthetic clip, stopped and started again.
    let camera_ports = Ports::fresh();
    let camera_config = format!(
        "{}paths:\n  demo:\n    source: synthetic\n",
        camera_ports.yaml()
    );
    let mut camera_vigia = Vigia::start(&camera_config, camera_ports.rtsp);

    let ports = Ports::fresh();
    let config = format!(
        "{}eventsURL: {BROKER}\neventsHealthInterval: 2s\n",
        ports.yaml()
    );
    let bus = BusNode::start(&config, ports.rtsp);
    let (vigia, node) = (&bus.vigia, &bus.node);

    let cam = unique("cam");
    let corr = unique("corr");
    let tail = HealthTail::start(&cam, &bus.node);
    let runs = RecordingRuns::start(&cam, node);
    let now_ms = unix_ms();
    let url = camera_ports.rtsp_url("demo");
    // Recorded (into the default recordPath, under the server's directory), so its reports
    // carry the recorder's upload backlog.
    let mut recorded = camera(&cam, &url);
    recorded["record"] = json!(true);
    let created = event("camera.created", &unique("ev"), now_ms, &corr, recorded);
    publish(&TempDir::new("vigia-bus-events"), &created);

    let online = |t: &HealthTail| t.statuses().iter().any(|s| s == "online").then_some(());
    assert!(
        eventually(Duration::from_secs(10), || online(&tail)).is_some(),
        "no online health event:\n{}\n{}",
        tail.text(),
        vigia.logs()
    );
    assert!(
        tail.text().contains(&format!("correlationid={corr}")),
        "health events carry the camera's correlation id:\n{}",
        tail.text()
    );

    camera_vigia.stop();
    let offline_after_online = |t: &HealthTail| {
        let s = t.statuses();
        let first_online = s.iter().position(|x| x == "online")?;
        s[first_online..]
            .iter()
            .any(|x| x == "offline")
            .then_some(())
    };
    assert!(
        eventually(Duration::from_secs(10), || offline_after_online(&tail)).is_some(),
        "no offline health event within 10 s of the camera's death:\n{}\n{}",
        tail.text(),
        vigia.logs()
    );
    assert!(vigia.logs().contains("camera offline"), "{}", vigia.logs());
    let stopped =
        |r: &RecordingRuns| (r.kinds() == ["started", "stopped:source_lost"]).then_some(());
    assert!(
        eventually(Duration::from_secs(10), || stopped(&runs)).is_some(),
        "the recording run stops when the camera dies: {:?}\n{}",
        runs.kinds(),
        vigia.logs()
    );
    let reports = tail.reports();
    let online = reports
        .iter()
        .find(|r| r["status"] == "online")
        .expect("an online report");
    assert!(online["lastFrameAgeMs"].as_u64().is_some(), "{online:#}");
    assert!(
        online["recorderBacklogSegments"].as_u64().is_some()
            && online["recorderBacklogBytes"].as_u64().is_some(),
        "a recorded camera's report carries the recorder backlog:\n{online:#}"
    );
    assert_eq!(online.get("reason"), None, "{online:#}");
    let offline = reports
        .iter()
        .rev()
        .find(|r| r["status"] == "offline")
        .expect("an offline report");
    assert!(
        offline["reason"].as_str().is_some_and(|r| !r.is_empty())
            && offline["detail"].as_str().is_some(),
        "the offline event says why:\n{offline:#}"
    );

    let _camera_back = Vigia::start(&camera_config, camera_ports.rtsp);
    let back = |t: &HealthTail| {
        let s = t.statuses();
        let offline = s.iter().rposition(|x| x == "offline")?;
        s[offline..].iter().any(|x| x == "online").then_some(())
    };
    assert!(
        eventually(Duration::from_secs(15), || back(&tail)).is_some(),
        "no online health event after the camera came back:\n{}\n{}",
        tail.text(),
        vigia.logs()
    );
    let reports = tail.reports();
    let last = reports.last().expect("reports");
    assert!(
        last["reconnects"].as_u64().is_some_and(|n| n > 0),
        "the reconnect is counted:\n{last:#}"
    );
    let restarted = |r: &RecordingRuns| (r.kinds().len() == 3).then_some(());
    assert!(
        eventually(Duration::from_secs(10), || restarted(&runs)).is_some(),
        "a new recording run starts when the camera is back: {:?}",
        runs.kinds()
    );
    assert_eq!(runs.kinds()[2], "started");
    assert_ne!(
        runs.ids()[0],
        runs.ids()[2],
        "a new run has a new recordingId"
    );
}

/// The `recording.*` events of one camera from one node, as a deduplicating consumer handles
/// them (every node started by these tests pulls every camera announced).
struct RecordingRuns(Collector);

impl RecordingRuns {
    fn start(cam: &str, node: &str) -> Self {
        let path = cam.to_owned();
        let source = format!("/vigia/{node}");
        let keep: Filter = Arc::new(move |e: &Event| {
            e.source == source
                && match &e.data {
                    EventData::RecordingStarted(r) => r.path == path,
                    EventData::RecordingStopped(r) => r.path == path,
                    _ => false,
                }
        });
        Self(Collector::start(&unique("runs"), &["recording.*"], keep))
    }

    /// `started`, or `stopped:<reason>`, in order.
    fn kinds(&self) -> Vec<String> {
        let kind = |e: &Event| match &e.data {
            EventData::RecordingStopped(r) => format!("stopped:{}", r.reason),
            _ => "started".to_owned(),
        };
        self.0.handled().iter().map(kind).collect()
    }

    /// The recording id of each event, in order.
    fn ids(&self) -> Vec<String> {
        let id = |e: &Event| match &e.data {
            EventData::RecordingStarted(r) => r.recording_id.clone(),
            EventData::RecordingStopped(r) => r.recording_id.clone(),
            _ => String::new(),
        };
        self.0.handled().iter().map(id).collect()
    }
}

/// The SDP of a camera whose only stream is MJPEG (RFC 2435 over RTP, payload type 26).
const MJPEG_SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=MJPEG camera\r\n\
    c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 0 RTP/AVP 26\r\na=rtpmap:26 JPEG/90000\r\n\
    a=control:track1\r\n";

/// A "camera" that speaks RTSP but offers only MJPEG (RFC 2435, static payload type 26):
/// OPTIONS and DESCRIBE are answered, anything else is refused with 455. Returns its URL.
fn mjpeg_only_camera() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind camera");
    let port = listener.local_addr().expect("camera address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || answer_as_mjpeg_camera(conn, port));
        }
    });
    format!("rtsp://127.0.0.1:{port}/mjpeg")
}

/// Answers the requests of one RTSP connection until the client closes it.
fn answer_as_mjpeg_camera(conn: std::net::TcpStream, port: u16) {
    use std::io::{BufRead, BufReader, Write};
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut head = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.trim().is_empty() => break,
                Ok(_) => head.push(line.trim().to_owned()),
            }
        }
        let method = head.first().and_then(|l| l.split(' ').next()).unwrap_or("");
        let cseq = head
            .iter()
            .find_map(|l| l.strip_prefix("CSeq:"))
            .map_or("0", str::trim);
        let sdp = MJPEG_SDP;
        let answer = match method {
            "OPTIONS" => format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
            ),
            "DESCRIBE" => format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n\
                 Content-Base: rtsp://127.0.0.1:{port}/mjpeg/\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ),
            _ => format!("RTSP/1.0 455 Method Not Valid in This State\r\nCSeq: {cseq}\r\n\r\n"),
        };
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn a_camera_offering_only_mjpeg_is_reported_offline_naming_mjpeg() {
    let url = mjpeg_only_camera();
    let ports = Ports::fresh();
    let config = format!("{}eventsURL: {BROKER}\n", ports.yaml());
    let bus = BusNode::start(&config, ports.rtsp);
    let vigia = &bus.vigia;

    let cam = unique("cam");
    let tail = HealthTail::start(&cam, &bus.node);
    let now_ms = unix_ms();
    let created = event(
        "camera.created",
        &unique("ev"),
        now_ms,
        &unique("corr"),
        camera(&cam, &url),
    );
    publish(&TempDir::new("vigia-bus-events"), &created);

    // The first failure is reported at once (the default interval, 10 s, is not waited for).
    let offline = eventually(Duration::from_secs(8), || {
        tail.reports()
            .into_iter()
            .find(|r| r["status"] == "offline")
    });
    let Some(offline) = offline else {
        panic!(
            "no offline health event within 8 s:\n{}\n{}",
            tail.text(),
            vigia.logs()
        );
    };
    assert_eq!(offline["reason"], "unsupported_codec", "{offline:#}");
    let detail = offline["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("MJPEG"), "the codec is named:\n{offline:#}");
    assert!(
        offline["reconnects"].as_u64().is_some_and(|n| n >= 1),
        "{offline:#}"
    );
    assert_eq!(offline.get("lastFrameAgeMs"), None, "{offline:#}");
    assert_eq!(
        offline.get("recorderBacklogSegments"),
        None,
        "not recorded: no backlog field\n{offline:#}"
    );
    assert!(
        vigia.logs().contains("camera offline: unsupported_codec"),
        "{}",
        vigia.logs()
    );
}

#[test]
fn cameras_of_the_last_run_play_with_the_broker_down() {
    let ports = Ports::fresh();
    // Nothing listens on port 1: the broker is down for the whole run.
    let config = format!(
        "{}eventsURL: amqp://guest:guest@127.0.0.1:1/%2f\npaths:\n  demo:\n    source: synthetic\n",
        ports.yaml()
    );
    let dir = TempDir::new("vigia-bus-offline");
    std::fs::write(dir.path().join("vigia.yml"), &config).expect("write config");
    let cam = unique("cam");
    let state = json!({"cameras": {cam.as_str(): {
        "version": {"time": "2026-01-01T00:00:00Z", "id": "ev-1"},
        "camera": {
            "cameraId": cam,
            "source": ports.rtsp_url("demo"),
            "record": false,
            "retentionDays": 7,
            "correlationId": "corr-last-run",
        },
    }}});
    let state_dir = dir.path().join("vigia-spool.state");
    std::fs::create_dir_all(&state_dir).expect("state dir");
    std::fs::write(state_dir.join("cameras.json"), state.to_string()).expect("write state");
    let node = unique("conformance");
    let _queues = NodeQueues::of(&node);
    let vigia = Vigia::spawn(
        dir,
        &["vigia.yml"],
        &[("VIGIA_NODE", node.as_str())],
        ports.rtsp,
    );
    let height = eventually(Duration::from_secs(5), || video_height(&ports, &cam));
    assert!(
        height.is_some(),
        "the camera of the state file plays:\n{}",
        vigia.logs()
    );
    assert!(vigia.logs().contains("corr-last-run"), "{}", vigia.logs());
}
