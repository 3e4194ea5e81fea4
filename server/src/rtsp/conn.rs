//! One RTSP connection: the reading half parses requests and interleaved frames, asks the
//! protocol state machine what to do, resolves its queries against the paths, and hands
//! responses and play plans to the writing half.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tracing::Instrument;
use vigia_media::hub::{Cursor, Next};
use vigia_protocol::rtsp::{
    LowerTransport, ParseError, Parsed, QueryKind, Request, Response, RtpInfoEntry, ServerAnswer,
    ServerConnection, ServerQuery, SetupTrack, State, StatusCode, Step, Transport, TransportMode,
    parse, write_interleaved,
};
use vigia_protocol::sdp::{SdpTrack, sdp_for_tracks};

use super::multicast::{Lease, MULTICAST_TTL};
use super::publisher::Publisher;
use super::reports;
use super::udp::Route;
use super::writer::{self, BoundSendBuffer, Outgoing, PlayPlan, Target, WriterEnd};
use super::{RtspServer, peer_ip};
use crate::auth::{self, Attempt, Protocol, Verdict};
use crate::config::AuthAction;
use crate::hooks;
use crate::paths::{Path, PathError, PublishGuard, ReaderGuard, lock};
use crate::registry::{ConnEntry, SessionState};
use crate::stream::{PathStream, RtpBatch};

/// Responses and play plans queued for the writing half.
const OUTGOING_QUEUE: usize = 16;
/// Receive buffer growth step.
const READ_CHUNK: usize = 64 * 1024;
/// Receive buffer of a new connection: enough for any usual request, so that thousands of idle
/// connections cost little; publishers grow it by [`READ_CHUNK`].
const FIRST_READ_BUFFER: usize = 4096;

/// A connection's byte stream, plain TCP or TLS, split into the halves the reading and writing
/// tasks own.
pub(crate) trait Socket: Send + 'static {
    /// The reading half.
    type Read: AsyncRead + Unpin + Send + 'static;
    /// The writing half.
    type Write: AsyncWrite + BoundSendBuffer + Unpin + Send + 'static;
    /// Splits the stream.
    fn split(self) -> (Self::Read, Self::Write);
}

impl Socket for TcpStream {
    type Read = OwnedReadHalf;
    type Write = OwnedWriteHalf;

    fn split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        self.into_split()
    }
}

impl Socket for TlsStream<TcpStream> {
    type Read = ReadHalf<Self>;
    type Write = WriteHalf<Self>;

    fn split(self) -> (ReadHalf<Self>, WriteHalf<Self>) {
        tokio::io::split(self)
    }
}

/// Serves one connection until it closes.
pub(crate) async fn run(server: Arc<RtspServer>, socket: impl Socket, peer: SocketAddr) {
    let span = tracing::info_span!("rtsp", conn = %peer);
    async move {
        tracing::debug!("connection opened");
        let registered = server.paths.sessions().open(peer);
        let conn_id = registered.entry.id.to_string();
        // Stops `runOnConnect` and runs `runOnDisconnect` when the connection ends.
        let _connected = hooks::on_connect(&server.paths.config(), "rtspConn", &conn_id);
        let (read_half, write_half) = socket.split();
        let (out, requests) = mpsc::channel(OUTGOING_QUEUE);
        let writer = writer::run(
            write_half,
            requests,
            server.write_timeout,
            server.send_buffer,
            registered.entry.outbound_bytes.clone(),
        );
        let writer = tokio::spawn(writer.in_current_span());
        let mut conn = Connection::new(server, peer, out, registered.entry.clone());
        let reason = conn.serve(read_half, writer).await;
        conn.release();
        drop(registered);
        tracing::debug!("connection closed: {reason}");
    }
    .instrument(span)
    .await
}

struct Connection {
    server: Arc<RtspServer>,
    peer: SocketAddr,
    machine: ServerConnection,
    out: mpsc::Sender<Outgoing>,
    nonce: String,
    announced: Option<Announced>,
    reading: Option<Reading>,
    publishing: Option<Publishing>,
    /// Sent to the writer after the response of the request being handled.
    after_response: Option<Outgoing>,
    /// This connection in the registry the API reads.
    entry: Arc<ConnEntry>,
    /// When the last complete request or interleaved frame was handled: bytes that never finish
    /// a request (slowloris) do not count.
    last_item: Instant,
}

