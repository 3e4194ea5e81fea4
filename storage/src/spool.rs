//! The durable local spool: where a segment lives from its first part until it is stored.
//!
//! Layout: per segment, `<id>.mp4` (the init segment, then each part appended as it is made)
//! and `<id>.json` (path, destination, key, start, and once complete its duration). `id`s grow,
//! so their order is the order segments began. A part counts as recorded once
//! [`SegmentWriter::append`] returns: it was written with one vectored write and fsynced.
//!
//! Crash recovery ([`Spool::open`]): a segment without a duration was cut by a crash; its file is
//! truncated to the last whole fragment (anything after was never acknowledged), given its
//! [trailer](crate::trailer) and marked complete with the duration those fragments cover, so it
//! is uploaded as a valid fMP4.
//!
//! Size limit: when appending would take the spool past `max_size`, the oldest complete
//! segments are dropped (logged as errors and counted) until it fits; if none can be dropped
//! the new part itself is dropped and counted. Nothing else ever blocks or fails recording.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::StorageError;
use crate::segment::SegmentScan;
use crate::template::Destination;
use crate::trailer::{TRAILER_LEN, trailer};

/// What a spooled segment is and where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// The path it records.
    pub path: String,
    /// Where it is uploaded.
    pub destination: Destination,
    /// Its object key there.
    pub key: String,
    /// Wall-clock time of its first frame, UNIX µs.
    pub start_us: i64,
    /// Its duration in µs once complete.
    pub duration_us: Option<i64>,
}

/// A complete segment waiting for upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Spool id (upload order).
    pub id: u64,
    /// What it is.
    pub meta: SegmentMeta,
    /// Its data file.
    pub file: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// The spool's counters, as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Bytes in the spool now.
    pub bytes: u64,
    /// Segments in the spool now (open or waiting for upload).
    pub segments: u64,
    /// Segments dropped unsent because the spool was full.
    pub dropped_segments: u64,
    /// Bytes dropped unsent because the spool was full (whole segments and single parts).
    pub dropped_bytes: u64,
    /// Segments repaired after a crash.
    pub recovered_segments: u64,
}

/// What one path has waiting for upload (its complete segments), as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Complete segments waiting for upload.
    pub segments: u64,
    /// Their bytes.
    pub bytes: u64,
    /// End of the oldest of them (its start plus its duration, as the recording dates them),
    /// UNIX µs.
    pub oldest_end_us: i64,
}

/// The spool of one node; shared by every recorder (writing) and the uploader (reading).
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_size: u64,
    state: Mutex<State>,
    dropped_segments: AtomicU64,
    dropped_bytes: AtomicU64,
    recovered: AtomicU64,
    ready: Notify,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    total: u64,
    /// Every segment in the spool: its meta and size.
    segments: BTreeMap<u64, (SegmentMeta, u64)>,
}

/// The open segment of one recorder: appends parts, then completes it.
#[derive(Debug)]
pub struct SegmentWriter {
    spool: Arc<Spool>,
    id: u64,
    file: File,
    meta: SegmentMeta,
}

