//! The playback server (`playback: yes`) over a real recording: ffmpeg publishes the H.264
//! (with B-frames) + AAC clip for about 45 s into a path recorded in 10 s segments to a real
//! S3-protocol server (s3s-fs); then `/list` shows one span, a 20 s window starting in the
//! middle of a segment is read by ffprobe as 20 s (fMP4 and MP4), an MP4 byte range is answered
//! `206`, malformed queries are `400` naming the parameter, and headless Chromium plays the
//! window from the timeline page.
//!
//! One test does it all, in order: a recording takes 45 s of real time.

use std::path::PathBuf;
use std::thread::sleep;
use std::time::Duration;

use serde_json::Value;
use vigia_conformance::clips::Clip;
use vigia_conformance::http::{self, Response};
use vigia_conformance::recordings::{SegmentProbe, probe_bytes};
use vigia_conformance::s3::S3Server;
use vigia_conformance::{Ports, TempDir, Vigia, eventually, free_port, run_with_timeout};

/// How long the clip is published.
const PUBLISH: Duration = Duration::from_secs(45);
/// The window read back: 20 s from 12.5 s after the recording's start (inside its second
/// segment, which starts 10-11 s in).
const WINDOW_OFFSET_S: f64 = 12.5;
const WINDOW_S: f64 = 20.0;
/// One video frame of the clip (25 fps): the tolerance on durations.
const FRAME_S: f64 = 0.04;

#[test]
fn a_recording_is_listed_and_played_back() {
    let (ports, playback, storage) = (Ports::fresh(), free_port(), TempDir::new("vigia-pb"));
    let s3 = S3Server::start("recordings");
    let dir = TempDir::new("vigia-pb-conf");
    let yaml = config(&ports, playback, &storage);
    std::fs::write(dir.path().join("vigia.yml"), yaml).expect("write config");
    let mut vigia = Vigia::spawn(dir, &["vigia.yml"], &s3.env(), ports.rtsp);
    let mut publisher = Clip::H264Aac.publish(&ports.rtsp_url("cam"), "tcp");
    sleep(PUBLISH);
    publisher.stop();
    let spans = eventually(Duration::from_secs(30), || {
        let spans = list(playback);
        let total: f64 = spans.iter().filter_map(|s| s["duration"].as_f64()).sum();
        (total > PUBLISH.as_secs_f64() - 5.0).then_some(spans)
    })
    .unwrap_or_else(|| panic!("/list: {:?}\n{}", list(playback), vigia.logs()));
    assert_eq!(spans.len(), 1, "one span: {spans:?}");
    let url = spans[0]["url"].as_str().unwrap_or_default();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{playback}/get?duration=")),
        "{url}"
    );
    let start = shift(
        spans[0]["start"].as_str().unwrap_or_default(),
        WINDOW_OFFSET_S,
    );
    let get = format!("/get?path=cam&start={}&duration={WINDOW_S}", escape(&start));

    let fmp4 = http(playback, &get, "");
    assert_eq!(fmp4.status, 200, "{}", fmp4.text());
    assert_window(&probe_bytes(&fmp4.body), "fmp4");

    let mp4 = http(playback, &format!("{get}&format=mp4"), "");
    assert_eq!(mp4.status, 200, "{}", mp4.text());
    assert!(mp4.header("accept-ranges") == Some("bytes"), "{}", mp4.head);
    assert_window(&probe_bytes(&mp4.body), "mp4");
    let part = http(
        playback,
        &format!("{get}&format=mp4"),
        "Range: bytes=0-99\r\n",
    );
    assert_eq!(part.status, 206, "{}", part.head);
    assert_eq!(part.body, mp4.body[..100]);
    let range = format!("bytes 0-99/{}", mp4.body.len());
    assert_eq!(part.header("content-range"), Some(range.as_str()));

    bad_queries_name_the_parameter(playback, &start);
    chromium_plays_the_window(playback, &start);
    vigia.stop();
}

fn config(ports: &Ports, playback: u16, storage: &TempDir) -> String {
    format!(
        "{}playback: yes\nplaybackAddress: 127.0.0.1:{playback}\nrecordSpoolDirectory: {}\npathDefaults:\n  recordPath: s3://recordings/%path/%Y-%m-%d_%H-%M-%S-%f\n  recordSegmentDuration: 10s\npaths:\n  cam:\n    record: yes\n",
        ports.yaml(),
        storage.path().join("spool").display(),
    )
}

