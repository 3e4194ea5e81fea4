//! The publisher: hands events to a background task without ever blocking the caller.
//!
//! With a broker, each event is appended to the durable [`crate::outbox`] (fsynced per batch),
//! then published with confirms, oldest first; only a confirm removes it from the outbox. A
//! broker that is down, a cut connection or a nack leaves events in the outbox, and the task
//! reconnects with backoff and replays them in order. Delivery is at-least-once: a replay after
//! a lost confirm can duplicate, which consumers absorb by event id.
//!
//! Without a broker, events are appended to a JSONL file (one event per line, fsynced per batch).

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use lapin::options::BasicPublishOptions;
use lapin::{Channel, PublisherConfirm};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::amqp::{Backoff, Link, bounded, message_properties, redact};
use crate::outbox::{Incoming, Outbox, Record};
use crate::{Error, Event, EventData, PublisherConfig, topology};

/// A cheap-to-clone handle for publishing events; see the module docs for the guarantees.
///
/// When every handle is dropped, the background task stops once the outbox is empty (call
/// [`Publisher::flush`] first to wait for that) or at once if the broker is unreachable; what is
/// left in the outbox is replayed by the next publisher started on the same directory.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    source: Arc<str>,
}

/// Counters of a publisher, for the server to export as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Events made durable (outbox or JSONL file).
    pub accepted: u64,
    /// Events confirmed by the broker (replays included).
    pub confirmed: u64,
    /// Events dropped because the outbox was full.
    pub outbox_full: u64,
    /// Events refused because the intake channel was full.
    pub intake_full: u64,
    /// Connections lost or failed.
    pub reconnects: u64,
    /// Negative confirms received.
    pub nacks: u64,
    /// Events in the outbox awaiting a confirm.
    pub pending: u64,
}

impl Publisher {
    /// Starts the background task for `config`: an outbox plus AMQP publishing if
    /// `config.url` is set, a JSONL file otherwise. Fails only if local files cannot be opened;
    /// an unreachable broker is retried in the background. Must run inside a tokio runtime.
    pub fn start(config: PublisherConfig) -> Result<Publisher, Error> {
        let (tx, rx) = mpsc::channel(config.intake_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let source: Arc<str> = Arc::from(config.source.as_str());
        match config.url.clone() {
            None => {
                let file = open_jsonl(&config.jsonl_path)?;
                tokio::spawn(jsonl_task(rx, file, config.jsonl_path, counters.clone()));
            }
            Some(url) => start_amqp(config, url, rx, counters.clone())?,
        }
        Ok(Publisher {
            tx,
            counters,
            source,
        })
    }

    /// Hands `event` to the background task and returns at once. Errors only if the intake
    /// channel is full ([`Error::Backpressure`], counted) or the task stopped.
    pub fn publish(&self, event: Event) -> Result<(), Error> {
        let id = event.id.clone();
        match self.tx.try_send(Command::publish(&event, None)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.counters.intake_full.fetch_add(1, Ordering::Relaxed);
                Err(Error::Backpressure { id })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Stopped),
        }
    }

    /// Builds an event from `data` with this publisher's source (inheriting the correlation id
    /// of the event being handled, if any) and [`Publisher::publish`]es it. Returns its id.
    pub fn emit(&self, data: EventData) -> Result<String, Error> {
        let event = Event::new(&*self.source, data);
        let id = event.id.clone();
        self.publish(event)?;
        Ok(id)
    }

    /// Like [`Publisher::publish`], but waits until the event is durable (fsynced in the
    /// outbox or JSONL file). For tools and tests, not for hot paths.
    pub async fn publish_durable(&self, event: Event) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::publish(&event, Some(done)))
            .await
            .map_err(|_| Error::Stopped)?;
        wait.await.map_err(|_| Error::Stopped)?
    }

    /// Like [`Publisher::publish_durable`], but sends `body` (the JSON of `event` as its author
    /// wrote it, with attributes and fields this build does not model) instead of re-encoding
    /// `event`. For `vigia events publish`; the caller has validated `body` into `event`.
    pub(crate) async fn publish_body_durable(
        &self,
        event: &Event,
        body: Vec<u8>,
    ) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        let cmd = Command::Publish {
            routing_key: event.event_type().as_str().into(),
            body: body.into(),
            id: event.id.clone(),
            done: Some(done),
        };
        self.tx.send(cmd).await.map_err(|_| Error::Stopped)?;
        wait.await.map_err(|_| Error::Stopped)?
    }

    /// Waits until every event handed over so far is confirmed by the broker (or written, for
    /// the JSONL sink). Waits as long as the broker is away; wrap it in a timeout.
    pub async fn flush(&self) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Flush(done))
            .await
            .map_err(|_| Error::Stopped)?;
        wait.await.map_err(|_| Error::Stopped)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PublisherStats {
        self.counters.snapshot()
    }
}