impl Spool {
    /// Opens (creating) the spool at `dir` with a limit of `max_size` bytes, repairing and
    /// completing the segments a crash left open.
    pub fn open(dir: &Path, max_size: u64) -> Result<Arc<Self>, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::file(dir, "create spool", &e))?;
        let spool = Arc::new(Spool {
            dir: dir.to_owned(),
            max_size,
            state: Mutex::new(State::default()),
            dropped_segments: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            ready: Notify::new(),
        });
        spool.recover()?;
        Ok(spool)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts a segment: writes its meta and its init segment, fsynced.
    pub fn begin(
        self: &Arc<Self>,
        meta: SegmentMeta,
        init: &Bytes,
    ) -> Result<SegmentWriter, StorageError> {
        let id = {
            let mut state = self.lock();
            state.next_id += 1;
            state.next_id
        };
        write_meta(&self.meta_file(id), &meta)?;
        let data = self.data_file(id);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&data)
            .map_err(|e| StorageError::file(&data, "create", &e))?;
        self.lock().segments.insert(id, (meta.clone(), 0));
        let mut writer = SegmentWriter {
            spool: self.clone(),
            id,
            file,
            meta,
        };
        writer.append(std::slice::from_ref(init))?;
        Ok(writer)
    }

    /// The oldest complete segment, if any.
    pub fn next_pending(&self) -> Option<Pending> {
        let state = self.lock();
        let (id, (meta, size)) = state
            .segments
            .iter()
            .find(|(_, (m, _))| m.duration_us.is_some())?;
        Some(Pending {
            id: *id,
            meta: meta.clone(),
            file: self.data_file(*id),
            size: *size,
        })
    }

    /// Waits until a segment may have become complete.
    pub async fn wait_ready(&self) {
        self.ready.notified().await;
    }

    /// Removes segment `id` (uploaded, or dropped); a missing one is fine.
    pub fn remove(&self, id: u64) {
        {
            let mut state = self.lock();
            if let Some((_, size)) = state.segments.remove(&id) {
                state.total = state.total.saturating_sub(size);
            }
        }
        let _ = std::fs::remove_file(self.data_file(id));
        let _ = std::fs::remove_file(self.meta_file(id));
    }

    /// The spool's counters.
    pub fn stats(&self) -> SpoolStats {
        let state = self.lock();
        SpoolStats {
            bytes: state.total,
            segments: state.segments.len() as u64,
            dropped_segments: self.dropped_segments.load(Ordering::Relaxed),
            dropped_bytes: self.dropped_bytes.load(Ordering::Relaxed),
            recovered_segments: self.recovered.load(Ordering::Relaxed),
        }
    }

    /// The upload backlog of every path that has one: one pass over the spool's table under
    /// its lock, no file access, so it can be taken every second.
    pub fn backlog(&self) -> HashMap<String, Backlog> {
        let state = self.lock();
        let mut out: HashMap<String, Backlog> = HashMap::new();
        for (meta, size) in state.segments.values() {
            let Some(duration_us) = meta.duration_us else {
                continue;
            };
            let end_us = meta.start_us.saturating_add(duration_us);
            let b = out.entry(meta.path.clone()).or_insert(Backlog {
                oldest_end_us: end_us,
                ..Backlog::default()
            });
            b.segments += 1;
            b.bytes += size;
            b.oldest_end_us = b.oldest_end_us.min(end_us);
        }
        out
    }

    /// Makes room for `n` more bytes by dropping the oldest complete segments; `false` if
    /// even that is not enough.
    fn make_room(&self, n: u64) -> bool {
        loop {
            let victim = {
                let state = self.lock();
                if state.total + n <= self.max_size {
                    return true;
                }
                state
                    .segments
                    .iter()
                    .find(|(_, (m, _))| m.duration_us.is_some())
                    .map(|(id, (m, size))| (*id, m.clone(), *size))
            };
            let Some((id, meta, size)) = victim else {
                return false;
            };
            tracing::error!(
                path = %meta.path,
                "spool full ({} bytes max): dropping unsent segment {} ({size} bytes)",
                self.max_size,
                meta.key
            );
            self.dropped_segments.fetch_add(1, Ordering::Relaxed);
            self.dropped_bytes.fetch_add(size, Ordering::Relaxed);
            self.remove(id);
        }
    }

    fn recover(&self) -> Result<(), StorageError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| StorageError::file(&self.dir, "read spool", &e))?;
        let mut ids: Vec<u64> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        for id in ids {
            self.recover_one(id);
        }
        let mut state = self.lock();
        state.next_id = state.segments.keys().next_back().copied().unwrap_or(0);
        Ok(())
    }

    fn recover_one(&self, id: u64) {
        let (meta_file, data_file) = (self.meta_file(id), self.data_file(id));
        let meta: Option<SegmentMeta> = std::fs::read(&meta_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let Some(mut meta) = meta else {
            tracing::error!("spool: {} is unreadable; removing it", meta_file.display());
            let _ = std::fs::remove_file(&meta_file);
            let _ = std::fs::remove_file(&data_file);
            return;
        };
        let size = if meta.duration_us.is_some() {
            std::fs::metadata(&data_file).map_or(0, |m| m.len())
        } else {
            match repair(&data_file) {
                Some((len, duration_us)) => {
                    meta.duration_us = Some(duration_us);
                    if write_meta(&meta_file, &meta).is_err() {
                        return;
                    }
                    self.recovered.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path = %meta.path, "spool: recovered {} ({len} bytes, {:.1} s) after a crash", meta.key, duration_us as f64 / 1e6);
                    len
                }
                None => {
                    let _ = std::fs::remove_file(&meta_file);
                    let _ = std::fs::remove_file(&data_file);
                    return;
                }
            }
        };
        let mut state = self.lock();
        state.total += size;
        state.segments.insert(id, (meta, size));
    }

    fn data_file(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.mp4"))
    }

    fn meta_file(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.json"))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SegmentWriter {
    /// Appends `chunks` (one part) with one vectored write and fsyncs; after `Ok`, the part
    /// survives a crash. When the spool is full and no complete segment can be dropped, the
    /// part is dropped and counted (`Ok(false)`).
    pub fn append(&mut self, chunks: &[Bytes]) -> Result<bool, StorageError> {
        let n: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        if !self.spool.make_room(n) {
            self.spool.dropped_bytes.fetch_add(n, Ordering::Relaxed);
            tracing::error!(path = %self.meta.path, "spool full: dropping a {n}-byte part of {}", self.meta.key);
            return Ok(false);
        }
        let data = self.spool.data_file(self.id);
        write_all_vectored(&mut self.file, chunks)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StorageError::file(&data, "append part", &e))?;
        let mut state = self.spool.lock();
        state.total += n;
        if let Some((_, size)) = state.segments.get_mut(&self.id) {
            *size += n;
        }
        Ok(true)
    }

    /// Appends the [trailer](crate::trailer) and marks the segment complete with its duration;
    /// the uploader takes it from here.
    pub fn finish(mut self, duration_us: i64) -> Result<(), StorageError> {
        self.append(&[trailer(duration_us)])?;
        self.meta.duration_us = Some(duration_us);
        write_meta(&self.spool.meta_file(self.id), &self.meta)?;
        if let Some((meta, _)) = self.spool.lock().segments.get_mut(&self.id) {
            meta.duration_us = Some(duration_us);
        }
        self.spool.ready.notify_one();
        Ok(())
    }

    /// What the segment is.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }
}

