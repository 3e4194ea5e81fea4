//! A real S3-protocol server for tests: `s3s-fs` (SigV4 checked, multipart, ListObjectsV2) on a
//! free loopback port, storing objects as files in a temporary directory, plus a small blocking
//! client (the `object_store` crate, the one `vigia` records with) to look at what was written.
//!
//! The binary comes from `scripts/install-deps.sh` (`cargo install s3s-fs@0.14.1` into the tools
//! cache); see [`s3s_fs_bin`] for where it is looked for.
//!
//! ```no_run
//! use vigia_conformance::s3::S3Server;
//!
//! let s3 = S3Server::start("recordings");
//! // vigia gets the server through the standard AWS_* variables:
//! // Vigia::spawn(dir, &["vigia.yml"], &s3.env(), port);
//! for (key, size) in s3.objects("cam1/") {
//!     println!("{key}: {size} bytes");
//! }
//! ```

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

use crate::{TempDir, free_port};

/// Access key id the server accepts.
pub const ACCESS_KEY: &str = "vigia";
/// Secret key the server accepts.
pub const SECRET_KEY: &str = "vigia-secret";
/// Region clients sign for (`s3s-fs` accepts any; `object_store` needs one).
pub const REGION: &str = "us-east-1";

/// How long [`S3Server::start`] and [`S3Server::restart`] wait for the port to accept connections.
const START_LIMIT: Duration = Duration::from_secs(15);

/// The `s3s-fs` binary: `VIGIA_S3S_FS` if set, else `$VIGIA_TOOLS/bin/s3s-fs`, else
/// `$HOME/.cache/vigia-tools/bin/s3s-fs`, else `s3s-fs` on `PATH`. Panics, saying to run
/// `scripts/install-deps.sh`, when none exists.
pub fn s3s_fs_bin() -> PathBuf {
    crate::tools::tool_bin("s3s-fs", "VIGIA_S3S_FS", "s3s-fs 0.14.1")
}

/// A running `s3s-fs` on `127.0.0.1:<port>` with one bucket, killed on drop. Objects live as
/// files under a temporary directory that survives [`Self::stop`] and [`Self::restart`] and is
/// removed on drop. The server's output goes to a log printed when a test panics.
pub struct S3Server {
    child: Option<Child>,
    port: u16,
    bucket: String,
    endpoint: String,
    client: S3Client,
    /// Holds `data/` (one directory per bucket) and `s3s-fs.log`.
    dir: TempDir,
}

impl S3Server {
    /// Starts `s3s-fs` on a free port with an empty bucket named `bucket`, and waits until it
    /// accepts connections.
    pub fn start(bucket: &str) -> Self {
        let dir = TempDir::new("vigia-s3");
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join(bucket))
            .unwrap_or_else(|e| panic!("create bucket directory {bucket}: {e}"));
        let port = free_port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = S3Client::new(&endpoint, bucket, ACCESS_KEY, SECRET_KEY);
        let mut server = Self {
            child: None,
            port,
            bucket: bucket.to_string(),
            endpoint,
            client,
            dir,
        };
        server.spawn();
        server
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("s3s-fs.log")
    }

    /// Starts the process (appending to the log) and waits for its port.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open s3s-fs log");
        let err = log.try_clone().expect("clone s3s-fs log handle");
        let bin = s3s_fs_bin();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.data_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        self.child = Some(child);
        self.wait_listening();
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + START_LIMIT;
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("s3s-fs exited early with {status}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "s3s-fs did not listen on {} within {START_LIMIT:?}:\n{}",
            self.port,
            self.logs()
        );
    }

    /// Kills the server; requests fail (connection refused) until [`Self::restart`]. The stored
    /// objects stay. Does nothing when already stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory (stopping it first if it is
    /// running), and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// The TCP port the server listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bucket created at start.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The environment variables that point `vigia` (through `object_store`'s
    /// `AmazonS3Builder::from_env`) at this server: credentials, endpoint (path-style requests
    /// are `object_store`'s default), region and plain HTTP. Pass them to [`crate::Vigia::spawn`].
    pub fn env(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_ENDPOINT_URL", &self.endpoint),
            ("AWS_REGION", REGION),
            ("AWS_ALLOW_HTTP", "true"),
        ]
    }

    /// A client of this server's bucket that signs with `secret` instead of the right secret key
    /// (to check that the server refuses it).
    pub fn client_with_secret(&self, secret: &str) -> S3Client {
        S3Client::new(&self.endpoint, &self.bucket, ACCESS_KEY, secret)
    }

    /// The client [`Self::objects`], [`Self::get`] and [`Self::put`] use (right credentials),
    /// for its non-panicking `try_*` methods.
    pub fn client(&self) -> &S3Client {
        &self.client
    }

    /// `(key, size)` of every object whose key starts with `prefix` (`""` for all), sorted by
    /// key, listed through the S3 API. Panics when the request fails.
    pub fn objects(&self, prefix: &str) -> Vec<(String, u64)> {
        self.client.objects(prefix)
    }

    /// The object at `key`, read through the S3 API. Panics when it is missing or the request
    /// fails.
    pub fn get(&self, key: &str) -> Vec<u8> {
        self.client.get(key)
    }

    /// Writes `bytes` at `key` through the S3 API. Panics when the request fails.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        self.client.put(key, bytes)
    }

    /// Everything the server printed so far (all runs).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- s3s-fs log ----\n{}", self.logs());
        }
    }
}

