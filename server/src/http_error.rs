//! MediaMTX's error answer on its HTTP listeners (API, metrics, playback, WebRTC, and the 401s
//! and 429s of every listener): `status` with `{"status":"error","error":"…"}` as JSON.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// `status` with MediaMTX's JSON error body naming `message`.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"status": "error", "error": message}).to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
