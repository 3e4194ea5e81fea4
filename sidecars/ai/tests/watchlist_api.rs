//! The watch list API of `vigia-ai run` (`/v1/watchlist` on `VIGIA_AI_HTTP`), over HTTP on the
//! real binary, with no broker (`VIGIA_EVENTSURL` empty) and no camera (`VIGIA_AI_CAMERAS=all`):
//!
//! - without `VIGIA_AI_WATCHLIST` the list is `<state dir>/watchlist.yml`, created empty;
//! - PUT adds (201) and replaces (200) entries, normalised as the file's are; GET lists them;
//!   DELETE removes them (204, 404 when absent); the file on disk changes each time, in the YAML
//!   the hot reload reads, and no temporary file stays beside it;
//! - the running pipeline gets each new list at once, through the run loop (its log line and
//!   the `ai_watchlist_entries` gauge), not only at the next 2 s reload;
//! - bad input answers 400 (or 413 for a big body) with a JSON `error` naming what is wrong;
//! - 12 concurrent PUTs lose no entry;
//! - a file edited by hand is what GET shows, and the hot reload still gives it to the pipeline;
//! - after SIGTERM and a restart, the list is the one in the file;
//! - a plate added through the API raises `alert.triggered` on the real RabbitMQ
//!   (127.0.0.1:5672, an exchange of the test's own) when `vigia-ai replay` reads it with the
//!   file the API wrote: the same pipeline, without the camera, `vigia` and ffmpeg that `run`
//!   would need to read the plate (tests/live.rs does that).
//!
//! Needs the OCR models (`run` loads them first) and the broker. Takes about 5 s.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "common/live.rs"]
mod live_setup;
#[path = "../../test-support/vigia.rs"]
mod vigia;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use vigia_ai::watchlist::Watchlist;
use vigia_events::{EventData, Severity};

use common::{listen, replay};
use live_setup::{Killed, lines_with};

/// The exchange of this test's events.
const EXCHANGE: &str = "vigia-ai.watchlist-api-test";

