//! A collector of events on the real broker's topic exchange `vigia.events`, for tests that
//! check what a vigia published.
//!
//! It reads the exchange twice, so a test sees both what crossed the wire and what a real
//! consumer handles:
//! - **deliveries**: an exclusive, auto-deleted queue read without acks, recording every
//!   message, duplicates included;
//! - **handled**: a [`vigia_events::Consumer`] on a queue of its own, deduplicating by event
//!   `source` + `id` as every service does, recording what its handler is given.
//!
//! Also what every bus test needs to publish: [`publish`], [`event`], [`camera`], [`unique`].
//!
//! Only events that pass the test's filter are kept (other tests publish on the same exchange).
//! Both queues are bound before [`Collector::start`] returns; the consumer's durable queue and
//! DLQ are deleted on drop. It runs on a tokio runtime of its own, so tests stay synchronous.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use vigia_events::{Consumer, ConsumerConfig, EXCHANGE, Event, topology};

use serde_json::{Value, json};

use crate::{TempDir, Vigia, run_with_timeout, vigia_bin};

/// The broker every conformance test uses.
pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Which events a [`Collector`] keeps.
pub type Filter = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

/// A name no other run uses (queues, node names, camera ids).
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Milliseconds since the UNIX epoch, now.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Publishes one event with `vigia events publish FILE` (confirmed by the broker), writing it
/// to `dir` first. Panics, with the tool's output, if it fails.
pub fn publish(dir: &TempDir, event: &Value) {
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string()).expect("write event");
    let bin = vigia_bin();
    let args = [
        "events",
        "--url",
        BROKER,
        "publish",
        file.to_str().expect("utf-8 path"),
    ];
    let out = run_with_timeout(
        bin.to_str().expect("utf-8 path"),
        &args,
        Duration::from_secs(15),
    );
    assert!(
        out.status.success(),
        "vigia events publish: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CloudEvents envelope (dataversion 1) of type `ty` at `time_ms` (UNIX ms) around `data`.
pub fn event(ty: &str, id: &str, time_ms: i64, correlation: &str, data: Value) -> Value {
    let time = chrono::DateTime::from_timestamp_millis(time_ms)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "/conformance/bus",
        "type": ty,
        "time": time,
        "datacontenttype": "application/json",
        "dataversion": 1,
        "correlationid": correlation,
        "data": data,
    })
}

/// The data of a `camera.created` / `camera.updated`: a camera at `url` without credentials,
/// not recorded, in city `city-conformance` with a 7-day plan (tests change fields as needed).
pub fn camera(id: &str, url: &str) -> Value {
    json!({
        "cameraId": id,
        "cityId": "city-conformance",
        "name": "Conformance camera",
        "rtspUrl": url,
        "record": false,
        "storagePlan": {"planId": "plan-1", "retentionDays": 7},
    })
}

/// Events of `vigia.events` seen by a test; see the module docs.
pub struct Collector {
    runtime: tokio::runtime::Runtime,
    consumer: Option<Consumer>,
    raw: tokio::task::JoinHandle<()>,
    /// Queues deleted on drop: the consumer's own, and those of [`Collector::delete_on_drop`].
    delete: Vec<String>,
    deliveries: Arc<Mutex<Vec<Event>>>,
    handled: Arc<Mutex<Vec<Event>>>,
    _state: TempDir,
}

impl Collector {
    /// Binds both queues to [`EXCHANGE`] with the routing-key `patterns` and starts reading;
    /// `queue` names the consumer's durable queue (unique per run). Panics if the broker at
    /// [`BROKER`] cannot be reached within 15 s.
    pub fn start(queue: &str, patterns: &[&str], keep: Filter) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("collector runtime");
        let state = TempDir::new("vigia-collector");
        let deliveries = Arc::default();
        let handled = Arc::default();
        let raw = runtime.block_on(read_raw(patterns, keep.clone(), Arc::clone(&deliveries)));
        let consumer = runtime.block_on(consume(queue, patterns, &state, keep, &handled));
        Self {
            runtime,
            consumer: Some(consumer),
            raw,
            delete: vec![queue.to_owned(), topology::dlq(queue)],
            deliveries,
            handled,
            _state: state,
        }
    }

    /// Every delivery kept so far, in arrival order, duplicates included.
    pub fn deliveries(&self) -> Vec<Event> {
        lock(&self.deliveries).clone()
    }

    /// Every event the deduplicating consumer handled so far, in arrival order.
    pub fn handled(&self) -> Vec<Event> {
        lock(&self.handled).clone()
    }

    /// Also deletes `queues` on drop (best effort): queues a vigia under test declared that no
    /// later run will read, such as `vigia.streaming.<node>` of a one-off node name.
    pub fn delete_on_drop(&mut self, queues: impl IntoIterator<Item = String>) {
        self.delete.extend(queues);
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.raw.abort();
        if let Some(consumer) = self.consumer.take() {
            self.runtime.block_on(consumer.stop());
        }
        self.runtime.block_on(delete(&self.delete));
    }
}

