//! The live state as MediaMTX shows it: `/v3/paths/*`, `/v3/rtspconns/*`,
//! `/v3/rtspsessions/*` (and kicking a session).
//!
//! Figures Vigia does not measure yet are given as MediaMTX's schema allows, and listed in
//! `docs/api.md`: packet counters are 0, `codecProps` is null, `user` and
//! `userAgent` are empty, HLS viewers are not listed among a path's readers.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Api, Failure, error, failure, list_response, name_param, ok_json, ok_status, rfc3339};
use crate::config::Source;
use crate::paths::Path;
use crate::registry::{ConnView, SessionInfo, SessionState};
use crate::webrtc::sessions::WebrtcView;

/// `GET /v3/paths/list`.
pub(super) async fn paths_list(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let conns = api.paths.sessions().conns();
    let sessions = SessionsByPath::new(&conns, api.paths.webrtc_sessions().list());
    let items = api
        .paths
        .all()
        .iter()
        .map(|p| path_json(&api, p, &sessions))
        .collect();
    list_response(&uri, items)
}

/// `GET /v3/paths/get/{name}`.
pub(super) async fn paths_get(State(api): State<Arc<Api>>, name: UrlPath<String>) -> Response {
    let name = name_param(name);
    let conns = api.paths.sessions().conns();
    let sessions = SessionsByPath::new(&conns, api.paths.webrtc_sessions().list());
    match api.paths.all().iter().find(|p| p.name == name) {
        Some(path) => ok_json(&path_json(&api, path, &sessions)),
        None => error(StatusCode::NOT_FOUND, "path not found"),
    }
}

/// `GET /v3/rtspconns/list`.
pub(super) async fn conns_list(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let items = api.paths.sessions().conns().iter().map(conn_json).collect();
    list_response(&uri, items)
}

/// `GET /v3/rtspconns/get/{id}`.
pub(super) async fn conns_get(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(f) => return failure(f),
    };
    match api.paths.sessions().conn(id) {
        Some(conn) => ok_json(&conn_json(&conn)),
        None => error(StatusCode::NOT_FOUND, "connection not found"),
    }
}

/// `GET /v3/rtspsessions/list`.
pub(super) async fn sessions_list(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let items = api
        .paths
        .sessions()
        .conns()
        .iter()
        .filter_map(session_json)
        .collect();
    list_response(&uri, items)
}

/// `GET /v3/rtspsessions/get/{id}`.
pub(super) async fn sessions_get(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(f) => return failure(f),
    };
    match api
        .paths
        .sessions()
        .session(id)
        .as_ref()
        .and_then(session_json)
    {
        Some(session) => ok_json(&session),
        None => error(StatusCode::NOT_FOUND, "session not found"),
    }
}

/// `POST /v3/rtspsessions/kick/{id}`: closes the session's connection.
pub(super) async fn sessions_kick(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(f) => return failure(f),
    };
    if api.paths.sessions().kick_session(id) {
        tracing::info!("[API] RTSP session {id} kicked");
        ok_status()
    } else {
        error(StatusCode::NOT_FOUND, "session not found")
    }
}

pub(super) fn parse_id(id: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(id).map_err(|_| (StatusCode::BAD_REQUEST, "invalid id: not a UUID".into()))
}

/// MediaMTX's `Path`.
fn path_json(api: &Api, path: &Path, sessions: &SessionsByPath<'_>) -> Value {
    let stream = path.stream();
    let since = stream.as_ref().map(|s| rfc3339(s.created()));
    let inbound = stream
        .as_ref()
        .map_or(0, |s| s.counters().bytes.load(Ordering::Relaxed));
    let tracks: Vec<&str> = stream.as_ref().map_or(Vec::new(), |s| {
        s.tracks().iter().map(|t| t.codec.name()).collect()
    });
    let tracks2: Vec<Value> = tracks
        .iter()
        .map(|codec| json!({"codec": codec, "codecProps": null}))
        .collect();
    let readers = sessions.on(&path.name, SessionState::Read);
    let webrtc = sessions.webrtc_on(&path.name);
    let outbound: u64 = readers
        .iter()
        .map(|(conn, _)| conn.outbound_bytes)
        .sum::<u64>()
        + webrtc
            .iter()
            .filter(|w| !w.entry.publish)
            .map(|w| w.outbound_bytes)
            .sum::<u64>();
    let publisher = sessions
        .on(&path.name, SessionState::Publish)
        .first()
        .map(|(_, session)| ("rtspSession", session.id))
        .or_else(|| {
            let whip = webrtc.iter().find(|w| w.entry.publish)?;
            Some(("webRTCSession", whip.entry.id))
        });
    let reader_list: Vec<Value> = readers
        .iter()
        .map(|(_, s)| json!({"type": "rtspSession", "id": s.id.to_string()}))
        .chain(
            webrtc
                .iter()
                .filter(|w| !w.entry.publish)
                .map(|w| json!({"type": "webRTCSession", "id": w.entry.id.to_string()})),
        )
        .collect();
    let online = stream.is_some();
    json!({
        "name": path.name,
        "confName": api.paths.conf_name(&path.name).unwrap_or_else(|| path.name.clone()),
        "source": source_json(path, online, publisher),
        "ready": online,
        "readyTime": since,
        "available": online,
        "availableTime": since,
        "online": online,
        "onlineTime": since,
        "tracks": tracks,
        "tracks2": tracks2,
        "readers": reader_list,
        "inboundBytes": inbound,
        "outboundBytes": outbound,
        "inboundFramesInError": 0,
        "bytesReceived": inbound,
        "bytesSent": outbound,
    })
}

