//! Server side of one RTSP connection (RFC 2326 §10, Appendix A), sans-IO.
//!
//! [`ServerConnection`] checks requests against the session state, and for everything that needs
//! knowledge of paths and streams it hands a [`ServerQuery`] to the driver and waits for a
//! [`ServerAnswer`]. It never reads the clock (every entry point takes `now`) and never draws
//! randomness (the session id is given at construction).
//!
//! States follow RFC 2326 Appendix A, split by direction like gortsplib:
//!
//! ```text
//! Initial --ANNOUNCE--> Announced --SETUP--> PreRecord --RECORD--> Recording
//!    |                                          ^-------PAUSE-----------'
//!    '--SETUP--> PrePlay --PLAY--> Playing --PAUSE--> PrePlay
//! any --TEARDOWN--> Initial        session timeout (UDP only) --> Initial
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::headers::{
    Delivery, LowerTransport, NptRange, RtpInfoEntry, SessionHeader, Transport, TransportMode,
};
use super::message::{Method, Request, Response, StatusCode};
use super::url::{path_and_query, resolve_control, split_track_url, split_url};
use crate::sdp::{Sdp, SdpTrack, tracks_from_sdp};

/// Methods listed in the `Public` header of OPTIONS answers (RFC 2326 §12.28).
pub const PUBLIC_METHODS: &str = "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN";

/// What a connection accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Inactivity after which a UDP session expires (announced in `Session: id;timeout=`).
    pub session_timeout: Duration,
    /// Accept RTP over UDP unicast.
    pub allow_udp: bool,
    /// Accept RTP interleaved over TCP.
    pub allow_tcp: bool,
    /// Accept UDP multicast (play only).
    pub allow_multicast: bool,
    /// The server's RTP/RTCP UDP ports, stated in `server_port=`.
    pub udp_server_ports: (u16, u16),
    /// Value of the `Server` header.
    pub server_name: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session_timeout: Duration::from_secs(60),
            allow_udp: true,
            allow_tcp: true,
            allow_multicast: true,
            udp_server_ports: (8000, 8001),
            server_name: "Vigia".to_owned(),
        }
    }
}

/// Where the connection stands (RFC 2326 Appendix A).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No session, nothing announced.
    Initial,
    /// ANNOUNCE accepted; tracks not set up yet.
    Announced,
    /// Session with tracks set up for reading.
    PrePlay,
    /// Reading: the driver sends media.
    Playing,
    /// Session with announced tracks set up for publishing.
    PreRecord,
    /// Publishing: the client sends media.
    Recording,
}

/// One track set up in the session, with the transport stated in the SETUP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupTrack {
    /// Track index: in the driver's SDP (play) or in the announced SDP (record).
    pub track: usize,
    /// The transport as answered to the client.
    pub transport: Transport,
}

/// What the driver must decide, with the request it comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerQuery {
    /// What is asked.
    pub kind: QueryKind,
    /// Stream path from the URL, e.g. `cam1`.
    pub path: String,
    /// URL query without `?`, e.g. `token=abc` (MediaMTX passes credentials there too).
    pub query: String,
    /// The request's method (needed to verify Digest credentials).
    pub method: Method,
    /// The Request-URI.
    pub uri: String,
    /// The raw `Authorization` header, if any (see [`crate::auth`]).
    pub authorization: Option<String>,
}

