//! `vigia-ai run` fed by the bus, end to end on a real `vigia` and the real RabbitMQ
//! (127.0.0.1:5672), on an exchange and a queue of the test's own:
//!
//! - with `VIGIA_AI_CAMERAS=all` it reads no camera until `camera.created` announces one; then
//!   it reads `<VIGIA_AI_RTSP>/<cameraId>`, where the test publishes a rendered street clip, and
//!   the clip's plate arrives as `lpr.detected`;
//! - `/metrics` counts the detection, the camera's keyframes and stage times, `ai_camera_up`;
//!   `/ready` answers once the models are loaded and the consumer reached the broker;
//! - a malformed message on the bus goes to the queue's DLQ with a log line, nothing stops;
//! - with `city.storage_plan_changed` (the CNPJ), `camera.created` (the city) and
//!   `recording.stopped` (1 h), then a restart (SIGTERM, start again on the same state dir),
//!   then another `recording.stopped` (1 h) and the camera's detection, the day closes at local
//!   midnight plus `VIGIA_AI_REPORT_GRACE` (1 s) by the wall clock, the camera silent by then,
//!   and `analytics.daily_report` arrives with both halves: the detection, the camera and the
//!   two hours (`report-state.json` kept the first);
//!   `VIGIA_AI_CLOCK_OFFSET` (for tests) starts the service's clock 100 s before São Paulo's
//!   next midnight, so the day closes during the test;
//! - `camera.deleted` stops the reader; SIGTERM stops the service cleanly; the state file keeps
//!   the city's CNPJ for the next start.
//!
//! Needs what tests/live.rs needs (ffmpeg, the clip generator's Python, the OCR models, a
//! release `vigia`). Takes about two minutes.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "common/live.rs"]
mod live_setup;
mod python;
#[path = "../../test-support/vigia.rs"]
mod vigia;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use vigia_ai::report::{day_end, local_date};
use vigia_events::{Event, EventData, EventType, topology};

use common::{BROKER, listen_to};
use live_setup::{Killed, lines_with, publish_looped, render};
use python::python;
use vigia::Vigia;

/// The exchange of this test's events.
const EXCHANGE: &str = "vigia-ai.bus-test";

