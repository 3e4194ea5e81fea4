//! Cameras from the event bus, against the real broker at 127.0.0.1:5672: a `camera.created`
//! makes a pulled path that plays over RTSP within 5 s, a `camera.updated` moves it to a new URL,
//! a duplicate and a late (older) update change nothing, and a `camera.deleted` makes DESCRIBE
//! answer 404 within 5 s. The "cameras" are vigia's own synthetic paths `demo` (the default
//! clip) and `demo1080` (1080p), so which source plays is told by the picture height.
//!
//! Each run uses its own node name (its own queue) and camera id, so other tests on the same
//! broker do not interfere.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use vigia_conformance::probe::ffprobe;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Ports, TempDir, Vigia, eventually, run_with_timeout, vigia_bin};

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A name no other run uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Publishes one event with `vigia events publish FILE` (confirmed by the broker).
fn publish(dir: &TempDir, event: &serde_json::Value) {
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string()).expect("write event");
    let bin = vigia_bin();
    let args = [
        "events",
        "--url",
        BROKER,
        "publish",
        file.to_str().expect("utf-8 path"),
    ];
    let out = run_with_timeout(
        bin.to_str().expect("utf-8 path"),
        &args,
        Duration::from_secs(15),
    );
    assert!(
        out.status.success(),
        "vigia events publish: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CloudEvents envelope of `ty` at `time_ms` (Unix ms) around `data`.
fn event(
    ty: &str,
    id: &str,
    time_ms: i64,
    correlation: &str,
    data: serde_json::Value,
) -> serde_json::Value {
    let time = chrono::DateTime::from_timestamp_millis(time_ms)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "/conformance/bus_cameras",
        "type": ty,
        "time": time,
        "datacontenttype": "application/json",
        "dataversion": 1,
        "correlationid": correlation,
        "data": data,
    })
}

fn camera(id: &str, url: &str) -> serde_json::Value {
    json!({
        "cameraId": id,
        "cityId": "city-conformance",
        "name": "Conformance camera",
        "rtspUrl": url,
        "record": false,
        "storagePlan": {"planId": "plan-1", "retentionDays": 7},
    })
}

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
    let dir = TempDir::new("vigia-bus-cameras");
    std::fs::write(dir.path().join("vigia.yml"), &config).expect("write config");
    let node = unique("conformance");
    let vigia = Vigia::spawn(
        dir,
        &["vigia.yml"],
        &[("VIGIA_NODE", node.as_str())],
        ports.rtsp,
    );
    assert!(
        vigia.logs_soon_contain("events: cameras from queue", Duration::from_secs(10)),
        "the camera consumer did not start:\n{}",
        vigia.logs()
    );
    let work = TempDir::new("vigia-bus-events");
    let cam = unique("cam");
    let corr = unique("corr");
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
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
