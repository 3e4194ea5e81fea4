//! TLS on the listeners (issue 13 item 3), with a CA and certificates made at test time: ffmpeg
//! reads the demo over RTSPS (`rtspEncryption: strict`, no plain RTSP listener, UDP refused) and
//! LL-HLS over HTTPS; the API, metrics and playback answer over HTTPS to a client that trusts only
//! the test CA; a certificate replaced on disk is served to new connections without a restart,
//! and a bad replacement leaves the last good one in place; a client stalled in the handshake is
//! closed after `readTimeout` and counts against `maxConnectionsPerIP` meanwhile.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use vigia_conformance::tls::{ServerCert, TestCa};
use vigia_conformance::{Ports, TempDir, Vigia, eventually, free_port, http, run_with_timeout};

/// Video frames ffmpeg must decode from each stream.
const FRAMES: usize = 50;

/// A test CA, a first server certificate, and the directory holding `ca.pem`, `server.key` and
/// `server.crt`.
fn pki() -> (TestCa, ServerCert, TempDir) {
    let dir = TempDir::new("vigia-tls");
    let ca = TestCa::new();
    ca.write(dir.path());
    let cert = ca.issue("vigia-first");
    cert.write(dir.path());
    (ca, cert, dir)
}

/// `<prefix>ServerKey` and `<prefix>ServerCert` lines naming the files in `dir`.
fn files_yaml(prefix: &str, dir: &Path) -> String {
    let dir = dir.display();
    format!("{prefix}ServerKey: {dir}/server.key\n{prefix}ServerCert: {dir}/server.crt\n")
}

