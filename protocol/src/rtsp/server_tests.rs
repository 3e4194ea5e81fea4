use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::rtsp::message::{Parsed, parse};
use crate::rtsp::testutil;

fn req(text: &str) -> Request {
    match parse(text.as_bytes()) {
        Ok(Parsed::Request(r, _)) => r,
        other => panic!("not a request: {other:?}"),
    }
}

/// A driver that accepts everything and serves a fixed SDP.
fn accept_all(q: &ServerQuery) -> ServerAnswer {
    match &q.kind {
        QueryKind::Describe => ServerAnswer::Describe {
            sdp: Bytes::from_static(b"v=0\r\n"),
        },
        _ => ServerAnswer::Accept,
    }
}

/// Runs one request through the machine, answering queries with `driver`.
fn run(
    conn: &mut ServerConnection,
    now: Instant,
    r: &Request,
    driver: impl Fn(&ServerQuery) -> ServerAnswer,
) -> (Option<ServerQuery>, Response) {
    let out = match conn.handle_request(now, r) {
        Step::Respond(resp) => (None, resp),
        Step::NeedsServer(q) => {
            let a = driver(&q);
            let resp = conn.answer(now, a);
            (Some(q), resp)
        }
    };
    conn.check_invariants();
    out
}

fn new_conn(now: Instant) -> ServerConnection {
    ServerConnection::new(ServerConfig::default(), now, "sess1".to_owned())
}

/// Replays the client side of a captured dialog; returns the machine and every response.
fn replay(
    name: &str,
    driver: impl Fn(&ServerQuery) -> ServerAnswer + Copy,
) -> (ServerConnection, Vec<Response>) {
    let (_, text) = testutil::DIALOGS.iter().find(|d| d.0 == name).unwrap();
    let now = Instant::now();
    // The captures were made against a server that answered `Session: 12345678`.
    let mut conn = ServerConnection::new(ServerConfig::default(), now, "12345678".to_owned());
    let mut out = Vec::new();
    for (from_client, bytes) in testutil::dialog(text) {
        if !from_client {
            continue;
        }
        let Ok(Parsed::Request(r, _)) = parse(&bytes) else {
            panic!("{name}")
        };
        if r.method == Method::Teardown {
            break; // Checked separately; keeps the final state observable.
        }
        let (_, resp) = run(&mut conn, now, &r, driver);
        assert_eq!(
            resp.status,
            StatusCode::OK,
            "{name} {} -> {resp:?}",
            r.method
        );
        assert_eq!(resp.headers.get("CSeq"), r.headers.get("CSeq"));
        out.push(resp);
    }
    (conn, out)
}

#[test]
fn ffmpeg_record_dialog() {
    let (conn, resps) = replay("ffmpeg_record", accept_all);
    assert_eq!(conn.state(), State::Recording);
    assert_eq!(conn.path(), Some("cam1"));
    let tracks: Vec<_> = conn
        .setup_tracks()
        .iter()
        .map(|t| (t.track, t.transport.interleaved))
        .collect();
    assert_eq!(tracks, [(0, Some((0, 1))), (1, Some((2, 3)))]);
    assert_eq!(
        resps[2].headers.get("Transport"),
        Some("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record")
    );
    assert_eq!(resps[2].headers.get("Session"), Some("12345678;timeout=60"));
    assert_eq!(conn.channel_track(3), Some((1, true)));
    assert_eq!(
        conn.poll_timeout(),
        None,
        "TCP sessions live with their connection"
    );
}

#[test]
fn gstreamer_record_dialog_with_pause() {
    let (conn, _) = replay("gstreamer_record", accept_all);
    assert_eq!(
        conn.state(),
        State::PreRecord,
        "GStreamer pauses before TEARDOWN"
    );
}