/// Binds an exclusive queue and records every kept delivery in a background task.
async fn read_raw(
    patterns: &[&str],
    keep: Filter,
    out: Arc<Mutex<Vec<Event>>>,
) -> tokio::task::JoinHandle<()> {
    let conn = connect().await;
    let ch = conn.create_channel().await.expect("collector channel");
    // A fresh broker has no exchange until a publisher declares it: declare it (idempotent).
    vigia_events::topology::declare_exchange(&ch, EXCHANGE)
        .await
        .expect("declare vigia.events");
    let opts = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare("".into(), opts, FieldTable::default())
        .await
        .expect("collector queue");
    for p in patterns {
        let (name, bind) = (q.name().clone(), QueueBindOptions::default());
        ch.queue_bind(
            name,
            EXCHANGE.into(),
            (*p).into(),
            bind,
            FieldTable::default(),
        )
        .await
        .expect("collector bind");
    }
    let opts = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut stream = ch
        .basic_consume(q.name().clone(), "".into(), opts, FieldTable::default())
        .await
        .expect("collector consume");
    tokio::spawn(async move {
        let _conn = conn; // the queue lives as long as its connection
        while let Some(Ok(d)) = stream.next().await {
            match Event::from_slice(&d.data) {
                Ok(e) if keep(&e) => lock(&out).push(e),
                _ => {}
            }
        }
    })
}

/// Starts the deduplicating consumer (no retry queues: its handler never fails).
async fn consume(
    queue: &str,
    patterns: &[&str],
    state: &TempDir,
    keep: Filter,
    out: &Arc<Mutex<Vec<Event>>>,
) -> Consumer {
    let mut config = ConsumerConfig::new(BROKER, queue, patterns, state.path());
    config.retry_delays.clear();
    let out = Arc::clone(out);
    let handler = move |e: Event| {
        if keep(&e) {
            lock(&out).push(e);
        }
        async { Ok(()) }
    };
    let start = Consumer::start(config, handler);
    tokio::time::timeout(Duration::from_secs(15), start)
        .await
        .expect("collector consumer: broker timed out")
        .expect("collector consumer")
}

/// The queues a vigia node declares on the broker: `vigia.streaming.<node>`, its retry queues
/// and its DLQ.
pub fn node_queues(node: &str) -> Vec<String> {
    let queue = format!("vigia.streaming.{node}");
    let delays = ConsumerConfig::new(BROKER, queue.as_str(), &[], ".").retry_delays;
    let mut all: Vec<String> = delays
        .into_iter()
        .map(|d| topology::retry_queue(&queue, d))
        .collect();
    all.push(topology::dlq(&queue));
    all.push(queue);
    all
}

/// A vigia on the bus for a test: started in a directory of its own with `config` (which sets
/// `eventsURL`) under a node name of its own (`VIGIA_NODE`, so its own queue), its camera
/// consumer running; dropping it stops the vigia, then deletes the node's queues.
pub struct BusNode {
    /// The server.
    pub vigia: Vigia,
    /// Its node name (`/vigia/<node>` is the source of what it publishes).
    pub node: String,
    _queues: NodeQueues,
}

impl BusNode {
    /// Starts the node and waits (10 s at most) until it consumes camera events; panics with
    /// its log if it does not.
    pub fn start(config: &str, rtsp_port: u16) -> Self {
        let dir = TempDir::new("vigia-bus-node");
        std::fs::write(dir.path().join("vigia.yml"), config).expect("write config");
        let node = unique("conformance");
        let queues = NodeQueues::of(&node);
        let vigia = Vigia::spawn(dir, &["vigia.yml"], &[("VIGIA_NODE", &node)], rtsp_port);
        assert!(
            vigia.logs_soon_contain("events: cameras from queue", Duration::from_secs(10)),
            "the camera consumer did not start:\n{}",
            vigia.logs()
        );
        Self {
            vigia,
            node,
            _queues: queues,
        }
    }
}

/// Deletes a vigia node's queues ([`node_queues`]) when dropped, best effort: every node a test
/// starts has a name of its own, and its durable queue would otherwise keep collecting every
/// later run's camera events.
pub struct NodeQueues(Vec<String>);

impl NodeQueues {
    /// The guard of `node`'s queues.
    pub fn of(node: &str) -> Self {
        Self(node_queues(node))
    }
}

impl Drop for NodeQueues {
    fn drop(&mut self) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(runtime) = runtime {
            runtime.block_on(delete(&self.0));
        }
    }
}

async fn delete(queues: &[String]) {
    let connect = Connection::connect(BROKER, ConnectionProperties::default());
    let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_secs(5), connect).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    for q in queues {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "bye".into()).await;
}

async fn connect() -> Connection {
    let connect = Connection::connect(BROKER, ConnectionProperties::default());
    tokio::time::timeout(Duration::from_secs(15), connect)
        .await
        .expect("collector: broker timed out")
        .expect("collector: connect to the broker")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
