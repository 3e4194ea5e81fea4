//! The HLS listener (`:8888`): `/<path>/index.m3u8` (multivariant), `/<path>/stream.m3u8`
//! (media playlist, with LL-HLS blocking reload and delta updates), init sections, segments and
//! parts served from memory as the muxer's own `Bytes`, and a player page at `/<path>/`.

mod http;
mod muxer;
mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::task::JoinHandle;
use vigia_protocol::hls::{FileAnswer, PlaylistAnswer, PlaylistRequest};

use self::http::{Policy, Reply, reply};
use self::muxer::Muxer;
use crate::auth::{self, Protocol};
use crate::config::{AuthAction, HlsConf};
use crate::paths::{PathError, PathManager, lock};

/// The player page; options as MediaMTX's: `controls`, `muted`, `autoplay`, `playsInline`.
const PLAYER_PAGE: &str = include_str!("player.html");
/// hls.js, embedded at build time from the npm package (see `build.rs`).
const HLS_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/hls.min.js"));
/// Longest a request waits for a part, segment or playlist that does not exist yet.
const MAX_WAIT: Duration = Duration::from_secs(6);

/// Shared state of the HLS listener.
struct HlsServer {
    paths: Arc<PathManager>,
    conf: HlsConf,
    muxers: Arc<HlsMuxers>,
}

/// The live muxers by path name, shared with the metrics.
#[derive(Default)]
pub(crate) struct HlsMuxers {
    map: Mutex<HashMap<String, Arc<Muxer>>>,
}

/// One muxer, as the metrics and the API show it.
#[derive(Debug, Clone)]
pub(crate) struct MuxerView {
    /// Its path's name.
    pub(crate) path: String,
    /// Bytes of playlists and media answered to viewers.
    pub(crate) bytes_sent: u64,
    /// Access units the muxer lost by falling behind its stream.
    pub(crate) units_discarded: u64,
    /// When it was created.
    pub(crate) created: chrono::DateTime<chrono::Utc>,
    /// When a viewer last asked it for something.
    pub(crate) last_request: chrono::DateTime<chrono::Utc>,
}

impl HlsMuxers {
    /// Every live muxer, by path name.
    pub(crate) fn list(&self) -> Vec<MuxerView> {
        let mut views: Vec<MuxerView> = lock(&self.map)
            .values()
            .map(|m| MuxerView {
                path: m.path.clone(),
                bytes_sent: m.bytes_sent(),
                // Fed by the publishing task itself, a muxer never falls behind its stream.
                units_discarded: 0,
                created: m.created,
                last_request: m.last_request(),
            })
            .collect();
        views.sort_by(|a, b| a.path.cmp(&b.path));
        views
    }
}

/// Binds the HLS listener and serves until aborted.
pub(crate) async fn start(paths: Arc<PathManager>) -> Result<Vec<JoinHandle<()>>, String> {
    let conf = paths.config().hls.clone();
    let listener = crate::limits::bind_tcp(&conf.address, "hlsAddress").await?;
    tracing::info!("[HLS] listener opened on {}", conf.address);
    let config = paths.config().clone();
    if !conf.directory.is_empty() {
        store::clear_stale(std::path::Path::new(&conf.directory)).await;
    }
    let muxers = Arc::new(HlsMuxers::default());
    paths.set_hls_muxers(muxers.clone());
    let server = Arc::new(HlsServer {
        paths,
        conf,
        muxers,
    });
    let mut tasks = Vec::new();
    if server.conf.always_remux {
        tasks.push(tokio::spawn(remux_always(server.clone())));
    }
    let app = crate::metrics::instrument(Router::new().fallback(handle).with_state(server), "hls");
    let tls = config.hls.tls();
    tasks.push(crate::limits::serve_http(
        "HLS",
        &config,
        listener,
        app,
        tls,
        &config.hls.trusted_proxies,
    )?);
    Ok(tasks)
}

async fn handle(
    State(server): State<Arc<HlsServer>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let origin = headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer = match method {
        Method::OPTIONS => Reply::Preflight,
        Method::GET | Method::HEAD => route(&server, peer, &uri, &headers).await,
        _ => Reply::Error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served".into()),
    };
    let policy = Policy {
        origin: origin.as_deref(),
        allowed: &server.conf.allow_origins,
        head: method == Method::HEAD,
        media_max_age: server.conf.muxer_close_after.as_secs().saturating_sub(1),
    };
    reply(answer, &policy)
}

/// `/<path>/<file>`: the path name is everything before the last slash.
async fn route(server: &Arc<HlsServer>, peer: SocketAddr, uri: &Uri, headers: &HeaderMap) -> Reply {
    let full = uri.path().trim_start_matches('/');
    let Some((name, file)) = full.rsplit_once('/') else {
        return Reply::Redirect(format!(
            "/{full}/{}",
            uri.query().map_or(String::new(), |q| format!("?{q}"))
        ));
    };
    if name.is_empty() {
        return Reply::Error(StatusCode::NOT_FOUND, "no path given: use /<path>/".into());
    }
    let query = uri.query().unwrap_or_default();
    if let Err(challenge) = authorize(server, peer, name, headers, query).await {
        return challenge;
    }
    match file {
        "" => Reply::Page(PLAYER_PAGE),
        "hls.min.js" => Reply::Script(HLS_JS),
        _ => serve_file(server, name, file, uri.query().unwrap_or("")).await,
    }
}

