//! Headless Chromium (Debian's, driven by playwright-core) plays the LL-HLS player page: an
//! H.264+AAC stream for a minute with no stall, no hls.js error and no request over the default
//! rate limit, reporting glass-to-glass latency; a camera's G.711 audio, repackaged as FLAC, decoding in the browser; and the same
//! player over HTTPS (`hlsEncryption`) with a certificate made at test time.

use std::time::Duration;

use serde_json::Value;
use vigia_conformance::browser::{numbers, percentile, run_script};
use vigia_conformance::clips::Clip;
use vigia_conformance::tls::TestCa;
use vigia_conformance::{Background, Ports, TempDir, Vigia, eventually, free_port, http};

/// Runs the player script on `url` for `seconds`; returns its JSON report.
fn play(url: &str, seconds: u32) -> Value {
    play_with(url, seconds, &[])
}

/// [`play`] with extra Chromium command-line flags.
fn play_with(url: &str, seconds: u32, flags: &[&str]) -> Value {
    let secs = seconds.to_string();
    let args = [&[url, secs.as_str()][..], flags].concat();
    run_script(
        "play.mjs",
        &args,
        Duration::from_secs(u64::from(seconds) + 60),
    )
}

fn advanced(report: &Value) -> f64 {
    let times: Vec<f64> = report["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["t"].as_f64())
        .collect();
    times.last().unwrap_or(&0.0) - times.first().unwrap_or(&0.0)
}

/// Also the player's minute within the default rate limits (issue 13): hls.js's LL-HLS traffic
/// (blocking playlist reloads, parts, preload hints) from one IP never gets a 429.
#[test]
fn chromium_plays_h264_aac_with_low_latency_for_a_minute_within_the_rate_limit() {
    let ports = Ports::fresh();
    let metrics = free_port();
    let config = format!(
        "{}metrics: yes\nmetricsAddress: 127.0.0.1:{metrics}\npaths:\n  cam:\n    source: synthetic\n",
        ports.yaml()
    );
    let vigia = Vigia::start(&config, ports.rtsp);
    let report = play(&ports.hls_url("cam", ""), 62);
    assert!(
        report.get("failure").is_none(),
        "{report}\n{}",
        vigia.logs()
    );
    let hls = "{listener=\"hls\"";
    let requests = http::metric_sum(metrics, &format!("http_requests_total{hls}"));
    let refused = http::metric_sum(metrics, &format!("limit_refusals_total{hls}"));
    println!("the player made {requests} requests in 62 s; {refused} refused");
    assert!(requests > 300.0, "LL-HLS traffic: {requests} requests");
    assert_eq!(refused, 0.0, "the player was rate limited");
    assert!(
        advanced(&report) >= 55.0,
        "playback advanced {} s: {report}",
        advanced(&report)
    );
    assert_eq!(report["stalls"], 0, "stalled: {report}");
    let warmup_end = report["warmupEnd"].as_f64().unwrap_or(0.0);
    let errors: Vec<&Value> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fatal"] == true || e["t"].as_f64().unwrap_or(0.0) > warmup_end)
        .collect();
    assert!(
        errors.is_empty(),
        "hls.js errors after start-up: {errors:?}"
    );
    let mut latencies = numbers(&report, "latencies");
    assert!(latencies.len() >= 20, "latency samples: {report}");
    let (p50, p95) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.95),
    );
    println!(
        "glass-to-glass latency (Chromium, hls.js low-latency): p50 {p50:.0} ms, p95 {p95:.0} ms"
    );
    assert!(p50 < 1000.0, "p50 latency {p50} ms: {report}");
}

#[test]
fn chromium_decodes_g711_camera_audio() {
    let ports = Ports::fresh();
    let config = format!("{}paths:\n  all_others:\n", ports.yaml());
    let vigia = Vigia::start(&config, ports.rtsp);
    let args = Clip::H264G711.publish_args(&ports.rtsp_url("g711"), "tcp");
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let _publisher = Background::start("ffmpeg", &argv);
    let ready = eventually(Duration::from_secs(20), || {
        vigia
            .logs()
            .contains("publisher 1 is publishing")
            .then_some(())
    });
    assert!(ready.is_some(), "{}", vigia.logs());
    let report = play(&ports.hls_url("g711", ""), 12);
    assert!(
        report.get("failure").is_none(),
        "{report}\n{}",
        vigia.logs()
    );
    assert!(
        advanced(&report) >= 8.0,
        "playback advanced {} s: {report}",
        advanced(&report)
    );
    let audio: Vec<f64> = report["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["audioBytes"].as_f64())
        .collect();
    assert!(
        audio.last() > audio.first(),
        "audio decoded bytes must grow: {audio:?}"
    );
}

#[test]
fn chromium_plays_over_https_trusting_the_test_certificate() {
    let dir = TempDir::new("vigia-tls-browser");
    let cert = TestCa::new().issue("vigia-browser");
    cert.write(dir.path());
    let ports = Ports::fresh();
    let d = dir.path().display();
    let config = format!(
        "{}hlsEncryption: yes\nhlsServerKey: {d}/server.key\nhlsServerCert: {d}/server.crt\n\
         paths:\n  cam:\n    source: synthetic\n",
        ports.yaml()
    );
    let vigia = Vigia::start(&config, ports.rtsp);
    // Chromium trusts exactly this certificate's key, not a whole CA, and only in this run.
    let trust = format!("--ignore-certificate-errors-spki-list={}", cert.spki_sha256);
    let url = format!("https://127.0.0.1:{}/cam/", ports.hls);
    let report = play_with(&url, 12, &[&trust]);
    assert!(
        report.get("failure").is_none(),
        "{report}\n{}",
        vigia.logs()
    );
    assert!(
        advanced(&report) >= 8.0,
        "playback advanced {} s: {report}",
        advanced(&report)
    );
    assert_eq!(report["stalls"], 0, "stalled: {report}");
}
