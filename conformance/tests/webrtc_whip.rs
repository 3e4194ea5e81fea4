//! WebRTC with audio, over loopback with a Rust peer (str0m):
//! - WHIP: a peer publishes a clip's H.264 and G.711 µ-law into a path, and ffmpeg decodes both
//!   back over RTSP and LL-HLS;
//! - a WHEP reader is closed when its publisher leaves (MediaMTX closes a path's readers);
//! - a client that reached the server by host name gets an interface's IP as candidate;
//! - `webrtcICEServers2` reaches clients as `Link` headers; a trickled candidate is taken;
//! - WHEP: an RTSP-published H.264 + G.711 camera is received with its audio, and ffmpeg
//!   decodes the received video and audio.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use str0m::RtcConfig;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime};
use str0m::{Event, Rtc};
use vigia_conformance::clips::Clip;
use vigia_conformance::webrtc::{Peer, access_units, nal_types, post_offer};
use vigia_conformance::{Ports, TempDir, Vigia, free_port, http, run_with_timeout};

/// The clip's frame rate.
const FPS: u32 = 25;
/// G.711 bytes (samples) per 20 ms packet at 8 kHz.
const G711_PACKET: usize = 160;

struct Server {
    vigia: Vigia,
    ports: Ports,
    webrtc: u16,
}

/// A vigia on fresh ports with default paths (any name takes a publisher).
fn start() -> Server {
    start_with("")
}

/// [`start`] with extra top-level keys.
fn start_with(extra_keys: &str) -> Server {
    start_on("127.0.0.1", extra_keys)
}

/// [`start_with`] with the ICE socket bound to `udp_ip` (empty: all addresses).
fn start_on(udp_ip: &str, extra_keys: &str) -> Server {
    let ports = Ports::fresh();
    let webrtc = free_port();
    let udp = free_port();
    let dir = TempDir::new("vigia-whip");
    let config = format!("{}{extra_keys}paths:\n  all_others:\n", ports.yaml());
    std::fs::write(dir.path().join("vigia.yml"), config).expect("write config");
    let http_addr = format!("127.0.0.1:{webrtc}");
    let udp_addr = format!("{udp_ip}:{udp}");
    let env = [
        ("MTX_WEBRTCADDRESS", http_addr.as_str()),
        ("MTX_WEBRTCLOCALUDPADDRESS", udp_addr.as_str()),
    ];
    let vigia = Vigia::spawn(dir, &["vigia.yml"], &env, webrtc);
    Server {
        vigia,
        ports,
        webrtc,
    }
}

/// The clip's video as Annex B access units (with delimiters) and its µ-law samples.
fn clip_media(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let clip = Clip::H264G711.path();
    let video = dir.join("video.h264");
    let audio = dir.join("audio.ul");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&clip)
        .args([
            "-map",
            "0:v",
            "-c:v",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb,h264_metadata=aud=insert",
        ])
        .args(["-f", "h264"])
        .arg(&video)
        .args(["-map", "0:a", "-c:a", "copy", "-f", "mulaw"])
        .arg(&audio)
        .status()
        .expect("run ffmpeg");
    assert!(
        status.success(),
        "ffmpeg could not extract the clip's media"
    );
    (
        std::fs::read(video).expect("video"),
        std::fs::read(audio).expect("audio"),
    )
}

/// Frames ffmpeg decodes from `url` in `seconds`, per stream index (video first, then audio).
fn decoded_frames(url: &str, input: &[&str], seconds: u32) -> Vec<usize> {
    let secs = seconds.to_string();
    let args = [
        &["-hide_banner", "-loglevel", "error"][..],
        input,
        &["-i", url, "-t", &secs, "-f", "framemd5", "-"],
    ]
    .concat();
    let out = run_with_timeout(
        "ffmpeg",
        &args,
        Duration::from_secs(u64::from(seconds) + 30),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut counts = vec![0usize; 2];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(Ok(index)) = line.split(',').next().map(|i| i.trim().parse::<usize>()) {
            if index >= counts.len() {
                counts.resize(index + 1, 0);
            }
            counts[index] += 1;
        }
    }
    counts
}