#[test]
fn ffmpeg_play_udp_dialog_and_timeout() {
    let (mut conn, resps) = replay("ffmpeg_play_udp", accept_all);
    assert_eq!(conn.state(), State::Playing);
    assert_eq!(
        resps[1].headers.get("Content-Base"),
        Some("rtsp://127.0.0.1:18555/cam1/")
    );
    assert_eq!(
        resps[1].headers.get("Content-Type"),
        Some("application/sdp")
    );
    assert_eq!(
        resps[2].headers.get("Transport"),
        Some("RTP/AVP;unicast;client_port=19130-19131;server_port=8000-8001")
    );
    let t0 = conn.poll_timeout().expect("UDP sessions expire");
    conn.note_activity(t0 - Duration::from_secs(1));
    let t1 = conn.poll_timeout().unwrap();
    assert!(t1 > t0);
    assert_eq!(conn.handle_timeout(t1 - Duration::from_millis(1)), None);
    assert_eq!(
        conn.handle_timeout(t1),
        Some(SessionEvent::Expired {
            session_id: "12345678".into()
        })
    );
    assert_eq!(conn.state(), State::Initial);
    assert_eq!(conn.poll_timeout(), None);
    conn.check_invariants();
}

#[test]
fn gstreamer_play_tcp_dialog() {
    let (conn, _) = replay("gstreamer_play_tcp", accept_all);
    assert_eq!(conn.state(), State::Playing);
    assert_eq!(conn.setup_tracks().len(), 2);
}

#[test]
fn options_lists_methods() {
    let now = Instant::now();
    let mut c = new_conn(now);
    let (_, r) = run(
        &mut c,
        now,
        &req("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"),
        accept_all,
    );
    assert_eq!(r.headers.get("Public"), Some(PUBLIC_METHODS));
}

