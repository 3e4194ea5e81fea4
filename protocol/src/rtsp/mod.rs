//! RTSP 1.0 (RFC 2326): messages, interleaved frames, server session state machine.
//!
//! - [`message`]: incremental parser ([`parse`]) and serializers for requests, responses and
//!   `$`-framed interleaved data.
//! - [`headers`]: typed `Transport`, `Session`, `Range` and `RTP-Info` values.
//! - [`url`]: path, query and track number of RTSP URLs.
//! - [`server`]: [`ServerConnection`], the sans-IO state machine of one server connection.
//!
//! A driver reads bytes into a buffer, calls [`parse`] until `Incomplete`, feeds requests to
//! [`ServerConnection::handle_request`], resolves [`ServerQuery`]s against its paths, and writes
//! the responses it gets back.

pub mod headers;
pub mod message;
pub mod server;
pub mod url;

use std::time::{Duration, Instant};

use bytes::Bytes;

pub use headers::{
    HeaderError, LowerTransport, NptRange, RtpInfoEntry, SessionHeader, Transport, TransportMode,
};
pub use message::{
    Headers, Method, ParseError, Parsed, Request, Response, StatusCode, interleaved_header, parse,
    parse_bytes, write_interleaved,
};
pub use server::{
    QueryKind, ServerAnswer, ServerConfig, ServerConnection, ServerQuery, SessionEvent, SetupTrack,
    State, Step,
};

/// Fuzz entry point for the message parser: every successful parse must re-serialize into bytes
/// that parse to the same message.
#[doc(hidden)]
pub fn fuzz_message(data: &[u8]) {
    let mut rest = data;
    while let Ok(parsed) = parse(rest) {
        let consumed = parsed.consumed();
        assert!(
            consumed > 0 && consumed <= rest.len(),
            "consumed out of range"
        );
        check_reencode(rest, &parsed);
        rest = rest.get(consumed..).unwrap_or_default();
    }
}

/// Fuzz entry point for the server state machine: feeds each parsed message through a
/// [`ServerConnection`] (session id `12345678`, as in the captured dialogs), answers queries
/// deterministically from the CSeq, advances simulated time
/// and calls `check_invariants` after every step. `start` is the simulated time of the first
/// message (the caller reads the clock once; this crate never does); later times derive from
/// the input.
#[doc(hidden)]
pub fn fuzz_session(data: &[u8], start: Instant) {
    let mut now = start;
    let mut conn = ServerConnection::new(ServerConfig::default(), now, "12345678".to_owned());
    let mut rest = data;
    while let Ok(parsed) = parse(rest) {
        rest = rest.get(parsed.consumed()..).unwrap_or_default();
        match parsed {
            Parsed::Request(req, _) => {
                let cseq = req.cseq().unwrap_or(0);
                now += Duration::from_secs(u64::from(cseq % 97));
                fuzz_request(&mut conn, now, &req);
            }
            Parsed::Interleaved { channel, .. } => {
                now += Duration::from_secs(u64::from(channel));
                conn.note_activity(now);
                let _ = conn.channel_track(channel);
            }
            Parsed::Response(..) => {}
        }
        if let Some(deadline) = conn.poll_timeout() {
            assert!(conn.session_id().is_some());
            if conn.handle_timeout(now).is_some() {
                assert!(deadline <= now);
                assert_eq!(conn.state(), State::Initial);
            }
        }
        conn.check_invariants();
    }
}

fn fuzz_request(conn: &mut ServerConnection, now: Instant, req: &Request) {
    let cseq = req.cseq().unwrap_or(0);
    let resp = match conn.handle_request(now, req) {
        Step::Respond(r) => r,
        Step::NeedsServer(q) => {
            conn.check_invariants();
            conn.answer(now, fuzz_answer(&q, cseq))
        }
    };
    if let Some(c) = req.headers.get("CSeq") {
        assert_eq!(resp.headers.get("CSeq"), Some(c), "CSeq must be echoed");
    }
    let mut out = Vec::new();
    resp.write_to(&mut out);
    assert!(
        matches!(parse(&out), Ok(Parsed::Response(..))),
        "response must parse"
    );
}