/// Writes one access unit and the audio due with it, stamped `n` frames in.
fn write_frame(rtc: &mut Rtc, peer_mids: &[str0m::media::Mid], n: u32, unit: &[u8], audio: &[u8]) {
    let now = Instant::now();
    let video_time = MediaTime::new(
        u64::from(n) * 90_000 / u64::from(FPS),
        Frequency::NINETY_KHZ,
    );
    if let Some(writer) = rtc.writer(peer_mids[0]) {
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::H264)
            .map(|p| p.pt())
            .expect("an H.264 payload type");
        writer
            .write(pt, now, video_time, unit.to_vec())
            .expect("write video");
    }
    // Two 20 ms G.711 packets per 40 ms video frame.
    for half in 0..2u32 {
        let packet = n as usize * 2 + half as usize;
        let start = packet * G711_PACKET % audio.len().max(G711_PACKET);
        let Some(samples) = audio.get(start..start + G711_PACKET) else {
            continue;
        };
        let time = MediaTime::new(
            u64::from(packet as u32) * G711_PACKET as u64,
            Frequency::new(8000).unwrap(),
        );
        if let Some(writer) = rtc.writer(peer_mids[1]) {
            let pt = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::PCMU)
                .map(|p| p.pt())
                .expect("a PCMU payload type");
            writer
                .write(pt, now, time, samples.to_vec())
                .expect("write audio");
        }
    }
}

#[test]
fn whip_publish_is_decoded_over_rtsp_and_hls() {
    let api = free_port();
    let server = start_with(&format!("api: yes\napiAddress: 127.0.0.1:{api}\n"));
    let dir = TempDir::new("whip-clip");
    let (video, audio) = clip_media(dir.path());
    let units = access_units(&video);
    assert!(
        units.len() >= 250,
        "{} access units in the clip",
        units.len()
    );

    let config = RtcConfig::new()
        .clear_codecs()
        .enable_h264(true)
        .enable_pcmu(true, false);
    let media = [
        (MediaKind::Video, Direction::SendOnly),
        (MediaKind::Audio, Direction::SendOnly),
    ];
    let (mut peer, offer) = Peer::offer(config, &media);
    let answer = post_offer(server.webrtc, "cam", "whip", &offer);
    assert_eq!(answer.status, 201, "{}", answer.text());
    let location = answer.header("Location").expect("Location").to_string();
    assert!(location.starts_with("/cam/whip/"), "{location}");
    peer.accept(&answer.text());
    peer.pump(Instant::now() + Duration::from_secs(2));
    assert!(
        peer.connected,
        "ICE/DTLS never connected:\n{}",
        server.vigia.logs()
    );

    let rtsp = server.ports.rtsp_url("cam");
    let hls = server.ports.hls_url("cam", "index.m3u8");
    let readers = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let over_rtsp = decoded_frames(&rtsp, &["-rtsp_transport", "tcp"], 4);
        let over_hls = decoded_frames(&hls, &[], 4);
        (over_rtsp, over_hls)
    });
    let start = Instant::now();
    let mids = peer.mids.clone();
    for (n, unit) in units.iter().cycle().take(FPS as usize * 16).enumerate() {
        let n = n as u32;
        peer.pump(start + Duration::from_millis(u64::from(n) * 1000 / u64::from(FPS)));
        write_frame(&mut peer.rtc, &mids, n, unit, &audio);
        if readers.is_finished() {
            break;
        }
    }
    let (over_rtsp, over_hls) = readers.join().expect("readers");
    assert!(
        over_rtsp[0] >= 50 && over_rtsp[1] >= 50,
        "RTSP decoded {over_rtsp:?} (video, audio) frames in 4 s:\n{}",
        server.vigia.logs()
    );
    assert!(
        over_hls[0] >= 50 && over_hls[1] >= 50,
        "HLS decoded {over_hls:?} (video, audio) frames in 4 s:\n{}",
        server.vigia.logs()
    );
    api_shows_and_kicks_the_publisher(&server, api, &location);
}

/// The API lists the WHIP session as the path's source and kicks it.
fn api_shows_and_kicks_the_publisher(server: &Server, api: u16, location: &str) {
    let id = location.rsplit('/').next().expect("an id");
    let list = http::get(api, "/v3/webrtcsessions/list", &[]).expect("list");
    assert_eq!(list.status, 200, "{}", list.text());
    let list: serde_json::Value = serde_json::from_str(&list.text()).expect("JSON");
    let session = &list["items"][0];
    assert_eq!(session["id"], id, "{list}");
    assert_eq!(session["state"], "publish", "{list}");
    assert_eq!(session["peerConnectionEstablished"], true, "{list}");
    assert!(
        session["inboundBytes"].as_u64().unwrap() > 100_000,
        "{list}"
    );
    let path = http::get(api, "/v3/paths/get/cam", &[]).expect("path");
    let path: serde_json::Value = serde_json::from_str(&path.text()).expect("JSON");
    assert_eq!(path["source"]["type"], "webRTCSession", "{path}");
    assert_eq!(path["source"]["id"], id, "{path}");

    let kick = http::request(
        api,
        "POST",
        &format!("/v3/webrtcsessions/kick/{id}"),
        &[],
        None,
    )
    .expect("kick");
    assert_eq!(kick.status, 200, "{}", kick.text());
    let gone = vigia_conformance::eventually(Duration::from_secs(3), || {
        let got = http::get(api, &format!("/v3/webrtcsessions/get/{id}"), &[])?;
        (got.status == 404).then_some(())
    });
    assert!(gone.is_some(), "the kicked session is still listed");
    let deleted = http::request(server.webrtc, "DELETE", location, &[], None).expect("DELETE");
    assert_eq!(deleted.status, 404, "{}", deleted.text());
}

