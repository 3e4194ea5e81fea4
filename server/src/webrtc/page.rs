//! The pages of the WebRTC listener, at MediaMTX's URLs:
//!
//! - `GET /<path>/`: the player, a full-window `<video>` fed over WHEP (`reader.html`);
//! - `GET /<path>/publish`: the camera/microphone publisher over WHIP (`publisher.html`);
//! - `GET …/reader.js` and `GET …/publisher.js`: their WHEP and WHIP clients, which also work
//!   from other pages (`MediaMTXWebRTCReader` / `MediaMTXWebRTCPublisher`, MediaMTX's names);
//! - `GET /<path>` (no trailing slash): `302` to `/<path>/`, the query kept.
//!
//! A page checks the path's `read` (player) or `publish` (publisher) permission over `webrtc`
//! before it is served, as MediaMTX does, so a browser asks for credentials at once and sends
//! them again with the page's WHEP/WHIP requests. The scripts are served to anyone. Everything
//! is compiled into the binary: the pages load nothing from outside.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;

use super::{Reply, WebrtcServer};
use crate::auth::{self, Protocol};
use crate::config::{AuthAction, check_path_name};
use crate::paths::PathError;

const READER_PAGE: &str = include_str!("reader.html");
/// Each client script is served after the helpers they share, so either works on its own.
const READER_JS: &str = concat!(include_str!("webrtc.js"), include_str!("reader.js"));
const PUBLISHER_PAGE: &str = include_str!("publisher.html");
const PUBLISHER_JS: &str = concat!(include_str!("webrtc.js"), include_str!("publisher.js"));

/// A page answer (rendered by [`Page::into_response`]).
pub(super) enum Page {
    /// `200` HTML, never cached (MediaMTX: a cached page breaks WebRTC in a re-created iframe
    /// in Firefox).
    Html(&'static str),
    /// `200` JavaScript, cached for an hour.
    Script(&'static str),
    /// `302 Found` to this location.
    Redirect(String),
}

/// What a `GET` that is no WHEP/WHIP request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Wanted<'a> {
    Script(&'static str),
    Reader(&'a str),
    Publisher(&'a str),
    Redirect(String),
}

/// The answer to a `GET`/`HEAD` of a page or script, or `None` when `uri` names neither (the
/// caller answers 404; so is `/favicon.ico`, as in MediaMTX).
pub(super) async fn serve(
    server: &Arc<WebrtcServer>,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Reply> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return None;
    }
    let (name, action, html) = match wanted(uri.path(), uri.query())? {
        Wanted::Script(js) => return Some(Reply::Page(Page::Script(js))),
        Wanted::Redirect(to) => return Some(Reply::Page(Page::Redirect(to))),
        Wanted::Reader(name) => (name, AuthAction::Read, READER_PAGE),
        Wanted::Publisher(name) => (name, AuthAction::Publish, PUBLISHER_PAGE),
    };
    if let Err(problem) = check_path_name(name) {
        let message = format!("invalid path name '{name}': {problem}");
        return Some(Reply::Error(StatusCode::BAD_REQUEST, message));
    }
    if server.paths.conf_name(name).is_none() {
        let error = PathError::NotConfigured(name.to_string());
        return Some(Reply::Error(StatusCode::NOT_FOUND, error.to_string()));
    }
    let config = server.paths.config();
    let query = uri.query().unwrap_or_default();
    let checked = auth::check_http(
        &config,
        peer,
        headers,
        query,
        Protocol::Webrtc,
        action,
        name,
    );
    Some(match checked.await {
        Ok(_) => Reply::Page(Page::Html(html)),
        Err(challenges) => Reply::Unauthorized(challenges),
    })
}

/// MediaMTX's order: the scripts by suffix anywhere, `/favicon.ico` nothing, `/<path>/publish`
/// the publisher, a URL without trailing slash a redirect, `/<path>/` the player.
fn wanted<'a>(path: &'a str, query: Option<&str>) -> Option<Wanted<'a>> {
    if path.ends_with("/reader.js") {
        return Some(Wanted::Script(READER_JS));
    }
    if path.ends_with("/publisher.js") {
        return Some(Wanted::Script(PUBLISHER_JS));
    }
    if path == "/favicon.ico" || path.len() < 2 {
        return None;
    }
    if let Some(name) = path.strip_suffix("/publish")
        && !name.is_empty()
    {
        return Some(Wanted::Publisher(name.trim_start_matches('/')));
    }
    match path.strip_suffix('/') {
        Some(name) => Some(Wanted::Reader(name.trim_start_matches('/'))),
        None => Some(Wanted::Redirect(trailing_slash_location(path, query))),
    }
}

/// `path` with `.`/`..` segments and repeated slashes resolved, no leading `/` or `\` (so the
/// answer cannot name another host, `//evil.example/`), and a trailing slash; then `?query`.
fn trailing_slash_location(path: &str, query: Option<&str>) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let joined = segments.join("/");
    let clean = joined.trim_start_matches(['/', '\\']);
    let mut location = if clean.is_empty() {
        "/".to_string()
    } else {
        format!("/{clean}/")
    };
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(query);
    }
    location
}

