//! The persisted dedupe window: events already handled, so a redelivery or replay is handled
//! once.
//!
//! An event is known by its `source` and `id` together: CloudEvents only promises that pair to be
//! unique, and two producers may well both number their events `1, 2, 3…`.
//!
//! Keys are appended to a file, one per line (`<source>\t<id>`, with `\`, tab and line breaks
//! escaped), and the file is rewritten to the window when it holds twice as many. Writes go to the
//! OS at once (a killed process loses nothing) and are fsynced every [`SYNC_EVERY`] keys and on
//! [`Dedupe::sync`] (a machine crash may forget that many, which then are handled again:
//! at-least-once, as documented). Lines of the older id-only format match nothing and age out.
//!
//! One owner at a time: [`Dedupe::open`] takes an exclusive lock on `<file>.lock` (held until
//! the value is dropped), so a second consumer process pointed at the same state file is refused
//! instead of silently keeping a diverging window and rewriting the file under the first.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// Keys written between two fsyncs.
pub const SYNC_EVERY: usize = 256;

/// A bounded set of recently handled events (`source` + `id`), persisted to a file.
#[derive(Debug)]
pub struct Dedupe {
    path: PathBuf,
    file: File,
    _lock: File,
    window: usize,
    ids: HashSet<String>,
    order: VecDeque<String>,
    lines_in_file: usize,
    unsynced: usize,
}

impl Dedupe {
    /// Opens the window at `path`, loading the last `window` keys. Fails if another [`Dedupe`]
    /// (in this or another process) holds the file.
    pub fn open(path: &Path, window: usize) -> Result<Dedupe, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        let lock = lock_file(path)?;
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        let mut d = Dedupe {
            path: path.to_path_buf(),
            file,
            _lock: lock,
            window: window.max(1),
            ids: HashSet::new(),
            order: VecDeque::new(),
            lines_in_file: lines.len(),
            unsynced: 0,
        };
        for key in lines.iter().skip(lines.len().saturating_sub(d.window)) {
            d.remember(key);
        }
        Ok(d)
    }

    /// Whether the event `id` from `source` was handled within the window.
    pub fn contains(&self, source: &str, id: &str) -> bool {
        self.ids.contains(&key(source, id))
    }

    /// Records the event `id` from `source` as handled.
    pub fn insert(&mut self, source: &str, id: &str) -> Result<(), Error> {
        let line = key(source, id);
        if self.ids.contains(&line) {
            return Ok(());
        }
        self.remember(&line);
        let mut text = line;
        text.push('\n');
        // One write(2) per key: the line goes to the OS whole, never torn by a kill.
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| Error::io("append", &self.path, e))?;
        self.lines_in_file += 1;
        self.unsynced += 1;
        if self.lines_in_file > 2 * self.window {
            return self.rewrite();
        }
        if self.unsynced >= SYNC_EVERY {
            return self.sync();
        }
        Ok(())
    }

    /// Flushes the file to disk.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.unsynced = 0;
        self.file
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))
    }

    fn remember(&mut self, id: &str) {
        if self.ids.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
        }
        while self.order.len() > self.window {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    /// Replaces the file with the current window (temp file, fsync, rename).
    fn rewrite(&mut self) -> Result<(), Error> {
        let tmp = self.path.with_extension("tmp");
        let mut text = String::new();
        for id in &self.order {
            text.push_str(id);
            text.push('\n');
        }
        let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io("write", &tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| Error::io("rename", &self.path, e))?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io("open", &self.path, e))?;
        self.lines_in_file = self.order.len();
        self.unsynced = 0;
        Ok(())
    }
}

/// Takes the exclusive lock `<path>.lock` (not `path` itself: the window file is replaced by
/// rename when rewritten, which would leave a lock on the old file).
fn lock_file(path: &Path) -> Result<File, Error> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io("open", &lock_path, e))?;
    f.try_lock().map_err(|e| Error::Io {
        op: "lock (another consumer, in this or another process, uses this dedupe window)",
        path: lock_path.clone(),
        cause: e.to_string(),
    })?;
    Ok(f)
}

/// The line of an event: `<source>\t<id>`, each escaped so that neither can forge the other
/// (a tab in `source`) nor split the line.
fn key(source: &str, id: &str) -> String {
    format!("{}\t{}", escape(source), escape(id))
}

fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\n', '\r', '\t', '\\']) {
        s.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .replace('\t', "\\t")
            .into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_persists_and_forgets_oldest() {
        let path = std::env::temp_dir().join(format!("vigia-dedupe-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let mut d = Dedupe::open(&path, 3).unwrap();
        for i in 0..10 {
            d.insert("/src", &format!("id-{i}")).unwrap();
        }
        d.insert("/src", "id-9").unwrap();
        drop(d);
        let d = Dedupe::open(&path, 3).unwrap();
        let seen: Vec<bool> = (0..10)
            .map(|i| d.contains("/src", &format!("id-{i}")))
            .collect();
        assert_eq!(
            seen,
            [
                false, false, false, false, false, false, false, true, true, true
            ]
        );
        assert!(fs::read_to_string(&path).unwrap().lines().count() <= 6);
    }

    #[test]
    fn keyed_by_source_and_id() {
        let path = std::env::temp_dir().join(format!("vigia-dedupe-src-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let mut d = Dedupe::open(&path, 10).unwrap();
        d.insert("/cidades", "1").unwrap();
        d.insert("/a\tb", "c\nd").unwrap();
        drop(d);
        let d = Dedupe::open(&path, 10).unwrap();
        assert!(d.contains("/cidades", "1"));
        assert!(!d.contains("/ai", "1"), "same id, other source");
        assert!(d.contains("/a\tb", "c\nd"));
        assert!(
            !d.contains("/a", "b\tc\nd"),
            "a tab in source cannot forge a key"
        );
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn a_second_owner_of_the_file_is_refused_until_the_first_is_gone() {
        let path = std::env::temp_dir().join(format!("vigia-dedupe-lock-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let first = Dedupe::open(&path, 10).unwrap();
        // flock(2) locks belong to the open file, so a second open in this process is refused
        // exactly as one in another process would be.
        let err = Dedupe::open(&path, 10).unwrap_err().to_string();
        assert!(err.contains("another consumer"), "{err}");
        assert!(err.contains(".lock"), "{err}");
        drop(first);
        Dedupe::open(&path, 10).unwrap();
    }
}