#[tokio::test]
async fn the_watch_list_api_changes_the_file_and_the_running_pipeline() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("watchlist-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let file = tmp.join("state/watchlist.yml");
    let port = vigia::free_port(false);
    let log_path = tmp.join("vigia-ai.log");
    let mut ai = start(&tmp, port, &log_path).await;
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // The default file, created empty.
    assert_eq!(
        call(port, "GET", "/v1/watchlist", None),
        (200, json!({"items": []}))
    );
    assert!(Watchlist::load(&file).unwrap().entries().is_empty());
    assert!(metric(port, "ai_watchlist_entries 0"));

    // Added, replaced, listed; the plate normalised as the file's entries are.
    let put =
        |plate: &str, body: Value| call(port, "PUT", &format!("/v1/watchlist/{plate}"), Some(body));
    let stolen = json!({"plate": "ABC1D23", "reason": "stolen"});
    assert_eq!(
        put("abc-1d23", json!({"reason": " stolen "})),
        (201, stolen)
    );
    let replaced = json!({"plate": "ABC1D23", "reason": "stolen, report 12/2026"});
    assert_eq!(put("ABC1D23", replaced.clone()), (200, replaced.clone()));
    let old = json!({"plate": "XYZ9876", "reason": "court order"});
    assert_eq!(
        put("XYZ-9876", json!({"reason": "court order"})),
        (201, old.clone())
    );
    assert_eq!(
        call(port, "GET", "/v1/watchlist", None),
        (200, json!({"items": [replaced, old]}))
    );
    assert_eq!(
        call(port, "GET", "/v1/watchlist/xyz9876", None),
        (200, old.clone())
    );
    // On disk: the YAML the hot reload reads, nothing else in the directory but the state.
    let on_disk = Watchlist::load(&file).unwrap();
    let plates: Vec<&str> = on_disk.entries().iter().map(|e| e.plate.as_str()).collect();
    assert_eq!(plates, ["ABC1D23", "XYZ9876"]);
    assert_eq!(on_disk.entries()[0].reason, "stolen, report 12/2026");
    assert!(no_temporary_file(&file));
    // The pipeline has each list at once: the run loop's line, then the gauge.
    wait_for(|| last_update(&log()) == Some(2), &log).await;
    assert!(
        metric(port, "ai_watchlist_entries 2"),
        "{}",
        get_text(port, "/metrics")
    );

    // Bad input: 400 with what is wrong, nothing changed.
    let raw = |method: &str, path: &str, body: &[u8]| request(port, method, path, body);
    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        (
            "PUT",
            "/v1/watchlist/ABC1D23",
            b"{\"reason\":",
            400,
            "body: EOF while parsing",
        ),
        (
            "PUT",
            "/v1/watchlist/ABC1D23",
            b"",
            400,
            "body: EOF while parsing",
        ),
        (
            "PUT",
            "/v1/watchlist/ABC1D23",
            b"{\"reason\":\"x\",\"color\":\"red\"}",
            400,
            "unknown field `color`",
        ),
        (
            "PUT",
            "/v1/watchlist/ABC1D23",
            b"{}",
            400,
            "missing field `reason`",
        ),
        (
            "PUT",
            "/v1/watchlist/ABC1D23",
            b"{\"reason\":\" \"}",
            400,
            "reason is empty",
        ),
        (
            "PUT",
            "/v1/watchlist/ABC1D23",
            b"[\"x\"]",
            400,
            "expected a JSON object",
        ),
        (
            "PUT",
            "/v1/watchlist/AB12345",
            b"{\"reason\":\"x\"}",
            400,
            "plate \"AB12345\": expected LLLNNNN or LLLNLNN",
        ),
        (
            "PUT",
            "/v1/watchlist/ABC%FF1D23",
            b"{\"reason\":\"x\"}",
            400,
            "",
        ),
        (
            "PUT",
            "/v1/watchlist/ABC1D23",
            b"{\"reason\":\"x\",\"plate\":\"ABC1D24\"}",
            400,
            "is not the URL's plate",
        ),
        (
            "DELETE",
            "/v1/watchlist/JKL1234",
            b"",
            404,
            "plate \"JKL1234\" is not on the watch list",
        ),
        (
            "DELETE",
            "/v1/watchlist/nope",
            b"",
            400,
            "expected LLLNNNN or LLLNLNN",
        ),
        (
            "GET",
            "/v1/watchlist/JKL1234",
            b"",
            404,
            "not on the watch list",
        ),
    ];
    for (method, path, body, status, want) in cases {
        let (got, answer) = raw(method, path, body);
        assert_eq!(got, *status, "{method} {path} {body:?}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(error.contains(want), "{method} {path}: {error}");
    }
    let big = format!("{{\"reason\":\"{}\"}}", "x".repeat(20_000));
    let (status, answer) = raw("PUT", "/v1/watchlist/ABC1D23", big.as_bytes());
    assert_eq!(status, 413, "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
    assert_eq!(Watchlist::load(&file).unwrap(), on_disk, "nothing changed");

    // Concurrent PUTs: none lost.
    let threads: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let body = json!({ "reason": format!("batch {i}") });
                call(port, "PUT", &format!("/v1/watchlist/BAT{i:04}"), Some(body)).0
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 201);
    }
    let (_, listed) = call(port, "GET", "/v1/watchlist", None);
    assert_eq!(listed["items"].as_array().unwrap().len(), 14, "{listed}");
    assert_eq!(Watchlist::load(&file).unwrap().entries().len(), 14);

    // Removed, by the vehicle: the old plate's Mercosul form names it too.
    assert_eq!(raw("DELETE", "/v1/watchlist/XYZ9I76", b"").0, 204);
    assert_eq!(raw("DELETE", "/v1/watchlist/XYZ9876", b"").0, 404);
    assert_eq!(Watchlist::load(&file).unwrap().entries().len(), 13);
    wait_for(|| last_update(&log()) == Some(13), &log).await;
    assert!(metric(port, "ai_watchlist_entries 13"));

    // Edited by hand (a rename, as the README asks): GET shows it, the hot reload applies it.
    let by_hand = tmp.join("by-hand.yml");
    std::fs::write(
        &by_hand,
        "plates:\n  - plate: HND1234\n    reason: typed by an operator\n",
    )
    .unwrap();
    std::fs::rename(&by_hand, &file).unwrap();
    let hand = json!({"items": [{"plate": "HND1234", "reason": "typed by an operator"}]});
    assert_eq!(
        call(port, "GET", "/v1/watchlist", None),
        (200, hand.clone())
    );
    wait_for(|| metric(port, "ai_watchlist_entries 1"), &log).await;

    // A restart keeps what the file holds.
    let status = ai.terminate().await;
    assert!(status.success(), "{status}\n{}", log());
    assert_eq!(put("NEW1D00", json!({"reason": "x"})).0, 0, "stopped");
    let mut ai = start(&tmp, port, &log_path).await;
    assert_eq!(call(port, "GET", "/v1/watchlist", None), (200, hand));
    assert!(metric(port, "ai_watchlist_entries 1"));
    let reason = "added through the API";
    let added = json!({"plate": "API1D23", "reason": reason});
    assert_eq!(put("api-1d23", json!({ "reason": reason })), (201, added));
    let status = ai.terminate().await;
    assert!(status.success(), "{status}\n{}", log());
    assert_eq!(lines_with(&log(), &["panicked"]), 0);

    // The file the API wrote, read by the same pipeline (`replay`, which needs no camera): the
    // plate added raises alert.triggered on the real broker.
    let camera = format!("watchlist-api-{}", std::process::id());
    let (mut rx, _conn) = listen(EXCHANGE, camera.clone()).await;
    let at = Utc::now() - TimeDelta::minutes(1);
    let input: String = [0, 400]
        .map(|ms| {
            let at = (at + TimeDelta::milliseconds(ms)).to_rfc3339();
            let read = json!({"cameraId": camera, "text": "API-1D23", "confidence": 0.9,
                "at": at, "frame": ms});
            format!("{read}\n")
        })
        .concat();
    let status = replay(input, EXCHANGE, &tmp.join("replay"), Some(&file)).await;
    assert!(status.success(), "vigia-ai replay: {status}");
    let alert = loop {
        let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("alert.triggered in time")
            .unwrap();
        if let EventData::AlertTriggered(a) = event.data {
            break a;
        }
    };
    assert_eq!(
        (alert.kind.as_str(), alert.severity),
        ("plate_watchlist", Severity::Critical)
    );
    assert!(alert.message.contains(reason), "{}", alert.message);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `vigia-ai run` with its state in `<tmp>/state`, serving on `port`, once `/ready` answers 200.
