use super::*;
use crate::rtsp::testutil;

/// What a case must decode to.
#[derive(Debug)]
enum Expect {
    Request {
        method: Method,
        uri: &'static str,
        cseq: Option<u32>,
        body: usize,
    },
    Response {
        status: u16,
        cseq: Option<u32>,
        body: usize,
    },
    Interleaved {
        channel: u8,
        len: usize,
    },
    Incomplete,
    Invalid(&'static str),
}

/// One case: name, bytes, expected decode, and whether re-encoding gives the same bytes.
struct Case {
    name: &'static str,
    input: Vec<u8>,
    expect: Expect,
    exact: bool,
}

fn case(name: &'static str, input: &[u8], expect: Expect, exact: bool) -> Case {
    Case {
        name,
        input: input.to_vec(),
        expect,
        exact,
    }
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let big_header = format!(
        "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX: {}\r\n\r\n",
        "a".repeat(MAX_HEADER_BYTES)
    );
    let many_headers = format!(
        "OPTIONS * RTSP/1.0\r\n{}\r\n",
        "X: 1\r\n".repeat(MAX_HEADERS + 1)
    );
    let big_body = format!(
        "ANNOUNCE rtsp://h/a RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY_BYTES + 1
    );
    vec![
        case(
            "options",
            b"OPTIONS rtsp://127.0.0.1:8554/cam1 RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf59.27.100\r\n\r\n",
            Request { method: Method::Options, uri: "rtsp://127.0.0.1:8554/cam1", cseq: Some(1), body: 0 },
            true,
        ),
        case(
            "options_star",
            b"OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n\r\n",
            Request { method: Method::Options, uri: "*", cseq: Some(7), body: 0 },
            true,
        ),
        case(
            "announce_body",
            b"ANNOUNCE rtsp://h/a RTSP/1.0\r\nContent-Type: application/sdp\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nv=0\r\n",
            Request { method: Method::Announce, uri: "rtsp://h/a", cseq: Some(2), body: 5 },
            true,
        ),
        case(
            "lf_only",
            b"DESCRIBE rtsp://h/a RTSP/1.0\ncseq: 3\naccept: application/sdp\n\n",
            Request { method: Method::Describe, uri: "rtsp://h/a", cseq: Some(3), body: 0 },
            false,
        ),
        case(
            "leading_crlf_keepalive",
            b"\r\n\r\nGET_PARAMETER rtsp://h/a RTSP/1.0\r\nCSeq: 9\r\nSession: 1234\r\n\r\n",
            Request { method: Method::GetParameter, uri: "rtsp://h/a", cseq: Some(9), body: 0 },
            false,
        ),
        case(
            "folded_header",
            b"SETUP rtsp://h/a/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;\r\n client_port=5000-5001\r\n\r\n",
            Request { method: Method::Setup, uri: "rtsp://h/a/trackID=0", cseq: Some(3), body: 0 },
            false,
        ),
        case(
            "unknown_method",
            b"FOO rtsp://h/a RTSP/1.0\r\nCSeq: 4\r\n\r\n",
            Request { method: Method::Other("FOO".into()), uri: "rtsp://h/a", cseq: Some(4), body: 0 },
            true,
        ),
        case(
            "response_ok",
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: DESCRIBE, SETUP\r\n\r\n",
            Response { status: 200, cseq: Some(1), body: 0 },
            true,
        ),
        case(
            "response_401_two_challenges",
            b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm=\"IPCAM\", nonce=\"abc\"\r\nWWW-Authenticate: Basic realm=\"IPCAM\"\r\n\r\n",
            Response { status: 401, cseq: Some(2), body: 0 },
            true,
        ),
        case("interleaved_rtp", b"$\x00\x00\x04\x80\x60\x00\x01", Interleaved { channel: 0, len: 4 }, true),
        case("interleaved_empty", b"$\x03\x00\x00", Interleaved { channel: 3, len: 0 }, true),
        case("interleaved_truncated", b"$\x00\x00\x10\x80\x60", Incomplete, false),
        case("interleaved_header_truncated", b"$\x01", Incomplete, false),
        case("empty", b"", Incomplete, false),
        case("head_truncated", b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n", Incomplete, false),
        case(
            "body_truncated",
            b"ANNOUNCE rtsp://h/a RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 10\r\n\r\nv=0",
            Incomplete,
            false,
        ),
        case("garbage", b"\x00\x01\x02garbage\r\n\r\n", Invalid("request line is not 'METHOD URI RTSP/1.0'"), false),
        case(
            "leading_space_dollar_method",
            b" $ 1 RTSP/1.0\r\nCSeq: 1\r\n\r\n",
            Invalid("first line starts with whitespace"),
            false,
        ),
        case("http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Invalid("unsupported RTSP version"), false),
        case("rtsp2", b"RTSP/2.0 200 OK\r\nCSeq: 1\r\n\r\n", Invalid("unsupported RTSP version"), false),
        case("bad_status", b"RTSP/1.0 2x0 OK\r\n\r\n", Invalid("status code is not a number"), false),
        case("no_colon", b"OPTIONS * RTSP/1.0\r\nCSeq 1\r\n\r\n", Invalid("header line without ':'"), false),
        case(
            "bad_content_length",
            b"ANNOUNCE rtsp://h/a RTSP/1.0\r\nContent-Length: -1\r\n\r\n",
            Invalid("Content-Length is not a number"),
            false,
        ),
        case(
            "conflicting_content_length",
            b"ANNOUNCE rtsp://h/a RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            Invalid("conflicting Content-Length headers"),
            false,
        ),
        case("oversized_body", big_body.as_bytes(), Invalid("Content-Length exceeds MAX_BODY_BYTES (64 KiB)"), false),
        case("oversized_head", big_header.as_bytes(), Invalid("header section exceeds MAX_HEADER_BYTES (16 KiB)"), false),
        case("too_many_headers", many_headers.as_bytes(), Invalid("more than MAX_HEADERS (64) header fields"), false),
        case("not_utf8", b"OPTIONS * RTSP/1.0\r\nX: \xff\r\n\r\n", Invalid("header section is not UTF-8"), false),
    ]
}

fn check_decode(c: &Case) {
    let got = parse(&c.input);
    match (&c.expect, got) {
        (
            Expect::Request {
                method,
                uri,
                cseq,
                body,
            },
            Ok(Parsed::Request(r, n)),
        ) => {
            assert_eq!(
                (&r.method, r.uri.as_str(), r.cseq(), r.body.len()),
                (method, *uri, *cseq, *body)
            );
            assert_eq!(n, c.input.len());
        }
        (Expect::Response { status, cseq, body }, Ok(Parsed::Response(r, n))) => {
            assert_eq!(
                (r.status.0, r.headers.cseq(), r.body.len()),
                (*status, *cseq, *body)
            );
            assert_eq!(n, c.input.len());
        }
        (
            Expect::Interleaved { channel, len },
            Ok(Parsed::Interleaved {
                channel: ch,
                payload,
                consumed,
            }),
        ) => {
            assert_eq!(
                (ch, payload.len(), consumed),
                (*channel, *len, c.input.len())
            );
        }
        (Expect::Incomplete, Err(ParseError::Incomplete)) => {}
        (Expect::Invalid(what), Err(ParseError::Invalid { what: w, pos })) => {
            assert_eq!(w, *what);
            assert!(pos <= c.input.len());
        }
        (e, g) => panic!("{}: expected {e:?}, got {g:?}", c.name),
    }
}

fn encode(p: &Parsed, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match p {
        Parsed::Request(r, _) => r.write_to(&mut out),
        Parsed::Response(r, _) => r.write_to(&mut out),
        Parsed::Interleaved {
            channel, payload, ..
        } => {
            assert!(write_interleaved(
                *channel,
                &input[payload.clone()],
                &mut out
            ));
        }
    }
    out
}

#[test]
fn decode_cases() {
    for c in cases() {
        check_decode(&c);
    }
}

#[test]
fn encode_cases() {
    for c in cases().iter().filter(|c| c.exact) {
        let p = parse(&c.input).unwrap();
        assert_eq!(encode(&p, &c.input), c.input, "{}", c.name);
    }
}

/// Every prefix of a valid message is `Incomplete`, never `Invalid`.
#[test]
fn prefixes_are_incomplete() {
    for c in cases().iter().filter(|c| c.exact) {
        for end in 0..c.input.len() {
            assert_eq!(
                parse(&c.input[..end]),
                Err(ParseError::Incomplete),
                "{} at {end}",
                c.name
            );
        }
    }
}

/// Captured ffmpeg and GStreamer dialogs parse message by message and re-encode byte for byte.
#[test]
fn captured_dialogs() {
    for (name, text) in testutil::DIALOGS {
        let msgs = testutil::dialog(text);
        assert!(msgs.len() >= 8, "{name}");
        for (i, (_, bytes)) in msgs.iter().enumerate() {
            let p = parse(bytes).unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
            assert_eq!(p.consumed(), bytes.len(), "{name} #{i}");
            assert_eq!(&encode(&p, bytes), bytes, "{name} #{i}");
        }
    }
}

/// Several messages and frames back to back are taken one at a time.
#[test]
fn pipelined() {
    let mut buf = Vec::new();
    buf.extend_from_slice(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    buf.extend_from_slice(b"$\x01\x00\x02ab");
    buf.extend_from_slice(b"GET_PARAMETER rtsp://h/a RTSP/1.0\r\nCSeq: 2\r\n\r\n");
    let mut rest = &buf[..];
    let mut kinds = Vec::new();
    while let Ok(p) = parse(rest) {
        kinds.push(matches!(p, Parsed::Interleaved { .. }));
        rest = &rest[p.consumed()..];
    }
    assert_eq!(kinds, [false, true, false]);
    assert!(rest.is_empty());
}

#[test]
fn headers_case_insensitive() {
    let Ok(Parsed::Request(r, _)) =
        parse(b"PLAY rtsp://h/a RTSP/1.0\r\ncseq: 5\r\nSESSION: abc\r\n\r\n")
    else {
        panic!()
    };
    assert_eq!(r.cseq(), Some(5));
    assert_eq!(r.headers.get("Session"), Some("abc"));
}

#[test]
fn content_length_is_rewritten() {
    let mut r = Response::new(StatusCode::OK)
        .with_header("CSeq", "1")
        .with_header("Content-Length", "99");
    r.body = Bytes::from_static(b"abc");
    let mut out = Vec::new();
    r.write_to(&mut out);
    assert_eq!(
        out,
        b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 3\r\n\r\nabc"
    );
}

#[test]
fn seeds_are_in_the_fuzz_corpus() {
    let mut seeds: Vec<(String, Vec<u8>)> = cases()
        .into_iter()
        .map(|c| (c.name.to_owned(), c.input))
        .collect();
    seeds.extend(testutil::client_dialog_seeds());
    testutil::check_seeds("rtsp_message", &seeds);
}

#[test]
fn parse_bytes_slices_body() {
    let buf = Bytes::from_static(
        b"\r\nANNOUNCE rtsp://h/a RTSP/1.0\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nv=0\r\nrest",
    );
    let Ok(Parsed::Request(r, n)) = parse_bytes(&buf) else {
        panic!()
    };
    assert_eq!((&r.body[..], n), (&b"v=0\r\n"[..], buf.len() - 4));
    assert_eq!(r.body.as_ptr(), buf[n - 5..].as_ptr(), "no copy");
    assert_eq!(parse(&buf), parse_bytes(&buf));
}

#[test]
fn interleaved_header_frames_up_to_65535_bytes() {
    for (len, header) in [
        (0, Some([b'$', 3, 0, 0])),
        (1412, Some([b'$', 3, 0x05, 0x84])),
        (65_535, Some([b'$', 3, 0xFF, 0xFF])),
        (65_536, None),
    ] {
        assert_eq!(interleaved_header(3, len), header, "{len} bytes");
    }
    let mut out = Vec::new();
    assert!(!write_interleaved(3, &vec![0; 65_536], &mut out));
    assert!(out.is_empty(), "nothing written for an oversized payload");
}