struct Announced {
    path: Arc<Path>,
    tracks: Vec<SdpTrack>,
}

struct Reading {
    path: Arc<Path>,
    stream: Arc<PathStream>,
    _guard: ReaderGuard,
    multicast: Option<Lease>,
    udp_routes: Vec<SocketAddr>,
    activity: Arc<Mutex<Instant>>,
}

struct Publishing {
    guard: PublishGuard,
    publisher: Arc<Mutex<Publisher>>,
    udp_routes: Vec<SocketAddr>,
    /// Per announced media set up, where its RTCP goes back to the publisher.
    targets: Vec<(usize, Target)>,
}

impl Connection {
    fn new(
        server: Arc<RtspServer>,
        peer: SocketAddr,
        out: mpsc::Sender<Outgoing>,
        entry: Arc<ConnEntry>,
    ) -> Self {
        let session_id = format!("{:016x}", rand::random::<u64>());
        let machine = ServerConnection::new(server.machine.clone(), Instant::now(), session_id);
        Self {
            server,
            peer,
            machine,
            out,
            nonce: format!("{:032x}", rand::random::<u128>()),
            announced: None,
            reading: None,
            publishing: None,
            after_response: None,
            entry,
            last_item: Instant::now(),
        }
    }

    /// The read loop; returns why the connection ended.
    ///
    /// Media frames are the hot path (a publisher's every packet): they are handled without an
    /// allocation or a timer change. The deadline timer is set again only after a request or
    /// when it fires, since frames only ever move deadlines later; [`Self::on_deadline`]
    /// checks what is really due and the timer is set again from there.
    async fn serve(
        &mut self,
        mut socket: impl AsyncRead + Unpin,
        mut writer: tokio::task::JoinHandle<WriterEnd>,
    ) -> String {
        let mut buf = BytesMut::with_capacity(FIRST_READ_BUFFER);
        let deadline = tokio::time::sleep_until(self.next_deadline().into());
        tokio::pin!(deadline);
        let entry = Arc::clone(&self.entry);
        let api_kick = entry.kicked();
        tokio::pin!(api_kick);
        loop {
            tokio::select! {
                read = read_more(&mut socket, &mut buf) => match read {
                    Ok(0) => return "closed by the client".into(),
                    Ok(n) => {
                        self.entry.count_inbound(n);
                        if !self.take_media(&mut buf) {
                            continue;
                        }
                        // Boxed: handling requests (authentication, path lookups, hooks) is a
                        // large future, which inline would make every idle connection's task
                        // as large (issue 13: memory per idle connection).
                        if let Err(reason) = Box::pin(self.process(&mut buf)).await {
                            return reason;
                        }
                        deadline.as_mut().reset(self.next_deadline().into());
                    }
                    Err(e) => return format!("read error: {e}"),
                },
                end = &mut writer => return match end {
                    Ok(WriterEnd::StreamEnded) => "the stream ended".into(),
                    Ok(WriterEnd::Disconnected) => "closed by the client".into(),
                    Ok(WriterEnd::Failed(e)) => {
                        tracing::warn!("closing reader: {e}");
                        format!("write failed: {e}")
                    }
                    _ => "writer stopped".into(),
                },
                _ = kicked(&mut self.publishing) => {
                    tracing::info!("closing publisher: another publisher took over the path");
                    return "replaced by another publisher".into();
                }
                _ = &mut api_kick => {
                    tracing::info!("closing connection: session kicked through the API");
                    // The writer holds the socket's other half: stop it, or it keeps playing.
                    writer.abort();
                    return "kicked".into();
                }
                _ = &mut deadline => {
                    if let Some(reason) = self.on_deadline() {
                        return reason;
                    }
                    deadline.as_mut().reset(self.next_deadline().into());
                }
            }
        }
    }