/// `(name, requests in order, expected status of the last one)`, each from a fresh connection
/// that accepts everything.
#[test]
fn state_errors() {
    let setup0 = "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n";
    let announce = "ANNOUNCE rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 48\r\n\r\nv=0\r\nm=video 0 RTP/AVP 96\r\na=control:trackID=0\r\n";
    let cases: &[(&str, &[&str], u16)] = &[
        ("missing_cseq", &["OPTIONS * RTSP/1.0\r\n\r\n"], 400),
        (
            "require",
            &["SETUP rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\nRequire: funky-feature\r\n\r\n"],
            551,
        ),
        (
            "unknown_method",
            &["FOO rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n"],
            501,
        ),
        (
            "play_before_setup",
            &["PLAY rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n"],
            455,
        ),
        (
            "play_unknown_session",
            &["PLAY rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\nSession: nope\r\n\r\n"],
            454,
        ),
        (
            "play_wrong_session",
            &[
                setup0,
                "PLAY rtsp://h/cam RTSP/1.0\r\nCSeq: 3\r\nSession: other\r\n\r\n",
            ],
            454,
        ),
        (
            "play_without_session",
            &[setup0, "PLAY rtsp://h/cam RTSP/1.0\r\nCSeq: 3\r\n\r\n"],
            454,
        ),
        (
            "record_in_preplay",
            &[
                setup0,
                "RECORD rtsp://h/cam RTSP/1.0\r\nCSeq: 3\r\nSession: sess1\r\n\r\n",
            ],
            455,
        ),
        (
            "pause_initial",
            &["PAUSE rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n"],
            455,
        ),
        (
            "setup_other_path",
            &[
                setup0,
                "SETUP rtsp://h/other/trackID=1 RTSP/1.0\r\nCSeq: 3\r\nSession: sess1\r\nTransport: RTP/AVP/TCP;interleaved=2-3\r\n\r\n",
            ],
            459,
        ),
        (
            "setup_twice",
            &[
                setup0,
                "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 3\r\nSession: sess1\r\nTransport: RTP/AVP/TCP;interleaved=2-3\r\n\r\n",
            ],
            400,
        ),
        (
            "setup_mixed_transports",
            &[
                setup0,
                "SETUP rtsp://h/cam/trackID=1 RTSP/1.0\r\nCSeq: 3\r\nSession: sess1\r\nTransport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n",
            ],
            461,
        ),
        (
            "setup_channel_in_use",
            &[
                setup0,
                "SETUP rtsp://h/cam/trackID=1 RTSP/1.0\r\nCSeq: 3\r\nSession: sess1\r\nTransport: RTP/AVP/TCP;interleaved=1-2\r\n\r\n",
            ],
            461,
        ),
        (
            "setup_udp_without_ports",
            &[
                "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast\r\n\r\n",
            ],
            461,
        ),
        (
            "setup_savp",
            &[
                "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/SAVP;unicast;client_port=1-2\r\n\r\n",
            ],
            461,
        ),
        (
            "setup_no_transport",
            &["SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\n\r\n"],
            461,
        ),
        (
            "setup_record_without_announce",
            &[
                "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;interleaved=0-1;mode=record\r\n\r\n",
            ],
            455,
        ),
        ("announce_twice", &[announce, announce], 455),
        (
            "announce_bad_sdp",
            &["ANNOUNCE rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 3\r\n\r\nxyz"],
            400,
        ),
        (
            "announce_not_sdp",
            &[
                "ANNOUNCE rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nv=0\r\n",
            ],
            415,
        ),
        (
            "record_setup_unknown_control",
            &[
                announce,
                "SETUP rtsp://h/cam/trackID=5 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;interleaved=0-1;mode=record\r\n\r\n",
            ],
            404,
        ),
        (
            "record_multicast",
            &[
                announce,
                "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP;multicast;mode=record\r\n\r\n",
            ],
            461,
        ),
        (
            "record_ok",
            &[
                announce,
                "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP;unicast;client_port=5000-5001;mode=record\r\n\r\n",
                "RECORD rtsp://h/cam RTSP/1.0\r\nCSeq: 3\r\nSession: sess1\r\n\r\n",
            ],
            200,
        ),
        (
            "teardown_initial",
            &["TEARDOWN rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n"],
            200,
        ),
        (
            "keepalive_with_session",
            &[
                setup0,
                "GET_PARAMETER rtsp://h/cam RTSP/1.0\r\nCSeq: 3\r\nSession: sess1\r\n\r\n",
            ],
            200,
        ),
        (
            "keepalive_bad_session",
            &["GET_PARAMETER rtsp://h/cam RTSP/1.0\r\nCSeq: 3\r\nSession: x\r\n\r\n"],
            454,
        ),
    ];
    for (name, reqs, status) in cases {
        let now = Instant::now();
        let mut c = new_conn(now);
        let mut last = None;
        for r in *reqs {
            last = Some(run(&mut c, now, &req(r), accept_all).1);
        }
        assert_eq!(last.unwrap().status.0, *status, "{name}");
    }
}

#[test]
fn teardown_releases_everything() {
    let now = Instant::now();
    let mut c = new_conn(now);
    let setup = "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast\r\n\r\n";
    let (_, r) = run(&mut c, now, &req(setup), accept_all);
    assert_eq!(
        r.headers.get("Transport"),
        Some("RTP/AVP/TCP;unicast;interleaved=0-1"),
        "channels assigned"
    );
    let (q, r) = run(
        &mut c,
        now,
        &req("TEARDOWN rtsp://h/cam RTSP/1.0\r\nCSeq: 2\r\nSession: sess1\r\n\r\n"),
        accept_all,
    );
    assert_eq!(
        q.unwrap().kind,
        QueryKind::Teardown {
            session_id: Some("sess1".into())
        }
    );
    assert_eq!(
        (r.status, r.headers.get("Session")),
        (StatusCode::OK, Some("sess1"))
    );
    assert_eq!((c.state(), c.session_id()), (State::Initial, None));
}

