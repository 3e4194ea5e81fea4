//! Helpers of the tests that run `vigia-ai` against the real RabbitMQ at 127.0.0.1:5672.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use tokio::sync::mpsc;
use vigia_events::{Event, EventData, topology};

/// The project's broker.
pub(crate) const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// `lpr.detected` and `alert.triggered` events of the cameras whose id starts with `prefix`,
/// read from `exchange` through an exclusive queue; bind it before the replay starts.
pub(crate) async fn listen(
    exchange: &str,
    prefix: String,
) -> (mpsc::UnboundedReceiver<Event>, Connection) {
    listen_to(exchange, prefix, &["lpr.detected", "alert.triggered"]).await
}

/// [`listen`] for the events of routing keys `keys`: those of cameras, or for daily reports
/// cities, whose id starts with `prefix`.
pub(crate) async fn listen_to(
    exchange: &str,
    prefix: String,
    keys: &[&str],
) -> (mpsc::UnboundedReceiver<Event>, Connection) {
    let conn = tokio::time::timeout(
        Duration::from_secs(15),
        Connection::connect(BROKER, ConnectionProperties::default()),
    )
    .await
    .expect("broker timed out")
    .expect("connect to the broker at 127.0.0.1:5672");
    let ch = conn.create_channel().await.unwrap();
    topology::declare_exchange(&ch, exchange).await.unwrap();
    let opts = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare("".into(), opts, FieldTable::default())
        .await
        .unwrap();
    for &key in keys {
        let (queue, opts) = (q.name().clone(), QueueBindOptions::default());
        ch.queue_bind(
            queue,
            exchange.into(),
            key.into(),
            opts,
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    let opts = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut stream = ch
        .basic_consume(q.name().clone(), "".into(), opts, FieldTable::default())
        .await
        .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(d)) = stream.next().await {
            let Ok(e) = Event::from_slice(&d.data) else {
                continue;
            };
            let mine = match &e.data {
                EventData::LprDetected(x) => x.camera_id.starts_with(&prefix),
                EventData::AlertTriggered(x) => x.camera_id.starts_with(&prefix),
                EventData::AnalyticsDailyReport(x) => x.city_id.starts_with(&prefix),
                _ => false,
            };
            if mine {
                let _ = tx.send(e);
            }
        }
    });
    (rx, conn)
}

/// Runs `vigia-ai replay` on `input` against the broker's `exchange`, with its state in `dir`
/// and an optional watch list; waits for it to end.
pub(crate) async fn replay(
    input: String,
    exchange: &str,
    dir: &Path,
    watchlist: Option<&Path>,
) -> ExitStatus {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigia-ai"));
    cmd.arg("replay")
        .env("VIGIA_EVENTSURL", BROKER)
        .env("VIGIA_AI_EXCHANGE", exchange)
        .env("VIGIA_AI_STATE_DIR", dir)
        .env_remove("VIGIA_AI_WATCHLIST")
        // Warnings only: a line per event published would be 10,000 lines in the load test.
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped());
    if let Some(w) = watchlist {
        cmd.env("VIGIA_AI_WATCHLIST", w);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::task::spawn_blocking(move || {
        stdin.write_all(input.as_bytes()).unwrap();
        drop(stdin);
        child.wait().unwrap()
    })
    .await
    .unwrap()
}
