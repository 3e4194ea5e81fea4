//! The transactional outbox: an event is a row of `outbox` written in the transaction of the
//! change it announces, and a relay publishes the rows to RabbitMQ afterwards. A change is thus
//! never saved without its event nor announced without being saved (no dual write).
//!
//! **Relay.** One task per process: it takes up to a batch of unsent rows in id order with
//! `FOR UPDATE SKIP LOCKED` (so two relays never publish the same row at once), publishes each
//! to the exchange with the event type as routing key on a channel in confirm mode, waits for
//! every confirm, and only then sets `sent_at` and commits. If the broker is down, nacks, or the
//! connection drops, the transaction rolls back (the rows stay unsent, `attempts` and
//! `last_error` are recorded separately) and the relay reconnects with a doubling backoff.
//! Delivery is therefore at least once: a crash between the broker's confirm and the commit
//! sends the batch again, and consumers deduplicate by event `source` + `id`.
//!
//! **Wake-up.** [`enqueue`] calls `pg_notify('cidades_outbox')`, delivered at commit; the relay
//! `LISTEN`s and also polls every [`RelayConfig::poll`] in case a notification was missed.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use vigia_events::{CONTENT_TYPE, Event};

use crate::Error;

/// The `LISTEN`/`NOTIFY` channel that wakes the relay.
pub const CHANNEL: &str = "cidades_outbox";

/// Writes `event` to the outbox in the caller's transaction and wakes the relay at commit.
pub async fn enqueue(tx: &mut PgConnection, event: &Event) -> Result<(), Error> {
    let body = String::from_utf8(event.to_bytes()).unwrap_or_default();
    sqlx::query("INSERT INTO outbox (event_id, routing_key, body) VALUES ($1, $2, $3)")
        .bind(&event.id)
        .bind(event.event_type().as_str())
        .bind(body)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(tx)
        .await?;
    Ok(())
}

/// Events not yet confirmed by the broker.
pub async fn pending(pool: &PgPool) -> Result<i64, Error> {
    let n = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// Where and how the relay publishes.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Broker URL.
    pub url: String,
    /// Exchange ([`vigia_events::EXCHANGE`]).
    pub exchange: String,
    /// Rows published per transaction.
    pub batch: i64,
    /// Poll interval when no notification arrives.
    pub poll: Duration,
    /// First and largest delay between reconnection attempts.
    pub backoff: (Duration, Duration),
}

impl RelayConfig {
    /// Defaults for `url`: [`vigia_events::EXCHANGE`], batches of 100, a 1 s poll, backoff
    /// 100 ms doubling to 5 s.
    pub fn new(url: impl Into<String>) -> RelayConfig {
        RelayConfig {
            url: url.into(),
            exchange: vigia_events::EXCHANGE.into(),
            batch: 100,
            poll: Duration::from_secs(1),
            backoff: (Duration::from_millis(100), Duration::from_secs(5)),
        }
    }
}

/// A running relay; [`Relay::stop`] ends it.
pub struct Relay {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Starts relaying `pool`'s outbox to the broker of `config`.
    pub fn spawn(pool: PgPool, config: RelayConfig) -> Relay {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(pool, config, stop_rx));
        Relay { stop, task }
    }

    /// Stops after the batch in progress.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(pool: PgPool, config: RelayConfig, mut stop: watch::Receiver<bool>) {
    let mut delay = config.backoff.0;
    while !*stop.borrow() {
        match relay_connected(&pool, &config, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "outbox relay: broker or database unavailable");
                let _ = tokio::time::timeout(delay, stop.changed()).await;
                delay = (delay * 2).min(config.backoff.1);
            }
        }
    }
}

/// Connects, then publishes batches until stopped (`Ok`) or until something fails (`Err`).
async fn relay_connected(
    pool: &PgPool,
    config: &RelayConfig,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    let (conn, channel) = connect(&config.url).await?;
    tracing::info!("outbox relay connected");
    let result = loop {
        if *stop.borrow() {
            break Ok(());
        }
        match publish_batch(pool, &channel, config).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => break Err(e),
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = listener.recv() => {}
            _ = tokio::time::sleep(config.poll) => {}
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close(200, "bye".into())).await;
    result
}

