//! The WebRTC listener (`:8889`, MediaMTX's URLs): WHEP reads of a path's H.264 video and
//! Opus/G.711 audio, WHIP publishing into a path.
//!
//! - `POST /<path>/whep` (read) or `/<path>/whip` (publish) with an `application/sdp` offer →
//!   `201 Created`, the SDP answer, a `Location` of the session (`/<path>/whep/<id>`) and an
//!   `ETag`;
//! - `PATCH /<path>/whep/<id>` adds trickled candidates (`application/trickle-ice-sdpfrag`);
//! - `DELETE /<path>/whep/<id>` ends the session;
//! - `OPTIONS` answers CORS and the `Link` headers of ICE servers.
//!
//! Each session is a sans-IO `str0m::Rtc`; one task ([`driver`]) owns them all and the single
//! UDP socket of `webrtcLocalUDPAddress`. The HTTP side only builds a session from the offer
//! and hands it over.

mod answer;
mod driver;
mod ice_servers;
mod interfaces;
mod media;
mod page;
mod publish;
mod rtp;
mod send;
pub(crate) mod sessions;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::media::Mid;
use str0m::{Candidate, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use vigia_protocol::sdpfrag::SdpFrag;

use self::answer::{AnswerMedia, Direction};
use self::driver::{Command, NewRole, NewSession};
use self::media::Feed;
use self::publish::Publication;
use self::sessions::EntryFacts;
use crate::auth::{self, Protocol};
use crate::config::{AuthAction, WebrtcConf};
use crate::http_error::json_error;
use crate::paths::{Path, PathError, PathManager};
use crate::rtsp::listen_addr;

/// Largest SDP offer read (browsers send 5–10 kB).
const MAX_OFFER: usize = 64 * 1024;

/// Shared state of the WebRTC listener.
struct WebrtcServer {
    paths: Arc<PathManager>,
    conf: WebrtcConf,
    /// The port of the ICE UDP socket, announced in every candidate.
    udp_port: u16,
    /// The IP the UDP socket is bound to, when not all of them.
    udp_ip: Option<IpAddr>,
    commands: mpsc::Sender<Command>,
    /// The DTLS certificate of every session, made once at start (a key pair per session
    /// cost ~0.1 ms of CPU and memory per offer, abandoned ones included).
    dtls_cert: DtlsCert,
}

/// Binds the WHEP listener and the ICE UDP socket, and serves until aborted.
pub(crate) async fn start(paths: Arc<PathManager>) -> Result<Vec<JoinHandle<()>>, String> {
    let config = paths.config().clone();
    let conf = config.webrtc.clone();
    let listener = crate::limits::bind_tcp(&conf.address, "webrtcAddress").await?;
    let socket = UdpSocket::bind(listen_addr(&conf.local_udp_address))
        .await
        .map_err(|e| {
            let address = &conf.local_udp_address;
            format!("can't listen on {address}/udp (webrtcLocalUDPAddress): {e}")
        })?;
    let bound = socket.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        "[WebRTC] listener opened on {} (HTTP), {}/udp (ICE)",
        conf.address,
        conf.local_udp_address
    );
    let provider = str0m::crypto::from_feature_flags();
    let dtls_cert = provider
        .dtls_provider
        .generate_certificate()
        .ok_or("can't make the WebRTC DTLS certificate")?;
    provider.install_process_default();
    let (commands, commands_rx) = mpsc::channel(64);
    let (units_tx, units_rx) = mpsc::channel(driver::UNIT_QUEUE);
    let handshake_timeout = conf.handshake_timeout;
    let driver = driver::run(socket, commands_rx, (units_tx, units_rx), handshake_timeout);
    let driver = tokio::spawn(driver);
    let server = Arc::new(WebrtcServer {
        paths,
        udp_port: bound.port(),
        udp_ip: (!bound.ip().is_unspecified()).then_some(bound.ip()),
        conf,
        commands,
        dtls_cert,
    });
    let app = crate::metrics::instrument(
        Router::new().fallback(handle).with_state(server.clone()),
        "webrtc",
    );
    let http = crate::limits::serve_http(
        "WebRTC",
        &config,
        listener,
        app,
        None,
        &server.conf.trusted_proxies,
    )?;
    Ok(vec![driver, http])
}

