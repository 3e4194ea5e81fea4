//! Where segments end up: a local directory or an S3-protocol bucket, through `object_store`.
//!
//! S3 settings come from the standard environment variables that `object_store` reads:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` (MinIO), `AWS_REGION`,
//! `AWS_ALLOW_HTTP=true` (plain HTTP endpoints), and the other `AWS_*` keys it documents.
//! Path-style requests are used unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`, which is what
//! MinIO expects.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::ClientConfigKey;
use object_store::RetryConfig;
use object_store::aws::AmazonS3Builder;
use object_store::aws::AmazonS3ConfigKey::Client;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::StorageError;
use crate::template::Destination;

/// Segments at most this large are sent in one PUT; larger ones as a multipart upload of
/// parts this large, read from the spool file one part at a time.
pub const MULTIPART_CHUNK: usize = 8 << 20;

/// An object store holding recordings, with errors that name the bucket and key.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    label: String,
}

impl Store {
    /// Opens the destination: for S3, a client configured from the `AWS_*` environment (no
    /// request is made yet, so an unreachable S3 does not stop the server); for a local
    /// directory, the directory (created if missing).
    pub fn open(destination: &Destination) -> Result<Self, StorageError> {
        match destination {
            Destination::S3 { bucket } => {
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(quick_retry())
                    .with_config(Client(ClientConfigKey::ConnectTimeout), "5s")
                    .with_config(Client(ClientConfigKey::Timeout), "120s")
                    .build()
                    .map_err(|e| StorageError::Store {
                        location: format!("s3://{bucket}"),
                        what: format!("configuration from AWS_* variables: {e}"),
                    })?;
                Ok(Store {
                    inner: Arc::new(s3),
                    label: format!("s3://{bucket}"),
                })
            }
            Destination::Local { root } => {
                std::fs::create_dir_all(root)
                    .map_err(|e| StorageError::file(root, "create directory", &e))?;
                let fs = LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| StorageError::file(root, "open", &std::io::Error::other(e)))?;
                Ok(Store {
                    inner: Arc::new(fs.with_automatic_cleanup(true)),
                    label: root.display().to_string(),
                })
            }
        }
    }

    /// A store in memory (tests, benches).
    pub fn in_memory() -> Self {
        Store {
            inner: Arc::new(InMemory::new()),
            label: "memory".to_owned(),
        }
    }

    /// `s3://bucket` or the local root: for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Uploads the local file `file` of `size` bytes as `key`: one PUT when it is at most
    /// [`MULTIPART_CHUNK`], else a multipart upload reading one chunk at a time.
    pub async fn put_file(&self, key: &str, file: &FsPath, size: u64) -> Result<(), StorageError> {
        let mut f = tokio::fs::File::open(file)
            .await
            .map_err(|e| StorageError::file(file, "open", &e))?;
        let location = Path::from(key);
        if size <= MULTIPART_CHUNK as u64 {
            let mut data = Vec::with_capacity(size as usize);
            f.read_to_end(&mut data)
                .await
                .map_err(|e| StorageError::file(file, "read", &e))?;
            let payload = PutPayload::from(Bytes::from(data));
            self.inner
                .put(&location, payload)
                .await
                .map_err(|e| self.error(key, e))?;
            return Ok(());
        }
        let upload = self
            .inner
            .put_multipart(&location)
            .await
            .map_err(|e| self.error(key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_CHUNK);
        let mut buf = vec![0u8; MULTIPART_CHUNK];
        loop {
            let n = f
                .read(&mut buf)
                .await
                .map_err(|e| StorageError::file(file, "read", &e))?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(2)
                .await
                .map_err(|e| self.error(key, e))?;
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(|e| self.error(key, e))?;
        Ok(())
    }

    /// Stores `data` as `key` in one PUT.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.inner
            .put(&Path::from(key), PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| self.error(key, e))
    }

    /// Bytes `range` of `key`.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StorageError> {
        self.inner
            .get_range(&Path::from(key), range)
            .await
            .map_err(|e| self.error(key, e))
    }

    /// The whole object `key` as a stream of chunks, as they arrive (never held whole).
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let result = self
            .inner
            .get(&Path::from(key))
            .await
            .map_err(|e| self.error(key, e))?;
        let (store, key) = (self.clone(), key.to_owned());
        Ok(result
            .into_stream()
            .map_err(move |e| store.error(&key, e))
            .boxed())
    }

    /// Deletes `key`; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(key, e)),
        }
    }

    /// Every object under `prefix` (a directory prefix ending with `/`, or empty), as
    /// `(key, size)`, in the order the store lists them.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let dir = prefix.trim_end_matches('/');
        let prefix_path = (!dir.is_empty()).then(|| Path::from(dir));
        let metas: Vec<_> = self
            .inner
            .list(prefix_path.as_ref())
            .try_collect()
            .await
            .map_err(|e| self.error(prefix, e))?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect())
    }

    fn error(&self, key: &str, e: object_store::Error) -> StorageError {
        StorageError::Store {
            location: format!("{}/{key}", self.label),
            what: describe(&e),
        }
    }
}

/// Few, quick retries inside one request: the uploader retries whole segments with its own
/// backoff and must hear of an outage within seconds (object_store's default keeps one request
/// retrying for up to three minutes).
fn quick_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
        ..RetryConfig::default()
    }
}

/// The error with its whole cause chain (object_store's top-level message hides the HTTP
/// status and S3's error code, which say whether the bucket is missing or the key is wrong).
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
    use super::*;

    #[tokio::test]
    async fn local_round_trip_single_and_multipart() {
        let root = std::env::temp_dir().join(format!("vigia-store-{}", std::process::id()));
        let store = Store::open(&Destination::Local { root: root.clone() }).unwrap();
        let src = root.join("src.bin");
        for size in [10usize, MULTIPART_CHUNK + 5] {
            let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
            std::fs::write(&src, &data).unwrap();
            let key = format!("cam/{size}.mp4");
            store.put_file(&key, &src, size as u64).await.unwrap();
            let got = store.get_range(&key, 0..size as u64).await.unwrap();
            assert_eq!(got.len(), size);
            assert!(got.as_ref() == data.as_slice());
        }
        let mut keys = store.list("cam/").await.unwrap();
        keys.sort();
        assert_eq!(keys.len(), 2);
        store.delete("cam/10.mp4").await.unwrap();
        store.delete("cam/10.mp4").await.unwrap();
        assert_eq!(store.list("cam/").await.unwrap().len(), 1);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