/// Small CSeqs (every captured dialog) get the answer a working server gives, so the fuzzer
/// starts deep in the state machine; CSeq/100 picks rejections and odd answers.
fn fuzz_answer(q: &ServerQuery, cseq: u32) -> ServerAnswer {
    let selector = cseq / 100;
    match selector % 5 {
        1 => return ServerAnswer::Reject(StatusCode::NOT_FOUND),
        2 => {
            return ServerAnswer::Unauthorized {
                challenges: crate::auth::challenge_headers("r", "n"),
            };
        }
        3 => return ServerAnswer::Accept,
        _ => {}
    }
    match &q.kind {
        QueryKind::Describe => ServerAnswer::Describe {
            sdp: Bytes::from_static(b"v=0\r\n"),
        },
        QueryKind::Setup { transport, .. } => {
            let mut transport = transport.clone();
            if selector % 5 == 4 {
                // A driver that overrides the channels: the machine must stay consistent.
                transport.interleaved = Some((0, 1));
            }
            ServerAnswer::Setup { transport }
        }
        QueryKind::Play { .. } => ServerAnswer::Play {
            rtp_info: vec![RtpInfoEntry::default()],
        },
        _ => ServerAnswer::Accept,
    }
}

fn check_reencode(buf: &[u8], parsed: &Parsed) {
    let mut out = Vec::new();
    match parsed {
        Parsed::Request(req, _) => {
            req.write_to(&mut out);
            let Ok(Parsed::Request(again, n)) = parse(&out) else {
                panic!("re-encoded request does not parse");
            };
            assert_eq!(n, out.len());
            assert_eq!(
                (&again.method, &again.uri, &again.body),
                (&req.method, &req.uri, &req.body)
            );
            assert_eq!(again.headers.len(), req.headers.len());
        }
        Parsed::Response(resp, _) => {
            resp.write_to(&mut out);
            let Ok(Parsed::Response(again, n)) = parse(&out) else {
                panic!("re-encoded response does not parse");
            };
            assert_eq!(n, out.len());
            assert_eq!((again.status, &again.body), (resp.status, &resp.body));
        }
        Parsed::Interleaved {
            channel, payload, ..
        } => {
            let data = buf
                .get(payload.clone())
                .expect("payload range inside buffer");
            assert!(message::write_interleaved(*channel, data, &mut out));
        }
    }
}

/// Helpers shared by the unit tests: captured dialogs and the fuzz seed writer.
#[cfg(test)]
pub(crate) mod testutil {
    /// Splits a dialog capture (`>>>C` / `<<<S` markers, one message each) into
    /// `(from_client, bytes)`.
    pub(crate) fn dialog(text: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let text = std::str::from_utf8(text).unwrap();
        let mut out = Vec::new();
        for block in text.split(">>>C\n").filter(|b| !b.is_empty()) {
            let mut parts = block.split("<<<S\n");
            let client = parts.next().unwrap();
            out.push((true, client.strip_suffix('\n').unwrap().as_bytes().to_vec()));
            for server in parts {
                out.push((
                    false,
                    server.strip_suffix('\n').unwrap().as_bytes().to_vec(),
                ));
            }
        }
        out
    }

    /// One fuzz seed per captured dialog: everything its client sent, concatenated.
    pub(crate) fn client_dialog_seeds() -> Vec<(String, Vec<u8>)> {
        DIALOGS
            .iter()
            .map(|(name, text)| {
                let sent = dialog(text).into_iter().filter(|m| m.0).flat_map(|m| m.1);
                (format!("dialog_{name}"), sent.collect())
            })
            .collect()
    }

    /// The captured dialogs under `testdata/`.
    pub(crate) const DIALOGS: &[(&str, &[u8])] = &[
        (
            "ffmpeg_record",
            include_bytes!("testdata/ffmpeg_record_dialog.txt"),
        ),
        (
            "ffmpeg_play_udp",
            include_bytes!("testdata/ffmpeg_play_udp_dialog.txt"),
        ),
        (
            "gstreamer_record",
            include_bytes!("testdata/gstreamer_record_dialog.txt"),
        ),
        (
            "gstreamer_play_tcp",
            include_bytes!("testdata/gstreamer_play_tcp_dialog.txt"),
        ),
    ];

    /// Checks that every seed is in `fuzz/corpus/<target>/` with the same bytes, so the corpus
    /// replay (and the fuzzer) starts from the unit tests' cases; with `VIGIA_WRITE_CORPUS` set,
    /// writes them there instead (after a case is added or changed).
    pub(crate) fn check_seeds(target: &str, seeds: &[(String, Vec<u8>)]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let write = std::env::var_os("VIGIA_WRITE_CORPUS").is_some();
        if write {
            std::fs::create_dir_all(&dir).unwrap();
        }
        for (name, bytes) in seeds {
            let file = dir.join(name);
            if write {
                std::fs::write(&file, bytes).unwrap();
            }
            let stored = std::fs::read(&file).unwrap_or_default();
            assert!(
                stored == *bytes,
                "seed {name} is missing or stale in {}: run the test with VIGIA_WRITE_CORPUS=1",
                dir.display()
            );
        }
    }
}