/// What a request is answered with, before CORS.
enum Reply {
    /// 201 with the SDP answer.
    Created {
        answer: String,
        location: String,
        etag: String,
        /// The ICE servers as `Link` headers.
        links: Vec<String>,
    },
    /// 200 with no body (a DELETE).
    Done,
    /// 204 with no body (a PATCH).
    NoContent,
    /// 204 to a preflight, with the ICE servers as `Link` headers.
    Preflight(Vec<String>),
    /// 401 with these challenges.
    Unauthorized(Vec<String>),
    /// An error status with MediaMTX's JSON error.
    Error(StatusCode, String),
    /// A player or publish page, its script, or a redirect to `/<path>/` ([`page`]).
    Page(page::Page),
}

async fn handle(
    State(server): State<Arc<WebrtcServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reply = route(&server, peer, &method, &uri, &headers, body).await;
    let mut response = render(reply);
    if let Some(allowed) =
        crate::cors::allowed_origin(origin.as_deref(), &server.conf.allow_origins)
        && let Ok(value) = HeaderValue::from_str(&allowed)
    {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// What a WebRTC endpoint does with its session: WHEP reads, WHIP publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `/<path>/whep`.
    Read,
    /// `/<path>/whip`.
    Publish,
}

impl Kind {
    /// The URL segment after the path name.
    fn segment(self) -> &'static str {
        match self {
            Kind::Read => "whep",
            Kind::Publish => "whip",
        }
    }
}

async fn route(
    server: &Arc<WebrtcServer>,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Reply {
    let full = uri.path().trim_start_matches('/');
    for kind in [Kind::Read, Kind::Publish] {
        let segment = kind.segment();
        if let Some(name) = full.strip_suffix(&format!("/{segment}")) {
            return match *method {
                Method::OPTIONS => Reply::Preflight(server.links()),
                Method::POST => {
                    let query = uri.query().unwrap_or_default();
                    let request = Request {
                        peer,
                        name,
                        kind,
                        headers,
                        query,
                    };
                    offer(server, &request, &body).await
                }
                _ => Reply::Error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!(
                        "a {} endpoint takes POST (an offer) or OPTIONS",
                        segment.to_uppercase()
                    ),
                ),
            };
        }
        if let Some((_, id)) = full.rsplit_once(&format!("/{segment}/")) {
            return match *method {
                Method::OPTIONS => Reply::Preflight(server.links()),
                Method::DELETE => delete(server, id).await,
                Method::PATCH => patch(server, id, headers, &body).await,
                _ => Reply::Error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("a {} session takes PATCH or DELETE", segment.to_uppercase()),
                ),
            };
        }
    }
    if let Some(reply) = page::serve(server, peer, method, uri, headers).await {
        return reply;
    }
    Reply::Error(
        StatusCode::NOT_FOUND,
        "not a WebRTC URL: use POST /<path>/whep (read) or /<path>/whip (publish)".into(),
    )
}

/// The parts of an offer's request that decide how it is answered.
struct Request<'a> {
    peer: SocketAddr,
    name: &'a str,
    kind: Kind,
    headers: &'a HeaderMap,
    query: &'a str,
}

/// `POST /<path>/whep|whip`: checks, then reads or publishes.
async fn offer(server: &Arc<WebrtcServer>, request: &Request<'_>, body: &[u8]) -> Reply {
    let headers = request.headers;
    if let Err(reply) = content_type(headers, "application/sdp", "offer") {
        return reply;
    }
    let name = request.name;
    let path = match server.paths.get(name) {
        Ok(path) => path,
        Err(e @ PathError::InvalidName { .. }) => {
            return Reply::Error(StatusCode::BAD_REQUEST, e.to_string());
        }
        Err(e) => return Reply::Error(StatusCode::NOT_FOUND, e.to_string()),
    };
    let action = match request.kind {
        Kind::Read => AuthAction::Read,
        Kind::Publish => AuthAction::Publish,
    };
    let config = server.paths.config();
    let checked = auth::check_http(
        &config,
        request.peer,
        headers,
        request.query,
        Protocol::Webrtc,
        action,
        name,
    );
    if let Err(challenges) = checked.await {
        return Reply::Unauthorized(challenges);
    }
    let offer = match parse_offer(body) {
        Ok(offer) => offer,
        Err(problem) => return Reply::Error(StatusCode::BAD_REQUEST, problem),
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let Some(local) = server.local_address(host) else {
        return Reply::Error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no address to announce as ICE candidate: bind webrtcLocalUDPAddress to an IP, \
             reach the server by IP, or turn webrtcIPsFromInterfaces on"
                .into(),
        );
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let offered = Offered {
        name,
        local,
        peer: request.peer,
        query: request.query,
        user_agent,
    };
    match request.kind {
        Kind::Read => read(server, path, offer, offered).await,
        Kind::Publish => publish(server, path, offer, offered).await,
    }
}

/// About an offer that passed the checks: where its session's candidate points, and what the
/// API shows of its request.
struct Offered<'a> {
    name: &'a str,
    local: SocketAddr,
    peer: SocketAddr,
    query: &'a str,
    user_agent: &'a str,
}

