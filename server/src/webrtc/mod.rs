//! The WebRTC listener (`:8889`): WHEP reads of a path's H.264 video (MediaMTX's URLs).
//!
//! - `POST /<path>/whep` with an `application/sdp` offer → `201 Created`, the SDP answer, a
//!   `Location` of the session (`/<path>/whep/<id>`) and an `ETag`;
//! - `DELETE /<path>/whep/<id>` ends the session;
//! - `OPTIONS /<path>/whep` answers CORS and the `Link` headers of ICE servers (none yet).
//!
//! Each session is a sans-IO `str0m::Rtc`; one task ([`driver`]) owns them all and the single
//! UDP socket of `webrtcLocalUDPAddress`. The HTTP side only builds a session from the offer
//! and hands it over.

mod driver;
mod media;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::{Candidate, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::driver::{Command, NewSession};
use self::media::Feed;
use crate::auth::{self, Protocol};
use crate::config::{AuthAction, WebrtcConf};
use crate::http_error::json_error;
use crate::paths::{PathError, PathManager, ReaderGuard};
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
    str0m::crypto::from_feature_flags().install_process_default();
    let (commands, commands_rx) = mpsc::channel(64);
    let (units_tx, units_rx) = mpsc::channel(driver::UNIT_QUEUE);
    let driver = tokio::spawn(driver::run(socket, commands_rx, units_tx, units_rx));
    let server = Arc::new(WebrtcServer {
        paths,
        udp_port: bound.port(),
        udp_ip: (!bound.ip().is_unspecified()).then_some(bound.ip()),
        conf,
        commands,
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
    },
    /// 200 with no body (a DELETE).
    Done,
    /// 204 to a preflight, with the ICE servers as `Link` headers (none yet).
    Preflight,
    /// 401 with these challenges.
    Unauthorized(Vec<String>),
    /// An error status with MediaMTX's JSON error.
    Error(StatusCode, String),
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

async fn route(
    server: &Arc<WebrtcServer>,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Reply {
    let full = uri.path().trim_start_matches('/');
    if let Some(name) = full.strip_suffix("/whep") {
        return match *method {
            Method::OPTIONS => Reply::Preflight,
            Method::POST => {
                let query = uri.query().unwrap_or_default();
                offer(server, peer, name, headers, query, &body).await
            }
            _ => Reply::Error(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WHEP endpoint takes POST (an offer) or OPTIONS".into(),
            ),
        };
    }
    if let Some((_, id)) = full.rsplit_once("/whep/") {
        return match *method {
            Method::OPTIONS => Reply::Preflight,
            Method::DELETE => delete(server, id).await,
            Method::PATCH => Reply::Error(
                StatusCode::NOT_IMPLEMENTED,
                "trickle ICE (PATCH) is not supported yet: send every candidate in the offer"
                    .into(),
            ),
            _ => Reply::Error(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WHEP session takes DELETE".into(),
            ),
        };
    }
    Reply::Error(
        StatusCode::NOT_FOUND,
        "not a WHEP URL: use POST /<path>/whep (the player page and WHIP are not served yet)"
            .into(),
    )
}

/// `POST /<path>/whep`: checks, reads, answers.
async fn offer(
    server: &Arc<WebrtcServer>,
    peer: SocketAddr,
    name: &str,
    headers: &HeaderMap,
    query: &str,
    body: &[u8],
) -> Reply {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.trim().starts_with("application/sdp") {
        return Reply::Error(
            StatusCode::BAD_REQUEST,
            format!("the offer's Content-Type must be application/sdp, not {content_type:?}"),
        );
    }
    let path = match server.paths.get(name) {
        Ok(path) => path,
        Err(e @ PathError::InvalidName { .. }) => {
            return Reply::Error(StatusCode::BAD_REQUEST, e.to_string());
        }
        Err(e) => return Reply::Error(StatusCode::NOT_FOUND, e.to_string()),
    };
    let config = server.paths.config();
    let checked = auth::check_http(
        &config,
        peer,
        headers,
        query,
        Protocol::Webrtc,
        AuthAction::Read,
        name,
    );
    if let Err(challenges) = checked.await {
        return Reply::Unauthorized(challenges);
    }
    let offer = match parse_offer(body) {
        Ok(offer) => offer,
        Err(problem) => return Reply::Error(StatusCode::BAD_REQUEST, problem),
    };
    let (stream, guard) = match path.read().await {
        Ok(read) => read,
        Err(e @ (PathError::TooManyReaders(_) | PathError::SourceTimeout(_))) => {
            return Reply::Error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
        Err(e) => return Reply::Error(StatusCode::NOT_FOUND, e.to_string()),
    };
    let Some(feed) = Feed::new(stream) else {
        return Reply::Error(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "path '{name}' has no H.264 track; only H.264 video is served over WebRTC so far"
            ),
        );
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let Some(local) = server.local_address(host) else {
        return Reply::Error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no address to announce as ICE candidate: bind webrtcLocalUDPAddress to an IP or \
             reach the server by IP"
                .into(),
        );
    };
    session(server, name, offer, local, (feed, guard)).await
}

/// Builds the session's `Rtc`, accepts the offer and hands the session to the driver.
async fn session(
    server: &Arc<WebrtcServer>,
    name: &str,
    offer: SdpOffer,
    local: SocketAddr,
    (feed, guard): (Feed, ReaderGuard),
) -> Reply {
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_h264(true)
        .build(Instant::now());
    for candidate in server.candidates(local) {
        rtc.add_local_candidate(candidate);
    }
    let answer = match rtc.sdp_api().accept_offer(offer) {
        Ok(answer) => answer,
        Err(e) => {
            return Reply::Error(StatusCode::BAD_REQUEST, format!("offer refused: {e}"));
        }
    };
    let answer = answer.to_sdp_string();
    let video_mid = sending_h264_mid(&answer).map(Mid::from);
    let id = uuid::Uuid::new_v4().to_string();
    let (accepted, verdict) = oneshot::channel();
    let new = NewSession {
        id: id.clone(),
        path: name.to_string(),
        rtc,
        local,
        feed,
        guard,
        video_mid,
        accepted,
    };
    if server
        .commands
        .send(Command::Add(Box::new(new)))
        .await
        .is_err()
    {
        return Reply::Error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    }
    match verdict.await {
        Ok(Ok(())) => Reply::Created {
            answer,
            location: format!("/{name}/whep/{id}"),
            etag: format!("\"{id}\""),
        },
        Ok(Err(problem)) => Reply::Error(StatusCode::NOT_ACCEPTABLE, problem),
        Err(_) => Reply::Error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()),
    }
}

/// `DELETE /<path>/whep/<id>`.
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

/// The `a=mid` of the first video media of our own `answer` that sends H.264 (its port is not
/// 0, it is `sendonly` and maps a payload type to `H264/90000`). It reads the answer str0m just
/// wrote, never peer input: str0m reports opened media only once connected, and the HTTP answer
/// must say before that whether there is anything to play.
fn sending_h264_mid(answer: &str) -> Option<&str> {
    let sections = answer.split("\nm=").skip(1);
    sections
        .filter(|m| m.starts_with("video ") && !m.starts_with("video 0 "))
        .filter(|m| m.lines().any(|l| l.trim_end() == "a=sendonly"))
        .filter(|m| {
            m.lines()
                .any(|l| l.starts_with("a=rtpmap:") && l.contains(" H264/90000"))
        })
        .find_map(|m| m.lines().find_map(|l| l.trim_end().strip_prefix("a=mid:")))
}

impl WebrtcServer {
    /// The address of the session's host candidate: the IP the UDP socket is bound to, else
    /// the IP literal the client reached the HTTP listener by (its `Host`).
    fn local_address(&self, host: Option<&str>) -> Option<SocketAddr> {
        let ip = self.udp_ip.or_else(|| host.and_then(host_ip))?;
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

fn render(reply: Reply) -> Response {
    match reply {
        Reply::Created {
            answer,
            location,
            etag,
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
            response
        }
        Reply::Done => Response::new(Body::empty()),
        Reply::Preflight => {
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
                HeaderValue::from_static("Link"),
            );
            response
        }
        Reply::Unauthorized(challenges) => auth::unauthorized(&challenges),
        Reply::Error(code, message) => json_error(code, &message),
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
    fn the_sending_h264_media_is_found_in_the_answer() {
        let answer = "v=0\r\ns=-\r\nm=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:1\r\na=sendonly\r\n\
            a=rtpmap:102 H264/90000\r\n";
        assert_eq!(sending_h264_mid(answer), Some("1"));
        let inactive = answer.replace("a=sendonly", "a=inactive");
        assert_eq!(sending_h264_mid(&inactive), None);
        assert_eq!(
            sending_h264_mid(&answer.replace("m=video 9", "m=video 0")),
            None
        );
        assert_eq!(sending_h264_mid(""), None);
    }

    #[test]
    fn a_bad_offer_names_its_problem() {
        assert!(parse_offer(b"").unwrap_err().contains("empty"));
        assert!(parse_offer(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
        assert!(parse_offer(b"hello").unwrap_err().contains("invalid SDP"));
    }
}
