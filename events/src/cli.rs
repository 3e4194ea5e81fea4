//! `vigia events ...`: the operator's tools for the bus.
//!
//! ```text
//! vigia events [--url URL] [--exchange NAME] tail [--type PATTERN] [--subject S] [--count N]
//! vigia events [--url URL] [--exchange NAME] publish FILE
//! vigia events [--url URL] dlq list [QUEUE]
//! vigia events [--url URL] dlq replay [QUEUE]
//! ```
//! The broker is `--url`, else `VIGIA_EVENTSURL`. `tail` binds a temporary queue to the
//! exchange with `--type` as routing pattern (default `#`) and pretty-prints events whose subject
//! equals `--subject` (or starts with it, if it ends in `*`). `publish` reads one event, a JSON
//! array of events or JSON lines, validates each, and publishes each as written (unknown
//! attributes and fields untouched) with confirms (without a broker it appends them to
//! `--jsonl`, default `vigia-events.jsonl`, one line each). `dlq list` shows `<QUEUE>.dlq`
//! without consuming or ageing it (see `cli/dlq.rs` for how); `dlq replay` moves its messages
//! back to `QUEUE` with a fresh retry count. `QUEUE` defaults to `vigia`.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::Path;

use futures::StreamExt;
use lapin::PublisherConfirm;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;

use crate::amqp::{Link, message_properties};
use crate::{EXCHANGE, Error, Event, Keyring, Publisher, PublisherConfig, URL_ENV, topology};

mod dlq;
mod publish;

/// Runs `vigia events <args>` (the arguments after `events`), printing to stdout.
pub async fn run(args: Vec<String>) -> Result<(), Error> {
    let mut out = std::io::stdout();
    run_to(args, &mut out).await
}

/// [`run`] writing to `out` instead of stdout (for tests).
#[doc(hidden)]
pub async fn run_to<W: Write + Send>(args: Vec<String>, out: &mut W) -> Result<(), Error> {
    let args = Args::parse(args)?;
    let words: Vec<&str> = args.positional.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["tail"] => tail(&args, out).await,
        ["publish", file] => publish_file(&args, Path::new(file), out).await,
        ["dlq", "list", rest @ ..] if rest.len() <= 1 => {
            dlq::list(&args, queue_arg(rest), out).await
        }
        ["dlq", "replay", rest @ ..] if rest.len() <= 1 => {
            dlq::replay(&args, queue_arg(rest), out).await
        }
        _ => Err(Error::Usage(USAGE.into())),
    }
}

const USAGE: &str = "vigia events [--url URL] [--exchange NAME] tail [--type PATTERN] \
[--subject S] [--count N] | publish FILE | dlq list [QUEUE] | dlq replay [QUEUE]";

/// Options (`--name value`) and positional words.
struct Args {
    options: HashMap<String, String>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: Vec<String>) -> Result<Args, Error> {
        let mut options = HashMap::new();
        let mut positional = Vec::new();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                positional.push(a);
                continue;
            };
            if !["url", "exchange", "type", "subject", "count", "jsonl"].contains(&name) {
                return Err(Error::Usage(format!("unknown option --{name}; {USAGE}")));
            }
            let value = it
                .next()
                .ok_or_else(|| Error::Usage(format!("--{name} needs a value")))?;
            options.insert(name.to_owned(), value);
        }
        Ok(Args {
            options,
            positional,
        })
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    fn url(&self) -> Option<String> {
        self.opt("url")
            .map(str::to_owned)
            .or_else(|| crate::resolve_url(None))
    }

    fn require_url(&self) -> Result<String, Error> {
        self.url()
            .ok_or_else(|| Error::Usage(format!("no broker: pass --url or set {URL_ENV}")))
    }

    fn exchange(&self) -> &str {
        self.opt("exchange").unwrap_or(EXCHANGE)
    }
}

fn queue_arg(rest: &[&str]) -> String {
    rest.first().copied().unwrap_or("vigia").to_owned()
}

async fn tail<W: Write + Send>(args: &Args, out: &mut W) -> Result<(), Error> {
    let limit = match args.opt("count") {
        Some(n) => Some(
            n.parse::<u64>()
                .map_err(|_| Error::Usage(format!("--count {n:?}")))?,
        ),
        None => None,
    };
    let link = Link::open(&args.require_url()?, "vigia-events-tail").await?;
    let ch = &link.channel;
    let exchange = args.exchange();
    topology::declare_exchange(ch, exchange).await?;
    let opts = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare("".into(), opts, FieldTable::default())
        .await
        .map_err(|e| Error::amqp("queue.declare (tail)", e))?;
    let pattern = args.opt("type").unwrap_or("#");
    ch.queue_bind(
        q.name().clone(),
        exchange.into(),
        pattern.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(|e| Error::amqp(format!("queue.bind {exchange} {pattern}"), e))?;
    let opts = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut deliveries = ch
        .basic_consume(q.name().clone(), "".into(), opts, FieldTable::default())
        .await
        .map_err(|e| Error::amqp("basic.consume (tail)", e))?;
    let mut shown = 0u64;
    while limit.is_none_or(|n| shown < n) {
        let Some(d) = deliveries.next().await else {
            break;
        };
        let d = d.map_err(|e| Error::amqp("consume (tail)", e))?;
        if print_tailed(&d.data, args.opt("subject"), out)? {
            shown += 1;
        }
    }
    link.close().await;
    Ok(())
}

/// Prints one tailed message if it passes the subject filter; returns whether it did.
fn print_tailed<W: Write>(data: &[u8], subject: Option<&str>, out: &mut W) -> Result<bool, Error> {
    let event = match Event::from_slice(data) {
        Ok(e) => e,
        Err(e) if subject.is_none() => {
            write_out(
                out,
                &format!("--- malformed: {e}\n{}\n", String::from_utf8_lossy(data)),
            )?;
            return Ok(true);
        }
        Err(_) => return Ok(false),
    };
    if !subject_matches(subject, event.subject.as_deref()) {
        return Ok(false);
    }
    let header = format!(
        "--- {} {} subject={} id={} correlationid={} source={}\n",
        event.time.to_rfc3339(),
        event.event_type(),
        event.subject.as_deref().unwrap_or("-"),
        event.id,
        event.correlation_id,
        event.source
    );
    let body = serde_json::to_string_pretty(&event.data.to_json()).unwrap_or_default();
    write_out(out, &format!("{header}{body}\n"))?;
    Ok(true)
}

fn subject_matches(filter: Option<&str>, subject: Option<&str>) -> bool {
    match (filter, subject) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(f), Some(s)) => match f.strip_suffix('*') {
            Some(prefix) => s.starts_with(prefix),
            None => s == f,
        },
    }
}