impl Page {
    pub(super) fn into_response(self) -> Response {
        let (status, body, content_type, cache) = match self {
            Page::Html(html) => (StatusCode::OK, html, "text/html; charset=utf-8", "no-cache"),
            Page::Script(js) => (
                StatusCode::OK,
                js,
                "application/javascript; charset=utf-8",
                "max-age=3600",
            ),
            Page::Redirect(to) => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::FOUND;
                if let Ok(location) = HeaderValue::from_str(&to) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                return response;
            }
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_pages_as_in_mediamtx() {
        assert_eq!(wanted("/cam/", None), Some(Wanted::Reader("cam")));
        assert_eq!(wanted("/a/b/", None), Some(Wanted::Reader("a/b")));
        assert_eq!(wanted("/cam/publish", None), Some(Wanted::Publisher("cam")));
        assert_eq!(wanted("/a/b/publish", None), Some(Wanted::Publisher("a/b")));
        // `/publish` alone is a path called "publish", like MediaMTX.
        assert_eq!(
            wanted("/publish", None),
            Some(Wanted::Redirect("/publish/".into()))
        );
        assert_eq!(wanted("/publish/", None), Some(Wanted::Reader("publish")));
        assert_eq!(
            wanted("/cam", Some("jwt=x")),
            Some(Wanted::Redirect("/cam/?jwt=x".into()))
        );
        assert_eq!(
            wanted("/cam/reader.js", None),
            Some(Wanted::Script(READER_JS))
        );
        assert_eq!(wanted("/reader.js", None), Some(Wanted::Script(READER_JS)));
        assert_eq!(
            wanted("/x/publisher.js", None),
            Some(Wanted::Script(PUBLISHER_JS))
        );
        assert_eq!(wanted("/favicon.ico", None), None);
        assert_eq!(wanted("/", None), None);
        // An empty name is left to the name check (400), never served as a page of "".
        assert_eq!(wanted("//", None), Some(Wanted::Reader("")));
    }

    #[test]
    fn the_redirect_stays_on_this_server() {
        let at = |p: &str| trailing_slash_location(p, None);
        assert_eq!(at("/cam"), "/cam/");
        assert_eq!(at("/a/./b/../c"), "/a/c/");
        assert_eq!(at("//evil.example"), "/evil.example/");
        assert_eq!(at("/\\evil.example"), "/evil.example/");
        assert_eq!(at("/.."), "/");
        assert_eq!(at("/a//b"), "/a/b/");
        assert_eq!(trailing_slash_location("/cam", Some("")), "/cam/");
        assert_eq!(
            trailing_slash_location("/cam", Some("controls=0&jwt=a.b.c")),
            "/cam/?controls=0&jwt=a.b.c"
        );
    }
}