/// The decision asked of the driver.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryKind {
    /// Reader wants the SDP of `path`: answer [`ServerAnswer::Describe`].
    Describe,
    /// Publisher offers this SDP for `path`: answer [`ServerAnswer::Accept`].
    Announce {
        /// The parsed SDP.
        sdp: Sdp,
        /// Its media read as tracks (unsupported ones included).
        tracks: Vec<SdpTrack>,
    },
    /// Client sets up `track`: answer [`ServerAnswer::Setup`] (or `Accept` to use `transport`).
    Setup {
        /// Track index (in the driver's SDP, or the announced one when recording).
        track: usize,
        /// The transport the machine proposes to answer; the driver may adjust it (ssrc,
        /// multicast destination and ports).
        transport: Transport,
        /// Play or record.
        mode: TransportMode,
    },
    /// Start sending media for the session: answer [`ServerAnswer::Play`] or `Accept`.
    Play {
        /// The session.
        session_id: String,
        /// Tracks set up, in SETUP order.
        tracks: Vec<SetupTrack>,
        /// `Range` asked, if any.
        range: Option<NptRange>,
    },
    /// Start receiving media: answer `Accept`.
    Record {
        /// The session.
        session_id: String,
        /// Tracks set up, in SETUP order.
        tracks: Vec<SetupTrack>,
    },
    /// Stop sending or receiving, keep the session: answer `Accept`.
    Pause {
        /// The session.
        session_id: String,
    },
    /// Release everything this connection holds: answer `Accept`.
    Teardown {
        /// The session, if one was set up.
        session_id: Option<String>,
    },
}

/// The driver's decision on a [`ServerQuery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAnswer {
    /// Go ahead (every query but DESCRIBE).
    Accept,
    /// The SDP to return to DESCRIBE (e.g. from [`crate::sdp::sdp_for_tracks`]).
    Describe {
        /// Serialized SDP.
        sdp: Bytes,
    },
    /// SETUP accepted with this transport in the answer.
    Setup {
        /// Transport to answer with.
        transport: Transport,
    },
    /// PLAY accepted; `rtp_info` is sent as `RTP-Info` when not empty.
    Play {
        /// One entry per track.
        rtp_info: Vec<RtpInfoEntry>,
    },
    /// Refused with this status (404 no such path, 400 busy path, 403…).
    Reject(StatusCode),
    /// Credentials missing or wrong: 401 with these `WWW-Authenticate` values
    /// (see [`crate::auth::challenge_headers`]).
    Unauthorized {
        /// `WWW-Authenticate` header values.
        challenges: Vec<String>,
    },
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Send this response now.
    Respond(Response),
    /// Ask the driver, then call [`ServerConnection::answer`] and send what it returns.
    NeedsServer(ServerQuery),
}

/// Something that happened without a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The session saw no activity for the timeout; the driver releases it and may close.
    Expired {
        /// The expired session.
        session_id: String,
    },
}

/// State machine of one RTSP connection on the server side.
#[derive(Clone, Debug)]
pub struct ServerConnection {
    config: ServerConfig,
    new_session_id: String,
    state: State,
    session: Option<Session>,
    announced: Option<Announced>,
    pending: Option<Pending>,
    last_activity: Instant,
}

#[derive(Clone, Debug)]
struct Session {
    id: String,
    path: String,
    query: String,
    tracks: Vec<SetupTrack>,
}

#[derive(Clone, Debug)]
struct Announced {
    uri: String,
    path: String,
    query: String,
    tracks: Vec<SdpTrack>,
}

#[derive(Clone, Debug)]
struct Pending {
    cseq: String,
    uri: String,
    kind: PendingKind,
}

#[derive(Clone, Debug)]
struct PendingSetup {
    track: usize,
    path: String,
    query: String,
    transport: Transport,
    mode: TransportMode,
}

#[derive(Clone, Debug)]
enum PendingKind {
    Describe,
    Announce(Announced),
    Setup(PendingSetup),
    Play,
    Record,
    Pause,
    Teardown,
}

impl ServerConnection {
    /// A connection in [`State::Initial`]; `session_id` is used if a session gets created.
    pub fn new(config: ServerConfig, now: Instant, session_id: String) -> Self {
        ServerConnection {
            config,
            new_session_id: session_id,
            state: State::Initial,
            session: None,
            announced: None,
            pending: None,
            last_activity: now,
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The session id, once a SETUP has been accepted.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.id.as_str())
    }

    /// The path of the session or of the announce, if any.
    pub fn path(&self) -> Option<&str> {
        match (&self.session, &self.announced) {
            (Some(s), _) => Some(&s.path),
            (None, Some(a)) => Some(&a.path),
            (None, None) => None,
        }
    }

