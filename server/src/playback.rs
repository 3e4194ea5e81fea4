//! The playback listener (`playbackAddress`, `:9996`, with `playback: yes`): MediaMTX's
//! playback server over the recording index and the object store.
//!
//! - `GET /list?path=&start=&end=`: the recorded spans as MediaMTX's JSON (see
//!   [`vigia_storage::playback::list`]), each with the `/get` URL that plays it. The index
//!   answers, never the store: a month of one-minute segments is a range walk.
//! - `GET /get?path=&start=&duration=&format=fmp4|mp4`: `video/mp4`. fMP4 (the default) is
//!   streamed while the segments are read, one fragment in memory at a time; MP4 is laid out
//!   first (see [`vigia_storage::playback::Mp4File`]), then any byte range of it is served
//!   (`Range`, `206`), the media read from the store with ranged reads. Plans are kept for a
//!   few seconds, because a browser asks for the same file range after range.
//! - `GET /<path>/`: a timeline page (the last 24 hours from `/list`, a `<video>` playing
//!   `/get`).
//!
//! Errors are MediaMTX's `{"status":"error","error":"…"}`: 400 naming the bad parameter, 401
//! with a challenge, 404 `no recording segments found`. `Access-Control-Allow-Origin` follows
//! `playbackAllowOrigins` as MediaMTX's HTTP servers do; preflights get `204`.

mod query;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigia_storage::StorageError;
use vigia_storage::index::SegmentEntry;
use vigia_storage::playback::{
    Assembler, Fmp4Muxer, Fmp4Playback, Mp4File, Mp4Muxer, Mp4Playback, Piece, Sink, Window, list,
};
use vigia_storage::store::Store;

use self::query::{ByteRange, Format, GetQuery, ListQuery, byte_range};
use crate::auth;
use crate::config::{AuthAction, Config, check_path_name};
use crate::cors::allowed_origin;
use crate::limits::{TcpPeer, bind_tcp};
use crate::paths::lock;
use crate::record::Recording;
use crate::rtsp::peer_ip;

/// The timeline page (HTML, CSS and script in one file, no outside assets).
const TIMELINE_PAGE: &str = include_str!("playback/timeline.html");
/// MediaMTX's message when a window holds no recording.
const NO_RECORDINGS: &str = "no recording segments found";
/// Output chunks in flight between the reading task and the HTTP body.
const CHUNKS_IN_FLIGHT: usize = 64;
/// MP4 plans kept, and for how long.
const PLANS_KEPT: usize = 8;
const PLAN_LIFETIME: Duration = Duration::from_secs(30);

/// Shared state of the playback listener.
struct PlaybackServer {
    config: Arc<Config>,
    recording: Arc<Recording>,
    plans: Mutex<VecDeque<Plan>>,
}

/// An MP4 laid out for one request and the segments it was made from.
struct Plan {
    key: String,
    made: Instant,
    file: Arc<Mp4File>,
}

/// Binds the playback listener and serves until aborted.
pub(crate) async fn start(
    config: Arc<Config>,
    recording: Arc<Recording>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let listener = bind_tcp(&config.playback_address, "playbackAddress").await?;
    tracing::info!("[playback] listener opened on {}", config.playback_address);
    let server = Arc::new(PlaybackServer {
        config,
        recording,
        plans: Mutex::default(),
    });
    let app = crate::metrics::instrument(
        Router::new().fallback(handle).with_state(server.clone()),
        "playback",
    );
    let tls = server.config.playback_tls();
    let config = &server.config;
    let trusted = &config.playback_trusted_proxies;
    let serve = crate::limits::serve_http("playback", config, listener, app, tls, trusted)?;
    Ok(vec![serve])
}

async fn handle(
    State(server): State<Arc<PlaybackServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(TcpPeer(tcp_peer)): Extension<TcpPeer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = Request {
        server: &server,
        peer,
        tcp_peer,
        uri: &uri,
        headers: &headers,
        head: method == Method::HEAD,
    };
    let mut response = match method {
        Method::OPTIONS if headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) => {
            preflight()
        }
        Method::GET | Method::HEAD => route(&request).await,
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served"),
    };
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if let Some(allowed) = allowed_origin(origin, &server.config.playback_allow_origins)
        && let Ok(value) = HeaderValue::from_str(&allowed)
    {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    if request.head {
        *response.body_mut() = Body::empty();
    }
    response
}

/// One request, as the handlers see it.
struct Request<'a> {
    server: &'a Arc<PlaybackServer>,
    /// The client (behind a trusted proxy, the one it names).
    peer: SocketAddr,
    /// The TCP peer: the proxy, when there is one.
    tcp_peer: SocketAddr,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    head: bool,
}

