//! The node's local state directory, `<recordSpoolDirectory>.state/`, and how files in it are
//! written.
//!
//! It sits next to the spool, not inside it, so the spool's repair never meets it. The bus
//! keeps its camera registry there (`cameras.json`) and the control API the paths it added
//! (`api-paths.json`). Files are replaced atomically: a crash leaves the old file or the new
//! one, never half of either.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;

/// The node's state directory: `<recordSpoolDirectory>.state`.
pub(crate) fn state_dir(config: &Config) -> PathBuf {
    let spool = config.record_spool_directory.trim_end_matches('/');
    PathBuf::from(format!("{spool}.state"))
}

/// Replaces `path` with `bytes`: written to `<path>.tmp` (mode 0600), fsynced, renamed over
/// `path`, and the directory fsynced. Creates the directory if needed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
