use super::*;

const S: i64 = 1_000_000;
const T0: i64 = 1_700_000_000 * S;

fn sample(online: bool, frames: u64, last_frame_us: i64) -> Sample {
    Sample {
        path: "cam".to_owned(),
        source: SourceStatus {
            online,
            failures: 0,
            last_error: None,
        },
        frames,
        bytes: frames * 1000,
        last_frame_us,
        readers: 2,
        backlog: None,
    }
}

/// A 25 fps stream playing from `T0` for `secs` seconds, sampled every second.
fn play(m: &mut HealthMonitor, secs: i64) -> Vec<Report> {
    (0..=secs)
        .flat_map(|i| {
            let now = T0 + i * S;
            m.observe(now, &[sample(true, 25 * i as u64, now)])
        })
        .collect()
}

#[test]
fn classification_table() {
    let cases = [
        (
            "unsupported codec: the source offers only MJPEG",
            HealthReason::UnsupportedCodec,
        ),
        (
            "Connection refused (os error 111)",
            HealthReason::ConnectionRefused,
        ),
        (
            "Unexpected RTSP response 401 Unauthorized",
            HealthReason::AuthFailure,
        ),
        ("connection timed out", HealthReason::Timeout),
        ("the source ended the stream", HealthReason::SourceEnded),
        ("RTSP 404 Not Found", HealthReason::NotFound),
        ("something else", HealthReason::Error),
    ];
    for (text, kind) in cases {
        assert_eq!(classify(text), kind, "{text}");
    }
}

#[test]
fn first_frames_report_online_at_once_then_every_interval() {
    let mut m = HealthMonitor::new(10 * S);
    assert!(
        m.observe(T0, &[sample(false, 0, 0)]).is_empty(),
        "connecting"
    );
    let r = m.observe(T0 + S, &[sample(true, 25, T0 + S)]);
    assert_eq!(r.len(), 1);
    assert!(r[0].changed);
    assert_eq!(r[0].data.status, HealthStatus::Online);
    assert_eq!(r[0].data.reason, None);
    assert_eq!(r[0].data.reconnects, Some(0));
    for i in 2..11 {
        let now = T0 + i * S;
        let got = m.observe(now, &[sample(true, 25 * i as u64, now)]);
        assert!(got.is_empty(), "second {i}");
    }
    let now = T0 + 11 * S;
    let r = m.observe(now, &[sample(true, 275, now - 40_000)]);
    assert_eq!(r.len(), 1, "periodic");
    assert!(!r[0].changed);
    assert_eq!(r[0].data.status, HealthStatus::Online);
    assert!((r[0].data.fps - 25.0).abs() < 0.01, "{}", r[0].data.fps);
    assert_eq!(r[0].data.bitrate_kbps, 200);
    assert_eq!(r[0].data.readers, 2);
    assert_eq!(r[0].data.last_frame_age_ms, Some(40));
    assert_eq!(r[0].data.recorder_backlog_segments, None, "not recorded");
}

#[test]
fn a_failed_source_goes_offline_at_once_with_the_reason() {
    let mut m = HealthMonitor::new(10 * S);
    m.observe(T0, &[sample(true, 25, T0)]);
    let mut s = sample(false, 25, T0);
    s.source.failures = 1;
    s.source.last_error = Some("unsupported codec: the source offers only MJPEG".into());
    let r = m.observe(T0 + S, &[s]);
    assert_eq!(r.len(), 1);
    let d = &r[0].data;
    assert_eq!(d.status, HealthStatus::Offline);
    assert_eq!(d.reconnects, Some(1));
    assert_eq!(d.reason, Some(HealthReason::UnsupportedCodec));
    assert!(d.detail.as_deref().unwrap().contains("MJPEG"));
    assert_eq!(d.fps, 0.0);
}

#[test]
fn a_camera_that_never_plays_is_reported_at_its_first_failure() {
    let mut m = HealthMonitor::new(60 * S);
    assert!(
        m.observe(T0, &[sample(false, 0, 0)]).is_empty(),
        "connecting"
    );
    let mut s = sample(false, 0, 0);
    s.source.failures = 1;
    s.source.last_error = Some("unsupported codec: the source offers only MJPEG".into());
    let r = m.observe(T0 + S, &[s.clone()]);
    assert_eq!(r.len(), 1, "at once");
    assert!(r[0].changed);
    assert_eq!(r[0].data.status, HealthStatus::Offline);
    assert_eq!(r[0].data.reason, Some(HealthReason::UnsupportedCodec));
    assert_eq!(r[0].data.last_frame_age_ms, None);
    s.source.failures = 2;
    assert!(
        m.observe(T0 + 2 * S, &[s]).is_empty(),
        "then every interval"
    );
}

#[test]
fn frames_that_stop_without_an_error_stall_then_time_out() {
    let mut m = HealthMonitor::new(60 * S);
    m.observe(T0, &[sample(true, 25, T0)]);
    assert!(m.observe(T0 + S, &[sample(true, 25, T0)]).is_empty());
    let r = m.observe(T0 + 2 * S, &[sample(true, 25, T0)]);
    assert_eq!(r[0].data.status, HealthStatus::Degraded);
    assert_eq!(r[0].data.reason, Some(HealthReason::Stalled));
    assert_eq!(r[0].data.last_frame_age_ms, Some(2000));
    let r = m.observe(T0 + 5 * S, &[sample(true, 25, T0)]);
    assert_eq!(r[0].data.status, HealthStatus::Offline);
    assert_eq!(r[0].data.reason, Some(HealthReason::Timeout));
    assert_eq!(r[0].data.detail.as_deref(), Some("no frame for 5.0 s"));
    let back = m.observe(T0 + 7 * S, &[sample(true, 30, T0 + 7 * S)]);
    assert_eq!(
        back[0].data.status,
        HealthStatus::Online,
        "no hold after an offline"
    );
    assert!(back[0].changed && back[0].data.reason.is_none());
}

