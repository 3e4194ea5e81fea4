//! Log output: human-readable lines by default, JSON when `logFormat`-style `VIGIA_LOG_JSON=1`.

use tracing_subscriber::EnvFilter;

use crate::config::LogLevel;

/// Installs the global subscriber at `logLevel`; `RUST_LOG` overrides it for finer filters.
pub(crate) fn init(level: LogLevel) {
    let level = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    let json = std::env::var("VIGIA_LOG_JSON").is_ok_and(|v| v == "1" || v == "true");
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("logging already initialized: {e}");
    }
}
