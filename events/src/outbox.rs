//! The durable on-disk outbox: an append-only, fsynced log of events not yet confirmed by the
//! broker.
//!
//! Files in the outbox directory:
//! - `outbox.<generation>.log`: one record per line, `<type>\t<event json>\n`, appended and fsynced per
//!   batch before any waiter is told the event is accepted;
//! - `acked`: `<generation> <offset>`, the confirmed prefix of the current log, replaced atomically
//!   (write temp, fsync, rename, fsync directory);
//! - `lock`: held with an exclusive file lock while a publisher owns the directory.
//!
//! Compaction copies the unconfirmed tail to `outbox.<generation+1>.log`, then switches `acked` to
//! `<generation+1> 0`, then deletes the old log; a crash at any step leaves a consistent pair. On open,
//! a torn last line (no newline: never fsynced, never accepted) is cut off.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Error;

/// One unconfirmed event.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Routing key (the event type).
    pub(crate) routing_key: Arc<str>,
    /// Event JSON as published.
    pub(crate) body: Arc<[u8]>,
    /// Logical offset just past this record's line: increases through compactions within one
    /// process, so in-flight confirms stay valid.
    pub(crate) end: u64,
}

/// An event handed to [`Outbox::append`].
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    /// Routing key (the event type).
    pub(crate) routing_key: Arc<str>,
    /// Event JSON.
    pub(crate) body: Arc<[u8]>,
    /// Event id, for the error if it does not fit.
    pub(crate) id: String,
}

