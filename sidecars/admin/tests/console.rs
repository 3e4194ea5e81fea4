//! The operator console end to end (issue 14): `scripts/platform-up.sh` starts the release
//! `vigia`, `vigia-cidades` and `vigia-admin` (test.sh builds them; or those beside
//! `$VIGIA_BIN`) on free ports against the real PostgreSQL, Redis and RabbitMQ, seeds the demo
//! city's cameras (Vigia's synthetic sources, pulled over RTSP and recorded in 10 s segments)
//! and its operator, and waits for the cameras to be online. Then headless Chromium
//! (`tests/browser/console.mjs`) logs into the console as the operator, sees the seeded cameras
//! online, watches a live view advance for 12 s over WebRTC (WHEP), and plays a recorded minute
//! from the timeline to its end. A camera named with HTML is shown as text. Admin's audit log
//! has the operator's WebRTC reads and playback.
//!
//! Chromium never uses loopback ICE candidates, so it runs in a network namespace of the test's
//! own, joined to this one by a veth pair: the platform listens on the host end
//! (`10.214.<n>.2`, `PLATFORM_HOST`), Chromium reaches it from the other (`10.214.<n>.1`).
//!
//! This is also the smoke test of the platform script: it runs the script as a developer
//! would, only on other ports, databases, queues and keys, and stops it with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection as _;

/// The seeded cameras.
const CAMERAS: usize = 2;
/// The demo operator and superadmin the script seeds.
const OPERATOR: (&str, &str) = ("operador@demo.vigia.br", "vigia-demo-2026");
const ROOT: (&str, &str) = ("admin@demo.vigia.br", "vigia-admin-2026");
/// A camera name that would inject markup if the console built HTML from data.
const HTML_NAME: &str = "<img src=x onerror=\"window.pwned=true\"><b>Câmera</b>";
/// The local PostgreSQL's maintenance database.
const ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The local broker.
const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_into_the_console_watches_live_and_plays_a_recorded_minute() {
    let net = Netns::new();
    let platform = Platform::start(&net.host_ip());
    platform.wait_ready(Duration::from_secs(180));
    let http = reqwest::Client::new();
    let root = platform.login_root(&http).await;
    let cidades = platform.url(1);
    let cities = get(&http, &root, &format!("{cidades}/v1/cities?name=Campinas")).await;
    let city = cities["items"][0]["id"].clone();
    let html = json!({"cityId": city, "name": HTML_NAME, "rtspUrl": "rtsp://127.0.0.1:9/html",
        "record": false});
    let created = http
        .post(format!("{cidades}/v1/cameras"))
        .bearer_auth(&root)
        .json(&html)
        .send();
    assert_eq!(created.await.expect("cidades").status(), 201);

    let report = browse(&net, &platform.console_url());
    let check = |ok: bool, what: &str| {
        assert!(ok, "{what}: {report:#}\n{}", platform.logs());
    };
    check(report.get("failure").is_none(), "the browser run failed");
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    let online = rows.iter().filter(|r| r["status"] == "online").count();
    check(online >= CAMERAS, "the seeded cameras are online");
    check(rows.iter().any(|r| r["label"] == "online"), "pt-BR labels");
    check(report["labels"]["signOut"] == "Sair", "pt-BR labels");
    check(report["labels"]["lang"] == "pt-BR", "pt-BR labels");
    let who = report["who"].as_str().unwrap_or_default();
    check(who == format!("{} · operador", OPERATOR.0), "pt-BR labels");
    check(
        report["html"]["rowText"] == true,
        "the HTML name is shown as text",
    );
    check(
        report["html"]["tileText"] == true,
        "the HTML name is shown as text",
    );
    check(
        report["html"]["elementsMade"] == 0,
        "no element made from a name",
    );
    check(
        report["html"]["pwned"] == false,
        "no script ran from a name",
    );
    let live = &report["live"];
    let advanced = live["to"].as_f64().unwrap_or(0.0) - live["from"].as_f64().unwrap_or(0.0);
    check(advanced >= 10.0, "the live view advances for 10 s or more");
    check(live["kind"] == "webrtc", "the live view is WebRTC (WHEP)");
    check(
        report["recordedSeconds"].as_f64().unwrap_or(0.0) >= 62.0,
        "a minute recorded",
    );
    let playback = &report["playback"];
    check(
        playback["ended"] == true,
        "the recorded minute plays to its end",
    );
    check(
        playback["currentTime"].as_f64().unwrap_or(0.0) >= 59.0,
        "a minute played",
    );
    check(
        playback["played"].as_f64().unwrap_or(0.0) >= 59.0,
        "a minute played",
    );

    let camera = live["camera"].as_str().unwrap_or_default();
    check_audit(&http, &platform, &root, camera).await;
    platform.stop(&http, &root).await;
}

