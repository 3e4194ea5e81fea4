//! Test helper for the SIGKILL test (not shipped): accepts events into the outbox and then
//! waits forever, so the test can kill it before any confirm.
//!
//! Usage: `vigia-events-outbox-probe OUTBOX_DIR URL EXCHANGE N`. Prints each accepted event id,
//! then `accepted`, then sleeps.

use std::io::Write;

use vigia_events::{Event, Publisher, PublisherConfig, examples};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("outbox probe: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, url, exchange, n] = args.as_slice() else {
        return Err("usage: vigia-events-outbox-probe OUTBOX_DIR URL EXCHANGE N".into());
    };
    let mut config = PublisherConfig::new(Some(url.clone()), dir);
    config.outbox_dir = dir.into();
    config.exchange = exchange.clone();
    let publisher = Publisher::start(config)?;
    let data = examples().remove(4).data;
    let mut out = std::io::stdout().lock();
    for _ in 0..n.parse::<usize>()? {
        let event = Event::new("/probe", data.clone());
        let id = event.id.clone();
        publisher.publish_durable(event).await?;
        writeln!(out, "{id}")?;
    }
    writeln!(out, "accepted")?;
    out.flush()?;
    drop(out);
    std::future::pending::<()>().await;
    Ok(())
}