    /// Tracks set up so far, in SETUP order.
    pub fn setup_tracks(&self) -> &[SetupTrack] {
        self.session
            .as_ref()
            .map(|s| s.tracks.as_slice())
            .unwrap_or_default()
    }

    /// Maps an interleaved channel to `(track, is_rtcp)`.
    pub fn channel_track(&self, channel: u8) -> Option<(usize, bool)> {
        self.setup_tracks()
            .iter()
            .find_map(|t| match t.transport.interleaved {
                Some((rtp, _)) if rtp == channel => Some((t.track, false)),
                Some((_, rtcp)) if rtcp == channel => Some((t.track, true)),
                _ => None,
            })
    }

    /// Handles one request. Call [`Self::answer`] before the next request if this asks the
    /// driver.
    pub fn handle_request(&mut self, now: Instant, req: &Request) -> Step {
        self.last_activity = now;
        let Some(cseq) = req.headers.get("CSeq").map(str::to_owned) else {
            return Step::Respond(self.error(None, StatusCode::BAD_REQUEST));
        };
        if self.pending.is_some() {
            // The driver broke the contract; refuse without losing the pending query.
            return Step::Respond(self.error(Some(&cseq), StatusCode::SERVICE_UNAVAILABLE));
        }
        if let Some(required) = req.headers.get("Require") {
            // RFC 2326 §12.32: no option extensions are supported.
            let r = self.error(Some(&cseq), StatusCode::OPTION_NOT_SUPPORTED);
            return Step::Respond(r.with_header("Unsupported", required));
        }
        if let Err(status) = self.check_session_header(req) {
            return Step::Respond(self.error(Some(&cseq), status));
        }
        match self.dispatch(req, &cseq) {
            Ok(step) => step,
            Err(status) => Step::Respond(self.error(Some(&cseq), status)),
        }
    }

    /// Applies the driver's answer to the pending query and returns the response to send.
    ///
    /// Without a pending query, or with an answer that does not fit it, the response is 500.
    pub fn answer(&mut self, now: Instant, answer: ServerAnswer) -> Response {
        self.last_activity = now;
        let Some(p) = self.pending.take() else {
            return self.error(None, StatusCode::INTERNAL_SERVER_ERROR);
        };
        match answer {
            ServerAnswer::Reject(status) => self.error(Some(&p.cseq), status),
            ServerAnswer::Unauthorized { challenges } => {
                let mut r = self.error(Some(&p.cseq), StatusCode::UNAUTHORIZED);
                for c in challenges {
                    r.headers.append("WWW-Authenticate", c);
                }
                r
            }
            other => self.apply(p, other),
        }
    }

    /// When [`Self::handle_timeout`] should next be called: only UDP sessions expire, TCP ones
    /// live as long as their connection.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = self.session.as_ref()?;
        let udp = s
            .tracks
            .iter()
            .any(|t| t.transport.lower_transport() == LowerTransport::Udp);
        if !udp || self.pending.is_some() {
            return None;
        }
        Some(self.last_activity + self.config.session_timeout)
    }

    /// Expires the session if its deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<SessionEvent> {
        if self.poll_timeout()? > now {
            return None;
        }
        let s = self.session.take()?;
        self.announced = None;
        self.state = State::Initial;
        Some(SessionEvent::Expired { session_id: s.id })
    }

    /// Records activity that keeps the session alive (RTCP receiver reports, RTP when recording).
    pub fn note_activity(&mut self, now: Instant) {
        if now > self.last_activity {
            self.last_activity = now;
        }
    }

    /// Panics if internal state is inconsistent; for fuzzers and tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let has_session = self.session.is_some();
        match self.state {
            State::Initial => assert!(!has_session && self.announced.is_none()),
            State::Announced => assert!(!has_session && self.announced.is_some()),
            State::PrePlay | State::Playing => assert!(has_session && self.announced.is_none()),
            State::PreRecord | State::Recording => assert!(has_session && self.announced.is_some()),
        }
        let tracks = self.setup_tracks();
        assert!(!has_session || !tracks.is_empty(), "a session has tracks");
        for (i, t) in tracks.iter().enumerate() {
            let rest = tracks.get(i + 1..).unwrap_or_default();
            assert!(
                rest.iter().all(|o| o.track != t.track),
                "track set up twice"
            );
            if let Some((a, b)) = t.transport.interleaved {
                let clash = |o: &SetupTrack| {
                    o.transport
                        .interleaved
                        .is_some_and(|(c, d)| [c, d].contains(&a) || [c, d].contains(&b))
                };
                assert!(!rest.iter().any(clash), "interleaved channels reused");
            }
        }
        let lowers = tracks.iter().map(|t| t.transport.lower_transport());
        assert!(
            lowers.clone().all(|l| l == LowerTransport::Tcp)
                || lowers.clone().all(|l| l == LowerTransport::Udp)
        );
    }
}