#[test]
fn whep_reads_a_camera_with_g711_audio_and_both_decode() {
    let server = start();
    let _camera = Clip::H264G711.publish(&server.ports.rtsp_url("camera"), "tcp");
    let ready = vigia_conformance::eventually(Duration::from_secs(10), || {
        let probe = vigia_conformance::probe::ffprobe(
            &server.ports.rtsp_url("camera"),
            &["-rtsp_transport", "tcp"],
            None,
        );
        probe.stream("audio").map(|_| ())
    });
    assert!(
        ready.is_some(),
        "the camera never published:\n{}",
        server.vigia.logs()
    );

    let config = RtcConfig::new()
        .clear_codecs()
        .enable_h264(true)
        .enable_pcmu(true, false)
        .enable_opus(true, false);
    let media = [
        (MediaKind::Video, Direction::RecvOnly),
        (MediaKind::Audio, Direction::RecvOnly),
    ];
    let (mut peer, offer) = Peer::offer(config, &media);
    let answer = post_offer(server.webrtc, "camera", "whep", &offer);
    assert_eq!(answer.status, 201, "{}", answer.text());
    assert!(answer.text().contains("PCMU/8000"), "{}", answer.text());
    peer.accept(&answer.text());

    let mut video = Vec::new();
    let mut audio = Vec::new();
    let mids = peer.mids.clone();
    for event in peer.pump(Instant::now() + Duration::from_secs(5)) {
        let Event::MediaData(data) = event else {
            continue;
        };
        if data.mid == mids[0] {
            video.extend_from_slice(&data.data);
        } else if data.mid == mids[1] {
            assert_eq!(data.params.spec().codec, Codec::PCMU);
            audio.extend_from_slice(&data.data);
        }
    }
    assert!(
        peer.connected,
        "ICE/DTLS never connected:\n{}",
        server.vigia.logs()
    );
    assert!(
        nal_types(&video).starts_with(&[7, 8, 5]),
        "video starts decodable"
    );
    // ~4.5 s of 8 kHz audio after the connection.
    assert!(
        audio.len() >= 8000 * 3,
        "{} µ-law samples received",
        audio.len()
    );

    let dir = TempDir::new("whep-g711");
    let video_file = dir.path().join("video.h264");
    let audio_file = dir.path().join("audio.ul");
    std::fs::write(&video_file, &video).expect("write video");
    std::fs::write(&audio_file, &audio).expect("write audio");
    let video_frames = decoded_frames(&video_file.display().to_string(), &["-f", "h264"], 30);
    let audio_frames = decoded_frames(
        &audio_file.display().to_string(),
        &["-f", "mulaw", "-ar", "8000", "-ac", "1"],
        30,
    );
    assert!(
        video_frames[0] >= 75,
        "{video_frames:?} video frames decoded"
    );
    assert!(
        audio_frames[0] >= 10,
        "{audio_frames:?} audio frames decoded"
    );
}