async fn route(r: &Request<'_>) -> Response {
    let query = r.uri.query().unwrap_or("");
    match r.uri.path() {
        "/list" => list(r, query).await,
        "/get" => get(r, query).await,
        path => page(r, path).await,
    }
}

/// `/list`: the spans of the window, from the index.
async fn list(r: &Request<'_>, query: &str) -> Response {
    let q = match ListQuery::parse(query) {
        Ok(q) => q,
        Err(e) => return bad_request(&e.to_string()),
    };
    if let Some(challenge) = challenge(r, &q.path).await {
        return challenge;
    }
    let start = q.start_us.unwrap_or(i64::MIN);
    let end = q.end_us.unwrap_or(i64::MAX);
    r.server.recording.reconcile(&q.path).await;
    let spans = r.server.recording.index().spans(&q.path, start, end);
    if spans.is_empty() {
        return error(StatusCode::NOT_FOUND, NO_RECORDINGS);
    }
    let base = format!("{}://{}", scheme(r), host(r));
    with_type(
        StatusCode::OK,
        "application/json; charset=utf-8",
        Body::from(list::render(&spans, &q.path, &base)),
    )
}

/// `/get`: the window as fMP4 (streamed) or MP4 (with ranges).
async fn get(r: &Request<'_>, query: &str) -> Response {
    let q = match GetQuery::parse(query) {
        Ok(q) => q,
        Err(e) => return bad_request(&e.to_string()),
    };
    if let Some(challenge) = challenge(r, &q.path).await {
        return challenge;
    }
    let recording = &r.server.recording;
    let Some(destination) = recording.destination(&q.path) else {
        return bad_request(&format!("path '{}' is not configured", q.path));
    };
    let window = Window {
        start_us: q.start_us,
        duration_us: q.duration_us,
    };
    recording.reconcile(&q.path).await;
    let segments = recording
        .index()
        .segments(&q.path, window.start_us, window.end_us());
    if segments.is_empty() {
        return error(StatusCode::NOT_FOUND, NO_RECORDINGS);
    }
    let store = match recording.stores().get(&destination) {
        Ok(store) => store,
        Err(e) => return server_error(&q.path, &e),
    };
    match q.format {
        Format::Fmp4 if r.head => media(StatusCode::OK, Body::empty(), &[]),
        Format::Fmp4 => stream_fmp4(store, segments, window, q.path).await,
        Format::Mp4 => serve_mp4(r, store, &q, &segments).await,
    }
}

