//! Configuration of the publisher and consumer.

use std::path::PathBuf;
use std::time::Duration;

/// The exchange every service publishes to and binds from (the platform contract).
pub const EXCHANGE: &str = "vigia.events";

/// Environment variable that names the broker, overriding the config key `eventsURL`.
pub const URL_ENV: &str = "VIGIA_EVENTSURL";

/// Resolves the broker URL: `VIGIA_EVENTSURL` if set, else the config key `eventsURL`; an empty
/// string means none (events go to the local JSONL file).
pub fn resolve_url(config_value: Option<&str>) -> Option<String> {
    let from_env = std::env::var(URL_ENV).ok();
    let url = from_env.as_deref().or(config_value)?.trim();
    (!url.is_empty()).then(|| url.to_owned())
}

/// How a [`crate::Publisher`] reaches the bus.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Broker URL (`amqp://guest:guest@127.0.0.1:5672/%2f`); `None` appends events to
    /// [`PublisherConfig::jsonl_path`] instead.
    pub url: Option<String>,
    /// Exchange to publish to; [`EXCHANGE`] except in tests.
    pub exchange: String,
    /// CloudEvents `source` of events built by [`crate::Publisher::emit`] (`/vigia/node-1`).
    pub source: String,
    /// Directory of the durable outbox (created if missing; one publisher per directory).
    pub outbox_dir: PathBuf,
    /// Size bound of the outbox file; events beyond it are dropped, counted and logged.
    pub outbox_max_bytes: u64,
    /// File events are appended to when no broker is configured.
    pub jsonl_path: PathBuf,
    /// Events the intake channel holds before [`crate::Publisher::publish`] refuses.
    pub intake_capacity: usize,
    /// Name shown for the connection in RabbitMQ (`rabbitmqctl list_connections`).
    pub connection_name: String,
    /// First and largest delay between reconnection attempts (doubling in between).
    pub reconnect_backoff: (Duration, Duration),
    /// Messages published before waiting for their confirms.
    pub confirm_window: usize,
}

impl PublisherConfig {
    /// Defaults for a broker URL (or none), with state under `state_dir`.
    pub fn new(url: Option<String>, state_dir: impl Into<PathBuf>) -> PublisherConfig {
        let dir = state_dir.into();
        PublisherConfig {
            url,
            exchange: EXCHANGE.into(),
            source: "/vigia".into(),
            outbox_dir: dir.join("outbox"),
            outbox_max_bytes: 64 << 20,
            jsonl_path: dir.join("events.jsonl"),
            intake_capacity: 16_384,
            connection_name: "vigia-events-publisher".into(),
            reconnect_backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            confirm_window: 512,
        }
    }
}

/// How a [`crate::Consumer`] reads its service queue.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Broker URL.
    pub url: String,
    /// Exchange the queue is bound to; [`EXCHANGE`] except in tests.
    pub exchange: String,
    /// The service's queue (quorum type); retry queues and `<queue>.dlq` are named after it.
    pub queue: String,
    /// Routing-key patterns bound to the queue (`camera.*`, `#`).
    pub bindings: Vec<String>,
    /// Unacknowledged messages the broker may push ahead (basic.qos prefetch).
    pub prefetch: u16,
    /// Handler futures that may run at once (see [`crate::Handler`]): 1 handles one event at a
    /// time, as a handler whose effects must not interleave needs; more lets a handler that
    /// does its work when called and waits in its future (a group commit) overlap that wait.
    /// More than `prefetch` changes nothing: the broker sends no more unacked messages.
    pub concurrency: u16,
    /// Delay before each retry; after the last one fails the message goes to the DLQ.
    pub retry_delays: Vec<Duration>,
    /// File of the persisted dedupe window.
    pub dedupe_path: PathBuf,
    /// Event ids remembered for deduplication.
    pub dedupe_window: usize,
    /// Name shown for the connection in RabbitMQ.
    pub connection_name: String,
    /// First and largest delay between reconnection attempts.
    pub reconnect_backoff: (Duration, Duration),
}

impl ConsumerConfig {
    /// Defaults: prefetch 32, one handler at a time, retries after 1 s, 2 s and 4 s, a window
    /// of 100 000 ids.
    pub fn new(
        url: impl Into<String>,
        queue: impl Into<String>,
        bindings: &[&str],
        state_dir: impl Into<PathBuf>,
    ) -> ConsumerConfig {
        let queue = queue.into();
        ConsumerConfig {
            url: url.into(),
            exchange: EXCHANGE.into(),
            dedupe_path: state_dir.into().join(format!("{queue}.dedupe")),
            connection_name: format!("vigia-events-consumer-{queue}"),
            queue,
            bindings: bindings.iter().map(|b| b.to_string()).collect(),
            prefetch: 32,
            concurrency: 1,
            retry_delays: [1, 2, 4].map(Duration::from_secs).to_vec(),
            dedupe_window: 100_000,
            reconnect_backoff: (Duration::from_millis(100), Duration::from_secs(5)),
        }
    }
}
