//! Where snapshots go (`VIGIA_AI_SNAPSHOTS`): an S3-protocol bucket or a local directory,
//! through `object_store`, and the rule that a store in trouble never holds a detection back.
//!
//! [`SnapshotStore::attach`] stores a detection's crop at its [`snapshot_key`] and sets the
//! event's `snapshotKey`, or, when the store fails, leaves the event without it, logs a warning
//! and counts the failure. A failure costs at most [`PUT_LIMIT`] (two quick retries inside,
//! [`bounded_retry`]); after one, the store is not tried for [`PAUSE_AFTER_FAILURE`] (those
//! detections go out at once without a key, counted as failures too), so an S3 that hangs
//! delays the events by at most [`PUT_LIMIT`] every [`PAUSE_AFTER_FAILURE`].
//!
//! S3 settings come from the standard variables `object_store` reads, as for `vigia`'s
//! recordings (`storage/src/store.rs`): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_ENDPOINT_URL` (MinIO, s3s), `AWS_REGION`, `AWS_ALLOW_HTTP=true` for a plain HTTP
//! endpoint; requests are path-style unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::aws::AmazonS3ConfigKey::Client;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use vigia_events::{Event, EventData};

use super::{Jpeg, SnapshotError, snapshot_key};

/// The longest one snapshot may take to store, retries included.
pub const PUT_LIMIT: Duration = Duration::from_secs(8);
/// How long the store is left alone after a failure.
pub const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Where `VIGIA_AI_SNAPSHOTS` says snapshots go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotTarget {
    /// `s3://<bucket>[/<prefix>]`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/` (empty for none).
        prefix: String,
    },
    /// `file:///<dir>` or a plain path: a local directory (created if missing).
    Local {
        /// The directory.
        root: PathBuf,
    },
}

impl SnapshotTarget {
    /// Parses `s3://bucket/prefix`, `file:///dir` or a directory path.
    pub fn parse(text: &str) -> Result<SnapshotTarget, String> {
        let t = text.trim();
        let bad = |why: &str| {
            format!("{t:?} {why}; expected s3://bucket/prefix, file:///dir or a directory")
        };
        if let Some(rest) = t.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c);
            if bucket.is_empty() || !bucket.chars().all(valid) {
                return Err(bad("has no valid bucket name"));
            }
            return Ok(SnapshotTarget::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if t.starts_with("file:") {
            let root = url::Url::parse(t)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| bad("is not a file:/// URL of a directory"))?;
            return Ok(SnapshotTarget::Local { root });
        }
        if t.contains("://") {
            return Err(bad("is neither S3 nor a directory"));
        }
        Ok(SnapshotTarget::Local {
            root: PathBuf::from(t),
        })
    }
}

/// What [`SnapshotStore::attach`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached {
    /// Not a detection, or one without a snapshot: nothing to store.
    Nothing,
    /// Stored; the event carries this key.
    Stored(String),
    /// Not stored (the store failed, now or a moment ago); the event carries no key.
    Failed,
}

/// Counters of a store, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Snapshots stored.
    pub stored: u64,
    /// Detections published without their snapshot because the store failed.
    pub failed: u64,
}

/// The snapshot store of a run; see the module doc.
#[derive(Debug)]
pub struct SnapshotStore {
    inner: Arc<dyn ObjectStore>,
    prefix: String,
    label: String,
    limit: Duration,
    pause: Duration,
    paused_until: Option<Instant>,
    stats: SnapshotStats,
}