/// A blocking S3 client of one bucket (`object_store` driven by its own current-thread tokio
/// runtime). It fails fast: one retry within 2 s, so a stopped server is an error, not a wait.
pub struct S3Client {
    store: AmazonS3,
    runtime: tokio::runtime::Runtime,
    endpoint: String,
}

impl S3Client {
    /// A client of `bucket` at `endpoint` (`http://host:port`, path-style requests) signing with
    /// `access_key` and `secret`.
    pub fn new(endpoint: &str, bucket: &str, access_key: &str, secret: &str) -> Self {
        let options = ClientOptions::new()
            .with_allow_http(true)
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(20))
            // No idle connections: after a restart a pooled one would be dead.
            .with_pool_max_idle_per_host(0);
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 1,
            retry_timeout: Duration::from_secs(2),
        };
        let store = AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_bucket_name(bucket)
            .with_region(REGION)
            .with_access_key_id(access_key)
            .with_secret_access_key(secret)
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .unwrap_or_else(|e| panic!("S3 client for {endpoint}/{bucket}: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime for the S3 client");
        Self {
            store,
            runtime,
            endpoint: format!("{endpoint}/{bucket}"),
        }
    }

    /// Like [`Self::objects`], returning the error instead of panicking.
    pub fn try_objects(&self, prefix: &str) -> object_store::Result<Vec<(String, u64)>> {
        // object_store lists whole path segments; list the enclosing "directory" and filter, so
        // `prefix` is a plain string prefix as in S3.
        let dir = prefix.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
        let dir = match dir {
            "" => None,
            dir => Some(ObjectPath::parse(dir)?),
        };
        let mut objects: Vec<(String, u64)> = self.runtime.block_on(async {
            self.store
                .list(dir.as_ref())
                .map_ok(|meta| (meta.location.to_string(), meta.size))
                .try_collect()
                .await
        })?;
        objects.retain(|(key, _)| key.starts_with(prefix));
        objects.sort();
        Ok(objects)
    }

    /// Like [`Self::get`], returning the error instead of panicking.
    pub fn try_get(&self, key: &str) -> object_store::Result<Vec<u8>> {
        let path = object_path(key);
        self.runtime.block_on(async {
            let bytes = self.store.get(&path).await?.bytes().await?;
            Ok(bytes.to_vec())
        })
    }

    /// Like [`Self::put`], returning the error instead of panicking.
    pub fn try_put(&self, key: &str, bytes: &[u8]) -> object_store::Result<()> {
        let path = object_path(key);
        let payload = PutPayload::from(bytes.to_vec());
        self.runtime
            .block_on(self.store.put(&path, payload))
            .map(|_| ())
    }

    /// `(key, size)` of every object whose key starts with `prefix` (`""` for all), sorted by
    /// key. Panics when the request fails.
    pub fn objects(&self, prefix: &str) -> Vec<(String, u64)> {
        self.try_objects(prefix)
            .unwrap_or_else(|e| panic!("S3 list {}/{prefix}*: {e}", self.endpoint))
    }

    /// The object at `key`. Panics when it is missing or the request fails.
    pub fn get(&self, key: &str) -> Vec<u8> {
        self.try_get(key)
            .unwrap_or_else(|e| panic!("S3 get {}/{key}: {e}", self.endpoint))
    }

    /// Writes `bytes` at `key`. Panics when the request fails.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        self.try_put(key, bytes)
            .unwrap_or_else(|e| panic!("S3 put {}/{key}: {e}", self.endpoint))
    }
}

/// `key` as an object_store path; panics on keys object_store cannot represent (empty segments,
/// `.`/`..`).
fn object_path(key: &str) -> ObjectPath {
    ObjectPath::parse(key).unwrap_or_else(|e| panic!("S3 key {key:?}: {e}"))
}
