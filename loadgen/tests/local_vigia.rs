//! Runs `vigia-loadgen` against the release `vigia` (5 cameras × 2 RTSP readers for ~10 s;
//! 2 cameras × 1 LL-HLS reader for ~8 s; 2 cameras × 3 WHEP readers for ~8 s; 2 cameras sending
//! RTP over UDP × 2 RTSP readers for ~8 s) and checks both reports.
//! Needs `cargo build --release --bin vigia` (or `VIGIA_BIN`).

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The release `vigia`: `VIGIA_BIN`, else `target/release/vigia` of this workspace.
fn vigia_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("VIGIA_BIN") {
        return PathBuf::from(bin);
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/vigia");
    assert!(
        bin.exists(),
        "build it: cargo build --release -j2 --bin vigia"
    );
    bin
}

/// A port below 32768 free for TCP and UDP, with `port + 1` free for UDP too.
fn free_port(from: u16) -> u16 {
    (from..32_000)
        .step_by(2)
        .find(|&p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok()
                && UdpSocket::bind(("0.0.0.0", p)).is_ok()
                && UdpSocket::bind(("0.0.0.0", p + 1)).is_ok()
        })
        .expect("a free port")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server's ports: RTSP, HLS, WHEP (TCP) and the first of four UDP ports (RTP, RTCP,
/// multicast RTP and RTCP); WebRTC's UDP port is `whep`.
struct ServerPorts {
    rtsp: u16,
    hls: u16,
    whep: u16,
    rtp: u16,
}

