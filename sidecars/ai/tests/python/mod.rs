//! The Python the clip generator (`clips/make_clips.py`) runs with, shared by the tests that
//! render footage.

use std::path::{Path, PathBuf};

/// The Python with Pillow and numpy that scripts/install-deps.sh sets up (or
/// `VIGIA_CLIPS_PYTHON`).
pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("VIGIA_CLIPS_PYTHON") {
        return p.into();
    }
    let tools = std::env::var_os("VIGIA_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").expect("HOME is set")).join(".cache/vigia-tools")
        });
    let python = tools.join("clips/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-deps.sh (Pillow and numpy for the clip generator)",
        python.display()
    );
    python
}
