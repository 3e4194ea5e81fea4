//! Helpers for the tests against the real RabbitMQ: names, configs, a recording handler,
//! waiting, cleanup, and a test's own exchange with a consumer on it.

pub(crate) mod proxy;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::message::Delivery;
use lapin::options::{
    BasicGetOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use vigia_events::{
    Consumer, ConsumerConfig, Event, EventData, Publisher, PublisherConfig, cli, examples, topology,
};

/// The test broker.
pub(crate) const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A name private to this test and this process: `t.<test>.<pid>`.
pub(crate) fn name(test: &str) -> String {
    format!("t.{test}.{}", std::process::id())
}

/// A CloudEvents `source` private to this test run: `/test/<test>/<pid>-<uuid>`.
pub(crate) fn unique_source(test: &str) -> String {
    format!(
        "/test/{test}/{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

/// An empty state directory for this test (the directory itself does not exist yet).
pub(crate) fn state_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigia-events-{}", name(test)));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A publisher config for this test's `exchange` at `url`.
pub(crate) fn publisher_config(test: &str, url: &str, exchange: &str) -> PublisherConfig {
    let mut c = PublisherConfig::new(Some(url.into()), state_dir(&format!("{test}-pub")));
    c.exchange = exchange.into();
    c.connection_name = format!("{}-pub", name(test));
    c
}

/// A consumer config for this test's queue, bound to `exchange` with `bindings`.
pub(crate) fn consumer_config(
    test: &str,
    url: &str,
    exchange: &str,
    bindings: &[&str],
) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(url, name(test), bindings, state_dir(&format!("{test}-con")));
    c.exchange = exchange.into();
    c.connection_name = format!("{}-con", name(test));
    c
}

/// Records handled event ids in order.
#[derive(Clone, Default)]
pub(crate) struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    /// A handler that records every event's id and succeeds.
    pub(crate) fn handler(
        &self,
    ) -> impl Fn(Event) -> futures::future::Ready<Result<(), String>> + Send + Sync + 'static {
        let seen = self.0.clone();
        move |e: Event| {
            seen.lock().unwrap().push(e.id);
            futures::future::ready(Ok(()))
        }
    }

    /// A handler that records the ids of events whose `source` is `source` and ignores (but
    /// acknowledges) the rest: for tests on the shared `vigia.events` exchange, where other
    /// clients may publish the same types at the same time.
    pub(crate) fn handler_for_source(
        &self,
        source: &str,
    ) -> impl Fn(Event) -> futures::future::Ready<Result<(), String>> + Send + Sync + 'static {
        let (seen, source) = (self.0.clone(), source.to_owned());
        move |e: Event| {
            if e.source == source {
                seen.lock().unwrap().push(e.id);
            }
            futures::future::ready(Ok(()))
        }
    }

    /// The ids handled so far, in order.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// How many events were handled so far.
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Polls `cond` every 50 ms; panics naming `what` if it is still false after `timeout`.
pub(crate) async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `publisher` has every accepted event confirmed; panics after `secs` seconds.
pub(crate) async fn flush_within(publisher: &Publisher, secs: u64) {
    tokio::time::timeout(Duration::from_secs(secs), publisher.flush())
        .await
        .unwrap()
        .unwrap();
}

/// A plain lapin connection to the test broker and a channel on it.
pub(crate) async fn raw_channel() -> (Connection, Channel) {
    let conn = Connection::connect(URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    (conn, ch)
}

/// Deletes a test's queues and exchange (best effort).
pub(crate) async fn cleanup(queue: &str, exchange: Option<&str>) {
    let Ok(conn) = Connection::connect(URL, ConnectionProperties::default()).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    let retries = [1, 2, 4].map(|s| topology::retry_queue(queue, Duration::from_secs(s)));
    for q in [queue.to_owned(), topology::dlq(queue)]
        .into_iter()
        .chain(retries)
    {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    if let Some(x) = exchange {
        let _ = ch
            .exchange_delete(x.into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// Runs the `vigia-events` CLI with `args`; returns what it wrote (panics if it failed).
pub(crate) async fn cli_out(args: &[&str]) -> String {
    let mut out = Vec::new();
    cli::run_to(args.iter().map(|s| s.to_string()).collect(), &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// The `stream.health_check` example's data.
pub(crate) fn health() -> EventData {
    examples().remove(6).data
}

/// A test's own exchange (`t.<test>.<pid>`) and a consumer of the test's queue, bound to `#`,
/// that records what it handles in `seen`.
pub(crate) struct Listener {
    /// The test's name, as given to [`Listener::start`].
    pub(crate) test: String,
    /// The test's exchange.
    pub(crate) exchange: String,
    /// The consumer's config (its queue is `cfg.queue`).
    pub(crate) cfg: ConsumerConfig,
    /// What the consumer handled.
    pub(crate) seen: Seen,
    /// The running consumer.
    pub(crate) consumer: Consumer,
}

impl Listener {
    /// Declares the test's exchange and queue and starts consuming.
    pub(crate) async fn start(test: &str) -> Listener {
        let exchange = name(test);
        let seen = Seen::default();
        let cfg = consumer_config(test, URL, &exchange, &["#"]);
        let consumer = Consumer::start(cfg.clone(), seen.handler()).await.unwrap();
        Listener {
            test: test.to_owned(),
            exchange,
            cfg,
            seen,
            consumer,
        }
    }

    /// A publisher config for the test's exchange.
    pub(crate) fn publisher_config(&self) -> PublisherConfig {
        publisher_config(&self.test, URL, &self.exchange)
    }

    /// Starts a publisher to the test's exchange.
    pub(crate) fn publisher(&self) -> Publisher {
        Publisher::start(self.publisher_config()).unwrap()
    }

    /// Stops the consumer and deletes the test's queues and exchange.
    pub(crate) async fn finish(self) {
        self.consumer.stop().await;
        cleanup(&self.cfg.queue, Some(&self.exchange)).await;
    }
}

/// A private, exclusive queue bound to `#` on a test's exchange, read with `basic.get`: sees
/// exactly what was published, bodies and properties, with no consumer in between.
pub(crate) struct Tap {
    conn: Connection,
    ch: Channel,
    queue: String,
}

impl Tap {
    /// Declares `exchange` and binds a new exclusive queue to it.
    pub(crate) async fn start(exchange: &str) -> Tap {
        let (conn, ch) = raw_channel().await;
        topology::declare_exchange(&ch, exchange).await.unwrap();
        let opts = QueueDeclareOptions {
            exclusive: true,
            ..Default::default()
        };
        let q = ch
            .queue_declare("".into(), opts, FieldTable::default())
            .await
            .unwrap();
        ch.queue_bind(
            q.name().clone(),
            exchange.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        let queue = q.name().to_string();
        Tap { conn, ch, queue }
    }

    /// The next message (acknowledged at once); panics if there is none.
    pub(crate) async fn next(&self) -> Delivery {
        let opts = BasicGetOptions { no_ack: true };
        let msg = self.ch.basic_get(self.queue.as_str().into(), opts).await;
        msg.unwrap().expect("a message in the tap").delivery
    }

    /// Closes the connection (the queue goes with it).
    pub(crate) async fn close(self) {
        let _ = self.conn.close(200, "bye".into()).await;
    }
}
