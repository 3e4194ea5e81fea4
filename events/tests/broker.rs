//! Tests against the real RabbitMQ at 127.0.0.1:5672 (guest/guest).
//!
//! Each test uses its own exchange and queues (`t.<test>.<pid>`), deleted at the end, except
//! `contract_exchange_...` which uses the real `vigia.events` and counts only events from its own
//! unique `source` (other clients may publish there at any time).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lapin::BasicProperties;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use support::proxy::{Proxy, rabbitmqctl_close};
use support::{
    Listener, Seen, Tap, URL, cleanup, cli_out, consumer_config, flush_within, health, name,
    publisher_config, raw_channel, state_dir, unique_source, wait_until,
};
use vigia_events::{
    CameraDeleted, Consumer, EXCHANGE, Event, EventData, Publisher, PublisherConfig, cli, examples,
    with_correlation,
};

/// The only test on the shared `vigia.events`: other clients (a running vigia, another test
/// run) may publish `camera.*` there at the same time, so this test counts only events from its
/// own unique `source`, names a camera no one else has, and proves it by publishing such a
/// foreign event itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_exchange_is_declared_idempotently_and_routes_by_type() {
    let test = "contract";
    let source = unique_source(test);
    let seen = Seen::default();
    let cfg = consumer_config(test, URL, EXCHANGE, &["camera.*"]);
    // Declaring twice with the same arguments must succeed.
    let first = Consumer::start(cfg.clone(), seen.handler_for_source(&source))
        .await
        .unwrap();
    first.stop().await;
    let consumer = Consumer::start(cfg.clone(), seen.handler_for_source(&source))
        .await
        .unwrap();
    let publisher = Publisher::start(publisher_config(test, URL, EXCHANGE)).unwrap();
    // A camera no consumer knows: deleting it is a no-op for anyone else listening.
    let gone = EventData::CameraDeleted(CameraDeleted {
        camera_id: format!("t-{}", name(test)),
        city_id: "t-city".into(),
    });
    let foreign = Event::new(unique_source("someone-else"), gone.clone());
    let camera = Event::new(&*source, gone);
    publisher.publish(foreign).unwrap(); // another client on the same exchange
    publisher.publish(camera.clone()).unwrap();
    let mut check = Event::new(&*source, health()); // not bound: not delivered
    check.subject = Some(format!("camera/t-{}", name(test)));
    publisher.publish(check).unwrap();
    flush_within(&publisher, 20).await;
    wait_until("camera.deleted", Duration::from_secs(10), || {
        seen.len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.ids(), [camera.id]);
    consumer.stop().await;
    cleanup(&cfg.queue, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_confirmed_events_arrive_exactly_once() {
    let listener = Listener::start("10k").await;
    let seen = listener.seen.clone();
    let publisher = listener.publisher();
    let events: Vec<Event> = (0..10_000)
        .map(|_| Event::new("/vigia/bench", health()))
        .collect();
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let start = Instant::now();
    for e in events {
        publisher.publish(e).unwrap();
    }
    flush_within(&publisher, 90).await;
    let confirmed = start.elapsed();
    wait_until("10 000 events", Duration::from_secs(90), || {
        seen.len() >= 10_000
    })
    .await;
    let delivered = start.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut counts: HashMap<String, u32> = HashMap::new();
    for id in seen.ids() {
        *counts.entry(id).or_default() += 1;
    }
    assert_eq!(counts.len(), 10_000);
    assert!(
        ids.iter().all(|id| counts.get(id) == Some(&1)),
        "some event not handled exactly once"
    );
    let stats = publisher.stats();
    assert_eq!(stats.confirmed, 10_000, "{stats:?}");
    println!(
        "THROUGHPUT 10000 events: confirmed in {:.2}s = {:.0} events/s; handled by consumer in {:.2}s = {:.0} events/s",
        confirmed.as_secs_f64(),
        10_000.0 / confirmed.as_secs_f64(),
        delivered.as_secs_f64(),
        10_000.0 / delivered.as_secs_f64()
    );
    listener.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_during_30s_of_publishing_loses_nothing_keeps_order_and_handles_once() {
    let test = "outage";
    let exchange = name(test);
    let proxy = Proxy::start().await;
    let seen = Seen::default();
    let mut ccfg = consumer_config(test, &proxy.url(), &exchange, &["#"]);
    ccfg.reconnect_backoff = (Duration::from_millis(100), Duration::from_secs(1));
    let consumer = Consumer::start(ccfg.clone(), seen.handler()).await.unwrap();
    let mut pcfg = publisher_config(test, &proxy.url(), &exchange);
    pcfg.reconnect_backoff = (Duration::from_millis(100), Duration::from_secs(1));
    let publisher = Publisher::start(pcfg).unwrap();

    let start = Instant::now();
    let mut published = Vec::new();
    let mut closed_by_ctl = None;
    let mut ticker = tokio::time::interval(Duration::from_millis(40));
    while start.elapsed() < Duration::from_secs(30) {
        ticker.tick().await;
        let e = Event::new("/vigia/outage", health());
        published.push(e.id.clone());
        publisher.publish(e).unwrap();
        let t = start.elapsed().as_secs();
        if t >= 5 && closed_by_ctl.is_none() {
            let ports = proxy.upstream_ports.lock().unwrap().clone();
            closed_by_ctl = Some(tokio::task::spawn_blocking(move || {
                rabbitmqctl_close(&ports)
            }));
        }
        if (12..20).contains(&t) {
            proxy.cut();
        } else if t >= 20 {
            proxy.restore();
        }
    }
    let closed = closed_by_ctl.unwrap().await.unwrap();
    assert!(closed >= 2, "rabbitmqctl closed {closed} connections");
    let flushed = tokio::time::timeout(Duration::from_secs(60), publisher.flush()).await;
    assert!(
        flushed.is_ok(),
        "publisher not drained: {:?}",
        publisher.stats()
    );
    let n = published.len();
    let waited = Instant::now();
    while seen.len() < n {
        let (p, c) = (publisher.stats(), consumer.stats());
        let stuck = format!("stuck at {}/{n}: {p:?} {c:?}", seen.len());
        assert!(waited.elapsed() < Duration::from_secs(60), "{stuck}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (pstats, cstats) = (publisher.stats(), consumer.stats());
    println!("outage: {n} events, publisher {pstats:?}, consumer {cstats:?}");
    assert!(
        pstats.reconnects >= 2 && cstats.reconnects >= 2,
        "{pstats:?} {cstats:?}"
    );
    assert_eq!(
        seen.ids(),
        published,
        "handled sequence differs from published sequence"
    );
    consumer.stop().await;
    cleanup(&ccfg.queue, Some(&exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handler_retries_after_1_2_4_s_then_dlq_then_replay_to_fixed_handler() {
    let test = "ladder";
    let exchange = name(test);
    let attempts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let a = attempts.clone();
    let failing = move |_e: Event| {
        a.lock().unwrap().push(Instant::now());
        futures::future::ready(Err::<(), String>("camera registry unavailable".into()))
    };
    let cfg = consumer_config(test, URL, &exchange, &["#"]);
    let consumer = Consumer::start(cfg.clone(), failing).await.unwrap();
    let publisher = Publisher::start(publisher_config(test, URL, &exchange)).unwrap();
    let event = Event::new("/cidades", examples().remove(0).data);
    publisher.publish(event.clone()).unwrap();
    wait_until("dead-lettering", Duration::from_secs(20), || {
        consumer.stats().dead_lettered == 1
    })
    .await;
    consumer.stop().await;

    let times = attempts.lock().unwrap().clone();
    assert_eq!(times.len(), 4, "first attempt + 3 retries");
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    println!("retry gaps: {gaps:?}");
    for (gap, want) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(*gap >= want - 0.05 && *gap < want + 0.75, "gaps {gaps:?}");
    }

    let queue = cfg.queue.clone();
    let listed = cli_out(&["--url", URL, "dlq", "list", &queue]).await;
    assert!(listed.contains(": 1 messages"), "{listed}");
    assert!(listed.contains("attempts=4 kind=handler_error"), "{listed}");
    assert!(
        listed.contains("reason=handler failed 4 times: camera registry unavailable"),
        "{listed}"
    );
    assert!(listed.contains(&event.id), "{listed}");
    // Listing does not consume.
    assert!(
        cli_out(&["--url", URL, "dlq", "list", &queue])
            .await
            .contains(": 1 messages")
    );

    let replayed = cli_out(&["--url", URL, "dlq", "replay", &queue]).await;
    assert!(replayed.contains("replayed 1 messages"), "{replayed}");
    let seen = Seen::default();
    let fixed = Consumer::start(cfg.clone(), seen.handler()).await.unwrap();
    wait_until("replayed event", Duration::from_secs(10), || {
        seen.len() == 1
    })
    .await;
    assert_eq!(seen.ids(), [event.id]);
    fixed.stop().await;
    assert!(
        cli_out(&["--url", URL, "dlq", "list", &queue])
            .await
            .contains(": 0 messages")
    );
    cleanup(&queue, Some(&exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_go_to_the_dlq_with_reasons_and_consuming_goes_on() {
    let listener = Listener::start("malformed").await;
    let (exchange, seen) = (listener.exchange.clone(), listener.seen.clone());
    let good = examples().remove(0);
    let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.to_json();
        f(&mut v);
        v.to_string().into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad JSON", b"{\"specversion\": 1.0,".to_vec()),
        (
            "missing attribute \"source\"",
            mutate(&|v| {
                v.as_object_mut().unwrap().remove("source");
            }),
        ),
        (
            "unknown type \"camera.teleported\"",
            mutate(&|v| v["type"] = "camera.teleported".into()),
        ),
        (
            "unsupported version 7 of camera.created",
            mutate(&|v| v["dataversion"] = 7.into()),
        ),
        (
            "schema violation in camera.created data: missing field `rtspUrl`",
            mutate(&|v| {
                v["data"].as_object_mut().unwrap().remove("rtspUrl");
            }),
        ),
    ];
    let (conn, ch) = raw_channel().await;
    for (_, body) in &cases {
        ch.basic_publish(
            exchange.as_str().into(),
            "camera.created".into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .unwrap();
    }
    let _ = conn.close(200, "bye".into()).await;
    let publisher = listener.publisher();
    let after = Event::new("/cidades", good.data.clone());
    publisher.publish(after.clone()).unwrap();
    wait_until("the valid event", Duration::from_secs(10), || {
        seen.len() == 1
    })
    .await;
    wait_until("5 dead letters", Duration::from_secs(10), || {
        listener.consumer.stats().dead_lettered == 5
    })
    .await;
    assert_eq!(seen.ids(), [after.id]);
    assert_eq!(listener.consumer.stats().malformed, 5);
    listener.consumer.stop().await;
    let listed = cli_out(&["--url", URL, "dlq", "list", &listener.cfg.queue]).await;
    for (reason, _) in &cases {
        assert!(
            listed.contains(reason),
            "DLQ lacks reason {reason:?}:\n{listed}"
        );
    }
    for kind in [
        "bad_json",
        "invalid_envelope",
        "unknown_type",
        "unsupported_version",
        "schema_violation",
    ] {
        assert!(listed.contains(&format!("kind={kind}")), "{listed}");
    }
    cleanup(&listener.cfg.queue, Some(&exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_outbox_accept_then_restart_delivers() {
    let listener = Listener::start("sigkill").await;
    let seen = listener.seen.clone();
    let pcfg = listener.publisher_config();
    // Nothing listens on port 1: events are accepted into the outbox but never confirmed.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigia-events-outbox-probe"))
        .args([
            pcfg.outbox_dir.to_str().unwrap(),
            "amqp://guest:guest@127.0.0.1:1/%2f",
            &listener.exchange,
            "50",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ids = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut ids = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line == "accepted" {
                break;
            }
            ids.push(line);
        }
        ids
    })
    .await
    .unwrap();
    assert_eq!(ids.len(), 50);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(seen.ids().is_empty());

    let publisher = Publisher::start(pcfg).unwrap();
    flush_within(&publisher, 20).await;
    wait_until("outbox replay", Duration::from_secs(10), || {
        seen.len() >= 50
    })
    .await;
    assert_eq!(seen.ids(), ids);
    listener.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_by_a_handler_carry_the_consumed_correlation_id() {
    let test = "corr";
    let exchange = name(test);
    let publisher = Publisher::start(publisher_config(test, URL, &exchange)).unwrap();
    let p = publisher.clone();
    let alert = examples().remove(8).data;
    // The "AI" handler answers every lpr.detected with an alert.triggered.
    let ai = move |_e: Event| {
        let r = p.emit(alert.clone()).map(|_| ()).map_err(|e| e.to_string());
        futures::future::ready(r)
    };
    let ai_cfg = consumer_config(&format!("{test}-ai"), URL, &exchange, &["lpr.*"]);
    let ai_consumer = Consumer::start(ai_cfg.clone(), ai).await.unwrap();
    let got: Arc<Mutex<Vec<Event>>> = Arc::default();
    let g = got.clone();
    let ops = move |e: Event| {
        g.lock().unwrap().push(e);
        futures::future::ready(Ok(()))
    };
    let ops_cfg = consumer_config(&format!("{test}-ops"), URL, &exchange, &["alert.*"]);
    let ops_consumer = Consumer::start(ops_cfg.clone(), ops).await.unwrap();
    let lpr = Event::new("/ai", examples().remove(7).data);
    assert_eq!(lpr.correlation_id, lpr.id);
    publisher.publish(lpr.clone()).unwrap();
    wait_until("the alert", Duration::from_secs(10), || {
        got.lock().unwrap().len() == 1
    })
    .await;
    let alert = got.lock().unwrap()[0].clone();
    assert_eq!(alert.event_type().as_str(), "alert.triggered");
    assert_eq!(alert.correlation_id, lpr.correlation_id);
    assert_ne!(alert.id, lpr.id);
    ai_consumer.stop().await;
    ops_consumer.stop().await;
    cleanup(&ai_cfg.queue, None).await;
    cleanup(&ops_cfg.queue, Some(&exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_publish_file_and_tail_with_filters() {
    let test = "cli";
    let exchange = name(test);
    let tail_args = vec![
        "--url",
        URL,
        "--exchange",
        &exchange,
        "tail",
        "--type",
        "lpr.*",
        "--subject",
        "camera/*",
        "--count",
        "1",
    ];
    let tail_args: Vec<String> = tail_args.into_iter().map(String::from).collect();
    let tail = tokio::spawn(async move {
        let mut out = Vec::new();
        cli::run_to(tail_args, &mut out)
            .await
            .map(|_| String::from_utf8(out).unwrap())
    });
    tokio::time::sleep(Duration::from_millis(1500)).await; // tail's queue is bound
    let file = state_dir(test).with_extension("json");
    let all: Vec<serde_json::Value> = examples().iter().map(Event::to_json).collect();
    std::fs::write(&file, serde_json::Value::Array(all).to_string()).unwrap();
    let file_arg = file.to_str().unwrap();
    let publish = ["--url", URL, "--exchange", &exchange, "publish", file_arg];
    let out = cli_out(&publish).await;
    assert_eq!(out, "published 10 events\n");
    let tailed = tokio::time::timeout(Duration::from_secs(10), tail)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        tailed.contains("lpr.detected subject=camera/cam-0042"),
        "{tailed}"
    );
    assert!(tailed.contains("\"plate\": \"BRA2E19\""), "{tailed}");
    assert!(!tailed.contains("camera.created"), "{tailed}");
    // An invalid file is refused before anything is sent.
    std::fs::write(
        &file,
        b"{\"specversion\":\"1.0\",\"type\":\"camera.created\"}",
    )
    .unwrap();
    let err = cli::run_to(
        publish.iter().map(|s| s.to_string()).collect(),
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("malformed event"), "{err}");
    cleanup("none", Some(&exchange)).await;
}

/// With `concurrency` above 1 the handler is called in delivery order, and the next delivery
/// does not wait for the previous future: slow futures (a group commit waiting for its fsync)
/// overlap, up to `concurrency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_are_called_in_delivery_order_and_their_futures_overlap() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let test = "overlap";
    let exchange = name(test);
    let mut cfg = consumer_config(test, URL, &exchange, &["#"]);
    cfg.concurrency = 4;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let handler = {
        let (calls, running, peak) = (calls.clone(), running.clone(), peak.clone());
        move |e: Event| {
            calls.lock().unwrap().push(e.id);
            peak.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
            let running = running.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                running.fetch_sub(1, SeqCst);
                Ok(())
            }
        }
    };
    let consumer = Consumer::start(cfg.clone(), handler).await.unwrap();
    let publisher = Publisher::start(publisher_config(test, URL, &exchange)).unwrap();
    let mut ids: Vec<String> = (0..5).map(|_| publisher.emit(health()).unwrap()).collect();
    // An event twice in a row: the copy arrives while the first one's future runs.
    let twice = Event::new("/vigia/node-1", health());
    publisher.publish(twice.clone()).unwrap();
    publisher.publish(twice.clone()).unwrap();
    ids.push(twice.id);
    ids.extend((0..4).map(|_| publisher.emit(health()).unwrap()));
    publisher.flush().await.unwrap();
    wait_until("all handled", Duration::from_secs(10), || {
        let stats = consumer.stats();
        stats.handled == 10 && stats.duplicates == 1
    })
    .await;
    assert_eq!(
        *calls.lock().unwrap(),
        ids,
        "called in delivery order, the copy not at all"
    );
    let peak = peak.load(SeqCst);
    assert!((2..=4).contains(&peak), "futures overlap, up to 4: {peak}");
    consumer.stop().await;
    cleanup(&cfg.queue, Some(&exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_or_replayed_event_is_handled_once_even_after_a_consumer_restart() {
    let mut listener = Listener::start("dedupe").await;
    let publisher = listener.publisher();
    let e = Event::new("/cidades", examples().remove(2).data);
    publisher.publish(e.clone()).unwrap();
    publisher.publish(e.clone()).unwrap();
    publisher.flush().await.unwrap();
    wait_until("both deliveries", Duration::from_secs(10), || {
        let stats = listener.consumer.stats();
        stats.handled + stats.duplicates == 2
    })
    .await;
    listener.consumer.stop().await;
    // A new consumer process reads the persisted window.
    let handler = listener.seen.handler();
    listener.consumer = Consumer::start(listener.cfg.clone(), handler)
        .await
        .unwrap();
    publisher.publish(e.clone()).unwrap();
    publisher.flush().await.unwrap();
    wait_until("the replay", Duration::from_secs(10), || {
        listener.consumer.stats().duplicates == 1
    })
    .await;
    assert_eq!(listener.seen.ids(), [e.id]);
    listener.finish().await;
}

#[tokio::test]
async fn without_a_broker_events_go_to_a_jsonl_file() {
    let dir = state_dir("jsonl");
    let publisher = Publisher::start(PublisherConfig::new(None, &dir)).unwrap();
    let ids: Vec<String> = (0..3).map(|_| publisher.emit(health()).unwrap()).collect();
    publisher.flush().await.unwrap();
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let got: Vec<String> = text
        .lines()
        .map(|l| Event::from_slice(l.as_bytes()).unwrap().id)
        .collect();
    assert_eq!(got, ids);
    assert_eq!(publisher.stats().accepted, 3);
}

#[tokio::test]
async fn a_full_outbox_drops_and_counts_and_the_caller_never_waits() {
    let mut cfg = PublisherConfig::new(
        Some("amqp://guest:guest@127.0.0.1:1/%2f".into()),
        state_dir("full"),
    );
    cfg.outbox_max_bytes = 8 << 10;
    let publisher = Publisher::start(cfg).unwrap();
    // On this current-thread runtime the background task cannot run until we yield: every
    // call returning Ok here proves publish() never waits for the outbox or the broker.
    for _ in 0..100 {
        publisher.emit(health()).unwrap();
    }
    assert_eq!(publisher.stats().accepted, 0);
    wait_until("all events processed", Duration::from_secs(10), || {
        let s = publisher.stats();
        s.accepted + s.outbox_full == 100
    })
    .await;
    let s = publisher.stats();
    assert!(s.outbox_full > 0 && s.accepted > 0, "{s:?}");
    assert_eq!(s.pending, s.accepted);
    assert_eq!(s.confirmed, 0);
}

/// Baseline for BENCHMARKS.md: plain lapin, same build, 10 000 persistent messages to a quorum
/// queue, all published then all confirms awaited. `-- --ignored raw_lapin --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn raw_lapin_baseline() {
    let listener = Listener::start("raw").await;
    listener.consumer.stop().await; // topology only
    let exchange = &listener.exchange;
    let (conn, ch) = raw_channel().await;
    ch.confirm_select(Default::default()).await.unwrap();
    let body = Event::new("/raw", health()).to_bytes();
    let props = BasicProperties::default().with_delivery_mode(2);
    let start = Instant::now();
    for _ in 0..10_000 {
        let opts = BasicPublishOptions::default();
        ch.basic_publish(
            exchange.as_str().into(),
            "stream.health_check".into(),
            opts,
            &body,
            props.clone(),
        )
        .await
        .unwrap();
    }
    ch.wait_for_confirms().await.unwrap();
    let t = start.elapsed().as_secs_f64();
    println!(
        "RAW lapin: 10000 confirmed in {t:.2}s = {:.0} events/s",
        10_000.0 / t
    );
    let _ = conn.close(200, "bye".into()).await;
    cleanup(&listener.cfg.queue, Some(exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_started_before_the_broker_is_reachable_consumes_once_it_is() {
    let test = "late-broker";
    let exchange = name(test);
    let proxy = Proxy::start().await;
    proxy.cut();
    let seen = Seen::default();
    let mut cfg = consumer_config(test, &proxy.url(), &exchange, &["#"]);
    cfg.reconnect_backoff = (Duration::from_millis(100), Duration::from_millis(500));
    assert!(
        Consumer::start(cfg.clone(), seen.handler()).await.is_err(),
        "start() still fails fast without a broker"
    );
    let consumer = Consumer::start_or_retry(cfg.clone(), seen.handler())
        .await
        .expect("start_or_retry does not need the broker");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(consumer.stats().reconnects >= 1, "{:?}", consumer.stats());
    proxy.restore();
    // Until the consumer has declared its queue, events have nowhere to go: keep publishing one
    // every 200 ms until one arrives.
    let publisher = Publisher::start(publisher_config(test, URL, &exchange)).unwrap();
    let started = Instant::now();
    while seen.len() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "nothing consumed: {:?}",
            consumer.stats()
        );
        publisher
            .publish(Event::new("/vigia/late", health()))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    flush_within(&publisher, 20).await;
    consumer.stop().await;
    cleanup(&cfg.queue, Some(&exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_messages_carry_message_id_correlation_id_and_timestamp() {
    let test = "props";
    let exchange = name(test);
    let tap = Tap::start(&exchange).await;
    // One event through the publisher (with an inherited correlation id), one through the CLI.
    let publisher = Publisher::start(publisher_config(test, URL, &exchange)).unwrap();
    let by_publisher =
        with_correlation("corr-props".into(), async { Event::new("/t", health()) }).await;
    publisher.publish(by_publisher.clone()).unwrap();
    flush_within(&publisher, 20).await;
    let by_cli = examples().remove(5);
    let file = state_dir(test).with_extension("json");
    std::fs::write(&file, by_cli.to_bytes()).unwrap();
    let file_arg = file.to_str().unwrap();
    cli_out(&["--url", URL, "--exchange", &exchange, "publish", file_arg]).await;
    for want in [&by_publisher, &by_cli] {
        let msg = tap.next().await;
        let p = &msg.properties;
        let short = |s: &Option<lapin::types::ShortString>| s.as_ref().map(|s| s.to_string());
        assert_eq!(short(p.message_id()), Some(want.id.clone()));
        assert_eq!(short(p.correlation_id()), Some(want.correlation_id.clone()));
        assert_eq!(*p.timestamp(), Some(want.time.timestamp() as u64));
        assert_eq!(*p.delivery_mode(), Some(2));
    }
    assert_eq!(by_publisher.correlation_id, "corr-props");
    tap.close().await;
    cleanup("none", Some(&exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_routing_key_differs_from_its_type_is_dead_lettered() {
    let listener = Listener::start("misrouted").await;
    let (exchange, seen) = (listener.exchange.clone(), listener.seen.clone());
    // A valid camera.created published as camera.deleted: queues bound to `camera.deleted`
    // would get a creation.
    let misrouted = Event::new("/cidades", examples().remove(0).data);
    let (conn, ch) = raw_channel().await;
    ch.basic_publish(
        exchange.as_str().into(),
        "camera.deleted".into(),
        BasicPublishOptions::default(),
        &misrouted.to_bytes(),
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let _ = conn.close(200, "bye".into()).await;
    let publisher = listener.publisher();
    let good = Event::new("/cidades", examples().remove(2).data);
    publisher.publish(good.clone()).unwrap();
    wait_until("the good event", Duration::from_secs(10), || {
        seen.len() == 1
    })
    .await;
    wait_until("the dead letter", Duration::from_secs(10), || {
        listener.consumer.stats().dead_lettered == 1
    })
    .await;
    assert_eq!(seen.ids(), [good.id]);
    listener.consumer.stop().await;
    let listed = cli_out(&["--url", URL, "dlq", "list", &listener.cfg.queue]).await;
    assert!(listed.contains("kind=routing_key_mismatch"), "{listed}");
    assert!(
        listed.contains(
            "reason=routing key \"camera.deleted\" differs from the event type \"camera.created\""
        ),
        "{listed}"
    );
    assert!(listed.contains(&misrouted.id), "{listed}");
    cleanup(&listener.cfg.queue, Some(&exchange)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedupe_knows_events_by_source_and_id_and_has_one_owner() {
    let listener = Listener::start("dedupe-source").await;
    let publisher = listener.publisher();
    // Two producers that both number their events: same id, different sources.
    let mut from_cidades = Event::new("/cidades", examples().remove(2).data);
    from_cidades.id = "42".into();
    let mut from_ai = Event::new("/ai", examples().remove(7).data);
    from_ai.id = "42".into();
    for e in [&from_cidades, &from_ai, &from_cidades] {
        publisher.publish(e.clone()).unwrap();
    }
    flush_within(&publisher, 20).await;
    wait_until("three deliveries", Duration::from_secs(10), || {
        let stats = listener.consumer.stats();
        stats.handled + stats.duplicates == 3
    })
    .await;
    assert_eq!(listener.seen.ids(), ["42", "42"]);
    assert_eq!(listener.consumer.stats().duplicates, 1);
    // A second consumer on the same state file (another process, say) is refused.
    let second = Seen::default();
    let err = match Consumer::start(listener.cfg.clone(), second.handler()).await {
        Ok(_) => panic!("a second owner of the dedupe window started"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("another consumer"), "{err}");
    listener.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_publish_forwards_events_untouched() {
    let test = "cli-raw";
    let exchange = name(test);
    let tap = Tap::start(&exchange).await;
    // What this build does not model: a traceparent, another extension, an unknown data field,
    // its own key order, spacing and number forms. Once as JSON lines, once as a pretty object.
    let extras = |e: &Event| {
        e.to_json()
            .to_string()
            .replacen(
                "{",
                "{\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\", \
             \"tenantid\":\"campinas\",",
                1,
            )
            .replacen(
                "\"data\":{",
                "\"data\":{\"vendorNote\":{\"keep\":[1,2.50]},",
                1,
            )
    };
    let lines = format!("{}\n{}\n", extras(&examples()[6]), extras(&examples()[7]));
    let pretty = extras(&examples()[2]).replace(",\"", ",\n  \"");
    for (kind, text, want) in [
        (
            "lines",
            lines.clone(),
            lines.lines().map(String::from).collect(),
        ),
        ("object", pretty.clone(), vec![pretty.clone()]),
    ] {
        let file = state_dir(test).with_extension(kind);
        std::fs::write(&file, &text).unwrap();
        let args = ["--url", URL, "--exchange", &exchange, "publish"];
        cli_out(&[&args[..], &[file.to_str().unwrap()]].concat()).await;
        let want: Vec<String> = want;
        for body in want {
            let got = tap.next().await;
            assert_eq!(String::from_utf8(got.data).unwrap(), body, "{kind}");
        }
    }
    tap.close().await;
    cleanup("none", Some(&exchange)).await;
}

/// A DLQ with a delivery limit (as a policy may set, and RabbitMQ 4 does by default): listing it
/// over and over must neither empty it nor raise the messages' delivery counts, nor reorder them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_the_dlq_neither_consumes_nor_ages_its_messages() {
    let test = "dlq-list";
    let queue = name(test);
    let dlq = vigia_events::topology::dlq(&queue);
    let (conn, ch) = raw_channel().await;
    ch.confirm_select(Default::default()).await.unwrap();
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(1));
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(dlq.as_str().into(), durable, args)
        .await
        .unwrap();
    let events: Vec<Event> = (0..3).map(|_| Event::new("/t", health())).collect();
    for (i, e) in events.iter().enumerate() {
        let mut headers = FieldTable::default();
        headers.insert(
            vigia_events::REASON_HEADER.into(),
            AMQPValue::LongString(format!("reason {i}").as_str().into()),
        );
        let props = BasicProperties::default().with_headers(headers);
        ch.basic_publish(
            "".into(),
            dlq.as_str().into(),
            BasicPublishOptions::default(),
            &e.to_bytes(),
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    for round in 0..4 {
        let listed = cli_out(&["--url", URL, "dlq", "list", &queue]).await;
        assert!(listed.contains(": 3 messages"), "round {round}: {listed}");
        let at: Vec<usize> = events.iter().map(|e| listed.find(&e.id).unwrap()).collect();
        assert!(at.is_sorted(), "round {round}: order changed:\n{listed}");
        assert!(
            listed.contains("reason=reason 2"),
            "round {round}: {listed}"
        );
    }
    for e in &events {
        let opts = BasicGetOptions { no_ack: true };
        let msg = ch.basic_get(dlq.as_str().into(), opts).await.unwrap();
        let d = msg.expect("message still in the DLQ").delivery;
        assert_eq!(Event::from_slice(&d.data).unwrap().id, e.id);
        let headers = d.properties.headers().clone().unwrap_or_default();
        let count = headers.inner().get("x-delivery-count");
        let fresh = matches!(count, None | Some(AMQPValue::LongLongInt(0)));
        assert!(fresh, "aged: {headers:?}");
    }
    let _ = conn.close(200, "bye".into()).await;
    cleanup(&queue, None).await;
}