enum Command {
    Publish {
        routing_key: Arc<str>,
        body: Arc<[u8]>,
        id: String,
        done: Option<oneshot::Sender<Result<(), Error>>>,
    },
    Flush(oneshot::Sender<()>),
}

impl Command {
    fn publish(event: &Event, done: Option<oneshot::Sender<Result<(), Error>>>) -> Command {
        Command::Publish {
            routing_key: event.event_type().as_str().into(),
            body: event.to_bytes().into(),
            id: event.id.clone(),
            done,
        }
    }
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    confirmed: AtomicU64,
    outbox_full: AtomicU64,
    intake_full: AtomicU64,
    reconnects: AtomicU64,
    nacks: AtomicU64,
    pending: AtomicU64,
    full_logged: AtomicBool,
}

impl Counters {
    fn snapshot(&self) -> PublisherStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PublisherStats {
            accepted: get(&self.accepted),
            confirmed: get(&self.confirmed),
            outbox_full: get(&self.outbox_full),
            intake_full: get(&self.intake_full),
            reconnects: get(&self.reconnects),
            nacks: get(&self.nacks),
            pending: get(&self.pending),
        }
    }

    /// Counts a full-outbox drop; logs an error once per episode of fullness.
    fn outbox_full(&self, err: &Error) {
        self.outbox_full.fetch_add(1, Ordering::Relaxed);
        if !self.full_logged.swap(true, Ordering::Relaxed) {
            tracing::error!(error = %err, "events outbox full: dropping events until the broker confirms some");
        }
    }
}

/// State shared by the intake and sender tasks.
struct Shared {
    outbox: Mutex<Outbox>,
    work: Notify,
    flush_waiters: Mutex<Vec<oneshot::Sender<()>>>,
    counters: Arc<Counters>,
    /// Every handle is gone: the sender stops when idle or disconnected.
    closed: AtomicBool,
}

type Batch = Vec<Incoming>;
type Waiters = Vec<Option<oneshot::Sender<Result<(), Error>>>>;

fn start_amqp(
    config: PublisherConfig,
    url: String,
    rx: mpsc::Receiver<Command>,
    counters: Arc<Counters>,
) -> Result<(), Error> {
    let outbox = Outbox::open(&config.outbox_dir, config.outbox_max_bytes)?;
    counters
        .pending
        .store(outbox.pending() as u64, Ordering::Relaxed);
    let shared = Arc::new(Shared {
        outbox: Mutex::new(outbox),
        work: Notify::new(),
        flush_waiters: Mutex::new(Vec::new()),
        counters,
        closed: AtomicBool::new(false),
    });
    tokio::spawn(intake_task(rx, shared.clone()));
    tokio::spawn(sender_task(config, url, shared));
    Ok(())
}

/// Receives up to 1024 commands at once: one fsync per batch.
async fn next_batch(rx: &mut mpsc::Receiver<Command>) -> Option<Vec<Command>> {
    let first = rx.recv().await?;
    let mut cmds = vec![first];
    while cmds.len() < 1024 {
        match rx.try_recv() {
            Ok(c) => cmds.push(c),
            Err(_) => break,
        }
    }
    Some(cmds)
}

/// Splits commands into records to append, their waiters, and flush waiters.
fn split(cmds: Vec<Command>) -> (Batch, Waiters, Vec<oneshot::Sender<()>>) {
    let (mut batch, mut waiters, mut flushes) = (Vec::new(), Vec::new(), Vec::new());
    for c in cmds {
        match c {
            Command::Publish {
                routing_key,
                body,
                id,
                done,
            } => {
                batch.push(Incoming {
                    routing_key,
                    body,
                    id,
                });
                waiters.push(done);
            }
            Command::Flush(done) => flushes.push(done),
        }
    }
    (batch, waiters, flushes)
}