/// Truncates a crash-cut segment file to its whole fragments; returns its new length and
/// duration, or `None` if it holds no whole fragment (nothing to keep).
fn repair(file: &Path) -> Option<(u64, i64)> {
    let data = std::fs::read(file).ok()?;
    let scan = SegmentScan::scan(&data);
    if scan.fragments.is_empty() {
        return None;
    }
    let mut f = OpenOptions::new().write(true).open(file).ok()?;
    f.set_len(scan.valid_len as u64).ok()?;
    let duration_us = scan.duration_us();
    f.seek(SeekFrom::End(0)).ok()?;
    f.write_all(&trailer(duration_us)).ok()?;
    f.sync_all().ok()?;
    Some(((scan.valid_len + TRAILER_LEN) as u64, duration_us))
}

/// Writes `meta` to `file` atomically: a temporary file, fsync, rename, fsync of the directory.
fn write_meta(file: &Path, meta: &SegmentMeta) -> Result<(), StorageError> {
    let tmp = file.with_extension("tmp");
    let bytes = serde_json::to_vec(meta).unwrap_or_default();
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        if let Some(dir) = file.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| StorageError::file(file, "write segment meta", &e))
}

/// Writes every chunk, with as few `writev` calls as the kernel allows (no copy into one
/// buffer first): the spool's parts, and HLS segments kept on disk.
pub fn write_all_vectored(file: &mut File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = file.write_vectored(rest)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
