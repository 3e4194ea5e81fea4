//! `/v3/hlsmuxers/*`: the HLS muxers alive now (one per path being watched over HLS), as
//! MediaMTX shows them.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Api, error, list_response, name_param, ok_json, rfc3339};
use crate::hls::MuxerView;

/// `GET /v3/hlsmuxers/list`.
pub(super) async fn list(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    list_response(&uri, muxers(&api).iter().map(muxer_json).collect())
}

/// `GET /v3/hlsmuxers/get/{name}`.
pub(super) async fn get(State(api): State<Arc<Api>>, name: UrlPath<String>) -> Response {
    let name = name_param(name);
    match muxers(&api).iter().find(|m| m.path == name) {
        Some(muxer) => ok_json(&muxer_json(muxer)),
        None => error(StatusCode::NOT_FOUND, "muxer not found"),
    }
}

/// The live muxers; none when the HLS listener is off.
fn muxers(api: &Api) -> Vec<MuxerView> {
    api.paths.hls_muxers().map_or(Vec::new(), |m| m.list())
}

/// MediaMTX's `HLSMuxer`. Vigia's muxers never discard frames for a slow viewer (viewers pull
/// parts), so `outboundFramesDiscarded` is 0.
fn muxer_json(muxer: &MuxerView) -> Value {
    json!({
        "path": muxer.path,
        "created": rfc3339(muxer.created),
        "lastRequest": rfc3339(muxer.last_request),
        "outboundBytes": muxer.bytes_sent,
        "outboundFramesDiscarded": 0,
        "bytesSent": muxer.bytes_sent,
    })
}
