//! A stock hls.js page, not Vigia's player, on another origin (issue 11, "Stock players"): the
//! hls.js Vigia ships, with its default configuration (`new Hls()`: low-latency mode, no
//! catch-up by playback rate, target latency from the playlist's `PART-HOLD-BACK`), plays the
//! built-in `demo` stream for 30 s in headless Chromium with a glass-to-glass latency p50 under
//! 1.5 s and no stall; and does as well as the first viewer of an always-muxed stream nobody
//! watched, whose playlist then holds only three target durations.
//!
//! The page and hls.js come from a small HTTP server of the test's own (another port, so another
//! origin: every playlist and part request is a cross-origin one). hls.js is the file Vigia
//! serves at `/<path>/hls.min.js`, fetched once by the test, so the version is exactly the one
//! Vigia ships and nothing comes from the network.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use vigia_conformance::browser::{numbers, percentile, run_script, script};
use vigia_conformance::http_server::HttpServer;
use vigia_conformance::{Vigia, http};

/// Seconds of playback measured, from the moment the video first plays.
const SECONDS: u32 = 30;

/// One browser at a time: the two tests measure latency on a 2-core machine.
static BROWSER: Mutex<()> = Mutex::new(());

#[test]
fn a_stock_hls_js_page_on_another_origin_plays_the_demo_under_one_and_a_half_seconds_without_stalls()
 {
    plays_under_one_and_a_half_seconds("paths:\n  demo:\n    source: synthetic\n", None);
}

/// An always-muxed stream nobody watched for 12 s keeps only three target durations of
/// segments; the first viewer's hls.js starts from that short playlist as well as from a full one.
#[test]
fn a_stock_hls_js_page_as_the_first_viewer_of_an_always_muxed_stream_plays_as_well() {
    plays_under_one_and_a_half_seconds(
        "hlsAlwaysRemux: yes\npaths:\n  demo:\n    source: synthetic\n",
        Some(Duration::from_secs(12)),
    );
}

/// Vigia with `config`; after `unwatched` (if any) with nobody asking for a playlist, the stock
/// page plays `demo` for [`SECONDS`]: no stall, latency p50 under 1.5 s.
fn plays_under_one_and_a_half_seconds(config: &str, unwatched: Option<Duration>) {
    let _one_browser = BROWSER.lock().unwrap_or_else(PoisonError::into_inner);
    let (vigia, ports) = Vigia::start_on_fresh_ports(config);
    let origin = page_server(&fetch_hls_js(ports.hls));
    if let Some(wait) = unwatched {
        std::thread::sleep(wait);
    }
    let src = ports.hls_url("demo", "index.m3u8");
    let url = origin.url(&format!("/stock.html?src={src}"));
    let report = run_script(
        "stock.mjs",
        &[&url, &SECONDS.to_string()],
        Duration::from_secs(u64::from(SECONDS) + 60),
    );
    assert!(
        report.get("failure").is_none() && report.get("pageError").is_none(),
        "{report}\n{}",
        vigia.logs()
    );
    let mut latencies = numbers(&report, "latencies");
    assert!(
        latencies.len() >= (SECONDS * 3) as usize,
        "latency samples: {report}"
    );
    let (p50, p95) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.95),
    );
    println!(
        "stock hls.js, default config, {SECONDS} s: latency p50 {p50:.0} ms, p95 {p95:.0} ms, \
         stalls {}, errors {}, waiting events (seeks if marked) {}",
        report["stalls"], report["errors"], report["waiting"]
    );
    assert_eq!(report["stalls"], 0, "stalled: {}", summary(&report));
    assert!(p50 < 1500.0, "p50 latency {p50} ms: {}", summary(&report));
}

/// hls.js as Vigia serves it to its own player page.
fn fetch_hls_js(hls_port: u16) -> String {
    let answer = http::get(hls_port, "/demo/hls.min.js", &[]).expect("vigia answers");
    assert_eq!(answer.status, 200, "{}", answer.head);
    let text = answer.text();
    assert!(
        text.contains("lowLatencyMode"),
        "not hls.js: {}",
        answer.head
    );
    text
}

/// The test's own origin: `stock.html` and `hls.min.js`, nothing else.
fn page_server(hls_js: &str) -> HttpServer {
    let page = std::fs::read_to_string(script("stock.html")).expect("read stock.html");
    let hls_js = hls_js.to_owned();
    HttpServer::start(move |request| {
        let path = request.target.split('?').next().unwrap_or_default();
        match path {
            "/stock.html" => (200, "text/html; charset=utf-8", page.clone()),
            "/hls.min.js" => (200, "application/javascript", hls_js.clone()),
            _ => (404, "text/plain", "not found".into()),
        }
    })
}

/// The report without its samples, and hls.js's view of the moments playback stalled.
fn summary(report: &Value) -> String {
    let mut brief = report.clone();
    if let Some(map) = brief.as_object_mut() {
        map.remove("samples");
        map.remove("latencies");
    }
    let samples = report["samples"].as_array().cloned().unwrap_or_default();
    let every_second: Vec<&Value> = samples.iter().step_by(4).collect();
    format!("{brief}\nsamples every second: {every_second:?}")
}