    /// The next moment something must be checked: the session timeout, a silent publisher, or
    /// an idle connection.
    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let session = self.machine.poll_timeout().unwrap_or(far);
        let idle = self
            .idle_limit()
            .map_or(far, |limit| self.last_item + limit);
        let publisher = self.publishing.as_ref().map_or(far, |p| {
            let publisher = lock(&p.publisher);
            (publisher.last_packet() + self.server.read_timeout).min(publisher.next_report())
        });
        session.min(publisher).min(idle)
    }

    /// How long the connection may go without a complete request or frame. Without a session:
    /// `readTimeout` (idle and slowloris connections). With a session set up or paused: the
    /// session timeout, which clients refresh with keepalives. Playing: no limit, since players
    /// over TCP often send nothing and UDP sessions expire by their own timeout (as gortsplib).
    /// Recording: none here, the publisher's own `readTimeout` on media applies.
    fn idle_limit(&self) -> Option<Duration> {
        match self.machine.state() {
            State::Initial | State::Announced => Some(self.server.read_timeout),
            State::PrePlay | State::PreRecord => Some(self.server.machine.session_timeout),
            State::Playing | State::Recording => None,
        }
    }

    fn on_deadline(&mut self) -> Option<String> {
        let now = Instant::now();
        if let Some(limit) = self.idle_limit()
            && now.duration_since(self.last_item) >= limit
        {
            self.server.idle_closes.note(self.peer);
            return Some(format!("no complete request for {limit:?}"));
        }
        if let Some(p) = &self.publishing {
            let last = lock(&p.publisher).last_packet();
            if now.duration_since(last) >= self.server.read_timeout {
                tracing::warn!(
                    "closing publisher: no data for {:?} (readTimeout)",
                    self.server.read_timeout
                );
                return Some("publisher timed out".into());
            }
            self.machine.note_activity(last);
            self.send_receiver_reports(p, now);
        }
        if let Some(r) = &self.reading {
            self.machine.note_activity(*lock(&r.activity));
        }
        self.machine
            .handle_timeout(now)
            .map(|_| "session timed out".to_string())
    }

    /// Sends the publisher the receiver reports that are due, on its connection or UDP port; a
    /// full writer queue skips them (the next ones come in a few seconds).
    fn send_receiver_reports(&self, publishing: &Publishing, now: Instant) {
        let reports = lock(&publishing.publisher).receiver_reports(now);
        for (media, report) in reports {
            let target = publishing.targets.iter().find(|(m, _)| *m == media);
            match target.map(|(_, t)| *t) {
                Some(Target::Tcp { rtcp, .. }) => {
                    let mut frame = Vec::with_capacity(report.len() + 4);
                    if write_interleaved(rtcp, &report, &mut frame) {
                        let _ = self.out.try_send(Outgoing::Bytes(frame));
                    }
                }
                Some(Target::Udp { rtcp, .. }) => {
                    if let Some(udp) = &self.server.udp {
                        let _ = udp.send_rtcp(&report, rtcp);
                    }
                }
                Some(Target::Multicast) | None => {}
            }
        }
    }

    /// Handles the complete media frames (and stray responses) at the front of `buf`; returns
    /// whether something else follows: a request or bytes that are not RTSP, for
    /// [`Self::process`].
    fn take_media(&mut self, buf: &mut BytesMut) -> bool {
        let now = Instant::now();
        loop {
            match parse(buf) {
                Ok(Parsed::Interleaved {
                    channel,
                    payload,
                    consumed,
                }) => {
                    let frame = buf.split_to(consumed).freeze().slice(payload);
                    self.on_interleaved(channel, frame, now);
                }
                Ok(Parsed::Response(_, consumed)) => buf.advance(consumed),
                Err(ParseError::Incomplete) => return false,
                Ok(Parsed::Request(..)) | Err(ParseError::Invalid { .. }) => return true,
            }
        }
    }

    /// Handles every complete item in `buf`.
    async fn process(&mut self, buf: &mut BytesMut) -> Result<(), String> {
        loop {
            match parse(buf) {
                Ok(Parsed::Request(request, consumed)) => {
                    buf.advance(consumed);
                    self.on_request(request).await?;
                    self.last_item = Instant::now();
                }
                Ok(Parsed::Interleaved { .. } | Parsed::Response(..)) => {
                    self.take_media(buf);
                }
                Err(ParseError::Incomplete) => return Ok(()),
                Err(e @ ParseError::Invalid { .. }) => {
                    tracing::warn!("closing connection: {e}");
                    let mut bytes = Vec::new();
                    Response::new(StatusCode::BAD_REQUEST).write_to(&mut bytes);
                    let _ = self.out.send(Outgoing::Bytes(bytes)).await;
                    return Err(e.to_string());
                }
            }
        }
    }

    async fn on_request(&mut self, request: Request) -> Result<(), String> {
        tracing::debug!("{} {}", request.method.as_str(), request.uri);
        let response = match self.machine.handle_request(Instant::now(), &request) {
            Step::Respond(response) => response,
            Step::NeedsServer(query) => {
                let answer = self.resolve(query).await;
                self.machine.answer(Instant::now(), answer)
            }
        };
        if self.server.tls.is_some() && response.status == StatusCode::UNSUPPORTED_TRANSPORT {
            tracing::warn!(
                "{} refused (461): RTSPS carries media only interleaved in the TLS connection \
                 (Transport: RTP/AVP/TCP); UDP and multicast would send it in the clear and \
                 SRTP is not supported",
                request.method.as_str()
            );
        }
        let mut bytes = Vec::new();
        response.write_to(&mut bytes);
        self.send(Outgoing::Bytes(bytes)).await?;
        if let Some(next) = self.after_response.take() {
            self.send(next).await?;
        }
        Ok(())
    }

    async fn send(&self, item: Outgoing) -> Result<(), String> {
        self.out
            .send(item)
            .await
            .map_err(|_| "writer gone".to_string())
    }

    fn on_interleaved(&mut self, channel: u8, frame: bytes::Bytes, now: Instant) {
        self.last_item = now;
        let Some((media, rtcp)) = self.machine.channel_track(channel) else {
            return;
        };
        if let Some(p) = &self.publishing {
            let mut publisher = lock(&p.publisher);
            if rtcp {
                publisher.on_rtcp(media, frame, now);
            } else {
                publisher.on_rtp(media, frame, now);
            }
        }
        self.machine.note_activity(now);
    }

    /// Decides a query of the state machine.
    async fn resolve(&mut self, query: ServerQuery) -> ServerAnswer {
        if let Some(action) = action_of(&query.kind)
            && let Verdict::Challenge(challenges) = self.authenticate(&query, action).await
        {
            return ServerAnswer::Unauthorized { challenges };
        }
        let starts_session = matches!(
            query.kind,
            QueryKind::Announce { .. } | QueryKind::Setup { .. }
        );
        let result = match query.kind {
            QueryKind::Describe => self.describe(&query.path).await,
            QueryKind::Announce { tracks, .. } => self.announce(&query.path, tracks),
            QueryKind::Setup {
                track,
                transport,
                mode,
            } => self.setup(&query.path, track, transport, mode).await,
            QueryKind::Play { tracks, .. } => self.play(&query.uri, &tracks),
            QueryKind::Record { tracks, .. } => self.record(&tracks),
            QueryKind::Pause { .. } => {
                self.after_response = Some(Outgoing::Stop);
                Ok(ServerAnswer::Accept)
            }
            QueryKind::Teardown { .. } => {
                self.release();
                Ok(ServerAnswer::Accept)
            }
        };
        if starts_session && result.is_ok() {
            self.entry.begin_session(&query.path, &query.query);
        }
        result.unwrap_or_else(|(status, message)| {
            tracing::info!(path = %query.path, "{} refused ({}): {message}", query.method.as_str(), status.0);
            ServerAnswer::Reject(status)
        })
    }

    async fn authenticate(&self, query: &ServerQuery, action: AuthAction) -> Verdict {
        let attempt = Attempt {
            authorization: query.authorization.as_deref(),
            method: query.method.as_str(),
            ip: peer_ip(self.peer),
            action,
            path: &query.path,
            nonce: &self.nonce,
            protocol: Protocol::Rtsp,
            query: &query.query,
            user_agent: "",
        };
        let config = self.server.paths.config();
        auth::check(&config, &attempt, self.server.digest).await
    }

    async fn describe(&mut self, name: &str) -> Answer {
        let path = self.server.paths.get(name).map_err(refusal)?;
        let stream = path.wait_ready().await.map_err(refusal)?;
        let sdp = sdp_for_tracks(stream.tracks(), "Stream").to_bytes();
        Ok(ServerAnswer::Describe { sdp })
    }

    fn announce(&mut self, name: &str, tracks: Vec<SdpTrack>) -> Answer {
        let path = self.server.paths.get(name).map_err(refusal)?;
        path.check_publishable().map_err(refusal)?;
        if tracks.iter().all(|t| t.track().is_none()) {
            return Err((
                StatusCode::BAD_REQUEST,
                "the SDP has no track with a supported codec".into(),
            ));
        }
        self.announced = Some(Announced { path, tracks });
        Ok(ServerAnswer::Accept)
    }

    async fn setup(
        &mut self,
        name: &str,
        track: usize,
        mut transport: Transport,
        mode: TransportMode,
    ) -> Answer {
        if mode == TransportMode::Record {
            if transport.is_multicast() {
                return Err((
                    StatusCode::UNSUPPORTED_TRANSPORT,
                    "multicast can't be used to publish".into(),
                ));
            }
            return Ok(ServerAnswer::Accept);
        }
        if self.reading.is_none() {
            let path = self.server.paths.get(name).map_err(refusal)?;
            let (stream, guard) = path.read().await.map_err(refusal)?;
            let activity = Arc::new(Mutex::new(Instant::now()));
            self.reading = Some(Reading {
                path,
                stream,
                _guard: guard,
                multicast: None,
                udp_routes: vec![],
                activity,
            });
        }
        let Some(reading) = &self.reading else {
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "no stream".into()));
        };
        if track >= reading.stream.tracks().len() {
            return Err((
                StatusCode::NOT_FOUND,
                format!("track {track} does not exist"),
            ));
        }
        if transport.is_multicast() {
            let multicast = self.server.multicast.as_ref().ok_or((
                StatusCode::UNSUPPORTED_TRANSPORT,
                "multicast is disabled".into(),
            ))?;
            let group = multicast.address(&reading.stream, track).ok_or((
                StatusCode::UNSUPPORTED_TRANSPORT,
                "multicastIPRange is not IPv4".into(),
            ))?;
            transport.destination = Some(group.to_string());
            transport.port = Some(multicast.ports());
            transport.ttl = Some(MULTICAST_TTL);
            transport.client_port = None;
            transport.server_port = None;
        }
        Ok(ServerAnswer::Setup { transport })
    }

    fn play(&mut self, uri: &str, tracks: &[SetupTrack]) -> Answer {
        let peer_ip = peer_ip(self.peer);
        let udp = self.server.udp.clone();
        let multicast = self.server.multicast.clone();
        let Some(reading) = &mut self.reading else {
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "no stream".into()));
        };
        let mut targets = vec![None; reading.stream.tracks().len()];
        for setup in tracks {
            let target = target_of(&setup.transport, peer_ip);
            if let (Target::Udp { rtcp: from, .. }, Some(udp)) = (target, &udp) {
                udp.add(
                    from,
                    Route::Read {
                        activity: reading.activity.clone(),
                    },
                );
                reading.udp_routes.push(from);
            }
            if let (Target::Multicast, Some(m), None) = (target, &multicast, &reading.multicast) {
                reading.multicast = m.join(&reading.stream);
            }
            if let Some(slot) = targets.get_mut(setup.track) {
                *slot = Some(target);
            }
        }
        let mut cursor = reading.stream.subscribe_rtp();
        let (pending, first) = prefetch(&mut cursor, targets.len());
        let start_us = pending.first().map_or(0, |b| b.wallclock_us);
        let sources = reading.stream.rtp_sources();
        let rtp_info = tracks
            .iter()
            .map(|t| {
                let first = first.get(t.track).copied().flatten();
                let clock_rate = sources.get(t.track).map_or(90_000, |s| s.clock_rate);
                RtpInfoEntry {
                    url: format!("{}/trackID={}", uri.trim_end_matches('/'), t.track),
                    seq: first.map(|p| p.seq),
                    rtptime: first.map(|p| p.rtp_time_at(start_us, clock_rate)),
                }
            })
            .collect();
        let path = reading.path.name.clone();
        let plan = PlayPlan {
            cursor,
            pending,
            targets,
            path,
            udp,
            reports: reports::for_reader(reading.stream.rtp_sources()),
        };
        self.after_response = Some(Outgoing::Play(plan));
        let transport = transport_names(tracks);
        self.entry.set_session_state(SessionState::Read, transport);
        tracing::info!(path = %reading.path.name, "is reading from path ({})", transport_names(tracks));
        Ok(ServerAnswer::Play { rtp_info })
    }

    fn record(&mut self, tracks: &[SetupTrack]) -> Answer {
        let Some(announced) = self.announced.take() else {
            return Err((
                StatusCode::METHOD_NOT_VALID_IN_THIS_STATE,
                "nothing was announced".into(),
            ));
        };
        let supported: Vec<_> = announced
            .tracks
            .iter()
            .filter_map(|t| t.track().cloned())
            .collect();
        let guard = match announced.path.publish(supported) {
            Ok(guard) => guard,
            Err(e) => {
                self.announced = Some(announced);
                return Err(refusal(e));
            }
        };
        let publisher = Arc::new(Mutex::new(Publisher::new(
            &announced.path.name,
            guard.stream.clone(),
            &announced.tracks,
        )));
        let udp_routes = self.route_udp_publisher(tracks, &publisher);
        let peer_ip = peer_ip(self.peer);
        let targets = tracks
            .iter()
            .map(|t| (t.track, target_of(&t.transport, peer_ip)))
            .collect();
        self.announced = Some(announced);
        self.publishing = Some(Publishing {
            guard,
            publisher,
            udp_routes,
            targets,
        });
        let transport = transport_names(tracks);
        self.entry
            .set_session_state(SessionState::Publish, transport);
        Ok(ServerAnswer::Accept)
    }

    fn route_udp_publisher(
        &self,
        tracks: &[SetupTrack],
        publisher: &Arc<Mutex<Publisher>>,
    ) -> Vec<SocketAddr> {
        let Some(udp) = &self.server.udp else {
            return Vec::new();
        };
        let ip = peer_ip(self.peer);
        let mut routes = Vec::new();
        for setup in tracks
            .iter()
            .filter(|t| t.transport.lower_transport() == LowerTransport::Udp)
        {
            let Some((rtp, rtcp)) = setup.transport.client_port else {
                continue;
            };
            for (port, is_rtcp) in [(rtp, false), (rtcp, true)] {
                let from = SocketAddr::new(ip, port);
                udp.add(
                    from,
                    Route::Publish {
                        publisher: publisher.clone(),
                        media: setup.track,
                        rtcp: is_rtcp,
                    },
                );
                routes.push(from);
            }
        }
        routes
    }

    /// Releases what the session holds: reader slot, multicast lease, publisher, UDP routes.
    fn release(&mut self) {
        if let Some(reading) = self.reading.take() {
            if let Some(udp) = &self.server.udp {
                udp.remove(&reading.udp_routes);
            }
            tracing::info!(path = %reading.path.name, "stopped reading");
        }
        if let Some(publishing) = self.publishing.take() {
            if let Some(udp) = &self.server.udp {
                udp.remove(&publishing.udp_routes);
            }
            publishing.guard.finish();
        }
        self.announced = None;
        self.after_response = Some(Outgoing::Stop);
        self.entry.end_session();
    }
}

