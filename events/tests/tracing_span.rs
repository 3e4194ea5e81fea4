//! The consumer runs each handler inside a span carrying the event's correlation id, so log
//! lines written by the handler carry it. Own test binary: it installs a subscriber.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as LogEvent, Metadata, Subscriber};
use vigia_events::{Consumer, ConsumerConfig, Event, Publisher, PublisherConfig, examples};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Log lines: message and correlation id.
type Lines = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Records, for every log line, the `correlation_id` of the innermost entered span having one.
#[derive(Default)]
struct Capture {
    next_id: Mutex<u64>,
    spans: Mutex<HashMap<u64, String>>,
    stack: Mutex<Vec<u64>>,
    lines: Lines,
}

struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut f = Fields(HashMap::new());
        attrs.record(&mut f);
        let mut n = self.next_id.lock().unwrap();
        *n += 1;
        if let Some(c) = f.0.remove("correlation_id") {
            self.spans.lock().unwrap().insert(*n, c);
        }
        Id::from_u64(*n)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &LogEvent<'_>) {
        let mut f = Fields(HashMap::new());
        event.record(&mut f);
        let spans = self.spans.lock().unwrap();
        let corr = self
            .stack
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|id| spans.get(id).cloned());
        let msg = f.0.remove("message").unwrap_or_default();
        self.lines.lock().unwrap().push((msg, corr));
    }
    fn enter(&self, span: &Id) {
        self.stack.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut stack = self.stack.lock().unwrap();
        if let Some(pos) = stack.iter().rposition(|&id| id == span.into_u64()) {
            stack.remove(pos);
        }
    }
}

#[tokio::test]
async fn handler_log_lines_carry_the_correlation_id() {
    let capture = Capture::default();
    let lines = capture.lines.clone();
    let _guard = tracing::subscriber::set_default(capture);

    let test = format!("t.tracing.{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("vigia-events-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    let mut ccfg = ConsumerConfig::new(URL, &test, &["#"], &dir);
    ccfg.exchange = test.clone();
    let handler = |e: Event| async move {
        tracing::info!(camera = %e.subject.unwrap_or_default(), "handling in the test handler");
        Ok(())
    };
    let consumer = Consumer::start(ccfg, handler).await.unwrap();
    let mut pcfg = PublisherConfig::new(Some(URL.into()), &dir);
    pcfg.exchange = test.clone();
    let publisher = Publisher::start(pcfg).unwrap();
    let event = Event::new("/cidades", examples().remove(0).data);
    publisher.publish(event.clone()).unwrap();
    for _ in 0..200 {
        if consumer.stats().handled == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    consumer.stop().await;
    let lines = lines.lock().unwrap().clone();
    let ours: Vec<_> = lines
        .iter()
        .filter(|(m, _)| m == "handling in the test handler")
        .collect();
    assert_eq!(ours.len(), 1, "{lines:?}");
    assert_eq!(ours[0].1.as_deref(), Some(event.correlation_id.as_str()));
    cleanup(&test).await;
}

/// Deletes the test's queues and exchange (best effort).
async fn cleanup(name: &str) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let props = lapin::ConnectionProperties::default();
    let Ok(conn) = lapin::Connection::connect(URL, props).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    for q in ["", ".retry.1s", ".retry.2s", ".retry.4s", ".dlq"] {
        let q = format!("{name}{q}");
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = ch
        .exchange_delete(name.into(), ExchangeDeleteOptions::default())
        .await;
    let _ = conn.close(200, "bye".into()).await;
}
