//! A broker outage loses no event of `vigia-ai` (issue 10): the real `vigia-ai replay` binary
//! publishes through a [`BrokerProxy`] in front of the real RabbitMQ (127.0.0.1:5672), on an
//! exchange, a camera and a state dir of each test's own.
//!
//! - [`events_made_during_an_outage_arrive_after_it`]: the proxy is cut before `vigia-ai`
//!   starts; four plate passes (one on the watch list) go into the durable outbox
//!   (`<state dir>/outbox/outbox.<generation>.log`, read by the test, not guessed with a sleep)
//!   and none reaches the broker while the publisher retries for 2 s more (its log says it
//!   cannot reach the broker); the proxy is restored and every `lpr.detected` and the
//!   `alert.triggered` arrive, exactly the expected plates, each event id once, and replay
//!   exits 0. Each event's JSON log line carries its `event_id`, `event_type` and
//!   `correlation_id`, and the alert shares its detection's correlation id.
//! - [`events_kept_by_a_killed_process_are_sent_by_the_next`]: the process is SIGKILLed during
//!   the outage once its events are in the outbox; started again on the same state dir with
//!   empty input and the broker back, it delivers them and exits 0.
//!
//! Delivery is at-least-once: a copy of an event id is tolerated (consumers drop it by id) and
//! reported on stderr; a missing or unexpected event fails. Each test takes a few seconds.

#[allow(dead_code)]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lapin::Connection;
use lapin::options::ExchangeDeleteOptions;
use serde_json::Value;
use tokio::sync::mpsc;
use vigia_events::test_support::BrokerProxy;
use vigia_events::{Event, EventData};

use common::listen_to;

/// The plates of the passes; the second is on the watch list.
const PLATES: [&str; 4] = ["ABC1D23", "XYZ9876", "QRS4E56", "JKL2M34"];
/// The watched plate.
const WATCHED: &str = "XYZ9876";
/// `lpr.detected` per plate plus the watched plate's `alert.triggered`.
const EVENTS: usize = PLATES.len() + 1;
/// What the publisher logs while the broker is away (vigia_events::Publisher).
const UNREACHABLE: &str = "events publisher cannot reach the broker";
/// The longest any step may take: the outbox to fill, the events to arrive, replay to exit.
const STEP: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_made_during_an_outage_arrive_after_it() {
    let mut t = Setup::new("during").await;
    let proxy = BrokerProxy::start().await;
    proxy.cut();

    let mut ai = Ai::spawn(&t, &proxy, &t.reads());
    let kept = wait_outbox(&t.dir, EVENTS).await;
    check_events(&kept);
    // Cut for a while longer (the publisher retries with backoff): nothing goes out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        t.rx.try_recv().is_err(),
        "an event reached the broker through a cut proxy"
    );
    let running = ai.child.try_wait().unwrap();
    assert_eq!(running, None, "replay ended during the outage");

    proxy.restore();
    let got = receive(&mut t.rx, &kept).await;
    let (status, log) = ai.wait(STEP).await;
    assert!(status.success(), "vigia-ai replay: {status}\n{log}");
    assert!(
        log.contains(UNREACHABLE),
        "no sign of the outage in the log:\n{log}"
    );
    check_events(&got);
    check_logs(&got, &log);
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_kept_by_a_killed_process_are_sent_by_the_next() {
    let mut t = Setup::new("killed").await;
    let proxy = BrokerProxy::start().await;
    proxy.cut();

    let mut first = Ai::spawn(&t, &proxy, &t.reads());
    let kept = wait_outbox(&t.dir, EVENTS).await;
    check_events(&kept);
    // std's kill is SIGKILL: no flush, no clean close of the outbox.
    first.child.kill().expect("SIGKILL vigia-ai");
    let (status, log) = first.wait(STEP).await;
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the first vigia-ai was to die of SIGKILL: {status}\n{log}"
    );
    check_logs(&kept, &log);
    assert!(
        t.rx.try_recv().is_err(),
        "an event reached the broker through a cut proxy"
    );

    proxy.restore();
    let second = Ai::spawn(&t, &proxy, "");
    let got = receive(&mut t.rx, &kept).await;
    let (status, log) = second.wait(STEP).await;
    assert!(
        status.success(),
        "restarted vigia-ai replay: {status}\n{log}"
    );
    check_events(&got);
    t.finish().await;
}