type Answer = Result<ServerAnswer, (StatusCode, String)>;

/// Reads more bytes into `buf`, growing it by a chunk when full.
async fn read_more(
    socket: &mut (impl AsyncRead + Unpin),
    buf: &mut BytesMut,
) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        // A new buffer of exactly READ_CHUNK (jemalloc's 64 KiB class), the partial frame
        // carried over included: received units are slices of it, so it lives as long as
        // they do, and `len + READ_CHUNK` would fall in the 80 KiB class.
        let want = READ_CHUNK.max(buf.len() + 4096);
        buf.reserve(want - buf.len());
    }
    socket.read_buf(buf).await
}

/// A track's first packet sent to a reader.
#[derive(Clone, Copy)]
struct FirstPacket {
    seq: u16,
    timestamp: u32,
    wallclock_us: i64,
}

impl FirstPacket {
    /// The track's RTP time at wall-clock `at_us` (on the stream's common clock), so that every
    /// track's `RTP-Info` names the same instant, as RFC 2326 §12.33 says.
    fn rtp_time_at(&self, at_us: i64, clock_rate: u32) -> u32 {
        let ticks = i128::from(self.wallclock_us - at_us) * i128::from(clock_rate) / 1_000_000;
        self.timestamp.wrapping_sub(ticks as i64 as u32)
    }
}