impl SnapshotStore {
    /// Opens `target`: for S3 a client configured from the `AWS_*` environment (no request is
    /// made yet: an S3 down at start stops nothing); for a directory, the directory, created
    /// if missing.
    pub fn open(target: &SnapshotTarget) -> Result<SnapshotStore, String> {
        match target {
            SnapshotTarget::S3 { bucket, prefix } => {
                SnapshotStore::s3(AmazonS3Builder::from_env(), bucket, prefix)
            }
            SnapshotTarget::Local { root } => {
                std::fs::create_dir_all(root)
                    .map_err(|e| format!("create directory {}: {e}", root.display()))?;
                let fs = LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| format!("open directory {}: {e}", root.display()))?;
                let label = root.display().to_string();
                Ok(SnapshotStore::new(Arc::new(fs), "", label))
            }
        }
    }

    /// The bucket `bucket` of the S3 service `builder` describes (endpoint, credentials),
    /// with keys under `prefix`, and this module's time limits and retries.
    pub fn s3(
        builder: AmazonS3Builder,
        bucket: &str,
        prefix: &str,
    ) -> Result<SnapshotStore, String> {
        let s3 = builder
            .with_bucket_name(bucket)
            .with_retry(bounded_retry())
            .with_config(Client(ClientConfigKey::ConnectTimeout), "2s")
            .with_config(Client(ClientConfigKey::Timeout), "5s")
            .build()
            .map_err(|e| format!("s3://{bucket}: configuration from AWS_* variables: {e}"))?;
        Ok(SnapshotStore::new(
            Arc::new(s3),
            prefix,
            format!("s3://{bucket}"),
        ))
    }

    /// A store over any `object_store` (tests use an in-memory one); `label` names it in
    /// errors.
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        prefix: &str,
        label: impl Into<String>,
    ) -> SnapshotStore {
        SnapshotStore {
            inner,
            prefix: prefix.trim_matches('/').to_owned(),
            label: label.into(),
            limit: PUT_LIMIT,
            pause: PAUSE_AFTER_FAILURE,
            paused_until: None,
            stats: SnapshotStats::default(),
        }
    }

    /// The same store with other limits than [`PUT_LIMIT`] and [`PAUSE_AFTER_FAILURE`].
    pub fn with_limits(mut self, limit: Duration, pause: Duration) -> SnapshotStore {
        (self.limit, self.pause) = (limit, pause);
        self
    }

    /// `s3://bucket` or the directory: for logs.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The counters so far.
    pub fn stats(&self) -> SnapshotStats {
        self.stats
    }

    /// Stores `snapshot`, if any, of the detection `event` and sets its `snapshotKey`; see the
    /// module doc for what happens when the store fails. Other events are left alone.
    pub async fn attach(&mut self, event: &mut Event, snapshot: Option<&Jpeg>) -> Attached {
        let (EventData::LprDetected(detection), Some(jpeg)) = (&mut event.data, snapshot) else {
            return Attached::Nothing;
        };
        let (camera, event_id) = (detection.camera_id.as_str(), event.id.as_str());
        if self.paused_until.is_some_and(|t| Instant::now() < t) {
            self.stats.failed += 1;
            tracing::debug!(
                camera,
                event_id,
                "snapshot not stored: the store failed a moment ago"
            );
            return Attached::Failed;
        }
        let key = snapshot_key(&self.prefix, camera, detection.detected_at, event_id);
        match self.put(&key, jpeg).await {
            Ok(()) => {
                self.paused_until = None;
                self.stats.stored += 1;
                detection.snapshot_key = Some(key.to_string());
                Attached::Stored(key.into())
            }
            Err(e) => {
                self.paused_until = Some(Instant::now() + self.pause);
                self.stats.failed += 1;
                tracing::warn!(
                    camera,
                    event_id,
                    error = %e,
                    failed = self.stats.failed,
                    paused_s = self.pause.as_secs(),
                    "snapshot not stored; the detection goes out without snapshotKey"
                );
                Attached::Failed
            }
        }
    }

    /// Puts `jpeg` at `key`, giving up after the time limit.
    pub async fn put(&self, key: &Path, jpeg: &Jpeg) -> Result<(), SnapshotError> {
        let err = |cause: String| SnapshotError::Store {
            location: format!("{}/{key}", self.label),
            cause,
        };
        let put = self.inner.put(key, PutPayload::from(jpeg.0.clone()));
        match tokio::time::timeout(self.limit, put).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(err(describe(&e))),
            Err(_) => Err(err(format!("no answer within {:?}", self.limit))),
        }
    }
}

/// Two quick retries of a failed request within 4 s (object_store's default retries one
/// request for up to three minutes; a detection must not wait that long).
pub fn bounded_retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(4),
    }
}