/// What one test owns: a camera id (the prefix its listener keeps), an exchange, a state dir
/// with the watch list, and a listener on the real broker bound before `vigia-ai` starts.
struct Setup {
    camera: String,
    exchange: String,
    dir: PathBuf,
    rx: mpsc::UnboundedReceiver<Event>,
    conn: Connection,
}

impl Setup {
    async fn new(name: &str) -> Setup {
        let unique = format!(
            "outage-{name}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        );
        let exchange = format!("vigia-ai.{unique}");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&unique);
        std::fs::create_dir_all(&dir).unwrap();
        let plates = format!("plates:\n  - plate: {WATCHED}\n    reason: stolen\n");
        std::fs::write(dir.join("watchlist.yml"), plates).unwrap();
        let keys = ["lpr.detected", "alert.triggered"];
        let (rx, conn) = listen_to(&exchange, unique.clone(), &keys).await;
        Setup {
            camera: format!("{unique}-cam"),
            exchange,
            dir,
            rx,
            conn,
        }
    }

    /// JSON lines of two reads per plate, 0.4 s apart, the plates 10 s apart (a pass each),
    /// an hour ago.
    fn reads(&self) -> String {
        let start = chrono::Utc::now() - chrono::TimeDelta::hours(1);
        let mut lines = String::new();
        for (i, plate) in PLATES.iter().enumerate() {
            for (j, ms) in [0, 400].into_iter().enumerate() {
                let at = start + chrono::TimeDelta::milliseconds(i as i64 * 10_000 + ms);
                let line = serde_json::json!({"cameraId": self.camera, "text": plate,
                    "confidence": 0.9, "at": at.to_rfc3339(), "frame": i * 2 + j});
                lines.push_str(&format!("{line}\n"));
            }
        }
        lines
    }

    /// Closes the listener (its exclusive queue goes with it), deletes the exchange and the
    /// state dir.
    async fn finish(self) {
        if let Ok(ch) = self.conn.create_channel().await {
            let opts = ExchangeDeleteOptions::default();
            let _ = ch
                .exchange_delete(self.exchange.as_str().into(), opts)
                .await;
        }
        let _ = self.conn.close(200, "bye".into()).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `vigia-ai replay` and the reader of its standard error.
struct Ai {
    child: Child,
    stderr: JoinHandle<String>,
}

impl Ai {
    /// Starts `vigia-ai replay` on `input` (stdin closed after it), publishing through `proxy`
    /// to the test's exchange, with the test's state dir and watch list.
    fn spawn(t: &Setup, proxy: &BrokerProxy, input: &str) -> Ai {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigia-ai"))
            .arg("replay")
            .env("VIGIA_EVENTSURL", proxy.url())
            .env("VIGIA_AI_EXCHANGE", &t.exchange)
            .env("VIGIA_AI_STATE_DIR", &t.dir)
            .env("VIGIA_AI_WATCHLIST", t.dir.join("watchlist.yml"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vigia-ai replay");
        // About a kilobyte: the pipe takes it without a reader.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut log = String::new();
            let _ = pipe.read_to_string(&mut log);
            log
        });
        Ai { child, stderr }
    }

    /// Waits at most `limit` for the process to end (then kills it and fails); returns its
    /// status and its log.
    async fn wait(mut self, limit: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let log = self.stderr.join().unwrap_or_default();
                panic!("vigia-ai replay still running after {limit:?}; killed\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        (status, self.stderr.join().unwrap_or_default())
    }
}

/// Waits (at most [`STEP`]) until the outbox in `dir` holds `n` records, and returns their
/// events. The publisher appends and fsyncs a batch before it counts it accepted; nothing is
/// confirmed while the proxy is cut, so every record in the log is pending.
async fn wait_outbox(dir: &Path, n: usize) -> Vec<Event> {
    let deadline = Instant::now() + STEP;
    loop {
        let kept = outbox_events(&dir.join("outbox"));
        if kept.len() >= n {
            assert_eq!(kept.len(), n, "more records in the outbox than events made");
            return kept;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} events in the outbox after {STEP:?}",
            kept.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The events of the complete records (`<type>\t<event json>\n`) of the outbox logs.
fn outbox_events(outbox: &Path) -> Vec<Event> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut events = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("outbox.") && name.ends_with(".log")) {
            continue;
        }
        let data = std::fs::read(entry.path()).unwrap_or_default();
        let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for line in data[..complete]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            let tab = line
                .iter()
                .position(|&b| b == b'\t')
                .expect("a routing key");
            let event = Event::from_slice(&line[tab + 1..]).expect("an event in the outbox");
            events.push(event);
        }
    }
    events
}

/// Receives until every event of `kept` has arrived (at most [`STEP`]), then for half a second
/// more, to see copies and strays. Returns everything received, copies included.
async fn receive(rx: &mut mpsc::UnboundedReceiver<Event>, kept: &[Event]) -> Vec<Event> {
    let want: BTreeSet<&str> = kept.iter().map(|e| e.id.as_str()).collect();
    let mut got: Vec<Event> = Vec::new();
    let deadline = tokio::time::Instant::now() + STEP;
    while !want
        .iter()
        .all(|id| got.iter().any(|e| e.id.as_str() == *id))
    {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => got.push(e),
            Ok(None) => panic!("the broker listener stopped"),
            Err(_) => panic!(
                "after the outage, {} of the {} kept events arrived in {STEP:?}: got {:?}",
                got.len(),
                want.len(),
                got.iter().map(|e| &e.id).collect::<Vec<_>>()
            ),
        }
    }
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        got.push(e);
    }
    got
}

