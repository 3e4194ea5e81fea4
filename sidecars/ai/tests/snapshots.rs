//! Snapshots against a real S3-protocol server (`s3s-fs`, from `scripts/install-deps.sh`): the
//! pipeline's detections, their crops stored through `SnapshotStore` as `vigia-ai run` does, the
//! key in `snapshotKey` and the object read back; and a store that is down or refuses still
//! lets every detection out at once, without a key.

#[path = "common/s3.rs"]
mod s3;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use vigia_ai::decode::Picture;
use vigia_ai::ocr::BBox;
use vigia_ai::pass::PassConfig;
use vigia_ai::pipeline::{OcrRead, Output, Pipeline};
use vigia_ai::snapshot::store::{Attached, PUT_LIMIT, SnapshotStore};
use vigia_ai::snapshot::{Jpeg, plate_snapshot};
use vigia_ai::watchlist::Watchlist;
use vigia_events::{Event, EventData};

use s3::S3Server;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-03T14:00:00Z")
        .unwrap()
        .to_utc()
}

/// A 640x360 picture (a gradient) and the crop around a 120x35 "plate" at `x`.
fn snapshot(x: u32) -> Jpeg {
    let (width, height) = (640usize, 360usize);
    let mut rgb = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            rgb.extend_from_slice(&[(x / 3) as u8, (y / 2) as u8, 90]);
        }
    }
    let picture = Picture {
        width,
        height,
        luma: vec![0; width * height],
        rgb,
    };
    let text = BBox {
        x0: x,
        y0: 200,
        x1: x + 120,
        y1: 235,
    };
    plate_snapshot(&picture, text).unwrap()
}

/// Three reads of ABC1D23 on `camera` with crops; the second is the best.
fn reads(camera: &str) -> (Vec<OcrRead>, Jpeg) {
    let best = snapshot(300);
    let read = |ms: i64, confidence: f64, jpeg: Jpeg| OcrRead {
        camera_id: camera.into(),
        text: "ABC-1D23".into(),
        confidence,
        at: t0() + TimeDelta::milliseconds(ms),
        frame: ms as u64,
        snapshot: Some(jpeg),
        bounding_box: None,
    };
    let reads = vec![
        read(0, 0.7, snapshot(100)),
        read(500, 0.95, best.clone()),
        read(1000, 0.8, snapshot(500)),
    ];
    (reads, best)
}

/// Runs the reads through a pipeline (ABC1D23 watch-listed) and each output through `store`
/// as `vigia-ai run` does: (event, what attach did), in order.
async fn run(reads: Vec<OcrRead>, store: &mut SnapshotStore) -> Vec<(Event, Attached)> {
    let list = Watchlist::parse("plates:\n  - plate: ABC1D23\n    reason: test\n", "w").unwrap();
    let mut pipeline = Pipeline::new(PassConfig::default(), list);
    let end = reads.iter().map(|r| r.at).max().unwrap() + TimeDelta::seconds(10);
    for r in reads {
        pipeline.handle_ocr(r);
    }
    pipeline.handle_timeout(end);
    let mut out = Vec::new();
    while let Some(Output {
        mut event,
        snapshot,
    }) = pipeline.poll_output()
    {
        let attached = store.attach(&mut event, snapshot.as_ref()).await;
        out.push((event, attached));
    }
    out
}

fn snapshot_key(event: &Event) -> Option<&str> {
    match &event.data {
        EventData::LprDetected(d) => d.snapshot_key.as_deref(),
        _ => None,
    }
}

/// (width, height) of a JPEG's frame, after checking its SOI and EOI markers.
fn jpeg_size(jpeg: &[u8]) -> (usize, usize) {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8], "SOI");
    assert_eq!(&jpeg[jpeg.len() - 2..], [0xFF, 0xD9], "EOI");
    let mut i = 2;
    while i + 9 < jpeg.len() {
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xC2).contains(&jpeg[i + 1]) {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return (usize::from(w), usize::from(h));
        }
        i += 2 + len;
    }
    panic!("no SOF segment");
}

#[tokio::test]
async fn a_detection_names_its_snapshot_stored_in_s3() {
    let server = S3Server::start("snaps");
    let mut store = SnapshotStore::s3(server.builder(), "snaps", "vigia/ai").unwrap();
    let (reads, best) = reads("cam-s3");
    let out = run(reads, &mut store).await;
    let kinds: Vec<_> = out
        .iter()
        .map(|(e, _)| e.event_type().to_string())
        .collect();
    assert_eq!(kinds, ["lpr.detected", "alert.triggered"]);
    let (detection, attached) = &out[0];
    let want = format!("vigia/ai/lpr/cam-s3/2026-12-03/{}.jpg", detection.id);
    assert_eq!(attached, &Attached::Stored(want.clone()));
    assert_eq!(snapshot_key(detection), Some(want.as_str()));
    assert_eq!(detection.to_json()["data"]["snapshotKey"], want.as_str());
    assert_eq!(out[1].1, Attached::Nothing);
    // Read back through the S3 API with a client of its own: the best read's crop, a JPEG
    // of the plate's context (120x35 grown by 180 a side and 140 above and below, cut at
    // the picture's edges).
    let client = server.builder().with_bucket_name("snaps").build().unwrap();
    let object = client.get(&Path::from(want.as_str())).await;
    let got = object
        .unwrap_or_else(|e| panic!("GET {want}: {e}\n{}", server.logs()))
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, best.0);
    assert_eq!(jpeg_size(&got), (480, 300));
    assert_eq!(store.stats().stored, 1);
}

#[tokio::test]
async fn a_store_that_is_down_or_refuses_lets_the_detection_out_without_a_key() {
    let server = S3Server::start("snaps");
    let down = s3::free_port();
    let unreachable = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{down}"))
        .with_region("us-east-1")
        .with_access_key_id("x")
        .with_secret_access_key("y")
        .with_allow_http(true);
    let refusing = server.builder().with_secret_access_key("wrong");
    for (name, builder) in [("down", unreachable), ("wrong secret", refusing)] {
        let mut store = SnapshotStore::s3(builder, "snaps", "").unwrap();
        let started = Instant::now();
        let (first, _) = reads("cam-down");
        let out = run(first, &mut store).await;
        let took = started.elapsed();
        assert_eq!(out.len(), 2, "{name}: detection and alert");
        let (detection, attached) = &out[0];
        assert_eq!(attached, &Attached::Failed, "{name}");
        assert_eq!(snapshot_key(detection), None, "{name}");
        assert!(detection.to_json()["data"].get("snapshotKey").is_none());
        assert!(
            took < PUT_LIMIT + Duration::from_secs(1),
            "{name}: {took:?}"
        );
        // Right after a failure the store is left alone: the next detection goes at once.
        let started = Instant::now();
        let (mut second, _) = reads("cam-down-2");
        for r in &mut second {
            r.at += TimeDelta::minutes(1);
        }
        let out = run(second, &mut store).await;
        assert_eq!(out[0].1, Attached::Failed, "{name}");
        assert!(started.elapsed() < Duration::from_millis(500), "{name}");
        assert_eq!(store.stats().failed, 2, "{name}");
    }
    // Nothing reached the bucket.
    let client = server.builder().with_bucket_name("snaps").build().unwrap();
    let listed: Vec<_> = futures::TryStreamExt::try_collect(client.list(None))
        .await
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}