/// Reads `url` with ffmpeg (input options `input` first) and returns how many video frames it
/// decoded, up to [`FRAMES`]; panics with ffmpeg's errors when it fails.
fn decoded_video_frames(input: &[&str], url: &str) -> usize {
    let frames = FRAMES.to_string();
    let mut args = vec!["-hide_banner", "-loglevel", "error"];
    args.extend_from_slice(input);
    args.extend_from_slice(&["-i", url, "-map", "0:v", "-frames:v", &frames]);
    args.extend_from_slice(&["-f", "framecrc", "-"]);
    let out = run_with_timeout("ffmpeg", &args, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().filter(|l| !l.starts_with('#')).count()
}

#[test]
fn rtsps_strict_serves_the_demo_to_ffmpeg_over_tls_only() {
    let (ca, first, dir) = pki();
    let ports = Ports::fresh();
    let rtsps = free_port();
    let config = format!(
        "{}rtspEncryption: strict\nrtspsAddress: 127.0.0.1:{rtsps}\n{}hls: no\n\
         paths:\n  demo:\n    source: synthetic\n",
        ports.yaml(),
        files_yaml("rtsp", dir.path())
    );
    let vigia = Vigia::start(&config, rtsps);
    assert!(
        TcpStream::connect(("127.0.0.1", ports.rtsp)).is_err(),
        "strict: the plain RTSP listener must not be open"
    );
    assert_eq!(ca.served_certificate(rtsps), Some(first.der.clone()));
    let url = format!("rtsps://127.0.0.1:{rtsps}/demo");
    let frames = decoded_video_frames(&["-rtsp_transport", "tcp"], &url);
    assert_eq!(frames, FRAMES, "{}", vigia.logs());
    // ffmpeg always asks for TCP over RTSPS: ask for UDP by hand.
    let setup = format!(
        "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\n\
         Transport: RTP/AVP;unicast;client_port=20000-20001\r\n\r\n"
    );
    let answer = ca.exchange(rtsps, &setup).expect("an answer over RTSPS");
    assert!(
        answer.starts_with("RTSP/1.0 461"),
        "UDP over RTSPS: {answer}"
    );
    assert!(
        vigia.logs_soon_contain(
            "RTSPS carries media only interleaved",
            Duration::from_secs(5)
        ),
        "{}",
        vigia.logs()
    );
}

/// The HTTPS listeners of [`https_listeners_serve_and_reload_their_certificate`].
struct HttpsPorts {
    api: u16,
    metrics: u16,
    playback: u16,
}

fn start_https(dir: &Path) -> (Vigia, Ports, HttpsPorts) {
    let ports = Ports::fresh();
    let https = HttpsPorts {
        api: free_port(),
        metrics: free_port(),
        playback: free_port(),
    };
    let mut config = ports.yaml();
    config.push_str(&format!("hlsEncryption: yes\n{}", files_yaml("hls", dir)));
    for (name, port) in [
        ("api", https.api),
        ("metrics", https.metrics),
        ("playback", https.playback),
    ] {
        config.push_str(&format!(
            "{name}: yes\n{name}Address: 127.0.0.1:{port}\n{name}Encryption: yes\n{}",
            files_yaml(name, dir)
        ));
    }
    config.push_str("paths:\n  demo:\n    source: synthetic\n");
    let vigia = Vigia::start(&config, ports.rtsp);
    (vigia, ports, https)
}

#[test]
fn https_listeners_serve_and_reload_their_certificate() {
    let (ca, first, dir) = pki();
    let (vigia, ports, https) = start_https(dir.path());
    let (api, leaf) = ca
        .https_get(https.api, "/v3/paths/list")
        .expect("API over HTTPS");
    assert_eq!((api.status, &leaf), (200, &first.der), "{}", api.text());
    assert!(api.text().contains("\"demo\""), "{}", api.text());
    let (metrics, _) = ca
        .https_get(https.metrics, "/metrics")
        .expect("metrics over HTTPS");
    assert_eq!(metrics.status, 200, "{}", metrics.text());
    assert!(metrics.text().contains("paths"), "{}", metrics.text());
    let (playback, leaf) = ca
        .https_get(https.playback, "/list?path=demo")
        .expect("playback over HTTPS");
    assert!((200..600).contains(&playback.status) && leaf == first.der);
    let plain = http::get(https.api, "/v3/paths/list", &[]);
    assert!(
        plain.is_none_or(|r| r.status != 200),
        "plain HTTP on an HTTPS port"
    );
    let playlist = eventually(Duration::from_secs(20), || {
        let (r, _) = ca.https_get(ports.hls, "/demo/index.m3u8")?;
        (r.status == 200).then_some(r)
    });
    assert!(
        playlist.is_some(),
        "no playlist over HTTPS: {}",
        vigia.logs()
    );
    let ca_file = dir.path().join("ca.pem").display().to_string();
    let url = format!("https://127.0.0.1:{}/demo/index.m3u8", ports.hls);
    let verify = ["-tls_verify", "1", "-ca_file", &ca_file];
    assert_eq!(decoded_video_frames(&verify, &url), FRAMES);

    let second = ca.issue("vigia-second");
    assert_ne!(second.der, first.der);
    second.write(dir.path());
    for port in [ports.hls, https.api, https.metrics, https.playback] {
        let served = eventually(Duration::from_secs(5), || {
            (ca.served_certificate(port)? == second.der).then_some(())
        });
        assert!(
            served.is_some(),
            "port {port} still serves the old certificate 5 s after the files were replaced:\n{}",
            vigia.logs()
        );
    }
    assert!(vigia.logs().contains("certificate reloaded"));
    let (api, leaf) = ca.https_get(https.api, "/v3/paths/list").unwrap();
    assert_eq!((api.status, leaf), (200, second.der.clone()));

    std::fs::write(dir.path().join("server.crt"), "not a certificate\n").unwrap();
    assert!(
        vigia.logs_soon_contain("does not load", Duration::from_secs(5)),
        "{}",
        vigia.logs()
    );
    assert_eq!(ca.served_certificate(https.api), Some(second.der.clone()));
    assert_eq!(ca.served_certificate(ports.hls), Some(second.der));
}

#[test]
fn a_missing_certificate_stops_the_server_naming_the_key() {
    let dir = TempDir::new("vigia-tls-missing");
    let ports = Ports::fresh();
    let config = format!(
        "{}hlsEncryption: yes\n{}",
        ports.yaml(),
        files_yaml("hls", dir.path())
    );
    std::fs::write(dir.path().join("vigia.yml"), config).unwrap();
    let out = run_with_timeout(
        &vigia_conformance::vigia_bin().display().to_string(),
        &[&dir.path().join("vigia.yml").display().to_string()],
        Duration::from_secs(15),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("hlsServerKey"), "{text}");
}

/// Whether the server closed `stream` within `limit` (a read gives end of file or an error).
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut byte = [0u8; 1];
    !matches!(stream.read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut)
}

#[test]
fn a_stalled_tls_handshake_is_closed_after_read_timeout_and_counts_against_the_cap() {
    let (ca, first, dir) = pki();
    let ports = Ports::fresh();
    let config = format!(
        "{}readTimeout: 2s\nmaxConnectionsPerIP: 3\nhlsEncryption: yes\n{}\
         paths:\n  demo:\n    source: synthetic\n",
        ports.yaml(),
        files_yaml("hls", dir.path())
    );
    let vigia = Vigia::start(&config, ports.rtsp);
    let opened = Instant::now();
    let mut silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", ports.hls)).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        ca.served_certificate(ports.hls),
        None,
        "a fourth connection from the same IP must be refused while three stall"
    );
    for stream in &mut silent {
        assert!(
            closed_within(stream, Duration::from_secs(5)),
            "a stalled handshake stayed open"
        );
    }
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5),
        "closed after {waited:?}, readTimeout is 2s"
    );
    let served = eventually(Duration::from_secs(3), || {
        (ca.served_certificate(ports.hls)? == first.der).then_some(())
    });
    assert!(
        served.is_some(),
        "the cap was not released: {}",
        vigia.logs()
    );
    assert!(
        vigia.logs_soon_contain(
            "closed connections whose TLS handshake failed or did not finish within 2s",
            Duration::from_secs(15)
        ),
        "{}",
        vigia.logs()
    );
}