/// Exactly one detection per plate and one alert, for the watched plate's detection; each id
/// once (a copy is reported, not failed: delivery is at-least-once).
fn check_events(got: &[Event]) {
    let unique = distinct(got);
    let mut plates: Vec<String> = unique
        .iter()
        .filter_map(|e| match &e.data {
            EventData::LprDetected(d) => Some(d.plate.to_string()),
            _ => None,
        })
        .collect();
    plates.sort();
    let mut want: Vec<&str> = PLATES.to_vec();
    want.sort();
    assert_eq!(plates, want, "one lpr.detected per plate pass");
    let alerts: Vec<_> = unique
        .iter()
        .filter_map(|e| match &e.data {
            EventData::AlertTriggered(a) => Some((*e, a)),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 1, "one alert.triggered: {alerts:?}");
    let (alert_event, alert) = alerts[0];
    let cause = unique
        .iter()
        .find(|e| Some(&e.id) == alert.cause_event_id.as_ref())
        .expect("the alert's cause among the events received");
    assert!(
        matches!(&cause.data, EventData::LprDetected(d) if d.plate.as_str() == WATCHED),
        "the alert is caused by the watched plate's detection: {cause:?}"
    );
    assert_eq!(
        alert_event.correlation_id, cause.correlation_id,
        "the alert shares its detection's correlation id"
    );
    assert_eq!(unique.len(), EVENTS, "no other event: {unique:?}");
}

/// The first copy of each event id of `got`, in order; copies are reported on stderr.
fn distinct(got: &[Event]) -> Vec<&Event> {
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for e in got {
        *copies.entry(e.id.as_str()).or_default() += 1;
    }
    let doubled: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    if !doubled.is_empty() {
        eprintln!("at-least-once: event ids delivered more than once: {doubled:?}");
    }
    let mut unique: Vec<&Event> = Vec::new();
    for e in got {
        if !unique.iter().any(|u| u.id == e.id) {
            unique.push(e);
        }
    }
    unique
}

/// Each event of `events` has its JSON log line on `log` (standard error), with its
/// `event_id`, `event_type` and `correlation_id` as fields.
fn check_logs(events: &[Event], log: &str) {
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for e in events {
        let line = lines
            .iter()
            .find(|l| l["fields"]["event_id"] == e.id.as_str());
        let Some(line) = line else {
            panic!("no log line with event_id {} in:\n{log}", e.id);
        };
        let fields = &line["fields"];
        assert_eq!(
            fields["event_type"],
            e.event_type().as_str(),
            "event_type of {}: {line}",
            e.id
        );
        assert_eq!(
            fields["correlation_id"],
            e.correlation_id.as_str(),
            "correlation_id of {}: {line}",
            e.id
        );
    }
}
