//! Bad input on the RTSP port: each gets a 4xx answer or a closed connection and a log line,
//! never a crash, and the server keeps serving everyone else.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use vigia_conformance::probe::ffprobe;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Ports, Vigia};

fn server() -> (Vigia, Ports) {
    Vigia::start_on_fresh_ports("paths:\n  demo:\n    source: synthetic\n  all_others:\n")
}

/// Sends `bytes` on a fresh connection and returns what came back before the server answered
/// or closed (bounded by a 5 s timeout).
fn send_and_collect(port: u16, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn assert_rejected(answer: &str, what: &str) {
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    assert!(
        answer.is_empty() || status.is_some_and(|s| (400..500).contains(&s)),
        "{what}: expected a 4xx or a closed connection, got {answer:?}"
    );
}

fn assert_still_serving(vigia: &mut Vigia, ports: &Ports) {
    assert!(vigia.is_running(), "vigia died:\n{}", vigia.logs());
    let probe = ffprobe(
        &ports.rtsp_url("demo"),
        &["-rtsp_transport", "tcp"],
        Some(1),
    );
    assert!(
        probe.stream("video").is_some(),
        "demo no longer served:\n{}",
        vigia.logs()
    );
}

fn sdp_with_media(count: usize) -> String {
    let mut sdp = String::from("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n");
    for i in 0..count {
        sdp.push_str(&format!(
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID={i}\r\n"
        ));
    }
    sdp
}

fn announce(url: &str, sdp: &str) -> Vec<u8> {
    format!(
        "ANNOUNCE {url} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

#[test]
fn garbage_oversized_and_truncated_input_is_rejected_without_harm() {
    let (mut vigia, ports) = server();
    let url = ports.rtsp_url("cam1");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n".to_vec()),
        ("bad request line", b"HELLO\r\n\r\n".to_vec()),
        ("oversized header", {
            let mut r = b"OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\nX-Big: ".to_vec();
            r.extend(std::iter::repeat_n(b'a', 200_000));
            r
        }),
        (
            "bad content length",
            b"ANNOUNCE rtsp://x/a RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -5\r\n\r\n".to_vec(),
        ),
        (
            "huge content length",
            b"ANNOUNCE rtsp://x/a RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999999\r\n\r\n"
                .to_vec(),
        ),
        (
            "truncated interleaved frame",
            b"$\x00\xff\xff\x80\x60".to_vec(),
        ),
        ("absurd media count", announce(&url, &sdp_with_media(5000))),
    ];
    for (what, bytes) in cases {
        let answer = send_and_collect(ports.rtsp, &bytes);
        assert_rejected(&answer, what);
        assert_still_serving(&mut vigia, &ports);
    }
}

/// A publisher that sends RTP with impossible padding and extension lengths.
#[test]
fn rtp_with_bad_padding_and_extension_lengths_is_dropped_and_logged() {
    let (mut vigia, ports) = server();
    let url = ports.rtsp_url("badrtp");
    let mut client = RtspClient::connect(ports.rtsp, &url).unwrap();
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";
    client.record_tcp(sdp).unwrap();

    let bad_padding = [0xA0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65, 0x00, 0xFF];
    let bad_extension = [
        0x90, 96, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0xBE, 0xDE, 0x7F, 0xFF, 0x65,
    ];
    let too_short = [0x80, 96, 0];
    for packet in [&bad_padding[..], &bad_extension[..], &too_short[..]] {
        client.send_frame(0, packet).unwrap();
    }
    let keepalive = client.request("GET_PARAMETER", &url, &[]).unwrap();
    assert_eq!(
        keepalive.status, 200,
        "the publisher's connection survives bad packets"
    );
    assert_still_serving(&mut vigia, &ports);
    let logs = vigia.logs();
    assert!(
        logs.contains("invalid RTP packet") || logs.contains("bad RTP"),
        "bad packets logged:\n{logs}"
    );
}
