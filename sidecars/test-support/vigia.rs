//! A real `vigia` process for the sidecars' end-to-end tests: the release binary
//! (`target/release/vigia`, or `$VIGIA_BIN`; `test.sh` builds it before the tests) started in a
//! directory of its own with a YAML config, its output in `vigia.log` there, killed on drop.
//!
//! A source file included with `#[path]` by `sidecars/cidades/tests/vigia.rs` and
//! `sidecars/admin/tests/vigia.rs`, not a crate: sidecars may depend on no workspace crate but
//! `vigia-events` (`.ci/check-deps.py`), and this needs nothing but `std`, `tokio` and `rand`,
//! which every sidecar has.

#![allow(dead_code, unreachable_pub)]

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A `vigia` process in its own directory, killed on drop.
pub struct Vigia {
    child: Child,
    dir: PathBuf,
}

impl Vigia {
    /// Starts `vigia vigia.yml` with `config` as that file and `env` added to its environment,
    /// in a fresh directory whose name starts with `prefix`.
    pub fn spawn(prefix: &str, config: &str, env: &[(&str, &str)]) -> Vigia {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vigia.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("vigia.log")).unwrap();
        let child = Command::new(vigia_bin())
            .arg("vigia.yml")
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn vigia");
        Vigia { child, dir }
    }

    /// Everything it has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("vigia.log")).unwrap_or_default()
    }

    /// Whether its log contains `needle` within `within`.
    pub async fn logs_soon_contain(&self, needle: &str, within: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.logs().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Waits until `127.0.0.1:port` accepts connections, panicking with the log after `within`.
    pub async fn wait_listening(&self, port: u16, within: Duration) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < within,
                "vigia does not listen on {port} after {within:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Vigia {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The release `vigia`: `$VIGIA_BIN`, else `target/release/vigia` of this workspace.
pub fn vigia_bin() -> PathBuf {
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

/// A port free for TCP and UDP now (and `port + 1` too when `pair`), below the ephemeral range
/// (32768 and up), so no outgoing connection takes it meanwhile.
pub fn free_port(pair: bool) -> u16 {
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

/// The listener lines of a config whose RTSP and HLS listeners are on 127.0.0.1, whose UDP
/// ports (RTP/RTCP, multicast) are free ones and whose WebRTC listener is off (its default
/// `:8889` would collide between tests): `(yaml, rtsp port, hls port)`.
pub fn listeners() -> (String, u16, u16) {
    let (rtsp, hls, rtp, mcast) = (
        free_port(false),
        free_port(false),
        free_port(true),
        free_port(true),
    );
    let yaml = format!(
        "rtspAddress: 127.0.0.1:{rtsp}\nhlsAddress: 127.0.0.1:{hls}\nrtpAddress: :{rtp}\n\
         rtcpAddress: :{}\nmulticastRTPPort: {mcast}\nmulticastRTCPPort: {}\nwebrtc: no\n",
        rtp + 1,
        mcast + 1
    );
    (yaml, rtsp, hls)
}