/// Publishes every event of `file` as written (see [`publish`](mod@publish)).
async fn publish_file<W: Write + Send>(args: &Args, file: &Path, out: &mut W) -> Result<(), Error> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io("read", file, e))?;
    let events = publish::parse_file(&text, &Keyring::from_env)?;
    let sealed: Vec<&str> = events
        .iter()
        .filter_map(|o| o.sealed_with.as_deref())
        .collect();
    if let Some(key_id) = sealed.first() {
        let n = sealed.len();
        write_out(
            out,
            &format!("sealed {n} camera passwords with key {key_id}\n"),
        )?;
    }
    match args.url() {
        Some(url) => publish_confirmed(&url, args.exchange(), &events).await?,
        None => {
            let path = args.opt("jsonl").unwrap_or("vigia-events.jsonl");
            let mut config = PublisherConfig::new(None, ".");
            config.jsonl_path = path.into();
            let publisher = Publisher::start(config)?;
            for o in &events {
                let line = publish::minify(&o.body);
                publisher.publish_body_durable(&o.event, line).await?;
            }
        }
    }
    write_out(out, &format!("published {} events\n", events.len()))
}

/// Unconfirmed publishes `publish` keeps in flight: confirms are awaited in a window, not one
/// round trip per event, so a file of a thousand events goes out in a fraction of a second.
const CONFIRM_WINDOW: usize = 256;

async fn publish_confirmed(
    url: &str,
    exchange: &str,
    events: &[publish::Outgoing],
) -> Result<(), Error> {
    let link = Link::open(url, "vigia-events-publish").await?;
    topology::declare_exchange(&link.channel, exchange).await?;
    let mut in_flight = VecDeque::with_capacity(CONFIRM_WINDOW);
    for publish::Outgoing { event: e, body, .. } in events {
        if in_flight.len() == CONFIRM_WINDOW
            && let Some(oldest) = in_flight.pop_front()
        {
            await_confirm(oldest).await?;
        }
        let key = e.event_type().as_str();
        let confirm = link
            .channel
            .basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                body,
                message_properties(body),
            )
            .await
            .map_err(|err| Error::amqp(format!("basic.publish {exchange} {key}"), err))?;
        in_flight.push_back((e.id.as_str(), confirm));
    }
    while let Some(pending) = in_flight.pop_front() {
        await_confirm(pending).await?;
    }
    link.close().await;
    Ok(())
}

/// Waits for the broker's confirm of the publish of event `id`.
async fn await_confirm((id, confirm): (&str, PublisherConfirm)) -> Result<(), Error> {
    let confirm = confirm
        .await
        .map_err(|err| Error::amqp(format!("publish confirm {id}"), err))?;
    if !confirm.is_ack() {
        return Err(Error::amqp(format!("publish confirm {id}"), "nack"));
    }
    Ok(())
}

fn write_out<W: Write>(out: &mut W, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("write", Path::new("<stdout>"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_filter_cases() {
        let cases = [
            (None, None, true),
            (Some("camera/1"), Some("camera/1"), true),
            (Some("camera/1"), Some("camera/12"), false),
            (Some("camera/*"), Some("camera/12"), true),
            (Some("camera/*"), Some("city/1"), false),
            (Some("camera/1"), None, false),
        ];
        for (filter, subject, want) in cases {
            assert_eq!(
                subject_matches(filter, subject),
                want,
                "{filter:?} {subject:?}"
            );
        }
    }

    #[test]
    fn parses_object_array_and_lines() {
        let ex = crate::examples();
        let one = ex[0].to_json().to_string();
        let arr = serde_json::Value::Array(ex.iter().map(Event::to_json).collect()).to_string();
        let lines: String = ex.iter().map(|e| e.to_json().to_string() + "\n").collect();
        assert_eq!(publish::parse_file(&one, &|| Ok(None)).unwrap().len(), 1);
        assert_eq!(
            publish::parse_file(&arr, &|| Ok(None)).unwrap().len(),
            ex.len()
        );
        assert_eq!(
            publish::parse_file(&lines, &|| Ok(None)).unwrap().len(),
            ex.len()
        );
        assert!(publish::parse_file("{\"specversion\":\"1.0\"}", &|| Ok(None)).is_err());
    }

    #[tokio::test]
    async fn usage_errors() {
        for args in [
            vec![],
            vec!["frobnicate"],
            vec!["dlq", "list", "a", "b"],
            vec!["tail", "--bogus", "x"],
        ] {
            let args = args.into_iter().map(String::from).collect();
            let err = run_to(args, &mut Vec::new()).await.unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{err}");
        }
    }
}
