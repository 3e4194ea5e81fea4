//! The consumer: reads a service queue with manual acks and bounded prefetch, deduplicates by
//! event `source` + `id`, runs the handler inside a span and correlation scope, and routes failures.
//!
//! Handlers may overlap: [`Handler::handle`] is called for each delivery in delivery order, and
//! with [`ConsumerConfig::concurrency`] above 1 the next delivery does not wait for the previous
//! one's future to complete; up to that many futures run at once and each delivery is settled
//! (acked, retried, dead-lettered) when its own future completes. A handler that does its work
//! at once and makes its future wait for durability (a group commit) thus gets many events'
//! writes into one. A copy of an event that arrives while the event's handler runs waits for it:
//! acked as a duplicate if it worked, handed back to the broker if it failed. The default, 1,
//! handles one event at a time.
//!
//! - handler `Ok` → id recorded in the dedupe window → ack;
//! - handler `Err` (or panic) on attempt n ≤ len(retry_delays) → copy to the retry queue of
//!   delay n with header `x-vigia-attempts = n` (confirmed) → ack; the retry queue dead-letters
//!   it back to the work queue when the delay expires;
//! - handler `Err` after the last retry → `<queue>.dlq` with `x-vigia-reason`,
//!   `x-vigia-attempts`, `x-vigia-error-kind = handler_error` → ack;
//! - malformed message (bad JSON, invalid envelope, unknown type, unsupported version, schema
//!   violation) → `<queue>.dlq` at once, with the parse error as reason → ack;
//! - misrouted message (published with a routing key other than its `type`, so it reached
//!   queues bound for another type) → `<queue>.dlq` at once, kind `routing_key_mismatch` → ack.
//!   Retry queues and the DLQ route by queue name, so when the consumer moves a message there it
//!   keeps the key it was published with in the header `x-vigia-routing-key`, and a message
//!   arriving through the default exchange (a retry coming back, a DLQ replay) is checked
//!   against that header;
//! - a lost connection → reconnect with backoff; unacked messages come back and the dedupe
//!   window absorbs the ones already handled.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use tokio::sync::watch;
use tracing::Instrument;

use crate::amqp::{Backoff, Link, bounded};
use crate::dedupe::Dedupe;
use crate::envelope::sync_with_correlation;
use crate::{ConsumerConfig, Error, Event, topology, with_correlation};

/// Header: failed attempts so far (integer).
pub const ATTEMPTS_HEADER: &str = "x-vigia-attempts";
/// Header: why the message is in the DLQ.
pub const REASON_HEADER: &str = "x-vigia-reason";
/// Header: `handler_error` or a [`crate::ParseError::kind`].
pub const KIND_HEADER: &str = "x-vigia-error-kind";
/// Header: the work queue the message came from.
pub const QUEUE_HEADER: &str = "x-vigia-queue";
/// Header: the routing key the message was published to the exchange with, kept when the
/// consumer moves it to a retry queue or the DLQ (both route by queue name).
pub const ROUTING_KEY_HEADER: &str = "x-vigia-routing-key";
/// [`KIND_HEADER`] of a message whose routing key differs from its `type`.
pub const ROUTING_KEY_MISMATCH: &str = "routing_key_mismatch";

/// The future a [`Handler`] returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Handles one event. An `Err` text becomes the retry / DLQ reason. Implemented for any
/// `Fn(Event) -> impl Future<Output = Result<(), String>>`.
///
/// `handle` is called in delivery order, inside the event's span and correlation scope; the
/// returned futures of up to [`ConsumerConfig::concurrency`] deliveries run at once (one by
/// default), and a delivery is acked only once its future completes `Ok`.
pub trait Handler: Send + Sync + 'static {
    /// Handles `event`; must be idempotent in effect only within the dedupe window's promise.
    /// A redelivery can arrive while the first delivery's future still runs.
    fn handle(&self, event: Event) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn handle(&self, event: Event) -> HandlerFuture {
        Box::pin(self(event))
    }
}