async fn connect(url: &str) -> Result<(Connection, Channel), Error> {
    let amqp = |e: lapin::Error| Error::Bus(e.to_string());
    let props = ConnectionProperties::default().with_connection_name("vigia-cidades-outbox".into());
    let conn = tokio::time::timeout(Duration::from_secs(10), Connection::connect(url, props))
        .await
        .map_err(|_| Error::Bus("connect timed out".into()))?
        .map_err(amqp)?;
    let channel = conn.create_channel().await.map_err(amqp)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(amqp)?;
    Ok((conn, channel))
}

/// Publishes one batch of unsent rows and marks them sent once all are confirmed; the number
/// of rows sent.
async fn publish_batch(
    pool: &PgPool,
    channel: &Channel,
    config: &RelayConfig,
) -> Result<usize, Error> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, routing_key, body FROM outbox WHERE sent_at IS NULL \
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(config.batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    if let Err(e) = publish_confirmed(channel, &config.exchange, &rows).await {
        let _ = tx.rollback().await;
        record_failure(pool, &ids, &e).await;
        return Err(e);
    }
    sqlx::query("UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::debug!(events = ids.len(), "outbox relay published");
    Ok(ids.len())
}

/// Publishes every row, then waits for every confirm; an error unless all were acked.
async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    rows: &[(i64, String, String)],
) -> Result<(), Error> {
    let amqp = |e: lapin::Error| Error::Bus(e.to_string());
    let mut confirms = Vec::with_capacity(rows.len());
    for (_, key, body) in rows {
        let confirm = channel
            .basic_publish(
                exchange.into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                properties(body),
            )
            .await
            .map_err(amqp)?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        let confirmation = tokio::time::timeout(Duration::from_secs(30), confirm)
            .await
            .map_err(|_| Error::Bus("publish confirm timed out".into()))?
            .map_err(amqp)?;
        if !confirmation.is_ack() {
            return Err(Error::Bus("broker nacked an event".into()));
        }
    }
    Ok(())
}

/// Persistent delivery, the CloudEvents content type, and the event id and correlation id as
/// AMQP properties (as `vigia_events::Publisher` sends them).
fn properties(body: &str) -> BasicProperties {
    let props = BasicProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(2);
    let Ok(event) = Event::from_slice(body.as_bytes()) else {
        return props;
    };
    let short = |s: String| ShortString::try_new(s).ok();
    let mut props = props;
    if let Some(id) = short(event.id) {
        props = props.with_message_id(id);
    }
    if let Some(c) = short(event.correlation_id) {
        props = props.with_correlation_id(c);
    }
    props.with_timestamp(u64::try_from(event.time.timestamp()).unwrap_or(0))
}

async fn record_failure(pool: &PgPool, ids: &[i64], e: &Error) {
    let r = sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
    )
    .bind(ids)
    .bind(e.to_string())
    .execute(pool)
    .await;
    if let Err(db) = r {
        tracing::warn!(error = %db, "outbox relay could not record a failure");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_come_from_the_event() {
        let event = vigia_events::examples().swap_remove(0);
        let body = String::from_utf8(event.to_bytes()).unwrap();
        let p = properties(&body);
        let short = |s: &Option<ShortString>| s.as_ref().map(|s| s.as_str().to_owned());
        assert_eq!(short(p.message_id()), Some(event.id.clone()));
        assert_eq!(
            short(p.correlation_id()),
            Some(event.correlation_id.clone())
        );
        assert_eq!(short(p.content_type()).as_deref(), Some(CONTENT_TYPE));
        assert_eq!(*p.delivery_mode(), Some(2));
        assert_eq!(*properties("not json").delivery_mode(), Some(2));
    }
}
