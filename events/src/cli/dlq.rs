//! `vigia events dlq list|replay [QUEUE]`: the dead-letter queue `<QUEUE>.dlq`.
//!
//! **Listing neither consumes nor ages.** A quorum queue counts the returns of a message
//! (`x-delivery-count`; RabbitMQ 3.x counts every return, a closed connection's unacknowledged
//! messages included), and with a delivery limit (`x-delivery-limit` or a policy; RabbitMQ 4
//! sets 20 by default) it drops a message returned too often. Reading the DLQ with `basic.get`
//! and letting the messages go back, as a browse would, therefore emptied it after a few
//! listings. Instead, `list` takes each of the `N` messages present at the start from the head,
//! puts a copy (same body, properties and headers, minus the broker's `x-delivery-count`) at
//! the tail with a confirm, and only then acknowledges the original. After `N` steps the queue
//! holds the same messages in the same order, each as never delivered. A crash between the
//! copy and the acknowledgement leaves that one message twice, never zero times. Messages
//! dead-lettered while a listing runs land between the originals and the copies, so they end up
//! before the listed ones; nothing else changes order. Do not run two `list`s or a `list` and a
//! `replay` on one queue at the same time: each would see the other's copies.
//!
//! **Replay** moves each message back to `QUEUE` (a fresh retry count: the consumer's headers,
//! `x-death` and `x-delivery-count` are dropped; `x-vigia-routing-key` is kept, so the
//! consumer still checks the routing key), acknowledging it only after the broker confirmed the
//! copy.

use std::io::Write;

use lapin::Channel;
use lapin::message::{BasicGetMessage, Delivery};
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use super::{Args, write_out};
use crate::amqp::Link;
use crate::consumer::{header_i64, header_str, headers_of, republish};
use crate::{ATTEMPTS_HEADER, Error, KIND_HEADER, QUEUE_HEADER, REASON_HEADER, topology};

/// The header a quorum queue counts returns in; never copied, so copies start at zero.
const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

/// Prints every message of `<queue>.dlq` with its attempts, kind and reason, leaving the queue
/// as it was (see the module docs).
pub(super) async fn list<W: Write + Send>(
    args: &Args,
    queue: String,
    out: &mut W,
) -> Result<(), Error> {
    let (dlq, link, count) = open_dlq(args, &queue).await?;
    write_out(out, &format!("{dlq}: {count} messages\n"))?;
    for n in 1..=count {
        let Some(msg) = get_one(&link.channel, &dlq).await? else {
            break;
        };
        let d = &msg.delivery;
        let headers = headers_without(d, &[DELIVERY_COUNT_HEADER]);
        republish(&link.channel, &dlq, d, headers).await?;
        ack(d, &dlq).await?;
        let line = format!(
            "#{n} attempts={} kind={} reason={}\n{}\n",
            header_i64(d, ATTEMPTS_HEADER).unwrap_or(0),
            header_str(d, KIND_HEADER).unwrap_or_default(),
            header_str(d, REASON_HEADER).unwrap_or_default(),
            String::from_utf8_lossy(&d.data)
        );
        write_out(out, &line)?;
    }
    link.close().await;
    Ok(())
}

/// Moves every message of `<queue>.dlq` back to `queue` with a fresh retry count.
pub(super) async fn replay<W: Write + Send>(
    args: &Args,
    queue: String,
    out: &mut W,
) -> Result<(), Error> {
    let (dlq, link, count) = open_dlq(args, &queue).await?;
    let mut replayed = 0;
    for _ in 0..count {
        let Some(msg) = get_one(&link.channel, &dlq).await? else {
            break;
        };
        let dropped = [
            ATTEMPTS_HEADER,
            REASON_HEADER,
            KIND_HEADER,
            QUEUE_HEADER,
            "x-death",
            DELIVERY_COUNT_HEADER,
        ];
        let headers = headers_without(&msg.delivery, &dropped);
        republish(&link.channel, &queue, &msg.delivery, headers).await?;
        ack(&msg.delivery, &dlq).await?;
        replayed += 1;
    }
    link.close().await;
    write_out(
        out,
        &format!("replayed {replayed} messages from {dlq} to {queue}\n"),
    )
}

/// Messages in `queue` now (passive declare).
async fn message_count(ch: &Channel, queue: &str) -> Result<u32, Error> {
    let opts = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    ch.queue_declare(queue.into(), opts, FieldTable::default())
        .await
        .map(|q| q.message_count())
        .map_err(|e| Error::amqp(format!("queue.declare passive {queue}"), e))
}

/// One message from `queue`, unacked (`basic.get`); `None` when the queue is empty.
async fn get_one(ch: &Channel, queue: &str) -> Result<Option<BasicGetMessage>, Error> {
    ch.basic_get(queue.into(), BasicGetOptions::default())
        .await
        .map_err(|e| Error::amqp(format!("basic.get {queue}"), e))
}

async fn ack(delivery: &Delivery, queue: &str) -> Result<(), Error> {
    delivery
        .ack(BasicAckOptions::default())
        .await
        .map(|_| ())
        .map_err(|e| Error::amqp(format!("basic.ack {queue}"), e))
}

/// The message's headers without `names`.
fn headers_without(delivery: &Delivery, names: &[&str]) -> FieldTable {
    let mut kept = FieldTable::default();
    for (k, v) in headers_of(delivery).inner() {
        if !names.contains(&k.as_str()) {
            kept.insert(k.clone(), v.clone());
        }
    }
    kept
}

/// The dead-letter queue of `queue`, a link to the broker, and how many messages it holds now.
async fn open_dlq(args: &Args, queue: &str) -> Result<(String, Link, u32), Error> {
    let dlq = topology::dlq(queue);
    let link = Link::open(&args.require_url()?, "vigia-events-dlq").await?;
    let count = message_count(&link.channel, &dlq).await?;
    Ok((dlq, link, count))
}