/// Answers a WHEP offer with a session sending `path`'s stream.
async fn read(
    server: &Arc<WebrtcServer>,
    path: Arc<Path>,
    offer: SdpOffer,
    offered: Offered<'_>,
) -> Reply {
    let name = offered.name;
    let (stream, guard) = match path.read().await {
        Ok(read) => read,
        Err(e @ (PathError::TooManyReaders(_) | PathError::SourceTimeout(_))) => {
            return Reply::Error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
        Err(e) => return Reply::Error(StatusCode::NOT_FOUND, e.to_string()),
    };
    let feed = match Feed::new(stream) {
        Ok(feed) => feed,
        Err(problem) => {
            return Reply::Error(
                StatusCode::NOT_ACCEPTABLE,
                format!("path '{name}': {problem}"),
            );
        }
    };
    let left_out = feed.left_out();
    if !left_out.is_empty() {
        tracing::info!(path = %name, "[WebRTC] not sent to WebRTC readers: {left_out:?} (no WebRTC payload format; AAC is not transcoded)");
    }
    let config = feed.rtc_config().set_dtls_cert(server.dtls_cert.clone());
    let mut rtc = config.build(Instant::now());
    let (answer, media) = match server.answer(&mut rtc, offer, offered.local) {
        Ok(answered) => answered,
        Err(reply) => return reply,
    };
    let mid = |video: bool| {
        let mut sending = media.iter().filter(|m| m.direction == Direction::Send);
        sending
            .find(|m| m.video == video)
            .map(|m| Mid::from(m.mid.as_str()))
    };
    let role = NewRole::Read {
        feed,
        guard,
        video_mid: mid(true),
        audio_mid: mid(false),
    };
    server.submit(&offered, Kind::Read, rtc, role, answer).await
}

/// Answers a WHIP offer with a session publishing into `path` once connected.
async fn publish(
    server: &Arc<WebrtcServer>,
    path: Arc<Path>,
    offer: SdpOffer,
    offered: Offered<'_>,
) -> Reply {
    if let Err(e) = path.check_publishable() {
        return Reply::Error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let config = publish::rtc_config().set_dtls_cert(server.dtls_cert.clone());
    let mut rtc = config.build(Instant::now());
    let (answer, media) = match server.answer(&mut rtc, offer, offered.local) {
        Ok(answered) => answered,
        Err(reply) => return reply,
    };
    let publication = match Publication::new(path, &media) {
        Ok(publication) => publication,
        Err(problem) => return Reply::Error(StatusCode::NOT_ACCEPTABLE, problem),
    };
    let role = NewRole::Publish(publication);
    server
        .submit(&offered, Kind::Publish, rtc, role, answer)
        .await
}

/// `DELETE /<path>/whep|whip/<id>`.
async fn delete(server: &WebrtcServer, id: &str) -> Reply {
    let (done, existed) = oneshot::channel();
    let id = id.to_string();
    if server
        .commands
        .send(Command::Remove { id, done })
        .await
        .is_err()
    {
        return Reply::Error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    }
    match existed.await {
        Ok(true) => Reply::Done,
        _ => Reply::Error(StatusCode::NOT_FOUND, "no such WebRTC session".into()),
    }
}

/// `PATCH /<path>/whep|whip/<id>` with trickled candidates (RFC 9725 §4.3): 204 once added.
/// An ICE restart (new credentials) is not supported: 422, as the RFC allows.
async fn patch(server: &WebrtcServer, id: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    if let Err(reply) = content_type(headers, "application/trickle-ice-sdpfrag", "PATCH") {
        return reply;
    }
    let frag = match SdpFrag::parse(body) {
        Ok(frag) => frag,
        Err(e) => return Reply::Error(StatusCode::BAD_REQUEST, format!("invalid fragment: {e}")),
    };
    let mut candidates = Vec::with_capacity(frag.candidates.len());
    for line in &frag.candidates {
        match Candidate::from_sdp_string(line) {
            Ok(candidate) => candidates.push(candidate),
            // Browsers hide their address behind an mDNS name unless told otherwise: such a
            // candidate can't be reached from here, and skipping it is what they expect.
            Err(_)
                if line
                    .split_whitespace()
                    .nth(4)
                    .is_some_and(|a| a.ends_with(".local")) => {}
            Err(e) => {
                return Reply::Error(StatusCode::BAD_REQUEST, format!("invalid candidate: {e}"));
            }
        }
    }
    let (done, existed) = oneshot::channel();
    let command = Command::Candidates {
        id: id.to_string(),
        candidates,
        done,
    };
    if server.commands.send(command).await.is_err() {
        return Reply::Error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    }
    match existed.await {
        Ok(true) => Reply::NoContent,
        _ => Reply::Error(StatusCode::NOT_FOUND, "no such WebRTC session".into()),
    }
}

/// `Ok` when the request's `Content-Type` is `expected`; else a 400 naming what was sent.
fn content_type(headers: &HeaderMap, expected: &str, what: &str) -> Result<(), Reply> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.trim().starts_with(expected) {
        return Ok(());
    }
    Err(Reply::Error(
        StatusCode::BAD_REQUEST,
        format!("the {what}'s Content-Type must be {expected}, not {content_type:?}"),
    ))
}

/// The offer, parsed by str0m; an error names the problem.
fn parse_offer(body: &[u8]) -> Result<SdpOffer, String> {
    if body.len() > MAX_OFFER {
        return Err(format!("the offer is larger than {MAX_OFFER} bytes"));
    }
    let text = std::str::from_utf8(body).map_err(|_| "the offer is not UTF-8 text".to_string())?;
    if text.trim().is_empty() {
        return Err("the offer is empty: POST an SDP offer".into());
    }
    SdpOffer::from_sdp_string(text).map_err(|e| format!("invalid SDP offer: {e}"))
}

impl WebrtcServer {
    /// The ICE servers of `webrtcICEServers2` as `Link` headers.
    fn links(&self) -> Vec<String> {
        ice_servers::links(&self.conf.ice_servers, chrono::Utc::now().timestamp())
    }

    /// Adds the session's candidates to `rtc` and accepts `offer`: the answer's text and its
    /// media, or the 400 naming why the offer was refused.
    fn answer(
        &self,
        rtc: &mut Rtc,
        offer: SdpOffer,
        local: SocketAddr,
    ) -> Result<(String, Vec<AnswerMedia>), Reply> {
        for candidate in self.candidates(local) {
            rtc.add_local_candidate(candidate);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| Reply::Error(StatusCode::BAD_REQUEST, format!("offer refused: {e}")))?
            .to_sdp_string();
        let media = answer::media(&answer);
        Ok((answer, media))
    }

    /// Hands a new session to the driver and answers with its `Location` once the driver
    /// took it.
    async fn submit(
        &self,
        offered: &Offered<'_>,
        kind: Kind,
        rtc: Rtc,
        role: NewRole,
        answer: String,
    ) -> Reply {
        let uuid = uuid::Uuid::new_v4();
        let id = uuid.to_string();
        let name = offered.name;
        let entry = self.paths.webrtc_sessions().open(EntryFacts {
            id: uuid,
            remote_addr: offered.peer,
            path: name.to_string(),
            query: offered.query.to_string(),
            user_agent: offered.user_agent.to_string(),
            publish: kind == Kind::Publish,
            local: offered.local,
        });
        let (accepted, verdict) = oneshot::channel();
        let new = NewSession {
            id: id.clone(),
            path: name.to_string(),
            rtc,
            local: offered.local,
            role,
            entry,
            accepted,
        };
        if self
            .commands
            .send(Command::Add(Box::new(new)))
            .await
            .is_err()
        {
            return Reply::Error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
        }
        match verdict.await {
            Ok(Ok(())) => Reply::Created {
                links: self.links(),
                answer,
                location: format!("/{name}/{}/{id}", kind.segment()),
                etag: format!("\"{id}\""),
            },
            Ok(Err(problem)) => Reply::Error(StatusCode::NOT_ACCEPTABLE, problem),
            Err(_) => Reply::Error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()),
        }
    }

    /// The address of the session's host candidate: the IP the UDP socket is bound to, else
    /// the IP literal the client reached the HTTP listener by (its `Host`), else an interface's
    /// IP (`webrtcIPsFromInterfaces`).
    fn local_address(&self, host: Option<&str>) -> Option<SocketAddr> {
        let from_interfaces = || {
            let conf = &self.conf;
            conf.ips_from_interfaces
                .then(|| interfaces::announced_ip(&conf.ips_from_interfaces_list))
                .flatten()
        };
        let ip = self
            .udp_ip
            .or_else(|| host.and_then(host_ip))
            .or_else(from_interfaces)?;
        Some(SocketAddr::new(ip, self.udp_port))
    }

    /// The host candidate at `local`, and `webrtcAdditionalHosts` (IP literals) as server
    /// reflexive candidates whose base is `local` (a 1:1 NAT in front of the server).
    fn candidates(&self, local: SocketAddr) -> Vec<Candidate> {
        let mut candidates: Vec<Candidate> = Candidate::host(local, "udp").into_iter().collect();
        for host in &self.conf.additional_hosts {
            let Some(ip) = host_ip(host) else {
                tracing::debug!("[WebRTC] webrtcAdditionalHosts: {host} is not an IP; skipped");
                continue;
            };
            let addr = SocketAddr::new(ip, self.udp_port);
            if let Ok(candidate) = Candidate::server_reflexive(addr, local, "udp") {
                candidates.push(candidate);
            }
        }
        candidates
    }
}