/// Counters of a consumer, for the server to export as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Events handled successfully.
    pub handled: u64,
    /// Deliveries skipped because their id was already handled.
    pub duplicates: u64,
    /// Handler failures sent to a retry queue.
    pub retried: u64,
    /// Messages sent to the DLQ (malformed, misrouted or out of retries).
    pub dead_lettered: u64,
    /// Of those, malformed or misrouted messages.
    pub malformed: u64,
    /// Connections lost or failed.
    pub reconnects: u64,
}

/// A running consumer; stop it with [`Consumer::stop`].
pub struct Consumer {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    counters: Arc<Counters>,
}

impl Consumer {
    /// Declares the topology, starts consuming `config.queue` with `handler`, and returns once
    /// the first connection is up. Later connection losses are retried in the background.
    pub async fn start<H: Handler>(config: ConsumerConfig, handler: H) -> Result<Consumer, Error> {
        let dedupe = Dedupe::open(&config.dedupe_path, config.dedupe_window)?;
        let link = open_link(&config).await?;
        Ok(Self::spawn(config, handler, dedupe, Some(link)))
    }

    /// Like [`Consumer::start`], but a broker that cannot be reached yet is not an error: the
    /// consumer keeps trying in the background with the reconnect backoff, declares the topology
    /// and starts consuming once it can (for a service that may start before RabbitMQ). Fails
    /// only when the dedupe window cannot be opened.
    pub async fn start_or_retry<H: Handler>(
        config: ConsumerConfig,
        handler: H,
    ) -> Result<Consumer, Error> {
        let dedupe = Dedupe::open(&config.dedupe_path, config.dedupe_window)?;
        let link = match open_link(&config).await {
            Ok(link) => Some(link),
            Err(e) => {
                tracing::warn!(error = %e, queue = %config.queue, "events consumer cannot reach the broker yet; retrying in the background");
                None
            }
        };
        Ok(Self::spawn(config, handler, dedupe, link))
    }

