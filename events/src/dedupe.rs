//! The persisted dedupe window: ids of events already handled, so a redelivery or replay is
//! handled once.
//!
//! Ids are appended to a file, one per line, and the file is rewritten to the window when it
//! holds twice as many. Writes go to the OS at once (a killed process loses nothing) and are
//! fsynced every [`SYNC_EVERY`] ids and on [`Dedupe::sync`] (a machine crash may forget that
//! many, which then are handled again: at-least-once, as documented).

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// Ids written between two fsyncs.
pub const SYNC_EVERY: usize = 256;

/// A bounded set of recently handled event ids, persisted to a file.
#[derive(Debug)]
pub struct Dedupe {
    path: PathBuf,
    file: File,
    window: usize,
    ids: HashSet<String>,
    order: VecDeque<String>,
    lines_in_file: usize,
    unsynced: usize,
}

impl Dedupe {
    /// Opens the window at `path`, loading the last `window` ids.
    pub fn open(path: &Path, window: usize) -> Result<Dedupe, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
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
            window: window.max(1),
            ids: HashSet::new(),
            order: VecDeque::new(),
            lines_in_file: lines.len(),
            unsynced: 0,
        };
        for id in lines.iter().skip(lines.len().saturating_sub(d.window)) {
            d.remember(id);
        }
        Ok(d)
    }

    /// Whether `id` was handled within the window.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(&*escape(id))
    }

    /// Records `id` as handled.
    pub fn insert(&mut self, id: &str) -> Result<(), Error> {
        if self.contains(id) {
            return Ok(());
        }
        let line = escape(id);
        self.remember(&line);
        writeln!(self.file, "{line}").map_err(|e| Error::io("append", &self.path, e))?;
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

/// An id with a line break would split into two lines; such ids are stored escaped.
fn escape(id: &str) -> std::borrow::Cow<'_, str> {
    if id.contains(['\n', '\r', '\\']) {
        id.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
            .into()
    } else {
        id.into()
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
            d.insert(&format!("id-{i}")).unwrap();
        }
        d.insert("id-9").unwrap();
        drop(d);
        let d = Dedupe::open(&path, 3).unwrap();
        let seen: Vec<bool> = (0..10).map(|i| d.contains(&format!("id-{i}"))).collect();
        assert_eq!(
            seen,
            [
                false, false, false, false, false, false, false, true, true, true
            ]
        );
        assert!(fs::read_to_string(&path).unwrap().lines().count() <= 6);
    }
}
