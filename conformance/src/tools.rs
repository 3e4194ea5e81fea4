//! Outside tools that `scripts/install-deps.sh` installs into the tools cache rather than the
//! system: `$VIGIA_TOOLS` (default `~/.cache/vigia-tools`), binaries under `bin/`.

use std::path::{Path, PathBuf};

/// The binary `name`: the path in environment variable `env_override` if set, else
/// `<tools cache>/bin/<name>`, else `name` on `PATH`. Panics, saying to run
/// `scripts/install-deps.sh` (which installs `what`), when none exists.
pub fn tool_bin(name: &str, env_override: &str, what: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env_override) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "{env_override}={} does not exist: unset it, or run scripts/install-deps.sh",
            bin.display()
        );
        return bin;
    }
    let tools = std::env::var_os("VIGIA_TOOLS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/vigia-tools"))
        });
    if let Some(bin) = tools.map(|tools| tools.join("bin").join(name))
        && bin.is_file()
    {
        return bin;
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|bin| bin.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "{name} is missing (looked in ${env_override}, $VIGIA_TOOLS/bin, default \
             ~/.cache/vigia-tools/bin, and on PATH): run scripts/install-deps.sh, which installs \
             {what} into the tools cache"
        )
    })
}