async fn intake_task(mut rx: mpsc::Receiver<Command>, shared: Arc<Shared>) {
    while let Some(cmds) = next_batch(&mut rx).await {
        let (batch, waiters, flushes) = split(cmds);
        let s = shared.clone();
        let results = tokio::task::spawn_blocking(move || lock(&s.outbox).append(&batch))
            .await
            .unwrap_or_default();
        for (res, done) in results.into_iter().zip(waiters) {
            record_append(&shared.counters, &res);
            if let Some(done) = done {
                let _ = done.send(res);
            }
        }
        let pending = lock(&shared.outbox).pending() as u64;
        shared.counters.pending.store(pending, Ordering::Relaxed);
        lock(&shared.flush_waiters).extend(flushes);
        shared.work.notify_one();
    }
    shared.closed.store(true, Ordering::SeqCst);
    shared.work.notify_one();
}

fn record_append(counters: &Counters, res: &Result<(), Error>) {
    match res {
        Ok(()) => {
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            counters.full_logged.store(false, Ordering::Relaxed);
        }
        Err(e @ Error::OutboxFull { .. }) => counters.outbox_full(e),
        Err(e) => tracing::error!(error = %e, "events outbox write failed; event dropped"),
    }
}

/// Publishes from the outbox with up to `confirm_window` confirms outstanding (a sliding
/// window), recording confirmed prefixes; on any failure drops the link and starts again from
/// the oldest unconfirmed record.
async fn sender_task(config: PublisherConfig, url: String, shared: Arc<Shared>) {
    let mut backoff = Backoff::new(config.reconnect_backoff);
    let mut link: Option<Link> = None;
    let mut inflight = InFlight::default();
    loop {
        let closed = shared.closed.load(Ordering::SeqCst);
        if closed && (link.is_none() || lock(&shared.outbox).pending() == 0) {
            break;
        }
        let Some(l) = &link else {
            if lock(&shared.outbox).pending() == 0 {
                idle(&shared).await;
                continue;
            }
            link = connect(&config, &url, &shared, &mut backoff).await;
            inflight = InFlight::default();
            continue;
        };
        let room = config
            .confirm_window
            .max(1)
            .saturating_sub(inflight.confirms.len());
        let records = lock(&shared.outbox).peek_after(inflight.sent_end, room);
        let mut failure = inflight
            .send(&l.channel, &config.exchange, &records)
            .await
            .err();
        if failure.is_none() && inflight.confirms.is_empty() {
            idle(&shared).await;
            continue;
        }
        if failure.is_none() {
            let (acked_end, f) = inflight.await_confirms().await;
            if let Some(end) = acked_end {
                confirm_through(&shared, end).await;
            }
            failure = f;
        }
        if let Some(e) = failure {
            tracing::warn!(error = %e, "events publisher: broker link failed; will replay from the outbox");
            shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            if e.to_string().contains("nack") {
                shared.counters.nacks.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(l) = link.take() {
                l.close().await;
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
    if let Some(l) = link.take() {
        l.close().await;
    }
}

/// Nothing to send: wakes flush waiters and sleeps until new records arrive.
async fn idle(shared: &Shared) {
    if lock(&shared.outbox).pending() == 0 {
        for w in lock(&shared.flush_waiters).drain(..) {
            let _ = w.send(());
        }
    }
    if shared.closed.load(Ordering::SeqCst) {
        return;
    }
    shared.work.notified().await;
}

/// Records published on the current link and not yet confirmed, oldest first.
#[derive(Default)]
struct InFlight {
    confirms: VecDeque<(u64, PublisherConfirm)>,
    /// Log offset just past the last record published on this link.
    sent_end: u64,
}

impl InFlight {
    /// Publishes `records` (without waiting for confirms).
    async fn send(
        &mut self,
        channel: &Channel,
        exchange: &str,
        records: &[Record],
    ) -> Result<(), Error> {
        for r in records {
            let props = message_properties(&r.body);
            let publish = async {
                let opts = BasicPublishOptions::default();
                let key = (&*r.routing_key).into();
                channel
                    .basic_publish(exchange.into(), key, opts, &r.body, props)
                    .await
                    .map_err(|e| Error::amqp(format!("basic.publish {exchange}"), e))
            };
            let confirm = bounded("basic.publish", publish).await?;
            self.confirms.push_back((r.end, confirm));
            self.sent_end = r.end;
        }
        Ok(())
    }

    /// Waits for the oldest confirm, then takes every further one already in. Returns the log
    /// offset through which all were acked, and the failure that stopped it.
    async fn await_confirms(&mut self) -> (Option<u64>, Option<Error>) {
        let mut acked = None;
        let mut first = true;
        while let Some((end, confirm)) = self.confirms.front_mut() {
            let end = *end;
            let result = if first {
                first = false;
                match tokio::time::timeout(Duration::from_secs(30), confirm).await {
                    Ok(r) => r,
                    Err(_) => return (acked, Some(Error::amqp("publish confirm", "timed out"))),
                }
            } else {
                match confirm.now_or_never() {
                    Some(r) => r,
                    None => break,
                }
            };
            self.confirms.pop_front();
            match result {
                Ok(c) if c.is_ack() => acked = Some(end),
                Ok(_) => return (acked, Some(Error::amqp("publish confirm", "nack"))),
                Err(e) => return (acked, Some(Error::amqp("publish confirm", e))),
            }
        }
        (acked, None)
    }
}

async fn connect(
    config: &PublisherConfig,
    url: &str,
    shared: &Shared,
    backoff: &mut Backoff,
) -> Option<Link> {
    let attempt = async {
        let link = Link::open(url, &config.connection_name).await?;
        topology::declare_exchange(&link.channel, &config.exchange).await?;
        Ok::<_, Error>(link)
    };
    match bounded("publisher set-up", attempt).await {
        Ok(link) => {
            tracing::info!(url = %redact(url), "events publisher connected");
            backoff.reset();
            Some(link)
        }
        Err(e) => {
            let delay = backoff.next_delay();
            tracing::warn!(error = %e, retry_in = ?delay, "events publisher cannot reach the broker");
            shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            None
        }
    }
}

async fn confirm_through(shared: &Arc<Shared>, end: u64) {
    let s = shared.clone();
    let res = tokio::task::spawn_blocking(move || lock(&s.outbox).ack_through(end)).await;
    let confirmed = match res {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return log_ack_failure(&e),
        Err(e) => return log_ack_failure(&e),
    };
    let c = &shared.counters;
    c.confirmed.fetch_add(confirmed as u64, Ordering::Relaxed);
    let pending = lock(&shared.outbox).pending() as u64;
    c.pending.store(pending, Ordering::Relaxed);
}

fn log_ack_failure(e: &dyn std::fmt::Display) {
    tracing::error!(error = %e, "events outbox: cannot record confirms; they will be replayed");
}

fn open_jsonl(path: &std::path::Path) -> Result<std::fs::File, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

async fn jsonl_task(
    mut rx: mpsc::Receiver<Command>,
    file: std::fs::File,
    path: PathBuf,
    counters: Arc<Counters>,
) {
    let file = Arc::new(Mutex::new(file));
    while let Some(cmds) = next_batch(&mut rx).await {
        let (batch, waiters, flushes) = split(cmds);
        let (f, p) = (file.clone(), path.clone());
        let res = tokio::task::spawn_blocking(move || append_jsonl(&f, &p, &batch))
            .await
            .unwrap_or_else(|e| Err(Error::io("append", &path, std::io::Error::other(e))));
        for done in waiters {
            record_append(&counters, &res);
            if let Some(done) = done {
                let _ = done.send(res.clone());
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

fn append_jsonl(
    file: &Mutex<std::fs::File>,
    path: &std::path::Path,
    batch: &Batch,
) -> Result<(), Error> {
    let mut buf = Vec::new();
    for i in batch {
        buf.extend_from_slice(&i.body);
        buf.push(b'\n');
    }
    let mut f = lock(file);
    f.write_all(&buf)
        .map_err(|e| Error::io("append", path, e))?;
    f.sync_data().map_err(|e| Error::io("fsync", path, e))
}

/// Locks a mutex, recovering from poisoning (the data are plain state, still consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
