//! `/v3/recordings/*`: the recorded segments of each path, from the recording index (the
//! same one the playback server answers from), and deleting one segment.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Api, bad_request, error, list_response, name_param, ok_json, ok_status, rfc3339};
use crate::record::Recording;

/// `GET /v3/recordings/list`: every path with segments, by name.
pub(super) async fn list(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let Some(recording) = api.paths.recording() else {
        return list_response(&uri, Vec::new());
    };
    let mut names = recording.index().paths();
    names.sort();
    let items = names
        .iter()
        .filter_map(|name| recording_json(recording, name))
        .collect();
    list_response(&uri, items)
}

/// `GET /v3/recordings/get/{name}`.
pub(super) async fn get(State(api): State<Arc<Api>>, name: UrlPath<String>) -> Response {
    let name = name_param(name);
    match api.paths.recording().and_then(|r| recording_json(r, &name)) {
        Some(recording) => ok_json(&recording),
        None => error(StatusCode::NOT_FOUND, "recording not found"),
    }
}

/// `DELETE /v3/recordings/deletesegment?path=&start=`: deletes the segment of `path` that
/// starts at `start` (RFC 3339) from its store and from the index.
pub(super) async fn delete_segment(State(api): State<Arc<Api>>, uri: Uri) -> Response {
    let (path, start_us) = match segment_query(uri.query().unwrap_or("")) {
        Ok(found) => found,
        Err(message) => return bad_request(&message),
    };
    let Some(recording) = api.paths.recording() else {
        return error(StatusCode::NOT_FOUND, "segment not found");
    };
    let found = recording
        .index()
        .segments(&path, start_us, start_us.saturating_add(1))
        .into_iter()
        .find(|s| s.start_us == start_us);
    let Some(segment) = found else {
        return error(StatusCode::NOT_FOUND, "segment not found");
    };
    let store = recording
        .destination(&path)
        .ok_or_else(|| "the path has no recordPath".to_string())
        .and_then(|d| recording.stores().get(&d).map_err(|e| e.to_string()));
    let deleted = match store {
        Ok(store) => store.delete(&segment.key).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(e) = deleted {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    recording.index().remove(&path, start_us);
    tracing::info!(path = %path, "[API] segment {} deleted", segment.key);
    ok_status()
}

/// MediaMTX's `Recording` for `name`; `None` when it has no segment.
fn recording_json(recording: &Recording, name: &str) -> Option<Value> {
    let segments: Vec<Value> = recording
        .index()
        .segments(name, i64::MIN, i64::MAX)
        .iter()
        .filter_map(|s| DateTime::<Utc>::from_timestamp_micros(s.start_us))
        .map(|start| json!({"start": rfc3339(start)}))
        .collect();
    if segments.is_empty() {
        return None;
    }
    Some(json!({"name": name, "segments": segments}))
}

/// `path` and `start` (as UNIX µs) of a delete request, or what is wrong with them.
fn segment_query(query: &str) -> Result<(String, i64), String> {
    let mut path = None;
    let mut start = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "path" => path = Some(value.into_owned()),
            "start" => start = Some(value.into_owned()),
            _ => {}
        }
    }
    let path = path
        .filter(|p| !p.is_empty())
        .ok_or("invalid path: missing")?;
    let start = start.ok_or("invalid start: missing")?;
    let start = DateTime::parse_from_rfc3339(&start)
        .map_err(|e| format!("invalid start: {start:?} is not an RFC 3339 time ({e})"))?;
    Ok((path, start.timestamp_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_queries_name_what_is_wrong() {
        let ok = segment_query("path=cam1&start=2026-01-02T03:04:05.5Z").unwrap();
        assert_eq!(ok, ("cam1".to_string(), 1_767_323_045_500_000));
        let cases = [
            ("start=2026-01-02T03:04:05Z", "invalid path"),
            ("path=&start=2026-01-02T03:04:05Z", "invalid path"),
            ("path=cam1", "invalid start"),
            ("path=cam1&start=yesterday", "invalid start"),
        ];
        for (query, start) in cases {
            let e = segment_query(query).unwrap_err();
            assert!(e.starts_with(start), "{query}: {e}");
        }
    }
}