// Private helpers: dispatch per method.
impl ServerConnection {
    fn dispatch(&mut self, req: &Request, cseq: &str) -> Result<Step, StatusCode> {
        match req.method {
            Method::Options => Ok(Step::Respond(
                self.ok(cseq).with_header("Public", PUBLIC_METHODS),
            )),
            Method::GetParameter | Method::SetParameter => Ok(Step::Respond(self.ok(cseq))),
            Method::Describe => self.on_describe(req, cseq),
            Method::Announce => self.on_announce(req, cseq),
            Method::Setup => self.on_setup(req, cseq),
            Method::Play => self.on_play(req, cseq),
            Method::Record => self.on_record(req, cseq),
            Method::Pause => self.on_pause(req, cseq),
            Method::Teardown => self.on_teardown(req, cseq),
            Method::Redirect | Method::Other(_) => Err(StatusCode::NOT_IMPLEMENTED),
        }
    }

    /// 454 when the request names a session this connection does not have (RFC 2326 §12.37);
    /// PLAY, RECORD and PAUSE must name it.
    fn check_session_header(&self, req: &Request) -> Result<(), StatusCode> {
        let named = req
            .headers
            .get("Session")
            .and_then(|v| SessionHeader::parse(v).ok());
        let ours = self.session_id();
        match (named, ours) {
            (Some(n), Some(o)) if n.id != o => Err(StatusCode::SESSION_NOT_FOUND),
            (Some(_), None) => Err(StatusCode::SESSION_NOT_FOUND),
            (None, Some(_))
                if matches!(req.method, Method::Play | Method::Record | Method::Pause) =>
            {
                Err(StatusCode::SESSION_NOT_FOUND)
            }
            _ => Ok(()),
        }
    }

    fn query(&mut self, req: &Request, cseq: &str, kind: PendingKind, q: QueryKind) -> Step {
        let parts = split_url(&req.uri).unwrap_or_default();
        let (path, query) = match &kind {
            PendingKind::Setup(s) => (s.path.clone(), s.query.clone()),
            _ => match (&self.session, &self.announced) {
                (Some(s), _) => (s.path.clone(), s.query.clone()),
                (None, Some(a)) => (a.path.clone(), a.query.clone()),
                _ => (parts.path, parts.query),
            },
        };
        self.pending = Some(Pending {
            cseq: cseq.to_owned(),
            uri: req.uri.clone(),
            kind,
        });
        Step::NeedsServer(ServerQuery {
            kind: q,
            path,
            query,
            method: req.method.clone(),
            uri: req.uri.clone(),
            authorization: req.headers.get("Authorization").map(str::to_owned),
        })
    }

    fn on_describe(&mut self, req: &Request, cseq: &str) -> Result<Step, StatusCode> {
        split_url(&req.uri).ok_or(StatusCode::BAD_REQUEST)?;
        Ok(self.query(req, cseq, PendingKind::Describe, QueryKind::Describe))
    }