/// Admin's audit log has the operator's allowed WebRTC reads and playback of `camera`.
async fn check_audit(http: &reqwest::Client, platform: &Platform, root: &str, camera: &str) {
    let admin = platform.url(0);
    let rows = get(
        http,
        root,
        &format!("{admin}/v1/audit?path={camera}&perPage=500"),
    )
    .await;
    let rows = rows.as_array().cloned().unwrap_or_default();
    for (action, protocol) in [("read", Some("webrtc")), ("playback", None)] {
        let seen = rows.iter().any(|r| {
            r["email"] == OPERATOR.0
                && r["action"] == action
                && protocol.is_none_or(|p| r["protocol"] == p)
                && r["allowed"] == true
        });
        assert!(
            seen,
            "an allowed {action} of {camera} by the operator in the audit log: {rows:#?}"
        );
    }
}

/// Runs the browser script inside `net`; its JSON report.
fn browse(net: &Netns, url: &str) -> Value {
    let script = manifest_dir().join("tests/browser/console.mjs");
    let mut child = Command::new("nsenter")
        .arg(format!("--net=/proc/{}/ns/net", net.holder.id()))
        .args(["--", "node"])
        .arg(&script)
        .args([url, OPERATOR.0, OPERATOR.1, &CAMERAS.to_string(), HTML_NAME])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().expect("node").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("node output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "no report from the browser: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `GET url` with `token` as JSON.
async fn get(http: &reqwest::Client, token: &str, url: &str) -> Value {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("answer");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.expect("JSON")
}

/// Where the three binaries are: the folder of `$VIGIA_BIN` when it is set (`scripts/coverage.sh`
/// points it at its instrumented build, so what the platform does counts), else target/release.
fn bin_dir() -> PathBuf {
    match std::env::var_os("VIGIA_BIN").map(PathBuf::from) {
        Some(vigia) => vigia.parent().map(PathBuf::from).unwrap_or_default(),
        None => repo().join("target/release"),
    }
}

/// `scripts/platform-up.sh` running on ports `base`…`base + 9`, in its own directory, with
/// its own databases, queues, Vigia node and Redis prefix.
struct Platform {
    child: Child,
    dir: PathBuf,
    host: String,
    base: u16,
    name: String,
}

impl Platform {
    fn start(host: &str) -> Platform {
        let bins = bin_dir();
        for bin in ["vigia", "vigia-cidades", "vigia-admin"] {
            let path = bins.join(bin);
            assert!(
                path.exists(),
                "{} is missing: build it with `cargo build --release -j2 --workspace \
                 --bin vigia --bin vigia-cidades --bin vigia-admin` (test.sh does); with \
                 VIGIA_BIN set, all three are taken from its folder",
                path.display()
            );
        }
        let name = format!(
            "console_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("platform dir");
        let base = free_ports(10);
        let log = std::fs::File::create(dir.join("platform.log")).expect("log");
        let child = Command::new("bash")
            .arg(repo().join("scripts/platform-up.sh"))
            .envs([
                ("PLATFORM_DIR", dir.display().to_string()),
                ("PLATFORM_BUILD", "0".into()),
                ("PLATFORM_BIN_DIR", bins.display().to_string()),
                ("PLATFORM_PORTS_BASE", base.to_string()),
                ("PLATFORM_HOST", host.to_owned()),
                ("PLATFORM_CAMERAS", CAMERAS.to_string()),
                ("PLATFORM_DB_PREFIX", name.clone()),
                ("PLATFORM_NAME", name.clone()),
            ])
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("bash");
        Platform {
            child,
            dir,
            host: host.to_owned(),
            base,
            name,
        }
    }

    /// The service on port `base + offset` (0 Admin, 1 Cidades).
    fn url(&self, offset: u16) -> String {
        format!("http://{}:{}", self.host, self.base + offset)
    }

    fn console_url(&self) -> String {
        format!("{}/console/", self.url(0))
    }

    /// An access token of the seeded superadmin.
    async fn login_root(&self, http: &reqwest::Client) -> String {
        let login = json!({"email": ROOT.0, "password": ROOT.1});
        let tokens: Value = http
            .post(format!("{}/v1/auth/login", self.url(0)))
            .json(&login)
            .send()
            .await
            .expect("admin")
            .json()
            .await
            .expect("tokens");
        tokens["accessToken"].as_str().expect("a token").to_owned()
    }

    /// The script's output and the three services' logs.
    fn logs(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let tail = |s: String| s.lines().rev().take(60).collect::<Vec<_>>().join("\n");
        let mut out = format!(
            "--- platform-up.sh\n{}",
            read(&self.dir.join("platform.log"))
        );
        for service in ["vigia", "cidades", "admin"] {
            let log = read(&self.dir.join("logs").join(format!("{service}.log")));
            out += &format!("\n--- {service} (last lines first)\n{}", tail(log));
        }
        out
    }

    /// Waits for the script's "console:" line, which it prints once the cameras are online.
    fn wait_ready(&self, within: Duration) {
        let start = Instant::now();
        while !self.logs().contains("[platform] console:") {
            assert!(
                start.elapsed() < within,
                "the platform is not ready after {within:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Deletes the city's cameras (so no other Vigia on the broker keeps them), stops the
    /// script with SIGTERM, and removes its databases, queues and cache keys.
    async fn stop(mut self, http: &reqwest::Client, root: &str) {
        let cidades = self.url(1);
        let list = get(http, root, &format!("{cidades}/v1/cameras?perPage=500")).await;
        for cam in list["items"].as_array().cloned().unwrap_or_default() {
            let id = cam["id"].as_str().unwrap_or_default();
            let _ = http
                .delete(format!("{cidades}/v1/cameras/{id}"))
                .bearer_auth(root)
                .send()
                .await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.terminate();
        let exited = self.child.wait().expect("platform-up.sh");
        assert!(
            exited.code() == Some(143),
            "SIGTERM ends the script: {exited:?}"
        );
        self.clean_up().await;
    }

    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    async fn clean_up(&self) {
        if let Ok(mut db) = sqlx::PgConnection::connect(ADMIN_DB).await {
            for suffix in ["cidades", "admin"] {
                let drop = format!(
                    "DROP DATABASE IF EXISTS {}_{suffix} WITH (FORCE)",
                    self.name
                );
                let _ = sqlx::query(&drop).execute(&mut db).await;
            }
        }
        let queues = [
            format!("{}-cidades", self.name),
            format!("{}-admin", self.name),
            format!("vigia.streaming.{}", self.name),
        ];
        delete_queues(&queues).await;
        let redis = format!(
            "redis-cli --scan --pattern '{}-cidades:*' | xargs -r redis-cli del",
            self.name
        );
        let _ = Command::new("bash")
            .args(["-c", &redis])
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
            let _ = self.child.wait();
        }
    }
}

/// Deletes service queues with their retry queues (1, 2, 4 s) and dead-letter queue.
async fn delete_queues(queues: &[String]) {
    use lapin::options::QueueDeleteOptions;
    let Ok(conn) = lapin::Connection::connect(BROKER, Default::default()).await else {
        return;
    };
    let Ok(ch) = conn.create_channel().await else {
        return;
    };
    for q in queues {
        let mut all = vec![q.clone(), vigia_events::topology::dlq(q)];
        for d in [1, 2, 4] {
            all.push(vigia_events::topology::retry_queue(
                q,
                Duration::from_secs(d),
            ));
        }
        for name in all {
            let _ = ch
                .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// A network namespace for Chromium, held by a `sleep`, joined to this one by a veth pair:
/// `10.214.<n>.1` inside, `10.214.<n>.2` here (`n` from the holder's pid, so concurrent runs of
/// the test don't collide). The namespace and the pair go when the holder is killed.
struct Netns {
    holder: Child,
    net: u32,
}

impl Netns {
    fn new() -> Netns {
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux)");
        let net = holder.id() % 250 + 1;
        let pid = holder.id().to_string();
        let ns = Netns { holder, net };
        let (outside, inside) = (format!("vgc{net}"), format!("vgn{net}"));
        let host = ns.host_ip();
        let here = format!(
            "for i in $(seq 50); do [ \"$(readlink /proc/{pid}/ns/net)\" != \"$(readlink /proc/self/ns/net)\" ] && break; sleep 0.05; done; \
             ip link add {outside} type veth peer name {inside} netns {pid} && \
             ip addr add {host}/24 dev {outside} && ip link set {outside} up"
        );
        let there = format!(
            "ip link set lo up && ip addr add 10.214.{net}.1/24 dev {inside} && \
             ip link set {inside} up && ip route add default via {host} dev {inside}"
        );
        ns.sh(&here, None);
        ns.sh(&there, Some(&pid));
        ns
    }

    /// Runs `script` with bash, inside the namespace of `pid` when given; panics on failure.
    fn sh(&self, script: &str, pid: Option<&str>) {
        let mut command = match pid {
            Some(pid) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/proc/{pid}/ns/net"))
                    .args(["--", "bash"]);
                c
            }
            None => Command::new("bash"),
        };
        let out = command.args(["-c", script]).output().expect("bash");
        assert!(
            out.status.success(),
            "network namespace setup (needs root, iproute2): {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The platform's address: the veth end outside the namespace.
    fn host_ip(&self) -> String {
        format!("10.214.{}.2", self.net)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes the test started in the namespace (node, Chromium) have ended with the
        // browser script; the holder is the last one.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A base port below the ephemeral range whose `count` ports are all free for TCP and UDP now.
fn free_ports(count: u16) -> u16 {
    let free = |p: u16| {
        std::net::TcpListener::bind(("0.0.0.0", p)).is_ok()
            && std::net::UdpSocket::bind(("0.0.0.0", p)).is_ok()
    };
    loop {
        let base = 20_000 + (rand::random::<u16>() % 1_000) * 10;
        if (base..base + count).all(free) {
            return base;
        }
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repo() -> PathBuf {
    manifest_dir().join("../..")
}
