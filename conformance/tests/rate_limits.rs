//! Request rate limits (issue 13 item 2): one client IP sending 200 requests a second gets 429s
//! with `Retry-After` once past `httpRateLimit` (100/s, burst 100) while a second IP is served;
//! the 61st API call of a user within a minute gets a 429 while other users and anonymous
//! clients go on; behind a trusted proxy the limits count the client it names, and nobody else
//! can pick the IP they are counted under. Every refusal is in `limit_refusals_total` and in a
//! log line per client. (A player's 60 s of LL-HLS within the defaults is checked in
//! `hls_browser.rs`, where Chromium plays.)

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use vigia_conformance::http::{self, Response};
use vigia_conformance::{Ports, Vigia, free_port};

/// How long the log takes to summarize refusals (once per 10 s per listener).
const SUMMARY_WITHIN: Duration = Duration::from_secs(12);

/// A running vigia with the API and metrics on, and its ports.
struct Server {
    vigia: Vigia,
    ports: Ports,
    api: u16,
    metrics: u16,
}

fn start(extra: &str) -> Server {
    let (api, metrics) = (free_port(), free_port());
    let (vigia, ports) = Vigia::start_on_fresh_ports(&format!(
        "api: yes\napiAddress: 127.0.0.1:{api}\nmetrics: yes\nmetricsAddress: 127.0.0.1:{metrics}\n{extra}paths:\n  cam:\n"
    ));
    Server {
        vigia,
        ports,
        api,
        metrics,
    }
}

impl Server {
    /// The value of `limit_refusals_total` for `listener` and `limit` (0 before the first).
    fn refusals(&self, listener: &str, limit: &str) -> u64 {
        let series = format!("limit_refusals_total{{listener=\"{listener}\",limit=\"{limit}\"}} ");
        http::metric_sum(self.metrics, &series) as u64
    }
}

/// The statuses `source` got for `count` requests of `target` on `port`, one every `period`.
fn paced(
    source: Ipv4Addr,
    port: u16,
    target: &str,
    headers: &[&str],
    count: usize,
    period: Duration,
) -> Vec<Response> {
    let start = Instant::now();
    (0..count)
        .map(|i| {
            let due = start + period * i as u32;
            thread::sleep(due.saturating_duration_since(Instant::now()));
            http::get_from(source, port, target, headers).expect("connect")
        })
        .collect()
}