/// The outbox of one publisher (see the module docs for the file layout).
#[derive(Debug)]
pub(crate) struct Outbox {
    dir: PathBuf,
    max_bytes: u64,
    generation: u64,
    log: File,
    /// Logical offset of the first byte of the current log file.
    base: u64,
    /// Bytes in the current log file.
    len: u64,
    /// Confirmed bytes at the start of the current log file.
    acked: u64,
    pending: VecDeque<Record>,
    _lock: File,
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`, recovering unconfirmed records.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> Result<Outbox, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let lock = lock_dir(dir)?;
        let (generation, acked) = read_acked(dir)?;
        remove_other_logs(dir, generation)?;
        let path = log_path(dir, generation);
        let mut log = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let (pending, len) = recover(&mut log, &path, acked)?;
        let acked = acked.min(len);
        Ok(Outbox {
            dir: dir.to_path_buf(),
            max_bytes,
            generation,
            log,
            base: 0,
            len,
            acked,
            pending,
            _lock: lock,
        })
    }

    /// Appends records and fsyncs once. Returns, per input, `Ok` if it is now durable or
    /// `Err(OutboxFull)` if it did not fit the size bound.
    pub(crate) fn append(&mut self, batch: &[Incoming]) -> Vec<Result<(), Error>> {
        let incoming: u64 = batch
            .iter()
            .map(|i| (i.routing_key.len() + i.body.len() + 2) as u64)
            .sum();
        if self.acked > 0 && self.len + incoming > self.max_bytes {
            // Reclaim the confirmed prefix so the file stays near the bound.
            if let Err(e) = self.compact() {
                return batch.iter().map(|_| Err(e.clone())).collect();
            }
        }
        let mut out = Vec::with_capacity(batch.len());
        let mut buf = Vec::new();
        let mut staged = Vec::new();
        for Incoming {
            routing_key: key,
            body,
            id,
        } in batch
        {
            let size = (key.len() + body.len() + 2) as u64;
            let used = self.len - self.acked + buf.len() as u64;
            if used + size > self.max_bytes {
                out.push(Err(Error::OutboxFull {
                    used,
                    limit: self.max_bytes,
                    id: id.clone(),
                }));
                continue;
            }
            buf.extend_from_slice(key.as_bytes());
            buf.push(b'\t');
            buf.extend_from_slice(body);
            buf.push(b'\n');
            staged.push((
                key.clone(),
                body.clone(),
                self.base + self.len + buf.len() as u64,
            ));
            out.push(Ok(()));
        }
        if let Err(e) = self.write_durably(&buf) {
            return out.into_iter().map(|r| r.and(Err(e.clone()))).collect();
        }
        self.len += buf.len() as u64;
        self.pending
            .extend(staged.into_iter().map(|(routing_key, body, end)| Record {
                routing_key,
                body,
                end,
            }));
        out
    }

    /// Up to `n` unconfirmed records that end after logical offset `after`, oldest first.
    pub(crate) fn peek_after(&self, after: u64, n: usize) -> Vec<Record> {
        let start = self.pending.partition_point(|r| r.end <= after);
        self.pending.iter().skip(start).take(n).cloned().collect()
    }

    /// Unconfirmed records.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Marks every record up to logical offset `end` confirmed, persists that, and compacts when
    /// worthwhile.
    pub(crate) fn ack_through(&mut self, end: u64) -> Result<usize, Error> {
        let mut confirmed = 0;
        while self.pending.front().is_some_and(|r| r.end <= end) {
            self.pending.pop_front();
            confirmed += 1;
        }
        self.acked = end.saturating_sub(self.base).max(self.acked);
        let all_done = self.acked == self.len && self.len >= 256 << 10;
        if all_done || self.acked >= self.max_bytes / 2 {
            return self.compact().map(|()| confirmed);
        }
        write_acked(&self.dir, self.generation, self.acked).map(|()| confirmed)
    }

    fn write_durably(&mut self, buf: &[u8]) -> Result<(), Error> {
        if buf.is_empty() {
            return Ok(());
        }
        let path = log_path(&self.dir, self.generation);
        self.log
            .write_all(buf)
            .map_err(|e| Error::io("append", &path, e))?;
        self.log
            .sync_data()
            .map_err(|e| Error::io("fsync", &path, e))
    }

    /// Moves the unconfirmed tail to a new log generation.
    fn compact(&mut self) -> Result<(), Error> {
        let generation = self.generation + 1;
        let path = log_path(&self.dir, generation);
        let mut tail = Vec::new();
        for r in &self.pending {
            tail.extend_from_slice(r.routing_key.as_bytes());
            tail.push(b'\t');
            tail.extend_from_slice(&r.body);
            tail.push(b'\n');
        }
        let mut log = create_synced(&path, &tail)?;
        sync_dir(&self.dir)?;
        write_acked(&self.dir, generation, 0)?;
        let old = log_path(&self.dir, self.generation);
        fs::remove_file(&old).map_err(|e| Error::io("remove", &old, e))?;
        log.seek(SeekFrom::End(0))
            .map_err(|e| Error::io("seek", &path, e))?;
        // The tail starts at the confirmed logical offset; pending records keep their offsets.
        self.base += self.acked;
        (self.generation, self.log, self.len, self.acked) = (generation, log, tail.len() as u64, 0);
        Ok(())
    }
}

fn log_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("outbox.{generation}.log"))
}

fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join("lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    f.try_lock().map_err(|e| Error::Io {
        op: "lock (another publisher owns this outbox?)",
        path: path.clone(),
        cause: e.to_string(),
    })?;
    Ok(f)
}

fn read_acked(dir: &Path) -> Result<(u64, u64), Error> {
    let path = dir.join("acked");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(generation)), Some(Ok(off))) => Ok((generation, off)),
        _ => Err(Error::Io {
            op: "parse",
            path,
            cause: format!("expected \"<generation> <offset>\", got {text:?}"),
        }),
    }
}

fn write_acked(dir: &Path, generation: u64, offset: u64) -> Result<(), Error> {
    let tmp = dir.join("acked.tmp");
    create_synced(&tmp, format!("{generation} {offset}\n").as_bytes())?;
    let path = dir.join("acked");
    fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
    sync_dir(dir)
}

fn create_synced(path: &Path, data: &[u8]) -> Result<File, Error> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    f.write_all(data).map_err(|e| Error::io("write", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))?;
    Ok(f)
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync dir", dir, e))
}

fn remove_other_logs(dir: &Path, generation: u64) -> Result<(), Error> {
    let keep = format!("outbox.{generation}.log");
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("outbox.") && name.ends_with(".log") && name != keep {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Reads records after `acked`, cutting a torn last line. Returns them and the log length.
fn recover(log: &mut File, path: &Path, acked: u64) -> Result<(VecDeque<Record>, u64), Error> {
    let mut data = Vec::new();
    log.seek(SeekFrom::Start(0))
        .and_then(|_| log.read_to_end(&mut data))
        .map_err(|e| Error::io("read", path, e))?;
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < data.len() {
        tracing::warn!(path = %path.display(), cut = data.len() - complete, "outbox: cutting torn last record");
        log.set_len(complete as u64)
            .map_err(|e| Error::io("truncate", path, e))?;
    }
    let mut pending = VecDeque::new();
    let mut start = usize::try_from(acked).unwrap_or(usize::MAX).min(complete);
    while start < complete {
        let Some(nl) = data[start..complete].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = &data[start..start + nl];
        start += nl + 1;
        let Some(tab) = line.iter().position(|&b| b == b'\t') else {
            tracing::error!(path = %path.display(), "outbox: skipping record without routing key");
            continue;
        };
        pending.push_back(Record {
            routing_key: String::from_utf8_lossy(&line[..tab]).into(),
            body: line[tab + 1..].into(),
            end: start as u64,
        });
    }
    Ok((pending, complete as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vigia-outbox-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn rec(i: usize) -> Incoming {
        Incoming {
            routing_key: "camera.created".into(),
            body: format!("{{\"n\":{i}}}").into_bytes().into(),
            id: i.to_string(),
        }
    }

    #[test]
    fn survives_reopen_and_keeps_order_after_partial_ack() {
        let dir = tmp("reopen");
        let mut ob = Outbox::open(&dir, 1 << 20).unwrap();
        let res = ob.append(&(0..5).map(rec).collect::<Vec<_>>());
        assert!(res.iter().all(Result::is_ok));
        let end = ob.peek_after(0, 2)[1].end;
        ob.ack_through(end).unwrap();
        drop(ob);
        let ob = Outbox::open(&dir, 1 << 20).unwrap();
        let bodies: Vec<_> = ob
            .peek_after(0, 10)
            .iter()
            .map(|r| r.body.to_vec())
            .collect();
        assert_eq!(
            bodies,
            (2..5).map(|i| rec(i).body.to_vec()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn cuts_torn_tail() {
        let dir = tmp("torn");
        let mut ob = Outbox::open(&dir, 1 << 20).unwrap();
        ob.append(&[rec(1)]);
        drop(ob);
        let mut f = OpenOptions::new()
            .append(true)
            .open(log_path(&dir, 0))
            .unwrap();
        f.write_all(b"camera.created\t{\"n\":").unwrap();
        let mut ob = Outbox::open(&dir, 1 << 20).unwrap();
        assert_eq!(ob.pending(), 1);
        ob.append(&[rec(2)]);
        drop(ob);
        assert_eq!(Outbox::open(&dir, 1 << 20).unwrap().pending(), 2);
    }

    #[test]
    fn full_outbox_rejects_then_compacts_after_ack() {
        let dir = tmp("full");
        let mut ob = Outbox::open(&dir, 100).unwrap();
        let res = ob.append(&(0..10).map(rec).collect::<Vec<_>>());
        let accepted = res.iter().filter(|r| r.is_ok()).count();
        assert!(accepted > 0 && accepted < 10, "{accepted}");
        assert!(matches!(res[9], Err(Error::OutboxFull { .. })));
        let end = ob.peek_after(0, accepted)[accepted - 1].end;
        ob.ack_through(end).unwrap();
        let res = ob.append(&[rec(42)]);
        assert!(res[0].is_ok(), "{res:?}");
        drop(ob);
        let ob = Outbox::open(&dir, 100).unwrap();
        assert_eq!(ob.peek_after(0, 5).len(), 1);
        assert_eq!(&*ob.peek_after(0, 1)[0].body, b"{\"n\":42}");
    }

    #[test]
    fn offsets_held_in_flight_stay_valid_across_compaction() {
        let dir = tmp("inflight");
        let mut ob = Outbox::open(&dir, 140).unwrap();
        let res = ob.append(&(0..6).map(rec).collect::<Vec<_>>());
        assert!(res.iter().all(Result::is_ok), "{res:?}");
        let inflight = ob.peek_after(0, 6);
        ob.ack_through(inflight[3].end).unwrap(); // 4 × 23 bytes ≥ 140 / 2: compacts
        assert_eq!(ob.generation, 1);
        ob.ack_through(inflight[4].end).unwrap();
        let left = ob.peek_after(inflight[4].end, 10);
        assert_eq!(left.len(), 1);
        assert_eq!(&*left[0].body, b"{\"n\":5}");
        assert_eq!(ob.pending(), 1);
        drop(ob);
        assert_eq!(Outbox::open(&dir, 140).unwrap().pending(), 1);
    }

    #[test]
    fn second_owner_is_refused() {
        let dir = tmp("lock");
        let _a = Outbox::open(&dir, 1 << 20).unwrap();
        assert!(Outbox::open(&dir, 1 << 20).is_err());
    }
}
