//! The AMQP topology: the topic exchange, a service's quorum queue, its retry ladder and DLQ.
//!
//! ```text
//! vigia.events (topic, durable) ──binding patterns──► <queue> (quorum)
//!   handler error, attempt n ──► <queue>.retry.<d_n> (TTL d_n) ──dead-letter──► <queue>
//!   last retry failed / malformed ──► <queue>.dlq (quorum), headers x-vigia-reason, x-vigia-attempts
//! ```
//! Every declaration uses the same arguments each time, so declaring is idempotent.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::Error;

/// Declares the durable topic exchange.
pub async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), Error> {
    let opts = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            opts,
            FieldTable::default(),
        )
        .await
        .map_err(|e| Error::amqp(format!("exchange.declare {exchange}"), e))
}

/// Declares `queue` (quorum), binds it to `exchange` with each pattern, and declares its retry
/// queues (one per delay) and its DLQ.
pub async fn declare_service_queue(
    channel: &Channel,
    exchange: &str,
    queue: &str,
    bindings: &[String],
    retry_delays: &[Duration],
) -> Result<(), Error> {
    declare_exchange(channel, exchange).await?;
    declare_queue(channel, queue, quorum_args()).await?;
    for pattern in bindings {
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                pattern.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| Error::amqp(format!("queue.bind {queue} {exchange} {pattern}"), e))?;
    }
    for &delay in retry_delays {
        declare_queue(
            channel,
            &retry_queue(queue, delay),
            retry_args(queue, delay),
        )
        .await?;
    }
    declare_queue(channel, &dlq(queue), quorum_args()).await
}

/// Name of the retry queue that holds messages for `delay` (`<queue>.retry.1s`).
pub fn retry_queue(queue: &str, delay: Duration) -> String {
    if delay.subsec_millis() == 0 {
        format!("{queue}.retry.{}s", delay.as_secs())
    } else {
        format!("{queue}.retry.{}ms", delay.as_millis())
    }
}

/// Name of the dead-letter queue of `queue`.
pub fn dlq(queue: &str) -> String {
    format!("{queue}.dlq")
}

async fn declare_queue(channel: &Channel, name: &str, args: FieldTable) -> Result<(), Error> {
    let opts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(name.into(), opts, args)
        .await
        .map(|_| ())
        .map_err(|e| Error::amqp(format!("queue.declare {name}"), e))
}

fn quorum_args() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), long_string("quorum"));
    args
}

/// A classic durable queue whose messages expire after `delay` back into `queue`.
fn retry_args(queue: &str, delay: Duration) -> FieldTable {
    let mut args = FieldTable::default();
    let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
    args.insert("x-dead-letter-exchange".into(), long_string(""));
    args.insert("x-dead-letter-routing-key".into(), long_string(queue));
    args
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}