async fn authorize(
    server: &HlsServer,
    peer: SocketAddr,
    path: &str,
    headers: &HeaderMap,
    query: &str,
) -> Result<String, Reply> {
    let config = server.paths.config();
    let checked = auth::check_http(
        &config,
        peer,
        headers,
        query,
        Protocol::Hls,
        AuthAction::Read,
        path,
    );
    checked.await.map_err(Reply::Unauthorized)
}

async fn serve_file(server: &Arc<HlsServer>, name: &str, file: &str, query: &str) -> Reply {
    let muxer = match server.muxer(name).await {
        Ok(m) => m,
        Err(e @ PathError::InvalidName { .. }) => {
            return Reply::Error(StatusCode::BAD_REQUEST, e.to_string());
        }
        Err(e) => return Reply::Error(StatusCode::NOT_FOUND, e.to_string()),
    };
    muxer.touch();
    let _waiting = muxer.wait();
    let reply = match file {
        "index.m3u8" => wait_playlist(&muxer, |m| m.multivariant_playlist()).await,
        "stream.m3u8" => match PlaylistRequest::parse(query) {
            Ok(request) => wait_playlist(&muxer, |m| m.media_playlist(&request)).await,
            Err(e) => Reply::Error(StatusCode::BAD_REQUEST, e.to_string()),
        },
        _ => wait_file(&muxer, file).await,
    };
    match &reply {
        Reply::Playlist(text) => muxer.count_sent(text.len()),
        Reply::Media(chunks) => muxer.count_sent(chunks.iter().map(|c| c.len()).sum()),
        _ => {}
    }
    reply
}

/// Answers as soon as the muxer can: blocked requests wake when a new part exists.
async fn wait_playlist(
    muxer: &Muxer,
    render: impl Fn(&vigia_protocol::hls::HlsMuxer) -> PlaylistAnswer,
) -> Reply {
    let mut version = muxer.version.subscribe();
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    loop {
        version.borrow_and_update();
        match render(&lock(&muxer.state)) {
            PlaylistAnswer::Ready(text) => return Reply::Playlist(text),
            PlaylistAnswer::BadRequest(reason) => {
                return Reply::Error(StatusCode::BAD_REQUEST, reason);
            }
            PlaylistAnswer::NotYet => {}
        }
        if tokio::time::timeout_at(deadline, version.changed())
            .await
            .is_err()
        {
            return Reply::Error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the playlist is not ready yet".into(),
            );
        }
    }
}

async fn wait_file(muxer: &Muxer, file: &str) -> Reply {
    let mut version = muxer.version.subscribe();
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    loop {
        version.borrow_and_update();
        let answer = lock(&muxer.state).serve_file(file);
        match answer {
            FileAnswer::Ready(chunks) => return Reply::Media(chunks),
            FileAnswer::Stored { msn, offset, len } => {
                return read_stored(muxer, file, msn, offset, len).await;
            }
            FileAnswer::NotFound => return not_found(file),
            FileAnswer::NotYet => {}
        }
        if tokio::time::timeout_at(deadline, version.changed())
            .await
            .is_err()
        {
            return Reply::Error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{file} is not ready yet"),
            );
        }
    }
}

fn not_found(file: &str) -> Reply {
    Reply::Error(StatusCode::NOT_FOUND, format!("{file} does not exist"))
}

/// A file that is bytes of a segment stored in `hlsDirectory`.
async fn read_stored(muxer: &Muxer, file: &str, msn: u64, offset: usize, len: usize) -> Reply {
    let Some(store) = &muxer.store else {
        return not_found(file);
    };
    match store.read(msn, offset, len).await {
        Ok(bytes) => Reply::Media(vec![bytes]),
        Err(e) => {
            // Deleted between the answer and the read: it just left the window.
            tracing::debug!(path = %muxer.path, "[HLS] {file}: {e}");
            not_found(file)
        }
    }
}

impl HlsServer {
    /// The path's muxer, created on first request (the stream must be ready or startable).
    async fn muxer(self: &Arc<Self>, name: &str) -> Result<Arc<Muxer>, PathError> {
        if let Some(muxer) = lock(&self.muxers.map).get(name) {
            return Ok(muxer.clone());
        }
        let path = self.paths.get(name)?;
        let (stream, guard) = path.read().await?;
        let mut muxers = lock(&self.muxers.map);
        if let Some(muxer) = muxers.get(name) {
            return Ok(muxer.clone());
        }
        let muxer = Muxer::new(name, &stream, &self.conf);
        muxers.insert(name.to_string(), muxer.clone());
        drop(muxers);
        tracing::info!(path = name, "[HLS] muxer created");
        let close_after = (!self.conf.always_remux).then_some(self.conf.muxer_close_after);
        let server = self.clone();
        let task_muxer = muxer.clone();
        tokio::spawn(async move {
            muxer::feed(task_muxer.clone(), path, stream, guard, close_after).await;
            server.forget(&task_muxer);
        });
        Ok(muxer)
    }

    fn forget(&self, muxer: &Arc<Muxer>) {
        let mut muxers = lock(&self.muxers.map);
        if muxers
            .get(&muxer.path)
            .is_some_and(|m| Arc::ptr_eq(m, muxer))
        {
            muxers.remove(&muxer.path);
        }
    }
}

/// `hlsAlwaysRemux`: keep a muxer on every path with a stream, created as streams appear.
async fn remux_always(server: Arc<HlsServer>) {
    loop {
        for name in server.paths.ready_paths() {
            if !lock(&server.muxers.map).contains_key(&name) {
                let _ = server.muxer(&name).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
