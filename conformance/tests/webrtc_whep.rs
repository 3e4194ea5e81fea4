//! WHEP over loopback: a Rust WebRTC client (str0m) POSTs an offer for a `synthetic` path,
//! completes ICE and DTLS with Vigia's single UDP port and receives H.264 that starts decodable
//! (SPS, PPS and IDR first) at the clip's 25 fps with a keyframe each second; plus the bad
//! inputs of the WHEP endpoint and a session's end freeing its reader slot.

use std::time::{Duration, Instant};

use str0m::media::{Direction, MediaKind};
use str0m::{Event, RtcConfig};
use vigia_conformance::webrtc::{self, Peer, nal_types};
use vigia_conformance::{Ports, TempDir, Vigia, free_port, http};

/// The synthetic clip's rate and GOP (media/src/synthetic.rs).
const FPS: f64 = 25.0;
/// How long the client watches.
const WATCH: Duration = Duration::from_secs(5);

struct Server {
    vigia: Vigia,
    whep: u16,
}

fn start(extra_path_keys: &str) -> Server {
    start_with("", extra_path_keys)
}

/// [`start`] with extra top-level keys (`httpRateLimit: 0\n`) as well.
fn start_with(extra_keys: &str, extra_path_keys: &str) -> Server {
    let ports = Ports::fresh();
    let whep = free_port();
    let udp = free_port();
    let dir = TempDir::new("vigia-webrtc");
    let config = format!(
        "{}{extra_keys}paths:\n  demo:\n    source: synthetic\n{extra_path_keys}",
        ports.yaml()
    );
    std::fs::write(dir.path().join("vigia.yml"), config).expect("write config");
    let whep_addr = format!("127.0.0.1:{whep}");
    let udp_addr = format!("127.0.0.1:{udp}");
    let env = [
        ("MTX_WEBRTCADDRESS", whep_addr.as_str()),
        ("MTX_WEBRTCLOCALUDPADDRESS", udp_addr.as_str()),
    ];
    let vigia = Vigia::spawn(dir, &["vigia.yml"], &env, whep);
    Server { vigia, whep }
}

/// A WHEP viewer: a test peer with one receive-only H.264 video media, and its offer.
fn viewer() -> (Peer, String) {
    viewer_with(|c| c.enable_h264(true))
}

/// A viewer with only `codec` enabled.
fn viewer_with(codec: fn(RtcConfig) -> RtcConfig) -> (Peer, String) {
    let config = codec(RtcConfig::new().clear_codecs());
    Peer::offer(config, &[(MediaKind::Video, Direction::RecvOnly)])
}

/// Runs `peer` for `limit`: whether ICE/DTLS connected, and every video frame received
/// (Annex B) with its RTP time in seconds.
fn watch(peer: &mut Peer, limit: Duration) -> (bool, Vec<(f64, Vec<u8>)>) {
    let events = peer.pump(Instant::now() + limit);
    let frames = events
        .into_iter()
        .filter_map(|e| match e {
            Event::MediaData(data) => Some((data.time.as_seconds(), data.data.to_vec())),
            _ => None,
        })
        .collect();
    (peer.connected, frames)
}

fn post_offer(port: u16, path: &str, offer: &str) -> http::Response {
    webrtc::post_offer(port, path, "whep", offer)
}

#[test]
fn whep_plays_h264_from_the_latest_keyframe() {
    let server = start("");
    let (mut client, offer) = viewer();
    let answer = post_offer(server.whep, "demo", &offer);
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert_eq!(answer.header("Content-Type"), Some("application/sdp"));
    let location = answer.header("Location").expect("Location").to_string();
    assert!(location.starts_with("/demo/whep/"), "{location}");
    assert!(answer.header("ETag").is_some(), "ETag");
    assert!(answer.text().contains("H264/90000"), "{}", answer.text());
    client.accept(&answer.text());
    let (connected, frames) = watch(&mut client, WATCH + Duration::from_secs(1));
    assert!(
        connected,
        "ICE/DTLS never connected:\n{}",
        server.vigia.logs()
    );
    assert!(!frames.is_empty(), "no video:\n{}", server.vigia.logs());

    let first = nal_types(&frames[0].1);
    for (kind, name) in [(7, "SPS"), (8, "PPS"), (5, "IDR")] {
        assert!(
            first.contains(&kind),
            "first frame lacks {name}: NAL types {first:?}"
        );
    }
    let keyframes = frames
        .iter()
        .filter(|(_, f)| nal_types(f).contains(&5))
        .count();
    let span = frames.last().map_or(0.0, |(t, _)| t - frames[0].0);
    let rate = (frames.len() - 1) as f64 / span.max(0.001);
    assert!(
        span >= 4.0,
        "{} frames over {span:.2} s of RTP time",
        frames.len()
    );
    assert!(
        (rate - FPS).abs() < 1.5,
        "{} frames over {span:.2} s: {rate:.1} fps, not {FPS}",
        frames.len()
    );
    assert!(
        keyframes as f64 >= span.floor(),
        "{keyframes} keyframes in {span:.2} s (GOP 1 s)"
    );

    let gone = http::request(server.whep, "DELETE", &location, &[], None).expect("DELETE");
    assert_eq!(gone.status, 200, "{}", gone.text());
    let again = http::request(server.whep, "DELETE", &location, &[], None).expect("DELETE");
    assert_eq!(
        again.status,
        404,
        "a deleted session is gone: {}",
        again.text()
    );
}

