//! A real S3-protocol server for the snapshot tests: `s3s-fs` (SigV4 checked) on a free
//! loopback port with one bucket, its objects as files in a temporary directory; killed and
//! removed on drop. The minimal part of `conformance/src/s3.rs` (the sidecar may not depend on
//! the conformance crate); the binary comes from `scripts/install-deps.sh`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;

/// Access key id the server accepts.
pub(crate) const ACCESS_KEY: &str = "vigia";
/// Secret key the server accepts.
pub(crate) const SECRET_KEY: &str = "vigia-secret";

/// The `s3s-fs` binary: `VIGIA_S3S_FS` if set, else `$VIGIA_TOOLS/bin/s3s-fs`, else
/// `$HOME/.cache/vigia-tools/bin/s3s-fs`, else on `PATH`; panics, saying to run
/// `scripts/install-deps.sh`, when none exists.
pub(crate) fn s3s_fs_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("VIGIA_S3S_FS") {
        return PathBuf::from(bin);
    }
    let tools = std::env::var_os("VIGIA_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/vigia-tools")));
    let cached = tools.map(|t| t.join("bin/s3s-fs")).filter(|b| b.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("s3s-fs"))
                .find(|bin| bin.is_file())
        })
    };
    cached.or_else(on_path).unwrap_or_else(|| {
        panic!(
            "s3s-fs is missing (looked in $VIGIA_S3S_FS, $VIGIA_TOOLS/bin, \
             ~/.cache/vigia-tools/bin and on PATH): run scripts/install-deps.sh"
        )
    })
}

/// A running `s3s-fs`; see the module doc.
pub(crate) struct S3Server {
    child: Child,
    endpoint: String,
    dir: PathBuf,
}

impl S3Server {
    /// Starts `s3s-fs` with an empty bucket `bucket` and waits until it accepts connections.
    pub(crate) fn start(bucket: &str) -> S3Server {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("vigia-ai-s3-{}-{port}", std::process::id()));
        let data = dir.join("data");
        std::fs::create_dir_all(data.join(bucket)).expect("create the bucket directory");
        let log = std::fs::File::create(dir.join("s3s-fs.log")).expect("create the log");
        let bin = s3s_fs_bin();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let mut server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            dir,
        };
        server.wait_listening(port);
        server
    }

    /// A client builder for this server (endpoint, credentials, region, plain HTTP); add the
    /// bucket.
    pub(crate) fn builder(&self) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_region("us-east-1")
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_allow_http(true)
    }

    /// The server's log so far.
    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("s3s-fs.log")).unwrap_or_default()
    }

    fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("s3s-fs exited early with {status}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "s3s-fs did not listen on {port} within 15 s:\n{}",
            self.logs()
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nothing listens on (for a moment).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}