    fn on_announce(&mut self, req: &Request, cseq: &str) -> Result<Step, StatusCode> {
        if self.state != State::Initial {
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        }
        let parts = split_url(&req.uri).ok_or(StatusCode::BAD_REQUEST)?;
        let ct = req.headers.get("Content-Type").unwrap_or("application/sdp");
        if !ct.trim().eq_ignore_ascii_case("application/sdp") {
            return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        let sdp = Sdp::parse(&req.body).map_err(|_| StatusCode::BAD_REQUEST)?;
        let tracks = tracks_from_sdp(&sdp).map_err(|_| StatusCode::BAD_REQUEST)?;
        let announced = Announced {
            uri: req.uri.clone(),
            path: parts.path.clone(),
            query: parts.query.clone(),
            tracks: tracks.clone(),
        };
        let step = self.query(
            req,
            cseq,
            PendingKind::Announce(announced),
            QueryKind::Announce { sdp, tracks },
        );
        Ok(step)
    }

    fn on_setup(&mut self, req: &Request, cseq: &str) -> Result<Step, StatusCode> {
        let mode = match self.state {
            State::Initial | State::PrePlay => TransportMode::Play,
            State::Announced | State::PreRecord => TransportMode::Record,
            State::Playing | State::Recording => {
                return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
            }
        };
        let (path, query, track) = match mode {
            TransportMode::Play => self.play_setup_target(&req.uri)?,
            TransportMode::Record => self.record_setup_target(&req.uri)?,
        };
        if self.setup_tracks().iter().any(|t| t.track == track) {
            return Err(StatusCode::BAD_REQUEST);
        }
        let header = req
            .headers
            .get("Transport")
            .ok_or(StatusCode::UNSUPPORTED_TRANSPORT)?;
        let offers =
            Transport::parse_list(header).map_err(|_| StatusCode::UNSUPPORTED_TRANSPORT)?;
        if mode == TransportMode::Play && offers.iter().any(|t| t.mode() == TransportMode::Record) {
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        }
        let transport = offers
            .iter()
            .find_map(|t| self.propose_transport(t, mode))
            .ok_or(StatusCode::UNSUPPORTED_TRANSPORT)?;
        let kind = PendingKind::Setup(PendingSetup {
            track,
            path,
            query,
            transport: transport.clone(),
            mode,
        });
        Ok(self.query(
            req,
            cseq,
            kind,
            QueryKind::Setup {
                track,
                transport,
                mode,
            },
        ))
    }

    /// Play SETUP URL: `<path>/trackID=N[?query]`; all tracks of a session share one path.
    fn play_setup_target(&self, uri: &str) -> Result<(String, String, usize), StatusCode> {
        let (parts, track) = split_track_url(uri).ok_or(StatusCode::BAD_REQUEST)?;
        if let Some(s) = &self.session
            && s.path != parts.path
        {
            return Err(StatusCode::AGGREGATE_OPERATION_NOT_ALLOWED);
        }
        Ok((parts.path, parts.query, track.unwrap_or(0)))
    }

    /// Record SETUP URL: matched against the announced `a=control` values.
    fn record_setup_target(&self, uri: &str) -> Result<(String, String, usize), StatusCode> {
        let a = self
            .announced
            .as_ref()
            .ok_or(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE)?;
        let want = path_and_query(uri)
            .ok_or(StatusCode::BAD_REQUEST)?
            .trim_end_matches('/');
        let base = path_and_query(&a.uri).unwrap_or("").trim_end_matches('/');
        let found = a.tracks.iter().enumerate().find_map(|(i, t)| {
            let control = t.control.as_deref().unwrap_or("");
            control_matches(base, control, want).then_some(i)
        });
        let single = (a.tracks.len() == 1 && want == base).then_some(0);
        let track = found.or(single).ok_or(StatusCode::NOT_FOUND)?;
        Ok((a.path.clone(), a.query.clone(), track))
    }

    /// The transport to answer for an offer, or `None` if the offer cannot be served.
    fn propose_transport(&self, offer: &Transport, mode: TransportMode) -> Option<Transport> {
        let lower = offer.lower_transport();
        if let Some(first) = self.setup_tracks().first() {
            let same = first.transport.lower_transport() == lower
                && first.transport.is_multicast() == offer.is_multicast();
            if !same {
                return None;
            }
        }
        let mut t = Transport {
            lower: offer.lower,
            mode: offer.mode,
            ssrc: offer.ssrc.filter(|_| mode == TransportMode::Record),
            ..Transport::default()
        };
        match (lower, offer.is_multicast()) {
            (LowerTransport::Tcp, _) if self.config.allow_tcp => {
                t.delivery = Some(Delivery::Unicast);
                t.interleaved = Some(
                    offer
                        .interleaved
                        .map_or_else(|| self.free_channels(), Some)?,
                );
                self.channels_free(t.interleaved?).then_some(t)
            }
            (LowerTransport::Udp, false) if self.config.allow_udp => {
                t.delivery = Some(Delivery::Unicast);
                t.client_port = Some(offer.client_port?);
                t.server_port = Some(self.config.udp_server_ports);
                Some(t)
            }
            (LowerTransport::Udp, true)
                if self.config.allow_multicast && mode == TransportMode::Play =>
            {
                t.delivery = Some(Delivery::Multicast);
                Some(t)
            }
            _ => None,
        }
    }

    fn free_channels(&self) -> Option<(u8, u8)> {
        (0u8..=127)
            .map(|k| (2 * k, 2 * k + 1))
            .find(|&pair| self.channels_free(pair))
    }

    fn channels_free(&self, (a, b): (u8, u8)) -> bool {
        self.setup_tracks()
            .iter()
            .all(|t| match t.transport.interleaved {
                Some((c, d)) => ![c, d].contains(&a) && ![c, d].contains(&b),
                None => true,
            })
    }

    fn on_play(&mut self, req: &Request, cseq: &str) -> Result<Step, StatusCode> {
        if !matches!(self.state, State::PrePlay | State::Playing) {
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        }
        let s = self.session.as_ref().ok_or(StatusCode::SESSION_NOT_FOUND)?;
        let range = match req.headers.get("Range") {
            Some(v) => Some(NptRange::parse(v).map_err(|_| StatusCode::INVALID_RANGE)?),
            None => None,
        };
        let q = QueryKind::Play {
            session_id: s.id.clone(),
            tracks: s.tracks.clone(),
            range,
        };
        Ok(self.query(req, cseq, PendingKind::Play, q))
    }

    fn on_record(&mut self, req: &Request, cseq: &str) -> Result<Step, StatusCode> {
        if self.state != State::PreRecord {
            return Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE);
        }
        let s = self.session.as_ref().ok_or(StatusCode::SESSION_NOT_FOUND)?;
        let q = QueryKind::Record {
            session_id: s.id.clone(),
            tracks: s.tracks.clone(),
        };
        Ok(self.query(req, cseq, PendingKind::Record, q))
    }