#[test]
fn auth_challenge_and_reject() {
    let now = Instant::now();
    let mut c = new_conn(now);
    let describe = req(
        "DESCRIBE rtsp://h/cam?token=x RTSP/1.0\r\nCSeq: 2\r\nAuthorization: Basic dTpw\r\n\r\n",
    );
    let (q, r) = run(&mut c, now, &describe, |_| ServerAnswer::Unauthorized {
        challenges: crate::auth::challenge_headers("vigia", "abc"),
    });
    let q = q.unwrap();
    assert_eq!((q.path.as_str(), q.query.as_str()), ("cam", "token=x"));
    assert_eq!(q.authorization.as_deref(), Some("Basic dTpw"));
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers.get_all("WWW-Authenticate").count(), 2);
    let (_, r) = run(&mut c, now, &describe, |_| {
        ServerAnswer::Reject(StatusCode::NOT_FOUND)
    });
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(c.state(), State::Initial);
}

#[test]
fn setup_query_carries_track_and_query() {
    let now = Instant::now();
    let mut c = new_conn(now);
    let setup = req(
        "SETUP rtsp://h/city/cam?token=a/trackID=1 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;multicast\r\n\r\n",
    );
    let (q, r) = run(&mut c, now, &setup, |q| match &q.kind {
        QueryKind::Setup { transport, .. } => {
            let mut t = transport.clone();
            t.destination = Some("224.1.0.7".into());
            t.port = Some((9000, 9001));
            ServerAnswer::Setup { transport: t }
        }
        _ => ServerAnswer::Reject(StatusCode::INTERNAL_SERVER_ERROR),
    });
    let q = q.unwrap();
    assert_eq!((q.path.as_str(), q.query.as_str()), ("city/cam", "token=a"));
    assert!(matches!(
        q.kind,
        QueryKind::Setup {
            track: 1,
            mode: TransportMode::Play,
            ..
        }
    ));
    assert_eq!(
        r.headers.get("Transport"),
        Some("RTP/AVP;multicast;destination=224.1.0.7;port=9000-9001")
    );
    assert!(
        c.poll_timeout().is_some(),
        "multicast sessions need keep-alives"
    );
}

#[test]
fn play_answer_with_rtp_info() {
    let now = Instant::now();
    let mut c = new_conn(now);
    let setup = "SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n";
    run(&mut c, now, &req(setup), accept_all);
    let play = req(
        "PLAY rtsp://h/cam/ RTSP/1.0\r\nCSeq: 2\r\nSession: sess1\r\nRange: npt=0.000-\r\n\r\n",
    );
    let info = RtpInfoEntry {
        url: "rtsp://h/cam/trackID=0".into(),
        seq: Some(5),
        rtptime: Some(9),
    };
    let (q, r) = run(&mut c, now, &play, |_| ServerAnswer::Play {
        rtp_info: vec![info.clone()],
    });
    assert!(matches!(
        q.unwrap().kind,
        QueryKind::Play { range: Some(_), .. }
    ));
    assert_eq!(
        r.headers.get("RTP-Info"),
        Some("url=rtsp://h/cam/trackID=0;seq=5;rtptime=9")
    );
    assert_eq!(c.state(), State::Playing);
}

#[test]
fn driver_contract_violations_do_not_break_state() {
    let now = Instant::now();
    let mut c = new_conn(now);
    assert_eq!(
        c.answer(now, ServerAnswer::Accept).status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let describe = req("DESCRIBE rtsp://h/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    assert!(matches!(
        c.handle_request(now, &describe),
        Step::NeedsServer(_)
    ));
    let Step::Respond(r) = c.handle_request(now, &describe) else {
        panic!()
    };
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    // DESCRIBE answered with Accept (no SDP): 500, state unchanged.
    assert_eq!(
        c.answer(now, ServerAnswer::Accept).status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    c.check_invariants();
}

#[test]
fn seeds_are_in_the_fuzz_corpus() {
    let mut seeds = testutil::client_dialog_seeds();
    let mut interleaved = b"SETUP rtsp://h/cam/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\nPLAY rtsp://h/cam RTSP/1.0\r\nCSeq: 2\r\nSession: 12345678\r\n\r\n".to_vec();
    interleaved.extend_from_slice(b"$\x01\x00\x04\x81\xc9\x00\x00");
    seeds.push(("play_tcp_rtcp".to_owned(), interleaved));
    testutil::check_seeds("rtsp_session", &seeds);
}
