//! A day's worth of plate events at an accelerated rate: 10,000 passes (20,000 reads over 24
//! simulated hours on 10 cameras) replayed through `vigia-ai replay` reach the real RabbitMQ as
//! exactly 10,000 `lpr.detected` events, none lost or doubled. They go to an exchange of the
//! test's own ([`LOAD_EXCHANGE`]), not `vigia.events`: durable queues bound there (Cidades')
//! would keep 10,000 test events per run.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{listen, replay};
use vigia_events::EventData;

/// The exchange the load goes to.
const LOAD_EXCHANGE: &str = "vigia-ai.load-test";
const PASSES: usize = 10_000;
const CAMERAS: usize = 10;

/// A distinct plate per index (Mercosul shape): three letters, digit, letter, two digits.
fn plate(i: usize) -> String {
    let l = |n: usize| (b'A' + (n % 26) as u8) as char;
    format!(
        "{}{}{}{}{}{:02}",
        l(i / 2600 / 26 / 26),
        l(i / 2600 / 26),
        l(i / 2600),
        (i / 260) % 10,
        l(i / 10),
        (i % 10) * 7 % 100
    )
}

/// Two reads per pass, 0.5 s apart; each camera sees a car every 86.4 s over a day.
fn day_of_reads(prefix: &str) -> String {
    let start = chrono::Utc::now() - chrono::TimeDelta::days(2);
    let per_camera = PASSES / CAMERAS;
    let gap_ms = 86_400_000 / per_camera as i64;
    let mut lines = String::new();
    for k in 0..per_camera {
        for c in 0..CAMERAS {
            let i = k * CAMERAS + c;
            for (r, offset_ms) in [0i64, 500].into_iter().enumerate() {
                let at = start + chrono::TimeDelta::milliseconds(k as i64 * gap_ms + offset_ms);
                let line = serde_json::json!({"cameraId": format!("{prefix}{c}"),
                    "text": plate(i), "confidence": 0.8 + 0.1 * r as f64,
                    "at": at.to_rfc3339(), "frame": k * 2 + r});
                lines.push_str(&format!("{line}\n"));
            }
        }
    }
    lines
}

#[test]
fn plates_are_distinct() {
    let all: HashSet<String> = (0..PASSES).map(plate).collect();
    assert_eq!(all.len(), PASSES);
    for p in &all {
        assert!(
            vigia_ai::plate::read_plate(p).is_ok_and(|r| r.fixes == 0),
            "{p}"
        );
    }
}

#[tokio::test]
async fn ten_thousand_detections_a_day_arrive_without_loss() {
    let prefix = format!(
        "ai-load-{}-{}-",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let (mut rx, _conn) = listen(LOAD_EXCHANGE, prefix.clone()).await;
    let dir = std::env::temp_dir().join(format!("vigia-ai-{prefix}"));
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let status = replay(day_of_reads(&prefix), LOAD_EXCHANGE, &dir, None).await;
    assert!(status.success(), "vigia-ai replay: {status}");

    let (mut ids, mut plates) = (HashSet::new(), HashSet::new());
    while plates.len() < PASSES {
        let e = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {PASSES} detections arrived", plates.len()))
            .unwrap();
        let EventData::LprDetected(d) = &e.data else {
            panic!("unexpected {e:?}")
        };
        assert!(ids.insert(e.id.clone()), "event {} twice", e.id);
        assert!(
            plates.insert(d.plate.to_string()),
            "plate {} reported twice",
            d.plate
        );
    }
    let extra = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(extra.is_err(), "more than {PASSES} events: {extra:?}");
    eprintln!(
        "{PASSES} detections replayed and received in {:?}",
        started.elapsed()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