/// The error with its whole cause chain (object_store's top-level message hides the HTTP
/// status and S3's error code).
fn describe(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;
    use vigia_events::LprDetected;

    use super::*;

    #[test]
    fn targets_parse_and_errors_say_what_is_expected() {
        let s3 = |bucket: &str, prefix: &str| SnapshotTarget::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
        };
        let local = |root: &str| SnapshotTarget::Local { root: root.into() };
        let cases = [
            ("s3://snaps", Ok(s3("snaps", ""))),
            (" s3://snaps/vigia/ai/ ", Ok(s3("snaps", "vigia/ai"))),
            (
                "file:///var/lib/vigia-ai/snaps",
                Ok(local("/var/lib/vigia-ai/snaps")),
            ),
            ("snaps", Ok(local("snaps"))),
            ("/tmp/x", Ok(local("/tmp/x"))),
            ("s3://", Err("has no valid bucket name")),
            ("s3://Snaps_1/x", Err("has no valid bucket name")),
            ("file://host/x", Err("is not a file:/// URL")),
            ("https://s3.example/x", Err("is neither S3 nor a directory")),
        ];
        for (text, want) in cases {
            match (SnapshotTarget::parse(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
    }

    fn detection() -> Event {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T13:45:12Z")
            .unwrap()
            .to_utc();
        Event::new(
            crate::events::SOURCE,
            EventData::LprDetected(LprDetected {
                camera_id: "cam-12".into(),
                plate: vigia_events::Plate::parse("ABC1D23").unwrap(),
                confidence: 0.9,
                detected_at: at,
                snapshot_key: None,
                format: None,
                bounding_box: None,
            }),
        )
    }

    fn key_of(event: &Event) -> Option<&str> {
        match &event.data {
            EventData::LprDetected(d) => d.snapshot_key.as_deref(),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_stored_snapshot_is_referenced_by_its_key() {
        let memory = Arc::new(InMemory::new());
        let mut store = SnapshotStore::new(memory.clone(), "/snaps/", "memory");
        let jpeg = Jpeg(Bytes::from_static(b"\xFF\xD8 not really \xFF\xD9"));
        let mut event = detection();
        let got = store.attach(&mut event, Some(&jpeg)).await;
        let want = format!("snaps/lpr/cam-12/2026-12-02/{}.jpg", event.id);
        assert_eq!(got, Attached::Stored(want.clone()));
        assert_eq!(key_of(&event), Some(want.as_str()));
        let back = memory.get(&Path::from(want.as_str())).await.unwrap();
        assert_eq!(back.bytes().await.unwrap(), jpeg.0);
        // No snapshot, or not a detection: nothing stored, nothing set.
        let mut bare = detection();
        assert_eq!(store.attach(&mut bare, None).await, Attached::Nothing);
        assert_eq!(key_of(&bare), None);
        assert_eq!(
            store.stats(),
            SnapshotStats {
                stored: 1,
                failed: 0
            }
        );
        crate::events::schema::assert_valid(&event);
    }

    #[tokio::test]
    async fn a_directory_store_keeps_the_snapshot_at_its_key() {
        let root = std::env::temp_dir().join(format!("vigia-ai-snaps-{}", std::process::id()));
        let target = SnapshotTarget::parse(root.to_str().unwrap()).unwrap();
        let mut store = SnapshotStore::open(&target).unwrap();
        assert_eq!(store.label(), root.display().to_string());
        let jpeg = Jpeg(Bytes::from_static(b"jpeg"));
        let mut event = detection();
        let Attached::Stored(key) = store.attach(&mut event, Some(&jpeg)).await else {
            panic!("not stored")
        };
        assert_eq!(std::fs::read(root.join(&key)).unwrap(), b"jpeg");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[tokio::test]
    async fn a_failing_store_is_left_alone_for_a_while() {
        // A directory where a file is: every put fails at once.
        let file = std::env::temp_dir().join(format!("vigia-ai-snap-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let fs = LocalFileSystem::new_with_prefix(&file).unwrap();
        let mut store = SnapshotStore::new(Arc::new(fs), "", "file")
            .with_limits(Duration::from_secs(1), Duration::from_secs(60));
        let jpeg = Jpeg(Bytes::from_static(b"jpeg"));
        for _ in 0..3 {
            let mut event = detection();
            assert_eq!(
                store.attach(&mut event, Some(&jpeg)).await,
                Attached::Failed
            );
            assert_eq!(key_of(&event), None);
        }
        assert_eq!(
            store.stats(),
            SnapshotStats {
                stored: 0,
                failed: 3
            }
        );
        std::fs::remove_file(&file).unwrap();
    }
}