#[test]
fn whep_bad_input_gets_clear_4xx() {
    let server = start("");
    let port = server.whep;
    let (_client, offer) = viewer();

    let malformed = post_offer(port, "demo", "v=0\r\nthis is not SDP\r\n");
    assert_eq!(malformed.status, 400, "{}", malformed.text());
    assert!(malformed.text().contains("SDP"), "{}", malformed.text());

    let empty = post_offer(port, "demo", "");
    assert_eq!(empty.status, 400, "{}", empty.text());

    let unknown = post_offer(port, "nowhere", &offer);
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert!(unknown.text().contains("nowhere"), "{}", unknown.text());

    let wrong_type = http::request(
        port,
        "POST",
        "/demo/whep",
        &["Content-Type: application/json"],
        Some(offer.as_bytes()),
    )
    .expect("answer");
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.text());

    let no_session =
        http::request(port, "DELETE", "/demo/whep/0000-none", &[], None).expect("DELETE");
    assert_eq!(no_session.status, 404, "{}", no_session.text());

    let preflight = http::request(
        port,
        "OPTIONS",
        "/demo/whep",
        &[
            "Origin: http://example.test",
            "Access-Control-Request-Method: POST",
        ],
        None,
    )
    .expect("OPTIONS");
    assert_eq!(preflight.status, 204, "{}", preflight.head);
    assert!(
        preflight
            .header("Access-Control-Allow-Methods")
            .is_some_and(|m| m.contains("POST"))
    );
    assert!(preflight.header("Access-Control-Allow-Origin").is_some());
}

#[test]
fn a_deleted_session_frees_its_reader_slot() {
    let server = start("    maxReaders: 1\n");
    let (_first, offer) = viewer();
    let answer = post_offer(server.whep, "demo", &offer);
    assert_eq!(answer.status, 201, "{}", answer.text());
    let location = answer.header("Location").expect("Location").to_string();

    let (_second, offer2) = viewer();
    let refused = post_offer(server.whep, "demo", &offer2);
    assert_eq!(
        refused.status,
        503,
        "maxReaders 1 holds: {}",
        refused.text()
    );

    let gone = http::request(server.whep, "DELETE", &location, &[], None).expect("DELETE");
    assert_eq!(gone.status, 200, "{}", gone.text());
    // The driver drops the session (and its reader slot) as it handles the DELETE.
    let (_third, offer3) = viewer();
    let admitted = post_offer(server.whep, "demo", &offer3);
    assert_eq!(
        admitted.status,
        201,
        "slot freed by DELETE: {}",
        admitted.text()
    );
}

/// A fresh offer from a str0m peer with only `codec` enabled (one receive-only video media);
/// the peer itself is dropped (an abandoned offer).
fn offer_with(codec: fn(RtcConfig) -> RtcConfig) -> String {
    viewer_with(codec).1
}

/// `VmRSS` of `vigia`, in KiB.
fn rss_kib(vigia: &Vigia) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", vigia.pid())).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn an_offer_with_no_common_codec_is_406() {
    let server = start("");
    let vp8_only = offer_with(|c| c.enable_vp8(true));
    assert!(!vp8_only.contains("H264"), "{vp8_only}");
    let refused = post_offer(server.whep, "demo", &vp8_only);
    assert_eq!(refused.status, 406, "{}", refused.text());
    assert!(
        refused.text().contains("H264") || refused.text().contains("H.264"),
        "{}",
        refused.text()
    );
    assert!(refused.header("Location").is_none());
}

