//! `vigia-ai run`'s watch list API, served beside `/metrics` on `VIGIA_AI_HTTP`:
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/watchlist` | 200 `{"items":[{"plate":"ABC1D23","reason":"…"},…]}`, in file order |
//! | `GET /v1/watchlist/{plate}` | 200 the entry of that vehicle; 404 |
//! | `PUT /v1/watchlist/{plate}`, body `{"reason":"…"}` | 201 added, 200 replaced; the entry |
//! | `DELETE /v1/watchlist/{plate}` | 204; 404 when not listed |
//!
//! **The file is the one source of truth.** The API keeps no list of its own: it reads the watch
//! list file (`VIGIA_AI_WATCHLIST`, else `<VIGIA_AI_STATE_DIR>/watchlist.yml`, created empty at
//! start: [`file_for`]) on every request. A change is made under one lock (concurrent PUTs lose
//! nothing): the file read and parsed, the change made by the watch list's own rules
//! ([`vigia_ai::watchlist::WatchEntry::new`], `with_entry`, `without`: one entry per vehicle, an
//! old plate and its Mercosul form being one), the list written as YAML to a temporary file in
//! the same directory, synced and renamed over the file; then it is sent to the run loop, which
//! gives it to the pipeline at once (the 2 s hot reload then finds the same content). A file
//! edited by hand is what the next request sees; a file that does not parse is never
//! overwritten: changes answer 500 naming it until someone fixes it. The rewrite drops comments.
//!
//! Errors are JSON, `{"error":"…"}`: 400 for a body that is not JSON, has unknown fields or no
//! `reason`, a plate that is not Brazilian (`LLLNNNN` or `LLLNLNN`, dash and lower case
//! accepted), an empty reason, or a body `plate` that is not the URL's; 404; 413 for a body over
//! [`BODY_LIMIT`]; 500 when the file cannot be read, parsed or written.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::mpsc;
use vigia_ai::config::{Config, ConfigError};
use vigia_ai::watchlist::{WatchEntry, Watchlist, listed_plate};

/// The largest request body taken (a reason is a line or two).
pub(crate) const BODY_LIMIT: usize = 16 * 1024;

/// The watch list file's name in the state directory when `VIGIA_AI_WATCHLIST` is not set.
pub(crate) const DEFAULT_FILE: &str = "watchlist.yml";

/// The API's handle: the file, the lock that serialises changes, and the run loop's channel.
/// Cheap to clone (shared).
#[derive(Clone)]
pub(crate) struct WatchlistApi {
    inner: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// Held for a whole read-change-write, so two changes never start from the same file.
    write: Mutex<()>,
    /// Each list written, in the order written.
    updates: mpsc::UnboundedSender<Watchlist>,
}

/// An answer other than success: its status and the `error` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

/// The watch list file `run` uses: `VIGIA_AI_WATCHLIST` as it is (a missing file then stops
/// the start, as before), else `<VIGIA_AI_STATE_DIR>/watchlist.yml`, written as an empty list
/// (`plates: []`) when absent, so the API has a file to change and a restart keeps its changes.
pub(crate) fn file_for(config: &Config) -> Result<PathBuf, ConfigError> {
    if let Some(path) = &config.watchlist {
        return Ok(path.clone());
    }
    let path = config.state_dir.join(DEFAULT_FILE);
    let created = std::fs::create_dir_all(&config.state_dir).and_then(|()| {
        if path.try_exists()? {
            return Ok(());
        }
        write_atomically(&path, &Watchlist::default().to_yaml())
    });
    created.map_err(|e| ConfigError {
        var: "VIGIA_AI_STATE_DIR",
        message: format!("cannot create the watch list {}: {e}", path.display()),
    })?;
    Ok(path)
}

impl WatchlistApi {
    /// The API of the file at `path`; each list it writes is sent on `updates`.
    pub(crate) fn new(path: PathBuf, updates: mpsc::UnboundedSender<Watchlist>) -> WatchlistApi {
        WatchlistApi {
            inner: Arc::new(Shared {
                path,
                write: Mutex::new(()),
                updates,
            }),
        }
    }

    /// The routes, with their state and the body limit.
    pub(crate) fn router(self) -> Router {
        Router::new()
            .route("/v1/watchlist", get(list))
            .route(
                "/v1/watchlist/{plate}",
                get(get_entry).put(put_entry).delete(delete_entry),
            )
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self)
    }

    /// The list in the file now.
    fn read(&self) -> Result<Watchlist, ApiError> {
        Watchlist::load(&self.inner.path).map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Reads the file, applies `change` to its list, writes the result and sends it to the run
    /// loop, all under the lock; returns `change`'s answer. Nothing is written on an error.
    fn change<T>(
        &self,
        change: impl FnOnce(&Watchlist) -> Result<(Watchlist, T), ApiError>,
    ) -> Result<T, ApiError> {
        // The lock guards no data, so a panic while it was held leaves nothing half-done.
        let _held = self
            .inner
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (next, answer) = change(&self.read()?)?;
        let path = &self.inner.path;
        write_atomically(path, &next.to_yaml()).map_err(|e| {
            ApiError::internal(format!("watch list {}: not written: {e}", path.display()))
        })?;
        // Fails only once the run loop has stopped: nothing left to update.
        let _ = self.inner.updates.send(next);
        Ok(answer)
    }
}

impl ApiError {
    fn bad(message: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }

    fn internal(message: String) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message,
        }
    }

    fn not_listed(plate: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("plate {plate:?} is not on the watch list"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        json(self.status, body)
    }
}

/// A PUT's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    reason: String,
    /// Optional (a listed item can be sent back as it is), but then the URL's plate.
    #[serde(default)]
    plate: Option<String>,
}

/// `GET /v1/watchlist`'s body.
fn list_body(list: &Watchlist) -> String {
    serde_json::json!({ "items": list.entries() }).to_string()
}

/// The list with the entry `PUT /v1/watchlist/{plate}` asks for, and its answer: 201 when added,
/// 200 when it replaced the entry of the same vehicle; the entry as listed.
fn put_change(
    current: &Watchlist,
    plate: &str,
    body: &[u8],
) -> Result<(Watchlist, (StatusCode, WatchEntry)), ApiError> {
    let bad_body = |e: serde_json::Error| ApiError::bad(format!("body: {e}"));
    let body: serde_json::Value = serde_json::from_slice(body).map_err(bad_body)?;
    // serde would also take a struct from an array, by position.
    if !body.is_object() {
        return Err(ApiError::bad(format!(
            "body: expected a JSON object like {{\"reason\":\"stolen\"}}, not {body}"
        )));
    }
    let body = PutBody::deserialize(body).map_err(bad_body)?;
    let entry = WatchEntry::new(plate, &body.reason)
        .map_err(|e| ApiError::bad(format!("plate {plate:?}: {e}")))?;
    if let Some(other) = &body.plate
        && listed_plate(other).ok().as_ref() != Some(&entry.plate)
    {
        return Err(ApiError::bad(format!(
            "body: plate {other:?} is not the URL's plate {plate:?}"
        )));
    }
    let (next, replaced) = current.with_entry(entry.clone());
    let status = match replaced {
        Some(_) => StatusCode::OK,
        None => StatusCode::CREATED,
    };
    Ok((next, (status, entry)))
}

/// The list without the entry `DELETE /v1/watchlist/{plate}` names (that vehicle's), and the
/// entry removed.
fn delete_change(current: &Watchlist, plate: &str) -> Result<(Watchlist, WatchEntry), ApiError> {
    let listed = listed_plate(plate).map_err(|e| ApiError::bad(format!("plate {plate:?}: {e}")))?;
    current
        .without(&listed)
        .ok_or_else(|| ApiError::not_listed(plate))
}

async fn list(State(api): State<WatchlistApi>) -> Response {
    match blocking(move || api.read()).await {
        Ok(list) => json(StatusCode::OK, list_body(&list)),
        Err(e) => e.into_response(),
    }
}

async fn get_entry(
    State(api): State<WatchlistApi>,
    plate: Result<UrlPath<String>, PathRejection>,
) -> Response {
    let plate = match plate {
        Ok(UrlPath(p)) => p,
        Err(e) => return ApiError::bad(e.body_text()).into_response(),
    };
    let found = blocking(move || {
        let listed =
            listed_plate(&plate).map_err(|e| ApiError::bad(format!("plate {plate:?}: {e}")))?;
        let list = api.read()?;
        list.get(&listed)
            .map(entry_body)
            .ok_or_else(|| ApiError::not_listed(&plate))
    });
    match found.await {
        Ok(body) => json(StatusCode::OK, body),
        Err(e) => e.into_response(),
    }
}

async fn put_entry(
    State(api): State<WatchlistApi>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    plate: Result<UrlPath<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let plate = match plate {
        Ok(UrlPath(p)) => p,
        Err(e) => return ApiError::bad(e.body_text()).into_response(),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let status = e.status();
            return ApiError {
                status,
                message: format!("body: {}", e.body_text()),
            }
            .into_response();
        }
    };
    match blocking(move || api.change(|list| put_change(list, &plate, &body))).await {
        Ok((status, entry)) => {
            let replaced = status == StatusCode::OK;
            tracing::info!(plate = %entry.plate, reason = %entry.reason, replaced, %from, "watch list entry set through the API");
            json(status, entry_body(&entry))
        }
        Err(e) => e.into_response(),
    }
}

async fn delete_entry(
    State(api): State<WatchlistApi>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    plate: Result<UrlPath<String>, PathRejection>,
) -> Response {
    let plate = match plate {
        Ok(UrlPath(p)) => p,
        Err(e) => return ApiError::bad(e.body_text()).into_response(),
    };
    match blocking(move || api.change(|list| delete_change(list, &plate))).await {
        Ok(gone) => {
            tracing::info!(plate = %gone.plate, reason = %gone.reason, %from, "watch list entry removed through the API");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Runs file work off the run loop's thread (the runtime has one).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("watch list task: {e}"))))
}

fn entry_body(entry: &WatchEntry) -> String {
    serde_json::json!(entry).to_string()
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Replaces `path` by `text` so that a reader sees the old file or the new one, never part of
/// one, and the new one survives a crash: a temporary file in the same directory, synced, renamed
/// over it, the directory synced. The file keeps its permissions.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = File::create(&tmp).and_then(|mut f| {
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "plates:\n  - plate: ABC1D23\n    reason: stolen\n  - plate: XYZ-9876\n    reason: court order\n";

    fn listed(list: &Watchlist) -> Vec<String> {
        list.entries()
            .iter()
            .map(|e| format!("{} {}", e.plate, e.reason))
            .collect()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vigia-ai-watchlist-api-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn put_adds_or_replaces_the_same_vehicle() {
        let list = Watchlist::parse(LIST, "w.yml").unwrap();
        let (next, (status, entry)) =
            put_change(&list, "jkl-1234", br#"{"reason":" wanted "}"#).unwrap();
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            entry_body(&entry),
            r#"{"plate":"JKL1234","reason":"wanted"}"#
        );
        assert_eq!(listed(&next)[2], "JKL1234 wanted");
        // The old plate's Mercosul form is the same vehicle: replaced in place.
        let body = br#"{"plate":"xyz9i76","reason":"found"}"#;
        let (next, (status, _)) = put_change(&next, "XYZ9I76", body).unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            listed(&next),
            ["ABC1D23 stolen", "XYZ9I76 found", "JKL1234 wanted"]
        );
    }

    #[test]
    fn bad_puts_and_deletes_say_what_is_wrong() {
        let list = Watchlist::parse(LIST, "w.yml").unwrap();
        let put = |plate: &str, body: &[u8]| put_change(&list, plate, body).unwrap_err();
        let cases: &[(&str, &[u8], &str)] = &[
            ("ABC1D23", b"", "body: EOF while parsing"),
            ("ABC1D23", b"{\"reason\":", "body: EOF while parsing"),
            ("ABC1D23", b"not json", "body: expected"),
            ("ABC1D23", b"{}", "body: missing field `reason`"),
            ("ABC1D23", b"{\"reason\":null}", "body: invalid type: null"),
            (
                "ABC1D23",
                b"{\"reason\":\"x\",\"color\":\"red\"}",
                "body: unknown field `color`",
            ),
            ("ABC1D23", b"[\"x\"]", "body: expected a JSON object"),
            ("ABC1D23", b"\"x\"", "body: expected a JSON object"),
            ("ABC1D23", b"\xff\xfe", "body: expected value"),
            (
                "AB12345",
                b"{\"reason\":\"x\"}",
                "plate \"AB12345\": expected LLLNNNN or LLLNLNN",
            ),
            (
                "ABC1D23\u{0}",
                b"{\"reason\":\"x\"}",
                "expected LLLNNNN or LLLNLNN",
            ),
            (
                "ABC1D23",
                b"{\"reason\":\"  \"}",
                "plate \"ABC1D23\": reason is empty",
            ),
            (
                "ABC1D23",
                b"{\"reason\":\"x\",\"plate\":\"ABC1D24\"}",
                "body: plate \"ABC1D24\" is not the URL's plate \"ABC1D23\"",
            ),
        ];
        for (plate, body, want) in cases {
            let e = put(plate, body);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{plate:?} {body:?}");
            assert!(
                e.message.contains(want),
                "{plate:?} {body:?}: {}",
                e.message
            );
        }
        let e = delete_change(&list, "ABC").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("expected LLLNNNN"), "{}", e.message);
        let e = delete_change(&list, "BBB1234").unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (
                StatusCode::NOT_FOUND,
                "plate \"BBB1234\" is not on the watch list"
            )
        );
    }

    #[test]
    fn delete_removes_the_vehicle_and_list_shows_every_field() {
        let list = Watchlist::parse(LIST, "w.yml").unwrap();
        let (next, gone) = delete_change(&list, "xyz9i76").unwrap();
        assert_eq!(gone.plate.as_str(), "XYZ9876");
        assert_eq!(
            list_body(&next),
            r#"{"items":[{"plate":"ABC1D23","reason":"stolen"}]}"#
        );
        assert_eq!(list_body(&Watchlist::default()), r#"{"items":[]}"#);
        let e = ApiError::not_listed("X\"").into_response();
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn changes_write_the_file_atomically_and_reach_the_run_loop_in_order() {
        let dir = temp_dir("change");
        let path = dir.join("watchlist.yml");
        std::fs::write(&path, LIST).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let api = WatchlistApi::new(path.clone(), tx);

        // Concurrent PUTs: every one is kept.
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let api = api.clone();
                std::thread::spawn(move || {
                    let body = format!("{{\"reason\":\"r{i}\"}}");
                    api.change(|l| put_change(l, &format!("CAR{i:04}"), body.as_bytes()))
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap().0, StatusCode::CREATED);
        }
        let on_disk = Watchlist::load(&path).unwrap();
        assert_eq!(on_disk.entries().len(), 18);
        let mut sizes = Vec::new();
        while let Ok(list) = rx.try_recv() {
            sizes.push(list.entries().len());
        }
        assert_eq!(
            sizes,
            (3..=18).collect::<Vec<_>>(),
            "sent in the order written"
        );

        // A failed change writes nothing and sends nothing.
        let before = std::fs::read_to_string(&path).unwrap();
        let e = api.change(|l| delete_change(l, "BBB1234")).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert!(rx.try_recv().is_err());
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["watchlist.yml"]);

        // A file broken by hand is not overwritten.
        std::fs::write(&path, "plates:\n  - plate: nope\n    reason: x\n").unwrap();
        let e = api.change(|l| put_change(l, "ABC1234", b"{\"reason\":\"x\"}"));
        let e = e.unwrap_err();
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            e.message.contains("entry 1 (plate \"nope\")"),
            "{}",
            e.message
        );
        assert!(std::fs::read_to_string(&path).unwrap().contains("nope"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_default_file_is_created_empty_in_the_state_dir_and_kept() {
        let dir = temp_dir("default");
        let state = dir.join("state");
        let mut config = Config::from_vars(|_| None).unwrap();
        config.state_dir = state.clone();
        let path = file_for(&config).unwrap();
        assert_eq!(path, state.join("watchlist.yml"));
        assert!(Watchlist::load(&path).unwrap().entries().is_empty());
        std::fs::write(&path, LIST).unwrap();
        assert_eq!(file_for(&config).unwrap(), path);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            LIST,
            "not replaced"
        );
        config.watchlist = Some(dir.join("elsewhere.yml"));
        assert_eq!(file_for(&config).unwrap(), dir.join("elsewhere.yml"));
        assert!(
            !dir.join("elsewhere.yml").exists(),
            "a set file is not created"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
