//! Structured logs seen from outside (`logStructured`, `logDestinations`, `logFile`): with
//! `logStructured: yes` every line `vigia` writes is one JSON object with MediaMTX's keys
//! (`timestamp`, `level`, `message`), and the lines about an RTSP reader carry its span's fields
//! (`path`, `conn`) as top-level keys; `logDestinations: [file]` sends the same lines to
//! `logFile`, appended, and nothing to stdout.

use std::time::Duration;

use serde_json::Value;
use vigia_conformance::probe::ffprobe;
use vigia_conformance::{Ports, TempDir, Vigia, eventually};

/// The synthetic `demo` path (a config file replaces the built-in one).
const DEMO: &str = "paths:\n  demo:\n    source: synthetic\n";

/// The line `vigia` logs when a reader leaves, the last one of a read.
const STOPPED: &str = "stopped reading";

#[test]
fn structured_stdout_lines_are_json_with_span_fields() {
    let (vigia, ports) = Vigia::start_on_fresh_ports(&format!("logStructured: yes\n{DEMO}"));
    read_demo(&ports);
    assert!(
        vigia.logs_soon_contain(STOPPED, Duration::from_secs(5)),
        "no \"{STOPPED}\" line:\n{}",
        vigia.logs()
    );
    check_reader_lines(&json_lines(&vigia.logs()));
}

#[test]
fn file_destination_appends_the_lines_to_log_file() {
    let dir = TempDir::new("vigia-logfile");
    let file = dir.path().join("vigia.log");
    std::fs::write(&file, "a line of an earlier run\n").expect("seed the log file");
    let config = format!(
        "logStructured: yes\nlogDestinations: [file]\nlogFile: {}\n{DEMO}",
        file.display()
    );
    let (vigia, ports) = Vigia::start_on_fresh_ports(&config);
    read_demo(&ports);
    let read_file = || std::fs::read_to_string(&file).unwrap_or_default();
    let text = eventually(Duration::from_secs(5), || {
        let text = read_file();
        text.contains(STOPPED).then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "no \"{STOPPED}\" line in {}:\n{}",
            file.display(),
            read_file()
        )
    });
    let earlier = text.strip_prefix("a line of an earlier run\n");
    let ours = earlier.unwrap_or_else(|| panic!("the file was not appended to:\n{text}"));
    check_reader_lines(&json_lines(ours));
    assert_eq!(vigia.logs(), "", "stdout is not a destination");
}

/// Reads one second of `demo` over RTSP/TCP with ffprobe.
fn read_demo(ports: &Ports) {
    let url = ports.rtsp_url("demo");
    let probe = ffprobe(&url, &["-rtsp_transport", "tcp"], Some(1));
    assert!(probe.stream("video").is_some(), "ffprobe: {}", probe.stderr);
}

/// Every line of `text` as a JSON object with a UTC RFC 3339 `timestamp`, a MediaMTX `level`
/// and a string `message`; panics naming the first line that is not.
fn json_lines(text: &str) -> Vec<Value> {
    let lines: Vec<Value> = text.lines().map(json_line).collect();
    assert!(!lines.is_empty(), "no log lines");
    lines
}

fn json_line(line: &str) -> Value {
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    let timestamp = v["timestamp"].as_str().unwrap_or_default();
    let utc = timestamp.len() >= 20 && timestamp.as_bytes()[10] == b'T';
    assert!(utc && timestamp.ends_with('Z'), "timestamp: {line}");
    let level = v["level"].as_str().unwrap_or_default();
    assert!(
        ["ERR", "WAR", "INF", "DEB"].contains(&level),
        "level: {line}"
    );
    assert!(v["message"].is_string(), "message: {line}");
    v
}

/// The reader's lines (start and stop) name the path and the connection, at the top level.
fn check_reader_lines(lines: &[Value]) {
    let about_reader: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains("reading")))
        .collect();
    assert!(about_reader.len() >= 2, "start and stop: {about_reader:?}");
    for line in about_reader {
        assert_eq!(line["path"], "demo", "{line}");
        let conn = line["conn"].as_str().unwrap_or_default();
        assert!(conn.starts_with("127.0.0.1:"), "conn: {line}");
    }
}
