//! `vigia-ai replay` against the real RabbitMQ at 127.0.0.1:5672: OCR reads of three cars on a
//! camera of its own (one misread, one on the watch list, one parked) arrive on `vigia.events`
//! as exactly the expected `lpr.detected` events, plus `alert.triggered` for the watched plate.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{listen, replay};
use vigia_events::{EXCHANGE, EventData, Severity};

/// JSON lines of the reads: (text, seconds after the start).
fn reads(camera: &str, reads: &[(&str, f64)]) -> String {
    let start = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    reads
        .iter()
        .enumerate()
        .map(|(i, (text, s))| {
            let at = start + chrono::TimeDelta::milliseconds((s * 1000.0) as i64);
            let line = serde_json::json!({"cameraId": camera, "text": text, "confidence": 0.9,
                "at": at.to_rfc3339(), "frame": i});
            format!("{line}\n")
        })
        .collect()
}

#[tokio::test]
async fn replayed_reads_reach_the_broker_as_detections_and_alerts() {
    let camera = format!(
        "ai-test-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    // The platform's exchange, as in production (a handful of events about a camera no one has).
    let (mut rx, _conn) = listen(EXCHANGE, camera.clone()).await;
    let dir = std::env::temp_dir().join(format!("vigia-ai-replay-{camera}"));
    std::fs::create_dir_all(&dir).unwrap();
    let watchlist = dir.join("watchlist.yml");
    std::fs::write(
        &watchlist,
        "plates:\n  - plate: XYZ-9876\n    reason: stolen\n",
    )
    .unwrap();
    let input = reads(
        &camera,
        &[
            // Car 1, read three times, once with an 8 where a B must be.
            ("ABC1D23", 0.0),
            ("A8C 1D23", 0.4),
            ("ABC-1D23", 0.8),
            // Car 2, on the watch list.
            ("XYZ9876", 10.0),
            ("XYZ 9876", 10.5),
            // Car 3 parks: read again a minute later, not reported twice.
            ("QRS4E56", 20.0),
            ("QRS4E56", 80.0),
            ("not a plate", 90.0),
        ],
    );
    let status = replay(input, EXCHANGE, &dir, Some(&watchlist)).await;
    assert!(status.success(), "vigia-ai replay: {status}");

    let mut got = Vec::new();
    while got.len() < 4 {
        let e = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("four events in time")
            .unwrap();
        got.push(e);
    }
    let plates: Vec<String> = got
        .iter()
        .filter_map(|e| match &e.data {
            EventData::LprDetected(d) => Some(d.plate.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(plates, ["ABC1D23", "XYZ9876", "QRS4E56"]);
    let alert = got.iter().find_map(|e| match &e.data {
        EventData::AlertTriggered(a) => Some((e, a)),
        _ => None,
    });
    let (alert_event, alert) = alert.expect("an alert");
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        ("plate_watchlist", Severity::Critical)
    );
    let cause = got
        .iter()
        .find(|e| Some(&e.id) == alert.cause_event_id.as_ref())
        .unwrap();
    assert!(matches!(&cause.data, EventData::LprDetected(d) if d.plate.as_str() == "XYZ9876"));
    assert_eq!(alert_event.correlation_id, cause.correlation_id);
    assert_eq!(alert_event.source, "/vigia-ai");
    // Nothing else comes: the parked car's second sighting was suppressed.
    let extra = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(extra.is_err(), "unexpected {extra:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn replay_refuses_a_bad_watchlist_naming_it() {
    let dir = std::env::temp_dir().join(format!("vigia-ai-badlist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let watchlist = dir.join("watchlist.yml");
    std::fs::write(&watchlist, "plates:\n  - plate: AB-12\n    reason: x\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigia-ai"))
        .arg("replay")
        .env("VIGIA_EVENTSURL", "")
        .env("VIGIA_AI_STATE_DIR", &dir)
        .env("VIGIA_AI_WATCHLIST", &watchlist)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("watchlist.yml: entry 1 (plate \\\"AB-12\\\")"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn replay_names_a_bad_input_line() {
    let dir = std::env::temp_dir().join(format!("vigia-ai-badline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = reads("cam1", &[("ABC1D23", 0.0)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigia-ai"))
        .arg("replay")
        .env("VIGIA_EVENTSURL", "")
        .env("VIGIA_AI_STATE_DIR", &dir)
        .env_remove("VIGIA_AI_WATCHLIST")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!("{good}\n{{\"cameraId\": \"cam1\"}}\n");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("stdin line 3: missing field `text`"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}