/// 1,000 offers whose peers never start ICE: each is answered 201 and holds a reader slot
/// (`maxReaders: 1000` refuses the next one), the server drops them all after its 10 s
/// handshake timeout (the slots come back, RSS returns near where it was) and a new viewer
/// still plays. Three rounds: what the first leaves (allocator caches, maps at their peak
/// capacity) must not grow much with the next ones, or sessions leak. `httpRateLimit: 0`: from one
/// IP, 1,000 POSTs in a few seconds are what the rate limit exists to refuse (`rate_limits.rs`
/// tests that); here the sessions are under test. The API's path `readers` count them too.
#[test]
fn a_thousand_abandoned_offers_are_answered_then_freed() {
    const OFFERS: usize = 1000;
    let api = free_port();
    let keys = format!("httpRateLimit: 0\napi: yes\napiAddress: 127.0.0.1:{api}\n");
    let server = start_with(&keys, &format!("    maxReaders: {OFFERS}\n"));
    // A first viewer warms the WebRTC side up, so the baseline includes what stays.
    play_and_delete(&server);
    std::thread::sleep(Duration::from_secs(1));
    let baseline = rss_kib(&server.vigia);
    let mut after = Vec::new();
    for round in 1..=3 {
        let held = abandon_offers(&server, OFFERS, api);
        assert_eq!(
            api_readers(api),
            0,
            "round {round}: sessions left after the timeout"
        );
        play_and_delete(&server);
        after.push(rss_kib(&server.vigia));
        eprintln!(
            "round {round}: RSS KiB baseline {baseline}, with {OFFERS} abandoned sessions {held}, \
             after the timeout {}",
            after[round - 1]
        );
        assert!(
            after[0] < baseline + held.saturating_sub(baseline) / 4 + 8 * 1024,
            "RSS after the timeout {after:?} KiB, baseline {baseline}, with {OFFERS} sessions {held}"
        );
    }
    // Measured: +16 MB after the first round, then +1 to +5 MB (allocator plateau, or a leak of
    // at most a few KB per session: not told apart yet); a leak of whole sessions is ~54 KB
    // each, 54 MB a round, which this bound catches with room for the allocator's noise.
    assert!(
        after[2] < after[1] + 8 * 1024,
        "a third round of {OFFERS} abandoned offers left more than the second: {after:?} KiB"
    );
    let logs = server.vigia.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}

/// POSTs `n` offers whose peers are dropped at once (each must be answered 201), checks that
/// they hold every reader slot and are listed by the API on `api`, and waits until the
/// server's 10 s handshake timeout has passed for the last one. Returns the server's RSS (KiB)
/// while it held them.
fn abandon_offers(server: &Server, n: usize, api: u16) -> u64 {
    for i in 0..n {
        let answer = post_offer(server.whep, "demo", &offer_with(|c| c.enable_h264(true)));
        assert_eq!(answer.status, 201, "offer {i}: {}", answer.text());
    }
    let posted = Instant::now();
    let held = rss_kib(&server.vigia);
    let full = post_offer(server.whep, "demo", &offer_with(|c| c.enable_h264(true)));
    assert_eq!(
        full.status,
        503,
        "{n} abandoned sessions hold their slots: {}",
        full.text()
    );
    assert_eq!(
        api_readers(api),
        n,
        "the API lists the {n} sessions as readers"
    );
    std::thread::sleep(Duration::from_secs(12).saturating_sub(posted.elapsed()));
    held
}

/// How many readers the API (on `api`) lists for the path `demo`.
fn api_readers(api: u16) -> usize {
    let path = http::get(api, "/v3/paths/get/demo", &[]).expect("API answer");
    assert_eq!(path.status, 200, "{}", path.text());
    let path: serde_json::Value = serde_json::from_str(&path.text()).expect("JSON");
    path["readers"].as_array().expect("readers").len()
}

/// A viewer is admitted, receives video for 2 s, then DELETEs its session.
fn play_and_delete(server: &Server) {
    let (mut viewer, offer) = viewer();
    let answer = post_offer(server.whep, "demo", &offer);
    assert_eq!(
        answer.status,
        201,
        "a viewer is admitted: {}",
        answer.text()
    );
    viewer.accept(&answer.text());
    let (connected, frames) = watch(&mut viewer, Duration::from_secs(2));
    assert!(
        connected && !frames.is_empty(),
        "a viewer plays:\n{}",
        server.vigia.logs()
    );
    let location = answer.header("Location").expect("Location");
    let gone = http::request(server.whep, "DELETE", location, &[], None).expect("DELETE");
    assert_eq!(gone.status, 200, "{}", gone.text());
}
