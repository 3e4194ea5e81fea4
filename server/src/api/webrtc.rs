//! `/v3/webrtcsessions/*`: the live WebRTC (WHEP/WHIP) sessions as MediaMTX shows them, and
//! kicking one. Packet counters Vigia does not gather per WebRTC session are 0 (`docs/api.md`).

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::views::parse_id;
use super::{Api, error, failure, list_response, ok_json, ok_status, rfc3339};
use crate::webrtc::sessions::WebrtcView;

/// `GET /v3/webrtcsessions/list`.
pub(super) async fn list(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let sessions = api.paths.webrtc_sessions().list();
    list_response(&uri, sessions.iter().map(session_json).collect())
}

/// `GET /v3/webrtcsessions/get/{id}`.
pub(super) async fn get(State(api): State<Arc<Api>>, UrlPath(id): UrlPath<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(f) => return failure(f),
    };
    match api.paths.webrtc_sessions().get(id) {
        Some(session) => ok_json(&session_json(&session)),
        None => error(StatusCode::NOT_FOUND, "session not found"),
    }
}

/// `POST /v3/webrtcsessions/kick/{id}`: the session is closed within a second.
pub(super) async fn kick(State(api): State<Arc<Api>>, UrlPath(id): UrlPath<String>) -> Response {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(f) => return failure(f),
    };
    if api.paths.webrtc_sessions().kick(id) {
        tracing::info!("[API] WebRTC session {id} kicked");
        ok_status()
    } else {
        error(StatusCode::NOT_FOUND, "session not found")
    }
}

/// MediaMTX's `WebRTCSession`.
fn session_json(view: &WebrtcView) -> Value {
    let entry = &view.entry;
    let local = format!("host/udp/{}", entry.local);
    let remote = view.remote.map_or_else(String::new, |r| format!("udp/{r}"));
    json!({
        "id": entry.id.to_string(),
        "created": rfc3339(entry.created),
        "remoteAddr": entry.remote_addr.to_string(),
        "peerConnectionEstablished": view.established,
        "localCandidate": local,
        "remoteCandidate": remote,
        "state": entry.state(),
        "path": entry.path,
        "query": entry.query,
        "user": "",
        "userAgent": entry.user_agent,
        "inboundBytes": view.inbound_bytes,
        "inboundRTPPackets": 0,
        "inboundRTPPacketsLost": 0,
        "inboundRTPPacketsJitter": 0.0,
        "inboundRTCPPackets": 0,
        "outboundBytes": view.outbound_bytes,
        "outboundRTPPackets": 0,
        "outboundRTCPPackets": 0,
        "outboundFramesDiscarded": 0,
        "bytesReceived": view.inbound_bytes,
        "bytesSent": view.outbound_bytes,
        "rtpPacketsReceived": 0,
        "rtpPacketsSent": 0,
        "rtpPacketsLost": 0,
        "rtpPacketsJitter": 0.0,
        "rtcpPacketsReceived": 0,
        "rtcpPacketsSent": 0,
    })
}
