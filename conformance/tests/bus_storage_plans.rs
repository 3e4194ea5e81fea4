//! A city's storage plan from the bus, against the real broker at 127.0.0.1:5672: a recorded
//! camera from a `camera.created` (plan: 30 days) keeps a 10-day-old segment; a
//! `city.storage_plan_changed` of its city to 5 days makes the recorder's retention delete that
//! segment, without restarting the camera's path and without touching recent segments.
//!
//! The 10-day-old segment is one of the camera's own recorded segments, copied under a name
//! dated 10 days back in the local store; the playback `/list` indexes it (a node indexes the
//! segments its store has and its journal lacks on the first request for a path).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use vigia_conformance::{Ports, TempDir, Vigia, eventually, free_port, http};

use vigia_conformance::bus::{BROKER, BusNode, camera, event, publish, unique, unix_ms};

/// Ten days, in seconds: the age of the copied segment.
const TEN_DAYS_S: u64 = 10 * 86_400;

#[test]
fn a_city_plan_shortens_the_retention_of_its_cameras() {
    let camera_ports = Ports::fresh();
    let camera_config = format!(
        "{}paths:\n  demo:\n    source: synthetic\n",
        camera_ports.yaml()
    );
    let _camera = Vigia::start(&camera_config, camera_ports.rtsp);

    let (ports, playback, store) = (
        Ports::fresh(),
        free_port(),
        TempDir::new("vigia-plan-store"),
    );
    let config = format!(
        "{}eventsURL: {}\nplayback: yes\nplaybackAddress: 127.0.0.1:{playback}\n\
         pathDefaults:\n  recordSegmentDuration: 1s\n  recordPath: {}/%path/%s-%f\n",
        ports.yaml(),
        BROKER,
        store.path().display()
    );
    let bus = BusNode::start(&config, ports.rtsp);
    let vigia = &bus.vigia;

    let (cam, city, events) = (
        unique("cam"),
        unique("city"),
        TempDir::new("vigia-plan-events"),
    );
    let created_ms = unix_ms();
    let mut data = camera(&cam, &camera_ports.rtsp_url("demo"));
    data["cityId"] = json!(city);
    data["record"] = json!(true);
    data["storagePlan"] = json!({"planId": "plan-30", "retentionDays": 30});
    publish(
        &events,
        &event(
            "camera.created",
            &unique("ev"),
            created_ms,
            &unique("corr"),
            data,
        ),
    );

    let segments = store.path().join(&cam);
    let recent = eventually(Duration::from_secs(20), || completed_segment(&segments))
        .unwrap_or_else(|| panic!("no segment recorded:\n{}", vigia.logs()));
    let old = backdate(&recent, TEN_DAYS_S);
    let listed_old = |p: u16| spans(p, &cam).iter().any(|s| is_days_old(s, 9));
    assert!(
        eventually(Duration::from_secs(10), || listed_old(playback)
            .then_some(()))
        .is_some(),
        "the backdated segment is listed: {:?}\n{}",
        spans(playback, &cam),
        vigia.logs()
    );
    // Two retention passes (every 5 s) under the 30-day plan keep it.
    std::thread::sleep(Duration::from_secs(11));
    assert!(old.exists(), "a 10-day-old segment outlived a 30-day plan");

    let plan = json!({
        "cityId": city,
        "cityHallCnpj": "11222333000181",
        "storagePlan": {"planId": "plan-5", "retentionDays": 5},
    });
    let plan_ms = unix_ms().max(created_ms + 1);
    publish(
        &events,
        &event(
            "city.storage_plan_changed",
            &unique("ev"),
            plan_ms,
            &unique("corr"),
            plan,
        ),
    );
    let gone = eventually(Duration::from_secs(15), || (!old.exists()).then_some(()));
    assert!(
        gone.is_some(),
        "the 5-day plan deleted the 10-day-old segment:\n{}",
        vigia.logs()
    );
    assert!(!listed_old(playback), "{:?}", spans(playback, &cam));
    assert!(recent.exists(), "recent segments are kept");
    let logs = vigia.logs();
    assert!(
        logs.contains("camera keeps recordings 5 days"),
        "the plan change is logged:\n{logs}"
    );
    assert_eq!(
        logs.matches("camera added").count() + logs.matches("camera updated").count(),
        1,
        "the plan change did not restart the path:\n{logs}"
    );
}

/// A segment of `dir` that is complete: the recorder is already writing a later one.
fn completed_segment(dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    files.sort();
    (files.len() >= 2).then(|| files[0].clone())
}

/// Copies `segment` (named `<unix seconds>-<micros>.mp4` by `%s-%f`) to a name `age_s` older.
fn backdate(segment: &Path, age_s: u64) -> PathBuf {
    let name = segment
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (secs, rest) = name.split_once('-').expect("a %s-%f segment name");
    let secs: u64 = secs.parse().expect("unix seconds in the segment name");
    let old = segment.with_file_name(format!("{}-{rest}", secs - age_s));
    std::fs::copy(segment, &old).expect("copy the segment");
    old
}

/// The spans `/list` answers for `path` (none on an error).
fn spans(port: u16, path: &str) -> Vec<Value> {
    http::get(port, &format!("/list?path={path}"), &[])
        .filter(|r| r.status == 200)
        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// Whether `span` starts more than `days` days ago.
fn is_days_old(span: &Value, days: i64) -> bool {
    let start = span["start"].as_str().unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(start)
        .is_ok_and(|t| chrono::Utc::now().signed_duration_since(t).num_days() >= days)
}