/// The RTSP sessions (with their connections) and WebRTC sessions of each path, gathered once per request so
/// that listing paths stays linear in paths plus sessions.
struct SessionsByPath<'a> {
    rtsp: HashMap<&'a str, Vec<OnPath<'a>>>,
    webrtc: HashMap<String, Vec<WebrtcView>>,
}

/// A session and its connection.
type OnPath<'a> = (&'a ConnView, &'a SessionInfo);

impl<'a> SessionsByPath<'a> {
    fn new(conns: &'a [ConnView], webrtc_sessions: Vec<WebrtcView>) -> Self {
        let mut rtsp: HashMap<&'a str, Vec<OnPath<'a>>> = HashMap::new();
        for conn in conns {
            if let Some(s) = &conn.session {
                rtsp.entry(s.path.as_str()).or_default().push((conn, s));
            }
        }
        let mut webrtc: HashMap<String, Vec<WebrtcView>> = HashMap::new();
        for session in webrtc_sessions {
            webrtc
                .entry(session.entry.path.clone())
                .or_default()
                .push(session);
        }
        Self { rtsp, webrtc }
    }

    /// The WebRTC sessions on `path`.
    fn webrtc_on(&self, path: &str) -> &[WebrtcView] {
        self.webrtc.get(path).map_or(&[][..], Vec::as_slice)
    }

    /// The sessions on `path` in `state`.
    fn on(&self, path: &str, state: SessionState) -> Vec<OnPath<'a>> {
        let on_path = self.rtsp.get(path).map_or(&[][..], Vec::as_slice);
        on_path
            .iter()
            .filter(|(_, s)| s.state == state)
            .copied()
            .collect()
    }
}

/// The path's source: the publishing RTSP or WebRTC session, or the source Vigia runs; null when
/// nothing produces the path.
fn source_json(path: &Path, online: bool, publisher: Option<(&str, Uuid)>) -> Value {
    if let Some((kind, id)) = publisher {
        return json!({"type": kind, "id": id.to_string()});
    }
    let kind = match &path.conf.source {
        Source::Rtsp(url) if url.starts_with("rtsps://") => "rtspsSource",
        Source::Rtsp(_) => "rtspSource",
        Source::Synthetic(_) => "synthetic",
        Source::Publisher | Source::Unsupported(_) => return Value::Null,
    };
    if !online && path.conf.source_on_demand {
        return Value::Null;
    }
    json!({"type": kind, "id": ""})
}

/// MediaMTX's `RTSPConn`.
fn conn_json(conn: &ConnView) -> Value {
    json!({
        "id": conn.id.to_string(),
        "created": rfc3339(conn.created),
        "remoteAddr": conn.remote_addr.to_string(),
        "session": conn.session.as_ref().map(|s| s.id.to_string()),
        "tunnel": "none",
        "inboundBytes": conn.inbound_bytes,
        "outboundBytes": conn.outbound_bytes,
        "bytesReceived": conn.inbound_bytes,
        "bytesSent": conn.outbound_bytes,
    })
}

/// MediaMTX's `RTSPSession`, for a connection that holds one.
fn session_json(conn: &ConnView) -> Option<Value> {
    let session: &SessionInfo = conn.session.as_ref()?;
    let inbound = conn.inbound_bytes;
    Some(json!({
        "id": session.id.to_string(),
        "created": rfc3339(session.created),
        "remoteAddr": conn.remote_addr.to_string(),
        "state": session.state.as_str(),
        "path": session.path,
        "query": session.query,
        "user": "",
        "userAgent": "",
        "transport": session.transport.map(|t| t.replace(' ', "-")),
        "profile": session.transport.map(|_| "AVP"),
        "conns": [conn.id.to_string()],
        "inboundBytes": inbound,
        "inboundRTPPackets": 0,
        "inboundRTPPacketsLost": 0,
        "inboundRTPPacketsInError": 0,
        "inboundRTPPacketsJitter": 0.0,
        "inboundRTCPPackets": 0,
        "inboundRTCPPacketsInError": 0,
        "outboundBytes": conn.outbound_bytes,
        "outboundRTPPackets": 0,
        "outboundRTPPacketsReportedLost": 0,
        "outboundRTPPacketsDiscarded": 0,
        "outboundRTCPPackets": 0,
        "bytesReceived": inbound,
        "bytesSent": conn.outbound_bytes,
        "rtpPacketsReceived": 0,
        "rtpPacketsSent": 0,
        "rtpPacketsLost": 0,
        "rtpPacketsInError": 0,
        "rtpPacketsJitter": 0.0,
        "rtcpPacketsReceived": 0,
        "rtcpPacketsSent": 0,
        "rtcpPacketsInError": 0,
    }))
}