async fn start(tmp: &Path, port: u16, log_path: &Path) -> Killed {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap();
    let ai = Killed(
        Command::new(env!("CARGO_BIN_EXE_vigia-ai"))
            .arg("run")
            .env("VIGIA_AI_CAMERAS", "all")
            .env("VIGIA_EVENTSURL", "")
            .env("VIGIA_AI_STATE_DIR", tmp.join("state"))
            .env("VIGIA_AI_HTTP", format!("127.0.0.1:{port}"))
            .env_remove("VIGIA_AI_WATCHLIST")
            .stdin(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(log_path).unwrap_or_default();
    wait_for(
        || get_text(port, "/ready").starts_with("HTTP/1.1 200"),
        &log,
    )
    .await;
    ai
}

/// Waits up to 20 s for `done`, else panics with the log.
async fn wait_for(done: impl Fn() -> bool, log: &impl Fn() -> String) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `method path` with a JSON body: the status (0 when nothing answers) and the JSON answer
/// (`null` for none).
fn call(port: u16, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    request(port, method, path, body.as_bytes())
}

/// [`call`] with raw body bytes.
fn request(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let text = exchange(port, method, path, body);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim())
        .filter(|b| !b.is_empty())
        .map_or(Value::Null, |b| {
            serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}: {text}"))
        });
    (status, json)
}

/// The whole answer to `GET path`, or "" when nothing answers.
fn get_text(port: u16, path: &str) -> String {
    exchange(port, "GET", path, b"")
}

/// One HTTP/1.1 request on a fresh connection; the whole answer, or "" when nothing answers.
fn exchange(port: u16, method: &str, path: &str, body: &[u8]) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // A server refusing a big body may answer and close before reading it all.
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|()| s.write_all(body));
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The `plates` of the run loop's last "watch list updated through the API" line.
fn last_update(log: &str) -> Option<u64> {
    log.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "watch list updated through the API")
        .and_then(|v| v["fields"]["plates"].as_u64())
}

/// Whether `/metrics` has a line `line`.
fn metric(port: u16, line: &str) -> bool {
    get_text(port, "/metrics").lines().any(|l| l == line)
}

/// Whether `file`'s directory holds no temporary file of it.
fn no_temporary_file(file: &Path) -> bool {
    let dir: PathBuf = file.parent().unwrap().into();
    std::fs::read_dir(dir).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".watchlist.yml.tmp")
    })
}