/// The IP of `host` (`1.2.3.4`, `1.2.3.4:8889`, `[::1]:8889`), when it is an IP literal.
fn host_ip(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
    bare.trim_matches(|c| c == '[' || c == ']').parse().ok()
}

/// Appends one `Link` header per ICE server.
fn add_links(headers: &mut HeaderMap, links: &[String]) {
    for link in links {
        if let Ok(value) = HeaderValue::from_str(link) {
            headers.append(header::LINK, value);
        }
    }
}

fn render(reply: Reply) -> Response {
    match reply {
        Reply::Created {
            answer,
            location,
            etag,
            links,
        } => {
            let mut response = Response::new(Body::from(answer));
            *response.status_mut() = StatusCode::CREATED;
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/sdp"),
            );
            for (name, value) in [(header::LOCATION, location), (header::ETAG, etag)] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    h.insert(name, value);
                }
            }
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("ETag, ID, Accept-Patch, Link, Location"),
            );
            h.insert(
                HeaderName::from_static("accept-patch"),
                HeaderValue::from_static("application/trickle-ice-sdpfrag"),
            );
            add_links(h, &links);
            response
        }
        Reply::Done => Response::new(Body::empty()),
        Reply::NoContent => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Reply::Preflight(links) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            let h = response.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("OPTIONS, GET, POST, PATCH, DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Authorization, Content-Type, If-Match"),
            );
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Accept-Post, Link"),
            );
            h.insert(
                HeaderName::from_static("accept-post"),
                HeaderValue::from_static("application/sdp"),
            );
            add_links(h, &links);
            response
        }
        Reply::Unauthorized(challenges) => auth::unauthorized(&challenges),
        Reply::Error(code, message) => json_error(code, &message),
        Reply::Page(page) => page.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ip_reads_ip_literals_only() {
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(host_ip("127.0.0.1"), Some(v4));
        assert_eq!(host_ip("127.0.0.1:8889"), Some(v4));
        assert_eq!(host_ip("[::1]:8889"), Some(v6));
        assert_eq!(host_ip("::1"), Some(v6));
        assert_eq!(host_ip("camera.example:8889"), None);
        assert_eq!(host_ip(""), None);
    }

    #[test]
    fn a_bad_offer_names_its_problem() {
        assert!(parse_offer(b"").unwrap_err().contains("empty"));
        assert!(parse_offer(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
        assert!(parse_offer(b"hello").unwrap_err().contains("invalid SDP"));
    }
}