#[test]
fn a_stutter_is_held_degraded_for_ten_seconds() {
    let mut m = HealthMonitor::new(60 * S);
    m.observe(T0, &[sample(true, 25, T0)]);
    let r = m.observe(T0 + 3 * S, &[sample(true, 25, T0)]);
    assert_eq!(r[0].data.status, HealthStatus::Degraded);
    // Frames again from T0 + 4 s: degraded until 10 s after the last stalled sample.
    for i in 4..13 {
        let now = T0 + i * S;
        let got = m.observe(now, &[sample(true, 25 * i as u64, now)]);
        assert!(got.is_empty(), "second {i}: {got:?}");
    }
    let now = T0 + 13 * S;
    let r = m.observe(now, &[sample(true, 325, now)]);
    assert_eq!(r[0].data.status, HealthStatus::Online);
}

#[test]
fn half_the_usual_frame_rate_is_degraded() {
    let mut m = HealthMonitor::new(60 * S);
    play(&mut m, 30);
    // From 30 s on, 10 fps instead of 25: the 5 s window falls under 12.5 fps at 35 s.
    let mut first_degraded = None;
    for i in 31..40 {
        let now = T0 + i * S;
        let frames = 750 + 10 * (i - 30) as u64;
        let r = m.observe(now, &[sample(true, frames, now)]);
        if let Some(r) = r
            .first()
            .filter(|r| r.data.status == HealthStatus::Degraded)
        {
            assert_eq!(r.data.reason, Some(HealthReason::LowFps));
            assert_eq!(r.data.detail.as_deref(), Some("10.0 fps, usual 24.9 fps"));
            first_degraded.get_or_insert(i);
        }
    }
    assert_eq!(first_degraded, Some(35), "the window 30..35 s has 10 fps");
}

#[test]
fn slow_cameras_are_not_judged_by_rate() {
    let mut m = HealthMonitor::new(60 * S);
    for i in 0..30 {
        let now = T0 + i * S;
        // 1 fps, then 0.5 fps: never degraded by rate (frames stay under 2 s old).
        let frames = if i < 20 { i } else { 20 + (i - 20) / 2 } as u64;
        let last = if i < 20 { now } else { now - (i % 2) * S };
        let r = m.observe(now, &[sample(true, frames, last)]);
        assert!(
            r.iter().all(|r| r.data.status == HealthStatus::Online),
            "second {i}: {r:?}"
        );
    }
}

#[test]
fn an_old_recorder_backlog_is_degraded_and_reported() {
    let mut m = HealthMonitor::new(60 * S);
    play(&mut m, 1);
    let now = T0 + 2 * S;
    let mut s = sample(true, 50, now);
    s.backlog = Some(Backlog {
        segments: 3,
        bytes: 3_000_000,
        oldest_end_us: now - 61 * S,
    });
    let r = m.observe(now, &[s.clone()]);
    let d = &r[0].data;
    assert_eq!(d.status, HealthStatus::Degraded);
    assert_eq!(d.reason, Some(HealthReason::RecorderBacklog));
    assert_eq!(
        (
            d.recorder_backlog_segments,
            d.recorder_backlog_bytes,
            d.recorder_backlog_age_ms
        ),
        (Some(3), Some(3_000_000), Some(61_000))
    );
    // A fresh backlog (uploads keep up) is reported, not degraded; none waiting has no age.
    let mut m = HealthMonitor::new(S);
    play(&mut m, 1);
    for (at, oldest_age, segments) in [(now, 59 * S, 1), (now + S, 0, 0)] {
        s.last_frame_us = at;
        s.backlog = Some(Backlog {
            segments,
            bytes: 1000 * segments,
            oldest_end_us: at - oldest_age,
        });
        let r = m.observe(at, &[s.clone()]);
        assert_eq!(r[0].data.status, HealthStatus::Online, "{r:?}");
        assert_eq!(r[0].data.recorder_backlog_segments, Some(segments));
        let age = (segments > 0).then_some(oldest_age as u64 / 1000);
        assert_eq!(r[0].data.recorder_backlog_age_ms, age);
    }
}

#[test]
fn a_reconnect_restarts_the_rate_window_not_the_usual_rate() {
    let mut rate = FrameRate::default();
    for i in 0..=10 {
        if let Some(fps) = rate.push(T0 + i * S, 25 * i as u64) {
            rate.learn(fps);
        }
    }
    assert_eq!(rate.usual_fps, Some(25.0));
    assert_eq!(
        rate.push(T0 + 11 * S, 3),
        None,
        "new stream, window restarts"
    );
    assert_eq!(rate.usual_fps, Some(25.0));
    assert_eq!(rate.push(T0 + 11 * S, 4), None, "same instant");
}

#[test]
fn removed_paths_are_forgotten() {
    let mut m = HealthMonitor::new(10 * S);
    m.observe(T0, &[sample(true, 25, T0)]);
    m.observe(T0 + S, &[]);
    assert!(m.paths.is_empty());
}

#[test]
fn a_sample_a_little_early_still_makes_the_periodic_report() {
    let mut m = HealthMonitor::new(2 * S);
    m.observe(T0, &[sample(false, 0, 0)]);
    let r = m.observe(T0 + S, &[sample(true, 25, T0 + S)]);
    assert_eq!(r.len(), 1, "online");
    // The driver's ticks drift by microseconds: the next one lands just before 2 s.
    let early = T0 + 3 * S - 20;
    let r = m.observe(early, &[sample(true, 75, early)]);
    assert_eq!(r.len(), 1, "reported every 2 s, not every 3 s");
}
