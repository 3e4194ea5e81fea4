//! Helpers for conformance tests: start the built `vigia` binary on free ports with a config, wait
//! for its listeners, and run outside clients (ffmpeg, ffprobe, GStreamer) with bounded time.
//!
//! The binary is `target/release/vigia` (built by the README's test command before the tests run),
//! or the path in `VIGIA_BIN`.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The `vigia` binary under test.
pub fn vigia_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("VIGIA_BIN") {
        return PathBuf::from(bin);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin = root.join("target/release/vigia");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release --bin vigia` (the test script does)",
        bin.display()
    );
    bin
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh, empty directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> Self {
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lowest and highest port handed out by [`free_port`] and [`free_udp_pair`]. The range lies
/// below Linux's ephemeral range (32768-60999), so a port chosen here cannot be taken in the
/// meantime by some client's outgoing connection or by a `bind(0)` of another process.
const TEST_PORTS: std::ops::Range<u16> = 10_000..32_000;

/// Next candidate port of this test process. Each process starts at its own offset (from its pid)
/// and steps through the range, so parallel tests in one process never draw the same port and
/// consecutive test processes rarely do.
fn next_candidate(width: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let span = TEST_PORTS.end - TEST_PORTS.start;
    let seed = (std::process::id() % u32::from(span)) as u16;
    let step = NEXT.fetch_add(width, Ordering::Relaxed);
    let offset = (u32::from(seed) + u32::from(step)) % u32::from(span - width);
    TEST_PORTS.start + offset as u16
}

/// Whether `port` can be bound right now for both TCP and UDP on every interface.
fn is_free(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok()
        && std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok()
}

/// A port free for TCP and UDP, from [`TEST_PORTS`] (never an ephemeral port).
pub fn free_port() -> u16 {
    (0..4000)
        .map(|_| next_candidate(1))
        .find(|&port| is_free(port))
        .expect("no free port in the test range")
}

/// An even port P such that P and P+1 are free (RTP/RTCP pairs), from [`TEST_PORTS`]. Three
/// candidates are reserved so the rounded-up pair never overlaps the next allocation.
pub fn free_udp_pair() -> u16 {
    (0..4000)
        .map(|_| (next_candidate(3) + 1) & !1)
        .find(|&port| is_free(port) && is_free(port + 1))
        .expect("no free port pair in the test range")
}

/// Ports one `vigia` instance listens on.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// RTSP TCP port.
    pub rtsp: u16,
    /// UDP RTP port (RTCP is `rtp + 1`).
    pub rtp: u16,
    /// First multicast RTP port.
    pub multicast_rtp: u16,
    /// HLS HTTP port.
    pub hls: u16,
}

impl Ports {
    /// Fresh free ports.
    pub fn fresh() -> Self {
        let rtp = free_udp_pair();
        let multicast_rtp = free_udp_pair();
        Self {
            rtsp: free_port(),
            rtp,
            multicast_rtp,
            hls: free_port(),
        }
    }

    /// The YAML lines that make `vigia` listen on these ports (other listeners off).
    pub fn yaml(&self) -> String {
        format!(
            "rtspAddress: 127.0.0.1:{}\nhlsAddress: 127.0.0.1:{}\nrtpAddress: :{}\nrtcpAddress: :{}\nmulticastRTPPort: {}\nmulticastRTCPPort: {}\n",
            self.rtsp,
            self.hls,
            self.rtp,
            self.rtp + 1,
            self.multicast_rtp,
            self.multicast_rtp + 1
        )
    }

    /// `http://127.0.0.1:<hls>/<path>/<file>`.
    pub fn hls_url(&self, path: &str, file: &str) -> String {
        format!("http://127.0.0.1:{}/{path}/{file}", self.hls)
    }

    /// `rtsp://127.0.0.1:<rtsp>/<path>`.
    pub fn rtsp_url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{path}", self.rtsp)
    }
}

