//! HTTP answers of the HLS listener: content types, cache rules, CORS, and media bodies written
//! from the muxer's `Bytes` chunks without copying, in one vectored write.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use crate::served_body::MediaChunks;

/// What a request gets, before HTTP details.
pub(crate) enum Reply {
    /// A playlist (never cached: it changes every part).
    Playlist(String),
    /// An init section, segment or part (immutable once produced).
    Media(Vec<Bytes>),
    /// The player page.
    Page(&'static str),
    /// hls.js.
    Script(&'static str),
    /// `/<path>` → `/<path>/`.
    Redirect(String),
    /// CORS preflight.
    Preflight,
    /// 401 with these `WWW-Authenticate` values.
    Unauthorized(Vec<String>),
    /// An error status with a message naming the problem.
    Error(StatusCode, String),
}

/// How a request is answered beyond its content.
pub(crate) struct Policy<'a> {
    /// The request's `Origin`.
    pub(crate) origin: Option<&'a str>,
    /// `hlsAllowOrigins`.
    pub(crate) allowed: &'a [String],
    /// A HEAD request: headers only.
    pub(crate) head: bool,
    /// How long clients may cache parts and segments. A muxer numbers its files from zero, and
    /// a new muxer for the same path only exists after `hlsMuxerCloseAfter` without requests, so
    /// caching for less than that never serves a previous muxer's file under a reused name.
    pub(crate) media_max_age: u64,
}

/// Builds the HTTP response, with CORS headers when the origin is allowed.
pub(crate) fn reply(answer: Reply, policy: &Policy<'_>) -> Response {
    let mut response = match answer {
        Reply::Playlist(text) => with_type(
            Body::from(text),
            "application/vnd.apple.mpegurl",
            "no-cache",
        ),
        Reply::Media(chunks) => media(chunks, policy.media_max_age),
        Reply::Page(html) => with_type(Body::from(html), "text/html; charset=utf-8", "no-cache"),
        Reply::Script(js) => with_type(Body::from(js), "application/javascript", "max-age=86400"),
        Reply::Redirect(to) => redirect(&to),
        Reply::Preflight => status(StatusCode::NO_CONTENT, ""),
        Reply::Unauthorized(challenges) => unauthorized(challenges),
        Reply::Error(code, message) => status(code, &message),
    };
    add_cors(&mut response, policy.origin, policy.allowed);
    if policy.head {
        *response.body_mut() = Body::empty();
        response.extensions_mut().remove::<MediaChunks>();
    }
    response
}

fn with_type(body: Body, content_type: &'static str, cache: &'static str) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// A media file's response: its chunks go out as one vectored write (see `crate::served_body`).
fn media(chunks: Vec<Bytes>, max_age: u64) -> Response {
    let len: usize = chunks.iter().map(Bytes::len).sum();
    let mut response = with_type(Body::empty(), "video/mp4", "no-cache");
    response.extensions_mut().insert(MediaChunks(chunks));
    if let Ok(cache) = HeaderValue::from_str(&format!("max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, cache);
    }
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

fn status(code: StatusCode, message: &str) -> Response {
    let mut response = Response::new(Body::from(message.to_string()));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn redirect(to: &str) -> Response {
    let mut response = status(StatusCode::MOVED_PERMANENTLY, "");
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn unauthorized(challenges: Vec<String>) -> Response {
    let mut response = status(StatusCode::UNAUTHORIZED, "authentication required");
    for challenge in challenges {
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// `hlsAllowOrigins`: `*`, exact origins, or patterns with `*` wildcards.
fn add_cors(response: &mut Response, origin: Option<&str>, allowed: &[String]) {
    let allow = match origin {
        Some(o) if allowed.iter().any(|pattern| origin_matches(pattern, o)) => o.to_string(),
        None if allowed.iter().any(|p| p == "*") => "*".to_string(),
        _ => return,
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("OPTIONS, GET"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Range"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// Whether `origin` matches `pattern`, where `*` stands for any run of characters.
fn origin_matches(pattern: &str, origin: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = origin.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        if last {
            return rest.ends_with(piece);
        }
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::origin_matches;

    #[test]
    fn origins_match_exactly_or_with_wildcards() {
        let cases = [
            ("*", "http://a.example.com", true),
            ("http://a.example.com", "http://a.example.com", true),
            ("http://a.example.com", "http://b.example.com", false),
            ("http://*.example.com", "http://cam.example.com", true),
            ("http://*.example.com", "http://example.org", false),
            ("https://*", "http://x", false),
        ];
        for (pattern, origin, expected) in cases {
            assert_eq!(
                origin_matches(pattern, origin),
                expected,
                "{pattern} vs {origin}"
            );
        }
    }
}