/// Takes the batches already in the ring from the cursor's start, until every track's first
/// packet is known: their sequence numbers and RTP times go into `RTP-Info` (RFC 2326 §12.33).
fn prefetch(
    cursor: &mut Cursor<RtpBatch>,
    tracks: usize,
) -> (Vec<Arc<RtpBatch>>, Vec<Option<FirstPacket>>) {
    let mut pending = Vec::new();
    let mut first = vec![None; tracks];
    while first.iter().any(Option::is_none) {
        let Next::Item(batch) = cursor.try_next() else {
            break;
        };
        if let (Some(slot @ None), Some(packet)) =
            (first.get_mut(batch.track), batch.packets.first())
        {
            *slot = Some(FirstPacket {
                seq: packet.sequence_number,
                timestamp: packet.timestamp,
                wallclock_us: batch.wallclock_us,
            });
        }
        pending.push(batch);
    }
    (pending, first)
}

async fn kicked(publishing: &mut Option<Publishing>) {
    match publishing {
        Some(p) => {
            let _ = (&mut p.guard.kicked).await;
        }
        None => std::future::pending().await,
    }
}

fn action_of(kind: &QueryKind) -> Option<AuthAction> {
    match kind {
        QueryKind::Describe | QueryKind::Play { .. } => Some(AuthAction::Read),
        QueryKind::Setup {
            mode: TransportMode::Play,
            ..
        } => Some(AuthAction::Read),
        QueryKind::Announce { .. } | QueryKind::Record { .. } => Some(AuthAction::Publish),
        QueryKind::Setup {
            mode: TransportMode::Record,
            ..
        } => Some(AuthAction::Publish),
        QueryKind::Pause { .. } | QueryKind::Teardown { .. } => None,
    }
}