#[test]
fn ice_servers_are_links_and_trickled_candidates_are_taken() {
    let keys = "webrtcICEServers2:\n  - url: stun:stun.example:3478\n  \
                - url: turn:turn.example:3478\n    username: AUTH_SECRET\n    password: s3cret\n";
    let server = start_with(keys);
    let preflight =
        http::request(server.webrtc, "OPTIONS", "/cam/whip", &[], None).expect("OPTIONS");
    assert_eq!(preflight.status, 204, "{}", preflight.head);
    let links: Vec<&str> = preflight
        .head
        .lines()
        .filter_map(|l| {
            l.strip_prefix("link: ")
                .or_else(|| l.strip_prefix("Link: "))
        })
        .collect();
    assert_eq!(links.len(), 2, "{}", preflight.head);
    assert!(
        links[0].starts_with("<stun:stun.example:3478>; rel=\"ice-server\""),
        "{links:?}"
    );
    assert!(
        links[1].contains("credential-type=\"password\""),
        "{links:?}"
    );

    let _camera = Clip::H264G711.publish(&server.ports.rtsp_url("camera"), "tcp");
    let config = RtcConfig::new().clear_codecs().enable_h264(true);
    let (_peer, offer) = Peer::offer(config, &[(MediaKind::Video, Direction::RecvOnly)]);
    let answer = vigia_conformance::eventually(Duration::from_secs(10), || {
        let answer = post_offer(server.webrtc, "camera", "whep", &offer);
        (answer.status == 201).then_some(answer)
    })
    .expect("the camera is readable over WHEP");
    let location = answer.header("Location").expect("Location").to_string();
    let fragment = "a=ice-ufrag:abcd\r\na=ice-pwd:efghijklmnopqrstuvwxyz01\r\n\
                    a=candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host\r\n\
                    a=candidate:2 1 udp 2122260223 0b3f.local 40001 typ host\r\n";
    let trickle = ["Content-Type: application/trickle-ice-sdpfrag"];
    let patched = http::request(
        server.webrtc,
        "PATCH",
        &location,
        &trickle,
        Some(fragment.as_bytes()),
    )
    .expect("PATCH");
    assert_eq!(patched.status, 204, "{}", patched.text());
    let bad =
        http::request(server.webrtc, "PATCH", &location, &trickle, Some(b"hello")).expect("PATCH");
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("line 1"), "{}", bad.text());
    let unknown = http::request(
        server.webrtc,
        "PATCH",
        "/camera/whep/none",
        &trickle,
        Some(fragment.as_bytes()),
    )
    .expect("PATCH");
    assert_eq!(unknown.status, 404, "{}", unknown.text());
}

#[test]
fn a_client_that_used_a_host_name_gets_an_interface_candidate() {
    let server = start_on("", "");
    let config = RtcConfig::new().clear_codecs().enable_h264(true);
    let (_peer, offer) = Peer::offer(config, &[(MediaKind::Video, Direction::SendOnly)]);
    let host = format!("Host: localhost:{}", server.webrtc);
    let headers = ["Content-Type: application/sdp", host.as_str()];
    let answer = http::request(
        server.webrtc,
        "POST",
        "/cam/whip",
        &headers,
        Some(offer.as_bytes()),
    )
    .expect("an answer");
    assert_eq!(answer.status, 201, "{}", answer.text());
    let text = answer.text();
    let candidate = text
        .lines()
        .find(|l| l.starts_with("a=candidate:"))
        .unwrap_or_else(|| panic!("no candidate in {text}"));
    let ip: std::net::IpAddr = candidate
        .split_whitespace()
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{candidate}");

    let off = start_on("", "webrtcIPsFromInterfaces: no\n");
    let host = format!("Host: localhost:{}", off.webrtc);
    let headers = ["Content-Type: application/sdp", host.as_str()];
    let refused = http::request(
        off.webrtc,
        "POST",
        "/cam/whip",
        &headers,
        Some(offer.as_bytes()),
    )
    .expect("an answer");
    assert_eq!(refused.status, 500, "{}", refused.text());
    assert!(
        refused.text().contains("webrtcIPsFromInterfaces"),
        "{}",
        refused.text()
    );
}

#[test]
fn a_reader_is_closed_when_the_publisher_leaves() {
    let api = free_port();
    let server = start_with(&format!("api: yes\napiAddress: 127.0.0.1:{api}\n"));
    let camera = Clip::H264G711.publish(&server.ports.rtsp_url("camera"), "tcp");
    let config = RtcConfig::new().clear_codecs().enable_h264(true);
    let (mut peer, offer) = Peer::offer(config, &[(MediaKind::Video, Direction::RecvOnly)]);
    let answer = vigia_conformance::eventually(Duration::from_secs(10), || {
        let answer = post_offer(server.webrtc, "camera", "whep", &offer);
        (answer.status == 201).then_some(answer)
    })
    .expect("the camera is readable over WHEP");
    peer.accept(&answer.text());
    let frames = peer
        .pump(Instant::now() + Duration::from_secs(3))
        .into_iter()
        .filter(|e| matches!(e, Event::MediaData(_)))
        .count();
    assert!(frames > 25, "{frames} frames before the publisher left");
    let listed = |api: u16| {
        let list = http::get(api, "/v3/webrtcsessions/list", &[]).expect("list");
        let list: serde_json::Value = serde_json::from_str(&list.text()).expect("JSON");
        list["itemCount"].as_u64().unwrap_or(99)
    };
    assert_eq!(listed(api), 1);

    drop(camera);
    peer.pump(Instant::now() + Duration::from_secs(2));
    let closed =
        vigia_conformance::eventually(Duration::from_secs(5), || (listed(api) == 0).then_some(()));
    assert!(
        closed.is_some(),
        "the reader outlived its publisher:\n{}",
        server.vigia.logs()
    );
    assert!(
        server
            .vigia
            .logs()
            .contains("the path's stream ended; session closed")
    );
}