/// Starts `vigia` with `maxConnectionsPerIP: 2`: every run opens more connections than that, so
/// it passes only because the load generator spreads them over 127.0.0.2..=254.
fn start_vigia(dir: &std::path::Path, p: &ServerPorts) -> Server {
    let (rtsp, rtp) = (p.rtsp, p.rtp);
    let config = format!(
        "rtspAddress: 127.0.0.1:{rtsp}\nhlsAddress: 127.0.0.1:{}\nrtpAddress: :{rtp}\n\
         rtcpAddress: :{}\nmulticastRTPPort: {}\nmulticastRTCPPort: {}\n\
         webrtcAddress: 127.0.0.1:{}\nwebrtcLocalUDPAddress: 127.0.0.1:{}\n\
         maxConnectionsPerIP: 2\npaths:\n  all_others:\n",
        p.hls,
        rtp + 1,
        rtp + 2,
        rtp + 3,
        p.whep,
        p.whep,
    );
    std::fs::write(dir.join("vigia.yml"), config).unwrap();
    let log = std::fs::File::create(dir.join("vigia.log")).unwrap();
    let child = Command::new(vigia_bin())
        .arg("vigia.yml")
        .current_dir(dir)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn vigia");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", rtsp)).is_err() {
        assert!(Instant::now() < deadline, "vigia did not listen on {rtsp}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

/// Starts `vigia` on free ports (searched from a base that differs per `salt`, so tests running
/// in parallel do not race for the same port), runs `vigia-loadgen` with `args` against it and
/// returns the JSON report and the HTML one.
fn run_loadgen(salt: u16, args: &[&str]) -> (serde_json::Value, String) {
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("vigia-loadgen-test-{pid}-{salt}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = 20_000 + (pid % 500) as u16 * 4 + salt * 2_500;
    let rtsp = free_port(base);
    let hls = free_port(rtsp + 2);
    let whep = free_port(hls + 2);
    let rtp = free_port(whep + 2);
    let ports = ServerPorts {
        rtsp,
        hls,
        whep,
        rtp,
    };
    let server = start_vigia(&dir, &ports);
    let report = dir.join("out.json");
    let status = Command::new(env!("CARGO_BIN_EXE_vigia-loadgen"))
        .args(["--target", "127.0.0.1", "--rtsp-port", &rtsp.to_string()])
        .args(["--hls-port", &hls.to_string(), "--quiet"])
        .args(["--webrtc-port", &whep.to_string()])
        .args(["--server-pid", &server.0.id().to_string()])
        .args(args)
        .arg("--report")
        .arg(&report)
        .status()
        .expect("run vigia-loadgen");
    assert!(status.success());
    let json = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let html = std::fs::read_to_string(dir.join("out.html")).unwrap();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    (json, html)
}

/// Checks what every run must show: at least `min_samples` latency samples with a median under
/// `max_p50_ms`, no gap, no error, every frame stamped, server sampled, HTML with plots.
fn check_report(
    json: &serde_json::Value,
    html: &str,
    protocol: &str,
    min_samples: u64,
    max_p50_ms: f64,
) {
    let s = &json["summary"];
    let lat = &s["latency"][protocol];
    assert!(lat["samples"].as_u64().unwrap() >= min_samples, "{lat}");
    let p50 = lat["p50_ms"].as_f64().unwrap();
    let p99 = lat["p99_ms"].as_f64().unwrap();
    assert!(
        (0.0..max_p50_ms).contains(&p50) && p99 < 2000.0,
        "implausible latency {lat}"
    );
    assert_eq!(s["gaps"], 0, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    assert_eq!(s["frames_unstamped"], 0, "{s}");
    assert!(s["server"]["cpu_s_per_stream_minute"].as_f64().unwrap() > 0.0);
    assert!(html.contains("<svg") && !html.contains("<script"));
    // The last second still counts every camera and reader: none stops before it is taken.
    let last = json["series"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (last["cameras"].as_u64(), last["readers"].as_u64()),
        (s["cameras_peak"].as_u64(), s["readers_peak"].as_u64()),
        "{last}"
    );
}

#[test]
fn five_cameras_two_rtsp_readers_each() {
    let args = [
        "--cameras",
        "5",
        "--readers-per-camera",
        "2",
        "--protocol",
        "rtsp",
    ];
    let (json, html) = run_loadgen(
        0,
        &[&args[..], &["--duration", "8s", "--ramp", "1s"]].concat(),
    );
    check_report(&json, &html, "rtsp", 1000, 200.0);
    let s = &json["summary"];
    assert_eq!(
        (s["cameras_peak"].as_u64(), s["readers_peak"].as_u64()),
        (Some(5), Some(10))
    );
    assert!(json["series"].as_array().unwrap().len() >= 8);
}

#[test]
fn two_cameras_one_ll_hls_reader_each() {
    let args = [
        "--cameras",
        "2",
        "--readers-per-camera",
        "1",
        "--protocol",
        "hls",
    ];
    let (json, html) = run_loadgen(
        1,
        &[&args[..], &["--duration", "6s", "--ramp", "0s"]].concat(),
    );
    // A frame waits up to one 200 ms part before it can be fetched.
    check_report(&json, &html, "hls", 100, 1000.0);
    assert_eq!(json["summary"]["readers_peak"].as_u64(), Some(2));
}

#[test]
fn two_cameras_three_whep_readers_each() {
    let args = [
        "--cameras",
        "2",
        "--readers-per-camera",
        "3",
        "--protocol",
        "webrtc",
    ];
    let (json, html) = run_loadgen(
        2,
        &[&args[..], &["--duration", "6s", "--ramp", "0s"]].concat(),
    );
    // 6 readers × ~25 fps × ~4 s after ICE and DTLS.
    check_report(&json, &html, "webrtc", 400, 200.0);
    let s = &json["summary"];
    assert_eq!(s["readers_peak"].as_u64(), Some(6), "{s}");
    assert_eq!(s["stalls"], 0, "{s}");
    // SRTP datagrams of a ~500 kbit/s stream to 6 readers for several seconds.
    assert!(s["bytes_received"].as_u64().unwrap() > 6 * 100_000, "{s}");
    assert_eq!(json["options"]["protocol"], "webrtc");
}

#[test]
fn two_udp_cameras_two_rtsp_readers_each() {
    let args = [
        "--cameras",
        "2",
        "--readers-per-camera",
        "2",
        "--protocol",
        "rtsp",
        "--transport",
        "udp",
    ];
    let (json, html) = run_loadgen(
        3,
        &[&args[..], &["--duration", "6s", "--ramp", "0s"]].concat(),
    );
    // 4 readers × ~25 fps × ~5 s: the cameras' RTP arrived over UDP and was fanned out.
    check_report(&json, &html, "rtsp", 400, 200.0);
    let s = &json["summary"];
    assert_eq!(
        (s["cameras_peak"].as_u64(), s["readers_peak"].as_u64()),
        (Some(2), Some(4)),
        "{s}"
    );
    assert_eq!(json["options"]["transport"], "udp", "{}", json["options"]);
}