    fn spawn<H: Handler>(
        config: ConsumerConfig,
        handler: H,
        dedupe: Dedupe,
        link: Option<Link>,
    ) -> Consumer {
        let (stop, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            config,
            handler: Arc::new(handler),
            dedupe,
            counters: counters.clone(),
            running: HashMap::new(),
        };
        let task = tokio::spawn(worker.run(link, stop_rx));
        Consumer {
            stop,
            task,
            counters,
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ConsumerStats {
        self.counters.snapshot()
    }

    /// Stops after the events in progress, closes the connection and syncs the dedupe window.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[derive(Default)]
struct Counters {
    handled: AtomicU64,
    duplicates: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    malformed: AtomicU64,
    reconnects: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ConsumerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConsumerStats {
            handled: get(&self.handled),
            duplicates: get(&self.duplicates),
            retried: get(&self.retried),
            dead_lettered: get(&self.dead_lettered),
            malformed: get(&self.malformed),
            reconnects: get(&self.reconnects),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The error of a handler that panicked.
const PANICKED: &str = "handler panicked";

/// A handler running on one delivery.
type Running = Pin<Box<dyn Future<Output = Done> + Send>>;

/// A delivery whose handler completed, to settle.
struct Done {
    result: Result<(), String>,
    delivery: Delivery,
    source: String,
    id: String,
    attempts: i64,
}

/// Why a consume loop ended.
enum Exit {
    Stopped,
    Lost(Error),
}

struct Worker<H> {
    config: ConsumerConfig,
    handler: Arc<H>,
    dedupe: Dedupe,
    counters: Arc<Counters>,
    /// Events (`source`, `id`) whose handler runs now, with the redeliveries of each that
    /// arrived meanwhile: settled when it completes, so an event is handled once even when its
    /// copies overlap.
    running: HashMap<(String, String), Vec<Delivery>>,
}

async fn open_link(config: &ConsumerConfig) -> Result<Link, Error> {
    bounded("consumer set-up", open_link_unbounded(config)).await
}

async fn open_link_unbounded(config: &ConsumerConfig) -> Result<Link, Error> {
    let link = Link::open(&config.url, &config.connection_name).await?;
    let c = config;
    topology::declare_service_queue(
        &link.channel,
        &c.exchange,
        &c.queue,
        &c.bindings,
        &c.retry_delays,
    )
    .await?;
    link.channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| Error::amqp("basic.qos", e))?;
    Ok(link)
}

impl<H: Handler> Worker<H> {
    async fn run(mut self, first: Option<Link>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(self.config.reconnect_backoff);
        let mut link = first;
        loop {
            let current = match link.take() {
                Some(l) => l,
                None => match open_link(&self.config).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, queue = %self.config.queue, "events consumer cannot reach the broker");
                        bump(&self.counters.reconnects);
                        if sleep_or_stop(backoff.next_delay(), &mut stop).await {
                            break;
                        }
                        continue;
                    }
                },
            };
            let exit = self
                .consume(&current.channel, &mut stop, &mut backoff)
                .await;
            current.close().await;
            match exit {
                Exit::Stopped => break,
                Exit::Lost(e) => {
                    tracing::warn!(error = %e, queue = %self.config.queue, "events consumer lost the broker; reconnecting");
                    bump(&self.counters.reconnects);
                    if sleep_or_stop(backoff.next_delay(), &mut stop).await {
                        break;
                    }
                }
            }
        }
        if let Err(e) = self.dedupe.sync() {
            tracing::error!(error = %e, "events consumer: dedupe window not synced");
        }
    }

    async fn consume(
        &mut self,
        ch: &Channel,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Exit {
        let opts = BasicConsumeOptions::default();
        let queue = self.config.queue.clone();
        let consume = async {
            ch.basic_consume(
                queue.as_str().into(),
                "".into(),
                opts,
                FieldTable::default(),
            )
            .await
            .map_err(|e| Error::amqp(format!("basic.consume {queue}"), e))
        };
        let mut deliveries = match bounded("basic.consume", consume).await {
            Ok(d) => d,
            Err(e) => return Exit::Lost(e),
        };
        backoff.reset();
        // Deliveries of a lost channel cannot be settled any more; the broker sends them again.
        self.running.clear();
        // Handlers started and not finished yet: at most `concurrency` (and `prefetch`, as the
        // broker sends no more unacked messages than that).
        let mut running = FuturesUnordered::new();
        let limit = usize::from(self.config.concurrency.max(1));
        loop {
            let result = tokio::select! {
                _ = stop.changed() => return self.drain(ch, running).await,
                Some(done) = running.next(), if !running.is_empty() => self.finish(ch, done).await,
                next = deliveries.next(), if running.len() < limit => match next {
                    None => Err(Error::amqp(
                        format!("consume {queue}"),
                        "consumer cancelled",
                    )),
                    Some(Err(e)) => Err(Error::amqp(format!("consume {queue}"), e)),
                    Some(Ok(delivery)) => self.start(ch, delivery).await.map(|started| {
                        running.extend(started);
                    }),
                },
            };
            if let Err(e) = result {
                return Exit::Lost(e);
            }
        }
    }

    /// On stop: lets the running handlers finish and acks them, then stops.
    async fn drain(&mut self, ch: &Channel, mut running: FuturesUnordered<Running>) -> Exit {
        while let Some(done) = running.next().await {
            if let Err(e) = self.finish(ch, done).await {
                return Exit::Lost(e);
            }
        }
        Exit::Stopped
    }

    /// Starts one delivery: a malformed, misrouted or duplicate one is settled (and acked) at
    /// once; otherwise its handler is called now, in delivery order, and its future is returned,
    /// to be [finished](Self::finish) when it completes.
    async fn start(&mut self, ch: &Channel, delivery: Delivery) -> Result<Option<Running>, Error> {
        let attempts = header_i64(&delivery, ATTEMPTS_HEADER).unwrap_or(0);
        let event = match Event::from_slice(&delivery.data) {
            Ok(e) => e,
            Err(pe) => {
                tracing::warn!(queue = %self.config.queue, reason = %pe, "events consumer: malformed message to DLQ");
                bump(&self.counters.malformed);
                self.dead_letter(ch, &delivery, &pe.to_string(), pe.kind(), attempts)
                    .await?;
                return ack(&delivery).await.map(|()| None);
            }
        };
        if let Err(reason) = check_routing_key(&delivery, &event) {
            tracing::warn!(queue = %self.config.queue, %reason, "events consumer: misrouted message to DLQ");
            bump(&self.counters.malformed);
            self.dead_letter(ch, &delivery, &reason, ROUTING_KEY_MISMATCH, attempts)
                .await?;
            return ack(&delivery).await.map(|()| None);
        }
        if self.dedupe.contains(&event.source, &event.id) {
            bump(&self.counters.duplicates);
            return ack(&delivery).await.map(|()| None);
        }
        let (source, id) = (event.source.clone(), event.id.clone());
        if let Some(copies) = self.running.get_mut(&(source.clone(), id.clone())) {
            copies.push(delivery);
            return Ok(None);
        }
        self.running
            .insert((source.clone(), id.clone()), Vec::new());
        let handling = self.run_handler(event, attempts);
        Ok(Some(Box::pin(async move {
            Done {
                result: handling.await,
                delivery,
                source,
                id,
                attempts,
            }
        })))
    }

    /// Settles a delivery whose handler completed: `Ok` → dedupe window, `Err` → retry or DLQ;
    /// then the ack. Copies that arrived while it ran are then duplicates (acked) if it worked,
    /// else handed back to the broker, to be handled again.
    async fn finish(&mut self, ch: &Channel, done: Done) -> Result<(), Error> {
        let copies = self
            .running
            .remove(&(done.source.clone(), done.id.clone()))
            .unwrap_or_default();
        let handled = done.result.is_ok();
        match done.result {
            Ok(()) => {
                if let Err(e) = self.dedupe.insert(&done.source, &done.id) {
                    tracing::error!(error = %e, "events consumer: cannot persist dedupe id");
                }
                bump(&self.counters.handled);
            }
            Err(reason) => {
                self.handler_failed(ch, &done.delivery, done.attempts + 1, &reason)
                    .await?
            }
        }
        ack(&done.delivery).await?;
        for copy in copies {
            if handled {
                bump(&self.counters.duplicates);
                ack(&copy).await?;
            } else {
                requeue(&copy).await?;
            }
        }
        Ok(())
    }

    /// Calls the handler now, in a span carrying the correlation id and within its correlation
    /// scope (so its synchronous part sees both too), and returns its future, which turns a
    /// panic into an error.
    fn run_handler(&self, event: Event, attempts: i64) -> HandlerFuture {
        let span = tracing::info_span!(
            "event",
            event_id = %event.id,
            event_type = %event.event_type(),
            correlation_id = %event.correlation_id,
            attempt = attempts + 1,
        );
        let corr = event.correlation_id.clone();
        let handler = self.handler.clone();
        let call = AssertUnwindSafe(|| handler.handle(event));
        let started = span
            .in_scope(|| sync_with_correlation(corr.clone(), || std::panic::catch_unwind(call)));
        let Ok(fut) = started else {
            return Box::pin(std::future::ready(Err(PANICKED.to_owned())));
        };
        let fut = with_correlation(corr, AssertUnwindSafe(fut).catch_unwind()).instrument(span);
        Box::pin(fut.map(|r| r.unwrap_or_else(|_| Err(PANICKED.to_owned()))))
    }

    async fn handler_failed(
        &self,
        ch: &Channel,
        delivery: &Delivery,
        failures: i64,
        reason: &str,
    ) -> Result<(), Error> {
        let delays = &self.config.retry_delays;
        let Some(&delay) = usize::try_from(failures - 1)
            .ok()
            .and_then(|i| delays.get(i))
        else {
            let reason = format!("handler failed {failures} times: {reason}");
            tracing::warn!(queue = %self.config.queue, %reason, "events consumer: out of retries, to DLQ");
            return self
                .dead_letter(ch, delivery, &reason, "handler_error", failures)
                .await;
        };
        tracing::info!(queue = %self.config.queue, failures, ?delay, %reason, "events consumer: handler failed, retrying");
        let mut headers = headers_with_routing_key(delivery);
        headers.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongLongInt(failures));
        headers.insert(REASON_HEADER.into(), long_string(reason));
        let retry = topology::retry_queue(&self.config.queue, delay);
        republish(ch, &retry, delivery, headers).await?;
        bump(&self.counters.retried);
        Ok(())
    }

    async fn dead_letter(
        &self,
        ch: &Channel,
        delivery: &Delivery,
        reason: &str,
        kind: &str,
        attempts: i64,
    ) -> Result<(), Error> {
        let mut headers = headers_with_routing_key(delivery);
        headers.insert(REASON_HEADER.into(), long_string(reason));
        headers.insert(KIND_HEADER.into(), long_string(kind));
        headers.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongLongInt(attempts));
        headers.insert(QUEUE_HEADER.into(), long_string(&self.config.queue));
        republish(ch, &topology::dlq(&self.config.queue), delivery, headers).await?;
        bump(&self.counters.dead_lettered);
        Ok(())
    }
}

