//! `vigia-ai run` end to end: a rendered street clip (`clips/make_clips.py`, a slow crossing so
//! single keyframes read, a keyframe every 12 frames) is published looped into a real `vigia`
//! (target/release/vigia, or `$VIGIA_BIN`) by ffmpeg; `vigia-ai run` reads it over RTSP, decodes
//! keyframes, runs the OCR models, and the clip's plate arrives on the real RabbitMQ
//! (127.0.0.1:5672) as one `lpr.detected`, with `alert.triggered` since the plate is on the watch
//! list. Beside it, a path publishing H.265 and a path nobody publishes each give one clear log
//! line (not one per retry) and no crash; the absent one is read once it is published, and
//! SIGTERM then stops it cleanly.
//!
//! Needs ffmpeg (with libx264 and libx265), the clip generator's Python
//! (scripts/install-deps.sh) and the OCR models (`sidecars/ai/setup-models.sh`).

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "common/live.rs"]
mod live_setup;
mod python;
#[path = "../../test-support/vigia.rs"]
mod vigia;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::listen;
use live_setup::{Killed, lines_with, publish, publish_looped, render};
use python::python;
use serde_json::Value;
use vigia::Vigia;
use vigia_events::{EventData, PlateFormat, Severity};

/// The exchange of this test's events (not the platform's `vigia.events`).
const EXCHANGE: &str = "vigia-ai.live-test";
/// The project's broker.
const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[tokio::test]
async fn a_published_clip_gives_its_plate_and_a_watchlist_alert_on_the_broker() {
    let unique = format!(
        "live-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&unique);
    let (clip, plate) = render(&python(), &tmp.join("clip"));

    let (listeners, rtsp, _) = vigia::listeners();
    let vigia = Vigia::spawn(
        "ai-live-vigia",
        &format!("{listeners}paths:\n  all_others:\n"),
        &[],
    );
    vigia.wait_listening(rtsp, Duration::from_secs(20)).await;

    let (street, h265, absent) = (
        format!("{unique}-street"),
        format!("{unique}-h265"),
        format!("{unique}-absent"),
    );
    let street_pub = publish_looped(&clip, rtsp, &street);
    let h265_pub = publish(
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=10",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
        ],
        rtsp,
        &h265,
    );
    for path in [&street, &h265] {
        let needle = format!("path={path}");
        let start = Instant::now();
        while lines_with(&vigia.logs(), &["is publishing", &needle]) == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ffmpeg does not publish {path}:\n{}",
                vigia.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let (mut rx, _conn) = listen(EXCHANGE, unique.clone()).await;
    std::fs::create_dir_all(&tmp).unwrap();
    let watchlist = tmp.join("watchlist.yml");
    std::fs::write(
        &watchlist,
        format!("plates:\n  - plate: {plate}\n    reason: stolen, live test\n"),
    )
    .unwrap();
    let log_path = tmp.join("vigia-ai.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut ai = Killed(
        Command::new(env!("CARGO_BIN_EXE_vigia-ai"))
            .arg("run")
            .env("VIGIA_AI_CAMERAS", format!("{street},{h265},{absent}"))
            .env("VIGIA_AI_RTSP", format!("rtsp://127.0.0.1:{rtsp}"))
            .env("VIGIA_EVENTSURL", BROKER)
            .env("VIGIA_AI_EXCHANGE", EXCHANGE)
            .env("VIGIA_AI_STATE_DIR", tmp.join("state"))
            .env("VIGIA_AI_WATCHLIST", &watchlist)
            .env("VIGIA_AI_SNAPSHOTS", tmp.join("snapshots"))
            // Not the default 127.0.0.1:9120, which a vigia-ai running here may hold.
            .env("VIGIA_AI_HTTP", "none")
            .env("RUST_LOG", "info,vigia_ai=debug")
            .stdin(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let ai_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // The plate's first pass: a detection and its alert. The clip loops every 10 s and the car
    // is in the picture from 1.5 s to 6.5 s of each loop; later loops are the parked-car
    // suppression's (5 min) and give nothing.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while got.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(e)) => got.push(e),
            _ => panic!(
                "two events within 90 s, got {got:?}\nvigia-ai:\n{}\nvigia:\n{}",
                ai_log(),
                vigia.logs()
            ),
        }
    }
    let detection = got.iter().find_map(|e| match &e.data {
        EventData::LprDetected(d) => Some((e, d)),
        _ => None,
    });
    let (detection_event, d) = detection.unwrap_or_else(|| panic!("no lpr.detected in {got:?}"));
    assert_eq!(d.plate.as_str(), plate, "{got:?}");
    assert_eq!(d.camera_id, street);
    assert_eq!(d.format, Some(PlateFormat::of(&d.plate)), "{d:?}");
    // Where the plate was: a plate-shaped box inside the 1280x720 picture.
    let b = d
        .bounding_box
        .unwrap_or_else(|| panic!("no boundingBox: {d:?}"));
    assert!(
        b.x + b.width <= 1280 && b.y + b.height <= 720 && b.width > b.height && b.height >= 10,
        "{b:?}"
    );
    // Its snapshot: a JPEG in the snapshot directory, under the key the event names.
    let key = d
        .snapshot_key
        .as_deref()
        .unwrap_or_else(|| panic!("no snapshotKey: {d:?}"));
    assert!(key.starts_with(&format!("lpr/{street}/")), "{key}");
    let jpeg = std::fs::read(tmp.join("snapshots").join(key)).unwrap();
    assert!(
        jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.ends_with(&[0xFF, 0xD9]),
        "{key}"
    );
    let age = chrono::Utc::now() - d.detected_at;
    assert!(
        age < chrono::TimeDelta::seconds(90) && age > chrono::TimeDelta::zero(),
        "detected at {} (the frame's wall clock)",
        d.detected_at
    );
    let alert = got.iter().find_map(|e| match &e.data {
        EventData::AlertTriggered(a) => Some(a),
        _ => None,
    });
    let alert = alert.unwrap_or_else(|| panic!("no alert.triggered in {got:?}"));
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        ("plate_watchlist", Severity::Critical)
    );
    assert_eq!(alert.cause_event_id.as_ref(), Some(&detection_event.id));

    // The other two paths: one line each, however many retries (1 s, 2 s, 4 s... apart) ran.
    let log = ai_log();
    assert_eq!(
        lines_with(&log, &["camera offline", &h265, "not H.264 (H265)"]),
        1,
        "{log}"
    );
    assert_eq!(
        lines_with(&log, &["camera offline", &absent, "not found"]),
        1,
        "{log}"
    );
    assert_eq!(
        lines_with(&log, &["reading keyframes", &street]),
        1,
        "{log}"
    );
    assert!(
        ai.0.try_wait().unwrap().is_none(),
        "vigia-ai is still running"
    );
    print_figures(&log);

    // The absent camera comes online: the reader's next attempt (1, 2, 4, 8, 16 s apart) plays it.
    let absent_pub = publish(
        &[
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=10",
            "-c:v",
            "libx264",
            "-g",
            "10",
        ],
        rtsp,
        &absent,
    );
    let start = Instant::now();
    while lines_with(&ai_log(), &["reading keyframes", &absent]) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{absent} is not read once published:\n{}",
            ai_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Vigia sends its readers RTCP sender reports: keyframes are dated by them.
    assert_eq!(
        lines_with(&ai_log(), &["dated by the sender's RTCP reports", &street]),
        1,
        "{}",
        ai_log()
    );

    // SIGTERM: it stops by itself, after the broker's confirms.
    let status = ai.terminate().await;
    assert!(status.success(), "{status}\n{}", ai_log());
    // Nothing more for this run's cameras.
    let extra = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(matches!(extra, Err(_) | Ok(None)), "unexpected {extra:?}");
    drop((street_pub, h265_pub, absent_pub));
    drop(vigia);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Prints the mean stage times of the `debug` lines of `log` (a figure for the README).
fn print_figures(log: &str) {
    let mut sums: [(f64, u32); 3] = [(0.0, 0); 3];
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        for (i, key) in ["decode_ms", "det_ms", "rec_ms"].iter().enumerate() {
            if let Some(ms) = v["fields"][key].as_f64() {
                sums[i].0 += ms;
                sums[i].1 += 1;
            }
        }
    }
    let mean = |(sum, n): (f64, u32)| sum / f64::from(n.max(1));
    eprintln!(
        "per 1280x720 keyframe: decode {:.0} ms ({} keyframes), detection {:.0} ms, recognition {:.0} ms ({} pictures)",
        mean(sums[0]),
        sums[0].1,
        mean(sums[1]),
        mean(sums[2]),
        sums[1].1
    );
}

#[test]
fn run_without_cameras_or_models_says_what_is_missing() {
    let dir = std::env::temp_dir().join(format!("vigia-ai-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vigia-ai"))
            .arg("run")
            .env("VIGIA_EVENTSURL", "")
            .env("VIGIA_AI_STATE_DIR", &dir)
            .env_remove("VIGIA_AI_CAMERAS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let log = run(&[]);
    assert!(log.contains("VIGIA_AI_CAMERAS: no cameras"), "{log}");
    let empty = dir.join("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let log = run(&[
        ("VIGIA_AI_CAMERAS", "cam1"),
        ("VIGIA_AI_MODELS", empty.to_str().unwrap()),
    ]);
    assert!(
        log.contains("libonnxruntime.so.1.31.1: missing; run sidecars/ai/setup-models.sh"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