/// `/list?path=cam` as JSON (empty when not 200).
fn list(port: u16) -> Vec<Value> {
    let answer = http(port, "/list?path=cam", "");
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .filter(|_| answer.status == 200)
        .unwrap_or_default()
}

/// The window lasts 20 s within a frame, by the video stream and by the whole file.
fn assert_window(probe: &SegmentProbe, format: &str) {
    assert!(
        probe.errors.trim().is_empty(),
        "{format}: ffprobe: {}",
        probe.errors
    );
    assert!(
        (probe.duration - WINDOW_S).abs() <= FRAME_S,
        "{format}: {} s, expected {WINDOW_S} s ± one frame: {probe:?}",
        probe.duration
    );
    // 20 s of 25 fps video, plus the pre-roll before the window's start (at most a GOP).
    assert!(
        (500..=526).contains(&probe.video_frames),
        "{format}: {probe:?}"
    );
    assert!(probe.audio_packets > 900, "{format}: {probe:?}");
}

fn bad_queries_name_the_parameter(port: u16, start: &str) {
    let start = escape(start);
    let cases = [
        (
            "/get?path=cam&start=bad&duration=20".to_owned(),
            "invalid start",
        ),
        (
            format!("/get?path=cam&start={start}&duration=-1"),
            "invalid duration",
        ),
        (format!("/get?path=cam&start={start}"), "invalid duration"),
        (
            format!("/get?path=cam&start={start}&duration=20&format=avi"),
            "invalid format",
        ),
        (
            format!("/get?path=../etc&start={start}&duration=20"),
            "invalid path name",
        ),
        (
            format!("/get?path=%2Fcam&start={start}&duration=20"),
            "invalid path name",
        ),
        (
            format!("/get?path=a%5Cb&start={start}&duration=20"),
            "invalid path name",
        ),
        (
            "/get?start=2025-01-01T00:00:00Z&duration=20".to_owned(),
            "invalid path name",
        ),
        ("/list?path=cam&end=tomorrow".to_owned(), "invalid end"),
    ];
    for (target, message) in cases {
        let answer = http(port, &target, "");
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        assert_eq!(answer.status, 400, "{target}: {}", answer.text());
        assert_eq!(body["status"], "error", "{target}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(message), "{target}: {error}");
    }
    let none = http(
        port,
        "/list?path=cam&start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z",
        "",
    );
    assert_eq!(none.status, 404, "{}", none.text());
    assert!(none.text().contains("no recording segments found"));
}

/// The timeline page plays the window in headless Chromium (through `browser/play.mjs`).
fn chromium_plays_the_window(port: u16, start: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/play.mjs");
    let page = format!(
        "http://127.0.0.1:{port}/cam/?start={}&duration={WINDOW_S}",
        escape(start)
    );
    let out = run_with_timeout(
        "node",
        &[&script.display().to_string(), &page, "8"],
        Duration::from_secs(90),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "no report from the browser: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(report.get("failure").is_none(), "{report}");
    let samples = report["samples"].as_array().cloned().unwrap_or_default();
    let at = |i: usize, key: &str| samples.get(i).and_then(|s| s[key].as_f64()).unwrap_or(0.0);
    let last = samples.len().saturating_sub(1);
    assert!(
        at(last, "t") - at(0, "t") >= 6.0,
        "playback advanced too little: {report}"
    );
    assert_eq!(report["stalls"], 0, "stalled: {report}");
    assert!(at(last, "videoFrames") > at(0, "videoFrames"), "{report}");
    assert!(at(last, "audioBytes") > 0.0, "no audio decoded: {report}");
}

/// `time` (RFC 3339) moved by `seconds`, in UTC with µs, by `date`.
fn shift(time: &str, seconds: f64) -> String {
    let epoch = run_with_timeout(
        "date",
        &["-u", "-d", time, "+%s.%N"],
        Duration::from_secs(5),
    );
    let epoch: f64 = String::from_utf8_lossy(&epoch.stdout)
        .trim()
        .parse()
        .expect("a time");
    let at = format!("@{:.6}", epoch + seconds);
    let out = run_with_timeout(
        "date",
        &["-u", "-d", &at, "+%Y-%m-%dT%H:%M:%S.%6NZ"],
        Duration::from_secs(5),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `text` escaped for a query (RFC 3986 unreserved characters kept).
fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A GET with `extra` header lines (each ending in CRLF); a chunked body is decoded.
fn http(port: u16, target: &str, extra: &str) -> Response {
    let headers: Vec<&str> = extra.lines().filter(|l| !l.is_empty()).collect();
    http::get(port, target, &headers).expect("connect to playback")
}