fn count_status(answers: &[Response], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

#[test]
fn one_ip_at_200_per_second_gets_429s_past_the_limit_while_another_ip_is_served() {
    let server = start("");
    let hls = server.ports.hls;
    let flood = thread::spawn(move || {
        paced(
            Ipv4Addr::new(127, 0, 0, 2),
            hls,
            "/nosuch/index.m3u8",
            &[],
            600,
            Duration::from_millis(5),
        )
    });
    let calm = paced(
        Ipv4Addr::new(127, 0, 0, 3),
        hls,
        "/nosuch/index.m3u8",
        &[],
        60,
        Duration::from_millis(50),
    );
    let flood = flood.join().unwrap();
    let limited = count_status(&flood, 429);
    assert!(
        flood[..100].iter().all(|a| a.status == 404),
        "the burst of 100 goes through: {:?}",
        flood.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    // 3 s at 200/s against 100/s with a burst of 100: about 200 refused.
    assert!((100..=300).contains(&limited), "{limited} of 600 refused");
    assert!(
        flood
            .iter()
            .filter(|a| a.status == 429)
            .all(|a| a.header("retry-after") == Some("1")),
        "every 429 says when to come back"
    );
    assert_eq!(
        count_status(&calm, 404),
        calm.len(),
        "the second IP was limited"
    );
    assert_eq!(server.refusals("hls", "httpRateLimit"), limited as u64);
    assert!(
        server.vigia.logs_soon_contain(
            "[HLS] answered 429 to requests past httpRateLimit (100/s, burst 100) from 127.0.0.2:",
            SUMMARY_WITHIN
        ),
        "{}",
        server.vigia.logs()
    );
    assert!(
        !server.vigia.logs().contains("from 127.0.0.3"),
        "{}",
        server.vigia.logs()
    );
}

/// Users of the API test: `op` and `op2` (password `pw`), and anyone from localhost.
const API_USERS: &str = "authInternalUsers:
- user: op
  pass: pw
  permissions:
  - action: api
- user: op2
  pass: pw
  permissions:
  - action: api
- user: any
  ips: [127.0.0.0/8]
  permissions:
  - action: api
  - action: metrics
";

#[test]
fn the_61st_api_call_of_a_user_in_a_minute_gets_429_and_other_users_go_on() {
    let server = start(API_USERS);
    let local = Ipv4Addr::LOCALHOST;
    let op = "Authorization: Basic b3A6cHc="; // op:pw
    let calls = paced(
        local,
        server.api,
        "/v3/paths/list",
        &[op],
        61,
        Duration::from_millis(10),
    );
    assert_eq!(count_status(&calls[..60], 200), 60, "{:?}", calls.last());
    let last = &calls[60];
    assert_eq!(last.status, 429, "{}", last.text());
    let retry: u64 = last.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=2).contains(&retry),
        "a token comes back each second: {retry}"
    );
    let op2 = "Authorization: Basic b3AyOnB3"; // op2:pw
    assert_eq!(
        http::get(server.api, "/v3/paths/list", &[op2])
            .unwrap()
            .status,
        200
    );
    let anonymous = paced(
        local,
        server.api,
        "/v3/paths/list",
        &[],
        70,
        Duration::from_millis(10),
    );
    assert_eq!(
        count_status(&anonymous, 200),
        70,
        "anonymous clients have the per-IP limit"
    );
    assert_eq!(server.refusals("api", "apiUserRateLimit"), 1);
    assert!(
        server.vigia.logs_soon_contain(
            "[API] answered 429 to requests past apiUserRateLimit (60/min) from user op:",
            SUMMARY_WITHIN
        ),
        "{}",
        server.vigia.logs()
    );
}

#[test]
fn behind_a_trusted_proxy_the_limit_counts_the_client_it_names() {
    let server = start("httpRateLimit: 20\nhttpRateBurst: 20\nhlsTrustedProxies: [127.0.0.5/32]\n");
    let hls = server.ports.hls;
    let (proxy, other) = (Ipv4Addr::new(127, 0, 0, 5), Ipv4Addr::new(127, 0, 0, 6));
    let target = "/nosuch/index.m3u8";
    let first = paced(
        proxy,
        hls,
        target,
        &["X-Forwarded-For: 10.0.0.1"],
        40,
        Duration::ZERO,
    );
    assert!(
        count_status(&first, 429) >= 15,
        "the named client is limited"
    );
    let second = paced(
        proxy,
        hls,
        target,
        &["X-Forwarded-For: 10.0.0.2"],
        15,
        Duration::ZERO,
    );
    assert_eq!(
        count_status(&second, 404),
        15,
        "another client behind the proxy is not"
    );
    let spoofed: Vec<Response> = (0..40)
        .map(|i| {
            let header = format!("X-Forwarded-For: 10.9.0.{i}");
            http::get_from(other, hls, target, &[header.as_str()]).unwrap()
        })
        .collect();
    assert!(
        count_status(&spoofed, 429) >= 15,
        "an untrusted peer is counted as itself whatever it says"
    );
    for client in ["10.0.0.1:", "127.0.0.6:"] {
        let line = format!("past httpRateLimit (20/s, burst 20) from {client}");
        assert!(
            server.vigia.logs_soon_contain(&line, SUMMARY_WITHIN),
            "{}",
            server.vigia.logs()
        );
    }
    assert!(!server.vigia.logs().contains("from 10.0.0.2"));
}