/// Publishes a copy of `delivery` to `queue` (default exchange) with `headers`, confirmed.
pub(crate) async fn republish(
    ch: &Channel,
    queue: &str,
    delivery: &Delivery,
    headers: FieldTable,
) -> Result<(), Error> {
    let props = delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let op = || format!("basic.publish to {queue}");
    let publish = async {
        ch.basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            &delivery.data,
            props,
        )
        .await
        .map_err(|e| Error::amqp(op(), e))?
        .await
        .map_err(|e| Error::amqp(op(), e))
    };
    let confirm = bounded("republish", publish).await?;
    if !confirm.is_ack() {
        return Err(Error::amqp(op(), "nack"));
    }
    Ok(())
}

/// The message's headers (empty if none).
pub(crate) fn headers_of(delivery: &Delivery) -> FieldTable {
    delivery.properties.headers().clone().unwrap_or_default()
}

/// The routing key `delivery` was published to the exchange with: its own routing key if it came
/// through an exchange, else (a retry coming back, a DLQ replay, all through the default
/// exchange) the [`ROUTING_KEY_HEADER`] the consumer recorded when it moved the message.
fn published_routing_key(delivery: &Delivery) -> Option<String> {
    if !delivery.exchange.as_str().is_empty() {
        return Some(delivery.routing_key.as_str().to_owned());
    }
    header_str(delivery, ROUTING_KEY_HEADER)
}

