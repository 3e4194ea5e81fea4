//! Recording to a real S3-protocol server (s3s-fs) and to a local directory: segments stored,
//! no frame lost across an S3 outage, a SIGKILL loses nothing that was fsynced, retention,
//! and clear errors for an unreachable S3, wrong credentials and a full spool.

use std::thread::sleep;
use std::time::{Duration, Instant};

use vigia_conformance::clips::Clip;
use vigia_conformance::recordings::{SegmentProbe, probe_bytes, probe_segment};
use vigia_conformance::s3::S3Server;
use vigia_conformance::{Background, Ports, TempDir, Vigia, eventually};

const BUCKET: &str = "recordings";

/// The config lines every test shares: ports, the spool in `spool`, recording settings.
fn config(ports: &Ports, spool: &TempDir, extra: &str) -> String {
    format!(
        "{}recordSpoolDirectory: {}\n{extra}",
        ports.yaml(),
        spool.path().join("spool").display()
    )
}

fn start(config: &str, env: &[(&str, &str)], rtsp: u16) -> Vigia {
    let dir = TempDir::new("vigia-rec");
    std::fs::write(dir.path().join("vigia.yml"), config).expect("write config");
    Vigia::spawn(dir, &["vigia.yml"], env, rtsp)
}

/// ffmpeg publishing the H.264+AAC clip `loops` times (12 s each) in real time, then exiting.
fn publish_finite(url: &str, loops: u32) -> Background {
    let mut args = Clip::H264Aac.publish_args(url, "tcp");
    if let Some(i) = args.iter().position(|a| a == "-stream_loop") {
        args[i + 1] = (loops - 1).to_string();
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    Background::start("ffmpeg", &argv)
}

/// Every stored segment under `prefix`, probed.
fn stored(s3: &S3Server, prefix: &str) -> Vec<(String, SegmentProbe)> {
    s3.objects(prefix)
        .into_iter()
        .map(|(key, _)| {
            let probe = probe_bytes(&s3.get(&key));
            (key, probe)
        })
        .collect()
}

/// `pathDefaults` recording to the test bucket with `defaults` (indented key lines) added, and
/// one recorded publisher path, `cam`.
fn one_s3_camera(defaults: &str) -> String {
    format!(
        "pathDefaults:\n  recordPath: s3://{BUCKET}/%path/%s-%f\n{defaults}paths:\n  cam:\n    record: yes\n"
    )
}

/// Fails unless `text` shows up in the logs within `secs`.
fn expect_log(vigia: &Vigia, text: &str, secs: u64) {
    let found = vigia.logs_soon_contain(text, Duration::from_secs(secs));
    assert!(found, "no {text:?} in the logs:\n{}", vigia.logs());
}

fn total_duration(segments: &[(String, SegmentProbe)]) -> f64 {
    segments.iter().map(|(_, p)| p.duration).sum()
}

fn assert_clean(segments: &[(String, SegmentProbe)]) {
    for (key, probe) in segments {
        assert!(probe.video_frames > 0, "{key}: no video: {probe:?}");
        assert!(
            probe.errors.trim().is_empty(),
            "{key}: ffprobe: {}",
            probe.errors
        );
    }
}

#[test]
fn a_publisher_and_a_pulled_camera_record_to_s3() {
    let s3 = S3Server::start(BUCKET);
    let (ports, spool) = (Ports::fresh(), TempDir::new("vigia-spool"));
    let yaml = config(
        &ports,
        &spool,
        &format!(
            "pathDefaults:\n  recordPath: s3://{BUCKET}/city/%path/%Y-%m-%d_%H-%M-%S-%f\n  recordSegmentDuration: 10s\npaths:\n  demo:\n    source: synthetic\n  pub:\n    record: yes\n  cam:\n    source: rtsp://127.0.0.1:{}/demo\n    record: yes\n",
            ports.rtsp
        ),
    );
    let mut vigia = start(&yaml, &s3.env(), ports.rtsp);
    let mut publisher = publish_finite(&ports.rtsp_url("pub"), 6);
    assert!(
        publisher.exits_within(Duration::from_secs(90)),
        "publisher did not finish"
    );
    // The publisher's last segment is uploaded once its stream ends.
    let published = eventually(Duration::from_secs(20), || {
        let segs = stored(&s3, "city/pub/");
        (total_duration(&segs) > 70.0).then_some(segs)
    });
    let pulled = stored(&s3, "city/cam/");
    vigia.stop();
    let published =
        published.unwrap_or_else(|| panic!("publisher recording: {:?}", stored(&s3, "city/pub/")));
    assert_clean(&published);
    assert_clean(&pulled);
    assert!(
        total_duration(&pulled) >= 60.0,
        "pulled camera recorded {pulled:?}"
    );
    let keys: Vec<&String> = published.iter().map(|(k, _)| k).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(
        keys.iter()
            .all(|k| k.ends_with(".mp4") && k.starts_with("city/pub/20"))
    );
}

#[test]
fn an_s3_outage_of_60_s_loses_no_frame() {
    let mut s3 = S3Server::start(BUCKET);
    let (ports, spool) = (Ports::fresh(), TempDir::new("vigia-spool"));
    let yaml = config(
        &ports,
        &spool,
        &one_s3_camera("  recordSegmentDuration: 5s\n"),
    );
    let vigia = start(&yaml, &s3.env(), ports.rtsp);
    let started = Instant::now();
    let mut publisher = publish_finite(&ports.rtsp_url("cam"), 7);
    sleep(Duration::from_secs(12));
    s3.stop();
    sleep(Duration::from_secs(60));
    let during = spool_files(&spool);
    s3.restart();
    assert!(
        publisher.exits_within(Duration::from_secs(40)),
        "publisher did not finish"
    );
    let frames = 7 * Clip::VIDEO_FRAMES as u64;
    let drained = eventually(Duration::from_secs(60), || {
        let segs = stored(&s3, "cam/");
        let n: u64 = segs.iter().map(|(_, p)| p.video_frames).sum();
        (n >= frames && spool_files(&spool) == 0).then_some(n)
    });
    let segs = stored(&s3, "cam/");
    let got: u64 = segs.iter().map(|(_, p)| p.video_frames).sum();
    assert!(
        during >= 10,
        "the spool held {during} files during the outage"
    );
    assert_eq!(
        drained,
        Some(frames),
        "frames published {frames}, stored {got} in {} segments after {:?}:\n{}",
        segs.len(),
        started.elapsed(),
        vigia.logs()
    );
    assert_clean(&segs);
    assert!(
        vigia.logs().contains("recording upload failed"),
        "{}",
        vigia.logs()
    );
}

/// Segment files (data and meta) in the spool.
fn spool_files(spool: &TempDir) -> usize {
    std::fs::read_dir(spool.path().join("spool"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".mp4"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn sigkill_mid_segment_keeps_every_fsynced_part() {
    let s3 = S3Server::start(BUCKET);
    let (ports, spool) = (Ports::fresh(), TempDir::new("vigia-spool"));
    let yaml = config(
        &ports,
        &spool,
        &one_s3_camera("  recordSegmentDuration: 1h\n"),
    );
    let mut vigia = start(&yaml, &s3.env(), ports.rtsp);
    let publisher = Clip::H264Aac.publish(&ports.rtsp_url("cam"), "tcp");
    sleep(Duration::from_secs(20));
    vigia.stop(); // SIGKILL
    drop(publisher);
    assert!(
        s3.objects("cam/").is_empty(),
        "nothing is uploaded before the segment ends"
    );
    let segment = std::fs::read_dir(spool.path().join("spool"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".mp4"))
        .expect("a spooled segment");
    let before = probe_segment(&segment.path());
    let vigia = start(&yaml, &s3.env(), ports.rtsp);
    let segs = eventually(Duration::from_secs(30), || {
        let segs = stored(&s3, "cam/");
        (!segs.is_empty()).then_some(segs)
    })
    .unwrap_or_else(|| panic!("the recovered segment was not uploaded:\n{}", vigia.logs()));
    assert_clean(&segs);
    let after = &segs[0].1;
    assert!(after.duration >= 17.0, "recovered {after:?}");
    assert!(
        after.video_frames >= before.video_frames.saturating_sub(25),
        "before {before:?} after {after:?}"
    );
    assert!(vigia.logs().contains("repaired"), "{}", vigia.logs());
}

#[test]
fn retention_deletes_what_is_older_than_record_delete_after() {
    let s3 = S3Server::start(BUCKET);
    let (ports, spool) = (Ports::fresh(), TempDir::new("vigia-spool"));
    let local = TempDir::new("vigia-local-rec");
    let yaml = config(
        &ports,
        &spool,
        &format!(
            "pathDefaults:\n  recordSegmentDuration: 2s\n  recordDeleteAfter: 12s\n  record: yes\npaths:\n  s3cam:\n    recordPath: s3://{BUCKET}/%path/%s-%f\n  localcam:\n    recordPath: {}/%path/%s-%f\n",
            local.path().display()
        ),
    );
    let _vigia = start(&yaml, &s3.env(), ports.rtsp);
    let _a = Clip::H264Aac.publish(&ports.rtsp_url("s3cam"), "tcp");
    let _b = Clip::H264Aac.publish(&ports.rtsp_url("localcam"), "tcp");
    let began = now_s();
    sleep(Duration::from_secs(36));
    let now = now_s();
    let s3_starts: Vec<f64> = s3
        .objects("s3cam/")
        .iter()
        .filter_map(|(k, _)| start_of(k))
        .collect();
    let local_starts: Vec<f64> = std::fs::read_dir(local.path().join("localcam"))
        .unwrap()
        .filter_map(|e| start_of(&e.ok()?.file_name().to_string_lossy()))
        .collect();
    for (what, starts) in [("s3", &s3_starts), ("local", &local_starts)] {
        assert!(starts.len() >= 3, "{what}: {starts:?}");
        let oldest = starts.iter().cloned().fold(f64::MAX, f64::min);
        let newest = starts.iter().cloned().fold(f64::MIN, f64::max);
        // Deleted: nothing ended more than 12 s (+ segment, pass interval, upload) ago.
        assert!(
            oldest > now - 12.0 - 3.0 - 5.0 - 3.0,
            "{what}: oldest {oldest} now {now}"
        );
        assert!(
            oldest > began + 5.0,
            "{what}: the first segments were deleted"
        );
        // Nothing newer: the last segments are all still there.
        assert!(newest > now - 6.0, "{what}: newest {newest} now {now}");
    }
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Start time of a `%s-%f.mp4` key.
fn start_of(key: &str) -> Option<f64> {
    let name = key.rsplit('/').next()?.strip_suffix(".mp4")?;
    let (s, f) = name.split_once('-')?;
    Some(s.parse::<f64>().ok()? + f.parse::<f64>().ok()? / 1e6)
}

#[test]
fn unreachable_s3_at_start_spools_and_says_so() {
    let (ports, spool) = (Ports::fresh(), TempDir::new("vigia-spool"));
    let closed = format!("http://127.0.0.1:{}", vigia_conformance::free_port());
    let env = [
        ("AWS_ACCESS_KEY_ID", "vigia"),
        ("AWS_SECRET_ACCESS_KEY", "vigia-secret"),
        ("AWS_ENDPOINT_URL", closed.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let yaml = config(
        &ports,
        &spool,
        &format!(
            "recordSpoolMaxSize: 400K\n{}",
            one_s3_camera("  recordSegmentDuration: 1s\n")
        ),
    );
    let vigia = start(&yaml, &env, ports.rtsp);
    expect_log(&vigia, "recording destination unusable now", 15);
    assert!(
        vigia.logs().contains(&format!("s3://{BUCKET}")),
        "{}",
        vigia.logs()
    );
    let _publisher = Clip::H264Aac.publish(&ports.rtsp_url("cam"), "tcp");
    assert!(
        eventually(Duration::from_secs(10), || (spool_files(&spool) > 0)
            .then_some(()))
        .is_some()
    );
    // 800 kbit/s fills a 400 KB spool in about 4 s: the oldest segments are dropped, counted.
    expect_log(&vigia, "spool full", 20);
}

#[test]
fn wrong_credentials_are_an_error_naming_the_bucket() {
    let s3 = S3Server::start(BUCKET);
    let (ports, spool) = (Ports::fresh(), TempDir::new("vigia-spool"));
    let mut env = s3.env();
    for (name, value) in &mut env {
        if *name == "AWS_SECRET_ACCESS_KEY" {
            *value = "not-the-secret";
        }
    }
    let yaml = config(&ports, &spool, &one_s3_camera(""));
    let vigia = start(&yaml, &env, ports.rtsp);
    expect_log(&vigia, "recording destination unusable now", 15);
    let logs = vigia.logs();
    let line = logs.lines().find(|l| l.contains("unusable now")).unwrap();
    assert!(line.contains(&format!("s3://{BUCKET}")), "{line}");
    assert!(
        line.contains("403") || line.to_lowercase().contains("signature"),
        "{line}"
    );
}

#[test]
fn g711_is_recorded_as_received_next_to_h264() {
    let (ports, spool) = (Ports::fresh(), TempDir::new("vigia-spool"));
    let local = TempDir::new("vigia-local-rec");
    let yaml = config(
        &ports,
        &spool,
        &format!(
            "pathDefaults:\n  recordSegmentDuration: 2s\n  record: yes\n  recordPath: {}/%path/%s-%f\npaths:\n  g711:\n",
            local.path().display()
        ),
    );
    let _vigia = start(&yaml, &[], ports.rtsp);
    let _publisher = Clip::H264G711.publish(&ports.rtsp_url("g711"), "tcp");
    let dir = local.path().join("g711");
    let segment = eventually(Duration::from_secs(20), || {
        let entries = std::fs::read_dir(&dir).ok()?;
        let first = entries.filter_map(Result::ok).next()?;
        Some(probe_segment(&first.path()))
    })
    .expect("a G.711 segment");
    assert_eq!(segment.audio_codec, "pcm_mulaw", "{segment:?}");
    assert!(
        segment.audio_packets > 0 && segment.video_frames > 0,
        "{segment:?}"
    );
    assert!(segment.errors.trim().is_empty(), "{}", segment.errors);
}

/// A camera that drops for 10 s and comes back: one recording timeline in `/list`, two spans
/// with the outage between them (plus the puller's reconnect delay, at most 5 s).
#[test]
fn a_camera_outage_is_a_gap_in_list() {
    let (ports, spool) = (Ports::fresh(), TempDir::new("vigia-spool"));
    let local = TempDir::new("vigia-local-rec");
    let playback = vigia_conformance::free_port();
    let yaml = config(
        &ports,
        &spool,
        &format!(
            "playback: yes\nplaybackAddress: 127.0.0.1:{playback}\npathDefaults:\n  recordSegmentDuration: 5s\n  recordPath: {}/%path/%Y-%m-%d_%H-%M-%S-%f\npaths:\n  src:\n  cam:\n    source: rtsp://127.0.0.1:{}/src\n    record: yes\n",
            local.path().display(),
            ports.rtsp
        ),
    );
    let vigia = start(&yaml, &[], ports.rtsp);
    let first = Clip::H264Aac.publish(&ports.rtsp_url("src"), "tcp");
    sleep(Duration::from_secs(12));
    drop(first);
    sleep(Duration::from_secs(10));
    let _second = Clip::H264Aac.publish(&ports.rtsp_url("src"), "tcp");
    // Wait until the second span holds at least one stored segment.
    let spans = eventually(Duration::from_secs(40), || {
        let spans = list(playback, "cam");
        (spans.len() >= 2 && spans[1].1 >= 4.0).then_some(spans)
    })
    .unwrap_or_else(|| panic!("spans {:?}\n{}", list(playback, "cam"), vigia.logs()));
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (a, b) = (spans[0], spans[1]);
    assert!(a.1 >= 9.0, "first span {a:?}");
    let gap = b.0 - (a.0 + a.1);
    assert!((9.5..=16.5).contains(&gap), "gap {gap:.2} s in {spans:?}");
}

/// `/list` of `path`: (start, duration) in seconds, oldest first.
fn list(port: u16, path: &str) -> Vec<(f64, f64)> {
    let Some(answer) = vigia_conformance::http::get(port, &format!("/list?path={path}"), &[])
    else {
        return Vec::new();
    };
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    json.as_array()
        .into_iter()
        .flatten()
        .filter_map(|span| {
            let start = chrono::DateTime::parse_from_rfc3339(span["start"].as_str()?).ok()?;
            let start = start.timestamp_micros() as f64 / 1e6;
            Some((start, span["duration"].as_f64()?))
        })
        .collect()
}