/// Reads the segments in a task, answering as soon as the first bytes (or the failure) are
/// known: before any byte, a failure is a JSON error; after, it aborts the body.
async fn stream_fmp4(
    store: Store,
    segments: Vec<SegmentEntry>,
    window: Window,
    path: String,
) -> Response {
    let (tx, mut rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let task_path = path.clone();
    tokio::spawn(async move {
        let mut out = ChunkSender { tx, sent: false };
        let mut playback = Fmp4Playback::new(window, Fmp4Muxer::default());
        let result = read_segments(&mut playback, &store, &segments, &mut out).await;
        out.end(&mut playback, result, &task_path).await;
    });
    match rx.recv().await {
        None => error(StatusCode::NOT_FOUND, NO_RECORDINGS),
        Some(Err(e)) => server_error(&path, &e),
        Some(Ok(first)) => {
            let rest = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            let body = futures::stream::once(async { Ok(first) }).chain(rest);
            media(
                StatusCode::OK,
                Body::from_stream(body),
                &[(header::ACCEPT_RANGES, "none")],
            )
        }
    }
}

/// The MP4 file (planned, or a recent plan of the same segments), whole or the requested
/// range.
async fn serve_mp4(
    r: &Request<'_>,
    store: Store,
    q: &GetQuery,
    segments: &[SegmentEntry],
) -> Response {
    let file = match r.server.plan(&store, q, segments).await {
        Ok(Some(file)) => file,
        Ok(None) => return error(StatusCode::NOT_FOUND, NO_RECORDINGS),
        Err(e) => return server_error(&q.path, &e),
    };
    let total = file.len();
    let requested = r.headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, range) = match byte_range(requested, total) {
        ByteRange::Whole => (StatusCode::OK, 0..total),
        ByteRange::Part(range) => (StatusCode::PARTIAL_CONTENT, range),
        ByteRange::Unsatisfiable => {
            let mut response = error(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{total}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
    };
    let length = (range.end - range.start).to_string();
    let content_range = format!(
        "bytes {}-{}/{total}",
        range.start,
        range.end.saturating_sub(1)
    );
    let mut headers = vec![
        (header::ACCEPT_RANGES, "bytes"),
        (header::CONTENT_LENGTH, length.as_str()),
    ];
    if status == StatusCode::PARTIAL_CONTENT {
        headers.push((header::CONTENT_RANGE, content_range.as_str()));
    }
    let body = if r.head {
        Body::empty()
    } else {
        mp4_body(store, file.pieces(range))
    };
    media(status, body, &headers)
}

impl PlaybackServer {
    /// The MP4 layout of `q` over `segments`: a recent plan of the very same segments, else a
    /// new one (every segment read once; see [`Mp4File`]).
    async fn plan(
        &self,
        store: &Store,
        q: &GetQuery,
        segments: &[SegmentEntry],
    ) -> Result<Option<Arc<Mp4File>>, StorageError> {
        let key = plan_key(q, segments);
        {
            let mut plans = lock(&self.plans);
            plans.retain(|p| p.made.elapsed() < PLAN_LIFETIME);
            if let Some(p) = plans.iter().find(|p| p.key == key) {
                return Ok(Some(p.file.clone()));
            }
        }
        let window = Window {
            start_us: q.start_us,
            duration_us: q.duration_us,
        };
        let mut playback = Mp4Playback::new(window, Mp4Muxer::default());
        match read_segments(&mut playback, store, segments, &mut Discard).await {
            Ok(()) => {}
            Err(Stop::Segment(e)) => warn_cut(&q.path, &e),
            Err(Stop::Store(e)) => return Err(e),
            Err(Stop::ClientGone) => {}
        }
        playback.finish();
        let Some(file) = playback.into_file().map(Arc::new) else {
            return Ok(None);
        };
        let mut plans = lock(&self.plans);
        if plans.len() >= PLANS_KEPT {
            plans.pop_front();
        }
        plans.push_back(Plan {
            key,
            made: Instant::now(),
            file: file.clone(),
        });
        Ok(Some(file))
    }
}

/// What identifies a plan: the request and the segments it covers (a new segment, or one
/// rewritten, makes another plan).
fn plan_key(q: &GetQuery, segments: &[SegmentEntry]) -> String {
    let last = segments.last();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        q.path,
        q.start_us,
        q.duration_us,
        segments.len(),
        last.map_or("", |s| s.key.as_str()),
        last.map_or(0, |s| s.size)
    )
}

/// The MP4 body of `pieces`: the header from memory, the media read from the store, one read
/// ahead.
fn mp4_body(store: Store, pieces: Vec<Piece>) -> Body {
    let stream = futures::stream::iter(pieces)
        .map(move |piece| resolve(store.clone(), piece))
        .buffered(2)
        .map_ok(|chunks| futures::stream::iter(chunks.into_iter().map(Ok::<_, StorageError>)))
        .try_flatten();
    Body::from_stream(stream)
}

/// The bytes of one piece.
async fn resolve(store: Store, piece: Piece) -> Result<Vec<Bytes>, StorageError> {
    let (key, src, keep) = match piece {
        Piece::Bytes(bytes) => return Ok(vec![bytes]),
        Piece::Fetch { key, src, keep } => (key, src, keep),
    };
    let read = store.get_range(&key, src.clone()).await?;
    keep.into_iter()
        .map(|k| {
            if k.end <= read.len() {
                Ok(read.slice(k))
            } else {
                Err(StorageError::Store {
                    location: format!("{}/{key}", store.label()),
                    what: format!("bytes {src:?}: only {} came", read.len()),
                })
            }
        })
        .collect()
}

/// Why reading stopped early.
enum Stop {
    /// The store failed (the output is incomplete).
    Store(StorageError),
    /// A segment is not the fMP4 the recorder writes (the output ends before it).
    Segment(StorageError),
    /// Nobody reads the output any more.
    ClientGone,
}

/// Where output goes while segments are read.
trait Output<S> {
    /// Forwards what `playback` has ready; `false` when nobody reads it any more.
    async fn forward(&mut self, playback: &mut Assembler<S>) -> bool;
}

/// The MP4 plan reads everything before writing anything.
struct Discard;

impl Output<Mp4Muxer> for Discard {
    async fn forward(&mut self, _: &mut Assembler<Mp4Muxer>) -> bool {
        true
    }
}

/// The fMP4 chunks, to the HTTP body.
struct ChunkSender {
    tx: mpsc::Sender<Result<Bytes, StorageError>>,
    sent: bool,
}

impl Output<Fmp4Muxer> for ChunkSender {
    async fn forward(&mut self, playback: &mut Assembler<Fmp4Muxer>) -> bool {
        while let Some(chunk) = playback.pull() {
            if self.tx.send(Ok(chunk)).await.is_err() {
                return false;
            }
            self.sent = true;
        }
        true
    }
}

impl ChunkSender {
    /// Finishes after reading stopped. A bad segment ends the output cleanly before it; a
    /// store failure aborts the body (the file is incomplete). Either is the answer when no
    /// byte went out yet.
    async fn end(&mut self, playback: &mut Fmp4Playback, result: Result<(), Stop>, path: &str) {
        let (failure, complete) = match result {
            Ok(()) => (None, true),
            Err(Stop::ClientGone) => return,
            Err(Stop::Segment(e)) => {
                warn_cut(path, &e);
                (Some(e), true)
            }
            Err(Stop::Store(e)) => (Some(e), false),
        };
        if complete {
            playback.finish();
            if !self.forward(playback).await {
                return;
            }
        }
        if let Some(e) = failure
            && (!complete || !self.sent)
        {
            tracing::warn!(path, "[playback] {e}");
            let _ = self.tx.send(Err(e)).await;
        }
    }
}

/// Reads `segments` from `store` into `playback` until it needs no more, forwarding output
/// after every chunk, and finishes it.
async fn read_segments<S: Sink>(
    playback: &mut Assembler<S>,
    store: &Store,
    segments: &[SegmentEntry],
    out: &mut impl Output<S>,
) -> Result<(), Stop> {
    for entry in segments {
        if !playback.begin_segment(entry) {
            break;
        }
        let mut chunks = store.get_stream(&entry.key).await.map_err(Stop::Store)?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(Stop::Store)?;
            playback.push(&chunk).map_err(Stop::Segment)?;
            if !out.forward(playback).await {
                return Err(Stop::ClientGone);
            }
            if playback.is_done() {
                break;
            }
        }
        playback.end_segment();
    }
    Ok(())
}