fn target_of(transport: &Transport, peer_ip: std::net::IpAddr) -> Target {
    if transport.is_multicast() {
        return Target::Multicast;
    }
    match (
        transport.lower_transport(),
        transport.interleaved,
        transport.client_port,
    ) {
        (LowerTransport::Tcp, Some((rtp, rtcp)), _) => Target::Tcp { rtp, rtcp },
        (LowerTransport::Udp, _, Some((rtp, rtcp))) => Target::Udp {
            rtp: SocketAddr::new(peer_ip, rtp),
            rtcp: SocketAddr::new(peer_ip, rtcp),
        },
        _ => Target::Tcp { rtp: 0, rtcp: 1 },
    }
}

fn transport_names(tracks: &[SetupTrack]) -> &'static str {
    match tracks
        .first()
        .map(|t| (t.transport.lower_transport(), t.transport.is_multicast()))
    {
        Some((_, true)) => "UDP multicast",
        Some((LowerTransport::Udp, false)) => "UDP",
        _ => "TCP",
    }
}

fn refusal(e: PathError) -> (StatusCode, String) {
    let status = match e {
        PathError::NotConfigured(_) | PathError::NoStream(_) | PathError::SourceTimeout(_) => {
            StatusCode::NOT_FOUND
        }
        PathError::InvalidName { .. }
        | PathError::NotPublishable { .. }
        | PathError::AlreadyPublishing(_)
        | PathError::TooManyReaders(_) => StatusCode::BAD_REQUEST,
    };
    (status, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::FirstPacket;

    #[test]
    fn rtp_info_names_the_same_instant_for_every_track() {
        let video = FirstPacket {
            seq: 1,
            timestamp: 5_000,
            wallclock_us: 2_000_000,
        };
        assert_eq!(video.rtp_time_at(2_000_000, 90_000), 5_000);
        // Audio whose first packet is 20 ms after the start: its RTP time 20 ms earlier.
        let audio = FirstPacket {
            seq: 1,
            timestamp: 100,
            wallclock_us: 2_020_000,
        };
        assert_eq!(
            audio.rtp_time_at(2_000_000, 48_000),
            100u32.wrapping_sub(960)
        );
        assert_eq!(audio.rtp_time_at(2_040_000, 48_000), 100 + 960);
    }
}