    fn on_pause(&mut self, req: &Request, cseq: &str) -> Result<Step, StatusCode> {
        match self.state {
            State::PrePlay | State::PreRecord => Ok(Step::Respond(self.ok(cseq))),
            State::Playing | State::Recording => {
                let session_id = self.session_id().unwrap_or_default().to_owned();
                Ok(self.query(
                    req,
                    cseq,
                    PendingKind::Pause,
                    QueryKind::Pause { session_id },
                ))
            }
            State::Initial | State::Announced => Err(StatusCode::METHOD_NOT_VALID_IN_THIS_STATE),
        }
    }

    fn on_teardown(&mut self, req: &Request, cseq: &str) -> Result<Step, StatusCode> {
        if self.state == State::Initial {
            return Ok(Step::Respond(self.ok(cseq)));
        }
        let session_id = self.session_id().map(str::to_owned);
        Ok(self.query(
            req,
            cseq,
            PendingKind::Teardown,
            QueryKind::Teardown { session_id },
        ))
    }
}

// Private helpers: applying answers and building responses.
impl ServerConnection {
    fn apply(&mut self, p: Pending, answer: ServerAnswer) -> Response {
        let cseq = p.cseq.as_str();
        match (p.kind, answer) {
            (PendingKind::Describe, ServerAnswer::Describe { sdp }) => {
                let base = format!("{}/", p.uri.trim_end_matches('/'));
                let r = self.ok(cseq).with_header("Content-Base", base);
                r.with_body("application/sdp", sdp)
            }
            (PendingKind::Announce(a), ServerAnswer::Accept) => {
                self.announced = Some(a);
                self.transition(cseq, State::Announced)
            }
            (PendingKind::Setup(s), ServerAnswer::Setup { transport }) => {
                self.apply_setup(cseq, PendingSetup { transport, ..s })
            }
            (PendingKind::Setup(s), ServerAnswer::Accept) => self.apply_setup(cseq, s),
            (PendingKind::Play, ServerAnswer::Play { rtp_info }) => {
                let r = self.transition(cseq, State::Playing);
                if rtp_info.is_empty() {
                    return r;
                }
                r.with_header("RTP-Info", RtpInfoEntry::write_list(&rtp_info))
            }
            (PendingKind::Play, ServerAnswer::Accept) => self.transition(cseq, State::Playing),
            (PendingKind::Record, ServerAnswer::Accept) => self.transition(cseq, State::Recording),
            (PendingKind::Pause, ServerAnswer::Accept) => {
                let paused = match self.state {
                    State::Recording => State::PreRecord,
                    _ => State::PrePlay,
                };
                self.transition(cseq, paused)
            }
            (PendingKind::Teardown, ServerAnswer::Accept) => {
                let r = self.ok(cseq);
                self.session = None;
                self.announced = None;
                self.state = State::Initial;
                r
            }
            _ => self.error(Some(cseq), StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn transition(&mut self, cseq: &str, to: State) -> Response {
        self.state = to;
        self.ok(cseq)
    }

    fn apply_setup(&mut self, cseq: &str, s: PendingSetup) -> Response {
        // The driver may have changed the transport: re-check what the invariants rely on.
        let lower = s.transport.lower_transport();
        let same_lower = self
            .setup_tracks()
            .first()
            .is_none_or(|f| f.transport.lower_transport() == lower);
        let free = s
            .transport
            .interleaved
            .is_none_or(|c| self.channels_free(c));
        if !same_lower || !free {
            return self.error(Some(cseq), StatusCode::INTERNAL_SERVER_ERROR);
        }
        let transport = s.transport.to_string();
        let session = self.session.get_or_insert_with(|| Session {
            id: self.new_session_id.clone(),
            path: s.path,
            query: s.query,
            tracks: Vec::new(),
        });
        session.tracks.push(SetupTrack {
            track: s.track,
            transport: s.transport,
        });
        let header = SessionHeader {
            id: session.id.clone(),
            timeout_secs: Some(
                u32::try_from(self.config.session_timeout.as_secs()).unwrap_or(u32::MAX),
            ),
        };
        self.state = match s.mode {
            TransportMode::Play => State::PrePlay,
            TransportMode::Record => State::PreRecord,
        };
        let mut r = self.ok(cseq).with_header("Transport", transport);
        r.headers.set("Session", header.to_string());
        r
    }

    /// A 200 with CSeq, Server and (when a session exists) Session headers.
    fn ok(&self, cseq: &str) -> Response {
        self.base(Some(cseq), StatusCode::OK)
    }

    fn error(&self, cseq: Option<&str>, status: StatusCode) -> Response {
        self.base(cseq, status)
    }

    fn base(&self, cseq: Option<&str>, status: StatusCode) -> Response {
        let mut r = Response::new(status);
        if let Some(c) = cseq {
            r.headers.append("CSeq", c);
        }
        r.headers.append("Server", self.config.server_name.clone());
        if let Some(id) = self.session_id() {
            r.headers.append("Session", id);
        }
        r
    }
}

/// Whether a SETUP URL (path and query, no trailing slash) names the media with `control`.
fn control_matches(base: &str, control: &str, want: &str) -> bool {
    if control.contains("://") {
        return path_and_query(control).map(|c| c.trim_end_matches('/')) == Some(want);
    }
    let (path, query) = base.split_once('?').unwrap_or((base, ""));
    let candidates = [
        resolve_control(base, control),
        format!("{}/{control}?{query}", path.trim_end_matches('/')),
    ];
    candidates.iter().any(|c| c.trim_end_matches('/') == want)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