/// A running `vigia` process, killed on drop. Its output goes to a log file kept for failures.
pub struct Vigia {
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Vigia {
    /// Starts `vigia` with `config` (YAML text written to `vigia.yml` in a fresh directory, which
    /// is also the working directory) and waits until `wait_port` accepts TCP connections.
    pub fn start(config: &str, wait_port: u16) -> Self {
        let dir = TempDir::new("vigia-conf");
        std::fs::write(dir.path().join("vigia.yml"), config).expect("write config");
        Self::spawn(dir, &["vigia.yml"], &[], wait_port)
    }

    /// Starts `vigia` on [`Ports::fresh`] with `config` (YAML) after the lines that set them, and
    /// waits until its RTSP port accepts TCP connections.
    pub fn start_on_fresh_ports(config: &str) -> (Self, Ports) {
        let ports = Ports::fresh();
        let vigia = Self::start(&format!("{}{config}", ports.yaml()), ports.rtsp);
        (vigia, ports)
    }

    /// Whether `text` appears in the logs within `limit`.
    pub fn logs_soon_contain(&self, text: &str, limit: Duration) -> bool {
        eventually(limit, || self.logs().contains(text).then_some(())).is_some()
    }

    /// Starts `vigia` in a fresh working directory with `args` and extra environment variables,
    /// and waits until `wait_port` accepts TCP connections.
    pub fn spawn(dir: TempDir, args: &[&str], env: &[(&str, &str)], wait_port: u16) -> Self {
        let log = dir.path().join("vigia.log");
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log handle");
        // WebRTC is on by default (MediaMTX's :8889 and :8189/udp): every instance gets fresh
        // ports of its own unless `env` names them, so concurrent tests never collide.
        let webrtc = format!("127.0.0.1:{}", free_port());
        let webrtc_udp = format!("127.0.0.1:{}", free_port());
        let child = Command::new(vigia_bin())
            .args(args)
            .env("MTX_WEBRTCADDRESS", &webrtc)
            .env("MTX_WEBRTCLOCALUDPADDRESS", &webrtc_udp)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn vigia");
        let mut vigia = Self {
            child,
            log,
            _dir: dir,
        };
        vigia.wait_listening(wait_port);
        vigia
    }

    /// Waits (up to 15 s) until something listens on TCP `port`: the harness waits for one
    /// listener, and the others (metrics, API…) may open a moment later.
    pub fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("vigia exited early with {status}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "vigia did not listen on {port} within 15 s:\n{}",
            self.logs()
        );
    }

    /// Everything the process printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id (for `/proc/<pid>/…`: CPU time, memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM-like kill and waits.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vigia {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- vigia log ----\n{}", self.logs());
        }
    }
}

/// A background outside client (an ffmpeg publisher, say), killed on drop.
pub struct Background {
    child: Child,
    name: String,
    /// Holds `stderr.log`: a file, not a pipe, so a chatty client never blocks on a full pipe.
    dir: TempDir,
}

impl Background {
    /// Starts `program args…` with stdout discarded and stderr kept in a file for [`Self::stop`].
    pub fn start(program: &str, args: &[&str]) -> Self {
        let dir = TempDir::new("vigia-client");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("create log");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        Self {
            child,
            name: program.to_string(),
            dir,
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Whether the process exits by itself within `limit`.
    pub fn exits_within(&mut self, limit: Duration) -> bool {
        eventually(limit, || (!self.is_running()).then_some(())).is_some()
    }

    /// Kills the process and returns what it wrote to stderr.
    pub fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `program args…` to completion, killing it after `limit`. Returns its output.
pub fn run_with_timeout(program: &str, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_thread = std::thread::spawn(move || read_all(stdout));
    let err_thread = std::thread::spawn(move || read_all(stderr));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().expect("wait killed child");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

fn read_all(pipe: Option<impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut buf);
    }
    buf
}

/// Retries `probe` every 200 ms until it returns `Some` or `limit` passes.
pub fn eventually<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One attempt of each action through each listener, with given credentials.
pub mod access;
/// Headless Chromium runs of the scripts under `conformance/browser/`, and their statistics.
pub mod browser;
/// Events on the real broker's `vigia.events`, as a wire tap and as a deduplicating consumer.
pub mod bus;
/// A test clip encoded once per test run by ffmpeg (cached under the target dir).
pub mod clips;
/// A plain HTTP/1.1 client.
pub mod http;
/// A small HTTP server a test runs for vigia to call (JWKS, `authHTTPAddress`), keeping every
/// request.
pub mod http_server;
/// ffprobe results as plain structs.
pub mod probe;
/// Recorded segments read back with ffprobe.
pub mod recordings;
/// A raw RTSP client for tests that inspect RTP.
pub mod rtsp_client;
pub mod s3;
/// A TCP proxy that can be taken down and brought back, for outage tests.
pub mod tcp_proxy;
/// A test CA and certificates made at test time, and a TLS client that trusts only that CA.
pub mod tls;
/// Outside tools installed into the tools cache (s3s-fs, schemathesis).
pub mod tools;
/// A blocking WebRTC test peer (str0m) for WHEP and WHIP.
pub mod webrtc;
