//! End to end with a real `vigia` (target/release/vigia, or `$VIGIA_BIN`; `test.sh` builds it
//! before the tests): a camera created through the Cidades API reaches Vigia as `camera.created`
//! through the outbox, Vigia pulls it (the "camera" is Vigia's own synthetic `demo` path) and
//! reports `stream.health_check`, and the camera shows `online` in Cidades within 10 s; deleting
//! it removes Vigia's path.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::json;

use common::{BROKER, Harness, str_of, unique};

/// A `vigia` process in its own directory, killed on drop.
struct Vigia {
    child: Child,
    dir: PathBuf,
}

/// The queue of vigia node `node` (see server/src/bus.rs).
fn node_queue(node: &str) -> String {
    format!("vigia.streaming.{node}")
}

impl Vigia {
    fn spawn(config: &str, node: &str) -> Vigia {
        let dir = std::env::temp_dir().join(format!("cidades-vigia-{}", unique()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vigia.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("vigia.log")).unwrap();
        let child = Command::new(vigia_bin())
            .arg("vigia.yml")
            .env("VIGIA_NODE", node)
            .current_dir(&dir)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn vigia");
        Vigia { child, dir }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("vigia.log")).unwrap_or_default()
    }

    async fn logs_soon_contain(&self, needle: &str, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.logs().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

impl Drop for Vigia {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn vigia_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("VIGIA_BIN") {
        return PathBuf::from(bin);
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/vigia");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release -j2 --bin vigia` (test.sh does)",
        bin.display()
    );
    bin
}

/// A port free for TCP and UDP now (and `port + 1` too when `pair`), away from the ephemeral range.
fn free_port(pair: bool) -> u16 {
    let free = |p: u16| {
        TcpListener::bind(("0.0.0.0", p)).is_ok() && UdpSocket::bind(("0.0.0.0", p)).is_ok()
    };
    loop {
        let p = (20_000 + rand::random::<u16>() % 10_000) & !1;
        if free(p) && (!pair || free(p + 1)) {
            return p;
        }
    }
}

#[tokio::test]
async fn a_camera_created_in_cidades_is_pulled_by_vigia_and_shows_online() {
    let (rtsp, hls, rtp, mcast) = (
        free_port(false),
        free_port(false),
        free_port(true),
        free_port(true),
    );
    let config = format!(
        "rtspAddress: 127.0.0.1:{rtsp}\nhlsAddress: 127.0.0.1:{hls}\nrtpAddress: :{rtp}\n\
         rtcpAddress: :{}\nmulticastRTPPort: {mcast}\nmulticastRTCPPort: {}\n\
         eventsURL: {BROKER}\neventsHealthInterval: 2s\npaths:\n  demo:\n    source: synthetic\n",
        rtp + 1,
        mcast + 1
    );
    let node = format!("cidades-e2e-{}", unique());
    let vigia = Vigia::spawn(&config, &node);
    assert!(
        vigia
            .logs_soon_contain("events: cameras from queue", Duration::from_secs(15))
            .await,
        "vigia's camera consumer did not start:\n{}",
        vigia.logs()
    );
    let h = Harness::start().await;
    let (_, city) = h.seed_city().await;
    let body = json!({"cityId": city, "name": "Demo", "rtspUrl": format!("rtsp://127.0.0.1:{rtsp}/demo"), "record": false});
    let corr = format!("cidades-e2e-{}", unique());
    let (created, cam) = h
        .call_correlated(Method::POST, "/v1/cameras", Some(body), Some(&corr))
        .await;
    assert_eq!(created, StatusCode::CREATED, "{cam}");
    let id = str_of(&cam["id"]);
    let path = format!("/v1/cameras/{id}");
    let start = Instant::now();
    let mut status = String::new();
    while start.elapsed() < Duration::from_secs(10) && status != "online" {
        tokio::time::sleep(Duration::from_millis(200)).await;
        status = h.ok(Method::GET, &path, None, StatusCode::OK).await["status"]
            .as_str()
            .unwrap_or("")
            .to_owned();
    }
    assert_eq!(
        status,
        "online",
        "the camera is online in Cidades within 10 s:\n{}",
        vigia.logs()
    );

    assert!(
        vigia.logs().contains(&corr),
        "the request's correlation id is on vigia's log lines:\n{}",
        vigia.logs()
    );

    h.ok(Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    let removed = format!("path removed path={id}");
    assert!(
        vigia
            .logs_soon_contain(&removed, Duration::from_secs(5))
            .await,
        "vigia removes the path within 5 s:\n{}",
        vigia.logs()
    );
    h.finish().await;
    drop(vigia);
    common::delete_service_queues(&node_queue(&node)).await;
}