/// `Err(reason)` if `event` was published with a routing key other than its `type`.
fn check_routing_key(delivery: &Delivery, event: &Event) -> Result<(), String> {
    let ty = event.event_type().as_str();
    match published_routing_key(delivery) {
        Some(key) if key == ty => Ok(()),
        Some(key) => Err(format!(
            "routing key {key:?} differs from the event type {ty:?} (event {})",
            event.id
        )),
        None => Err(format!(
            "no routing key to check against type {ty:?}: published straight to the queue \
             through the default exchange without an {ROUTING_KEY_HEADER} header (event {})",
            event.id
        )),
    }
}

/// The message's headers plus [`ROUTING_KEY_HEADER`], unless it is already there or unknown.
fn headers_with_routing_key(delivery: &Delivery) -> FieldTable {
    let mut headers = headers_of(delivery);
    let known = headers.contains_key(ROUTING_KEY_HEADER);
    if let (false, Some(key)) = (known, published_routing_key(delivery)) {
        headers.insert(ROUTING_KEY_HEADER.into(), long_string(&key));
    }
    headers
}

/// An integer header, whatever integer width the sender used.
pub(crate) fn header_i64(delivery: &Delivery, name: &str) -> Option<i64> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        _ => None,
    }
}

/// A string header.
pub(crate) fn header_str(delivery: &Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

pub(crate) fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// Hands `delivery` back to the broker, which delivers it again.
async fn requeue(delivery: &Delivery) -> Result<(), Error> {
    let opts = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    delivery
        .nack(opts)
        .await
        .map(|_| ())
        .map_err(|e| Error::amqp("basic.nack", e))
}

async fn ack(delivery: &Delivery) -> Result<(), Error> {
    delivery
        .ack(BasicAckOptions::default())
        .await
        .map(|_| ())
        .map_err(|e| Error::amqp("basic.ack", e))
}

/// Sleeps `d` unless a stop arrives first; returns true on stop.
async fn sleep_or_stop(d: std::time::Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