#[tokio::test]
async fn bus_cameras_are_read_and_their_city_gets_its_daily_report() {
    let unique = format!(
        "bus-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&unique);
    let (clip, plate) = render(&python(), &tmp.join("clip"));
    let (camera, city, queue) = (
        format!("{unique}-cam"),
        format!("{unique}-city"),
        format!("vigia.ai.test-{unique}"),
    );

    let (listeners, rtsp, _) = vigia::listeners();
    let vigia = Vigia::spawn(
        "ai-bus-vigia",
        &format!("{listeners}paths:\n  all_others:\n"),
        &[],
    );
    vigia.wait_listening(rtsp, Duration::from_secs(20)).await;

    let (mut rx, conn) = listen_to(
        EXCHANGE,
        unique.clone(),
        &["lpr.detected", "alert.triggered", "analytics.daily_report"],
    )
    .await;
    let ch = conn.create_channel().await.unwrap();

    // The service's clock: 100 s before the next midnight in São Paulo.
    let now = Utc::now();
    let midnight = day_end(local_date(now));
    let offset = (midnight - TimeDelta::seconds(100)) - now;
    let http = vigia::free_port(false);
    std::fs::create_dir_all(&tmp).unwrap();
    // The first run's log, then the second's (after the restart).
    let log_paths = [tmp.join("vigia-ai.log"), tmp.join("vigia-ai-2.log")];
    let start_ai = |log: &Path| {
        Killed(
            Command::new(env!("CARGO_BIN_EXE_vigia-ai"))
                .arg("run")
                .env("VIGIA_AI_CAMERAS", "all")
                .env("VIGIA_AI_RTSP", format!("rtsp://127.0.0.1:{rtsp}"))
                .env("VIGIA_EVENTSURL", BROKER)
                .env("VIGIA_AI_EXCHANGE", EXCHANGE)
                .env("VIGIA_AI_QUEUE", &queue)
                .env("VIGIA_AI_STATE_DIR", tmp.join("state"))
                .env("VIGIA_AI_HTTP", format!("127.0.0.1:{http}"))
                .env("VIGIA_AI_REPORT_GRACE", "1s")
                .env("VIGIA_AI_CLOCK_OFFSET", offset.num_seconds().to_string())
                .env_remove("VIGIA_AI_WATCHLIST")
                .stdin(Stdio::null())
                .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
                .spawn()
                .unwrap(),
        )
    };
    let mut ai = start_ai(&log_paths[0]);
    let ai_log = || {
        log_paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<String>()
    };
    let shifted = |t: DateTime<Utc>| t + TimeDelta::seconds(offset.num_seconds());

    wait_ready(http, &ai_log).await;
    assert!(get(http, "/health").unwrap().contains("ok"));
    assert_eq!(lines_with(&ai_log(), &["reading keyframes"]), 0);

    // A malformed message: to the DLQ, logged, and the service goes on.
    publish_raw(&ch, "camera.created", b"{\"not\": \"an event\"}").await;
    // The city's plan (its CNPJ), the camera, an hour of recording that day.
    let examples = vigia_events::examples();
    let example = |ty: EventType| examples.iter().find(|e| e.event_type() == ty).unwrap();
    let mut plan = example(EventType::CityStoragePlanChanged).data.clone();
    if let EventData::CityStoragePlanChanged(p) = &mut plan {
        p.city_id = city.clone();
    }
    let mut created = example(EventType::CameraCreated).data.clone();
    if let EventData::CameraCreated(c) = &mut created {
        (c.camera_id, c.city_id) = (camera.clone(), city.clone());
    }
    let mut recording = example(EventType::RecordingStopped).data.clone();
    if let EventData::RecordingStopped(r) = &mut recording {
        (r.camera_id, r.path) = (camera.clone(), camera.clone());
        r.recording_id = format!("{unique}-rec");
        r.started_at = shifted(now) - TimeDelta::hours(2);
        r.stopped_at = shifted(now) - TimeDelta::hours(1);
    }
    let mut second_recording = recording.clone();
    for data in [plan, created, recording] {
        publish_event(&ch, Event::new("cidades", data)).await;
    }

    // Restarted once those are applied (the camera is not published yet, so nothing is read):
    // the first half of the day's figures, an hour recorded, is in report-state.json.
    let start = Instant::now();
    while !get(http, "/metrics").is_some_and(|m| m.contains("ai_bus_events_total 3\n")) {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", ai_log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = ai.terminate().await;
    assert!(status.success(), "{status}\n{}", ai_log());
    let kept = read_json(&tmp.join("state/report-state.json"));
    let day = &kept["reports"]["days"][0];
    assert_eq!(day["cityId"], serde_json::json!(city), "{kept}");
    assert_eq!(day["tally"]["recordingSeconds"], 3600.0, "{kept}");
    let street = publish_looped(&clip, rtsp, &camera);
    let mut ai = start_ai(&log_paths[1]);
    wait_ready(http, &ai_log).await;
    let restored = [
        "daily figures restored",
        "\"open_days\":1",
        "\"reported\":0",
    ];
    assert_eq!(lines_with(&ai_log(), &restored), 1, "{}", ai_log());
    // The second half: another hour recorded, and the camera's plate.
    if let EventData::RecordingStopped(r) = &mut second_recording {
        r.recording_id = format!("{unique}-rec-2");
        r.started_at -= TimeDelta::hours(2);
        r.stopped_at -= TimeDelta::hours(2);
    }
    publish_event(&ch, Event::new("cidades", second_recording)).await;

    // The camera is read and its plate detected.
    let detection = next_event(&mut rx, Duration::from_secs(80), &ai_log).await;
    let EventData::LprDetected(d) = &detection.data else {
        panic!("expected lpr.detected, got {detection:?}");
    };
    assert_eq!(
        (d.plate.as_str(), d.camera_id.as_str()),
        (plate.as_str(), camera.as_str())
    );
    assert!(
        d.detected_at < midnight,
        "detected at {} (shifted clock)",
        d.detected_at
    );
    let log = ai_log();
    assert_eq!(
        lines_with(&log, &["camera announced on the bus", &camera]),
        1,
        "{log}"
    );
    assert_eq!(
        lines_with(&log, &["malformed message to DLQ", &queue]),
        1,
        "{log}"
    );
    let dlq = ch
        .queue_declare(
            topology::dlq(&queue).as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        dlq.message_count(),
        1,
        "the malformed message is in the DLQ"
    );

    let metrics = get(http, "/metrics").unwrap();
    let cam = format!("camera=\"{camera}\"");
    assert!(metrics.contains("ai_lpr_detections_total 1\n"), "{metrics}");
    assert!(
        metrics.contains("ai_bus_events_total 1\n"),
        "after the restart: {metrics}"
    );
    assert!(has(&metrics, &["ai_camera_up{", &cam, "} 1"]), "{metrics}");
    assert!(
        has(&metrics, &["ai_keyframes_total{", &cam, "sampled"]),
        "{metrics}"
    );
    for stage in ["decode", "detect", "recognize"] {
        let stage = format!("stage=\"{stage}\"");
        assert!(
            has(&metrics, &["ai_inference_seconds_count{", &cam, &stage]),
            "{metrics}"
        );
    }

    // The camera goes quiet (no frames, so no frame time passes), and the day still closes
    // (midnight by the shifted wall clock, plus 1 s): the city's report.
    drop(street);
    let report = next_event(&mut rx, Duration::from_secs(100), &ai_log).await;
    let EventData::AnalyticsDailyReport(r) = &report.data else {
        panic!("expected analytics.daily_report, got {report:?}");
    };
    assert_eq!(
        (r.city_id.as_str(), r.date),
        (city.as_str(), local_date(shifted(now)))
    );
    assert_eq!((r.lpr_detections, r.alerts, r.cameras_online), (1, 0, 1));
    assert_eq!(r.distinct_plates, Some(1));
    assert_eq!(
        r.lpr_detections_per_camera,
        Some([(camera.clone(), 1)].into())
    );
    assert_eq!(r.recording_hours, 2.0, "both halves");

    // The camera is deleted: no longer read.
    let deleted = vigia_events::CameraDeleted {
        camera_id: camera.clone(),
        city_id: city.clone(),
    };
    publish_event(
        &ch,
        Event::new("cidades", EventData::CameraDeleted(deleted)),
    )
    .await;
    let start = Instant::now();
    while lines_with(&ai_log(), &["camera deleted on the bus", &camera]) == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", ai_log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = get(http, "/metrics").unwrap();
    assert!(!has(&metrics, &["ai_camera_up{", &cam]), "{metrics}");

    // SIGTERM: a clean stop.
    let status = ai.terminate().await;
    assert!(status.success(), "{status}\n{}", ai_log());
    assert_eq!(lines_with(&ai_log(), &["panicked"]), 0);
    // What it keeps across restarts: the city's CNPJ; the deleted camera is gone.
    let state = read_json(&tmp.join("state/bus-state.json"));
    assert!(state["known"]["cityCnpjs"][&city].is_string(), "{state}");
    assert!(
        state["known"]["cameraCities"].get(&camera).is_none(),
        "{state}"
    );
    assert_eq!(state["cameras"], serde_json::json!([]), "{state}");
    // The day was reported: nothing of it is left to report after a restart.
    let kept = read_json(&tmp.join("state/report-state.json"));
    assert_eq!(kept["reports"]["days"], serde_json::json!([]), "{kept}");

    let mut queues = vec![queue.clone(), topology::dlq(&queue)];
    queues.extend([1, 2, 4].map(|s| topology::retry_queue(&queue, Duration::from_secs(s))));
    for q in queues {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    drop(vigia);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Waits (30 s at most) for `/ready` on `http`: models loaded, queue declared and bound.
async fn wait_ready(http: u16, log: &impl Fn() -> String) {
    let start = Instant::now();
    while get(http, "/ready").is_none_or(|r| !r.starts_with("HTTP/1.1 200")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not ready:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The JSON of the file at `path`.
fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The next event of `rx` within `within`.
async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    within: Duration,
    log: &impl Fn() -> String,
) -> Event {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Some(e)) => e,
        _ => panic!("no event within {within:?}\nvigia-ai:\n{}", log()),
    }
}

/// Publishes `event` to the test's exchange with its type as the routing key.
async fn publish_event(ch: &Channel, event: Event) {
    publish_raw(ch, event.event_type().as_str(), &event.to_bytes()).await;
}

/// Publishes `body` to the test's exchange with routing key `key`, persistent, confirmed.
async fn publish_raw(ch: &Channel, key: &str, body: &[u8]) {
    ch.basic_publish(
        EXCHANGE.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        BasicProperties::default().with_delivery_mode(2),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

/// Whether a line of `text` contains every one of `needles`.
fn has(text: &str, needles: &[&str]) -> bool {
    lines_with(text, needles) > 0
}

/// The whole answer (status line, headers, body) to `GET <path>` on 127.0.0.1:`port`; `None`
/// when nothing listens.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    Some(answer)
}