fn warn_cut(path: &str, e: &StorageError) {
    tracing::warn!(path, "[playback] output cut short: {e}");
}

/// `/<path>/`: the timeline page; `/<path>` redirects there.
async fn page(r: &Request<'_>, uri_path: &str) -> Response {
    let full = uri_path.trim_start_matches('/');
    let Some(name) = full.strip_suffix('/') else {
        if full.is_empty() {
            return error(StatusCode::NOT_FOUND, "no path given: use /<path>/");
        }
        let query = r.uri.query().map_or(String::new(), |q| format!("?{q}"));
        return redirect(&format!("/{full}/{query}"));
    };
    if let Err(why) = check_path_name(name) {
        return bad_request(&format!("invalid path name: {why} ({name:?})"));
    }
    if let Some(challenge) = challenge(r, name).await {
        return challenge;
    }
    with_type(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Body::from(TIMELINE_PAGE),
    )
}

/// The `401` answer when the client may not play `path` back (MediaMTX's `playback`
/// permission), `None` when it may.
async fn challenge(r: &Request<'_>, path: &str) -> Option<Response> {
    let query = r.uri.query().unwrap_or_default();
    let config = &r.server.config;
    auth::http_refusal(config, r.peer, r.headers, query, AuthAction::Playback, path).await
}

/// What a trusted proxy says in `X-Forwarded-Proto`, else `https` or `http` as the listener
/// serves.
fn scheme(r: &Request<'_>) -> String {
    let ip = peer_ip(r.tcp_peer);
    let trusted = r
        .server
        .config
        .playback_trusted_proxies
        .iter()
        .any(|net| net.contains(ip));
    let forwarded = r
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| trusted && !p.is_empty());
    let own = if r.server.config.playback_encryption {
        "https"
    } else {
        "http"
    };
    forwarded.unwrap_or(own).to_owned()
}

/// The host the client asked for (`Host`, or the URI's authority).
fn host(r: &Request<'_>) -> String {
    r.headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| r.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

fn preflight() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("OPTIONS, GET"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Range"),
    );
    response
}

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A `video/mp4` answer with `extra` headers.
fn media(status: StatusCode, body: Body, extra: &[(header::HeaderName, &str)]) -> Response {
    let mut response = with_type(status, "video/mp4", body);
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name.clone(), value);
        }
    }
    response
}

/// MediaMTX's error answer.
fn error(status: StatusCode, message: &str) -> Response {
    with_type(
        status,
        "application/json; charset=utf-8",
        Body::from(list::error_json(message)),
    )
}

fn bad_request(message: &str) -> Response {
    tracing::info!("[playback] bad request: {message}");
    error(StatusCode::BAD_REQUEST, message)
}

fn server_error(path: &str, e: &StorageError) -> Response {
    tracing::error!(path, "[playback] {e}");
    error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
}

fn redirect(to: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
