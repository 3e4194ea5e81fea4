//! Log output, as MediaMTX's `logDestinations`, `logStructured` and `logFile` describe it.
//!
//! - Each destination (`stdout`, `file`) is its own output layer, so stdout can be colored on a
//!   terminal while the file stays plain. `file` appends to `logFile`, created if missing.
//! - Text mode is tracing-subscriber's usual line: span fields show as `rtsp{conn=…}:`.
//! - With `logStructured: yes` every line is one JSON object (JSONL), MediaMTX's three keys
//!   first, then the fields of the event's spans (root first) and of the event, flattened to the
//!   top level; an inner span or the event wins over an outer span with the same field name:
//!
//!   ```text
//!   {"timestamp":"2024-05-01T12:00:00.000000Z","level":"INF","message":"is reading from path (TCP)","conn":"127.0.0.1:50210","path":"demo"}
//!   ```
//!
//!   `timestamp` is RFC 3339 in UTC; `level` is MediaMTX's spelling (`ERR`, `WAR`, `INF`,
//!   `DEB`, and `TRA` for tracing's extra level). A `correlation_id` carried by any span (say,
//!   the handling of an event) is therefore a top-level key of every line logged inside it.
//!   Fields that `log`-crate records carry about their origin (`log.target`…) are left out, as
//!   the text mode leaves out targets.
//!
//! `logLevel` sets the filter; `RUST_LOG` overrides it for finer filters. A reload of the config
//! file changes the level of the running server ([`set_level`]), unless `RUST_LOG` is set.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Registry, reload};

use crate::config::{Config, LogDestination, LogLevel};

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    /// `logFile` could not be opened for appending.
    #[error("can't open logFile \"{}\"", path.display())]
    OpenFile {
        /// The file, as configured.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// Installs the global subscriber: `logLevel`'s filter and one output per `logDestinations`
/// entry, text or JSON lines as `logStructured` says. Fails if `logFile` cannot be opened.
pub(crate) fn init(cfg: &Config) -> Result<(), LogError> {
    let mut outputs = Vec::new();
    for destination in &cfg.log_destinations {
        outputs.push(match destination {
            LogDestination::Stdout => {
                let ansi = std::io::stdout().is_terminal();
                output(std::io::stdout, ansi, cfg.log_structured)
            }
            LogDestination::File => {
                output(open_log_file(&cfg.log_file)?, false, cfg.log_structured)
            }
        });
    }
    let (filter, handle) = reload::Layer::new(filter(cfg.log_level));
    let _ = FILTER.set(handle);
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(cfg.log_structured.then_some(SpanFieldsLayer))
        .with(outputs)
        .try_init();
    if let Err(e) = result {
        eprintln!("logging already initialized: {e}");
    }
    Ok(())
}

/// Sets the running server's `logLevel` (a reload of the config file changed it). Does nothing
/// when `RUST_LOG` chose the filter or logging is not installed.
pub(crate) fn set_level(level: LogLevel) {
    if std::env::var_os("RUST_LOG").is_some() {
        return;
    }
    let Some(handle) = FILTER.get() else {
        return;
    };
    if let Err(e) = handle.reload(filter(level)) {
        tracing::warn!("logLevel not changed: {e}");
    }
}

/// The installed filter, which [`set_level`] replaces.
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// An output layer of any subscriber stack.
type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

/// `logLevel` as a filter, unless `RUST_LOG` is set.
fn filter(level: LogLevel) -> EnvFilter {
    let level = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    };
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level))
}

/// Opens `logFile` for appending, creating it if missing (as MediaMTX, mode 0644 by umask).
fn open_log_file(path: &str) -> Result<Arc<File>, LogError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogError::OpenFile {
            path: PathBuf::from(path),
            source,
        })?;
    Ok(Arc::new(file))
}

/// One destination's layer: text (colored if `ansi`) or, if `structured`, JSON lines.
fn output<S, W>(writer: W, ansi: bool, structured: bool) -> BoxedLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    if structured {
        return Box::new(json_layer(writer, SystemTime));
    }
    Box::new(
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .with_ansi(ansi),
    )
}

/// A layer writing [`JsonLines`] stamped by `timer`. Needs [`SpanFieldsLayer`] in the same
/// stack, or lines carry no span fields.
fn json_layer<S, W, T>(writer: W, timer: T) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    T: FormatTime + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .event_format(JsonLines { timer })
}

/// Keeps each span's fields as [`JsonFields`] in the span's extensions, for [`JsonLines`]
/// to flatten into every line logged inside the span. Added once per subscriber.
struct SpanFieldsLayer;

impl<S> Layer<S> for SpanFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = JsonFields::default();
        attrs.record(&mut fields);
        span.extensions_mut().replace(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        if let Some(fields) = span.extensions_mut().get_mut::<JsonFields>() {
            values.record(fields);
        }
    }
}

/// Field names, each with its value already written as JSON, in first-recorded order. Setting a
/// name again replaces its value in place.
#[derive(Debug, Default)]
struct JsonFields(Vec<(&'static str, String)>);

impl JsonFields {
    /// Sets `name` to `json` (already JSON text). `log`-crate origin fields are dropped.
    fn set(&mut self, name: &'static str, json: String) {
        if name.starts_with("log.") {
            return;
        }
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, value)) => *value = json,
            None => self.0.push((name, json)),
        }
    }

    /// Removes `name` and returns its JSON value.
    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(n, _)| *n == name)?;
        Some(self.0.remove(i).1)
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), json_string(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), value.to_string());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let json = match value.is_finite() {
            true => value.to_string(),
            false => json_string(&value.to_string()),
        };
        self.set(field.name(), json);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), json_string(&format!("{value:?}")));
    }
}

/// Keys every line starts with; span or event fields of these names are not repeated.
const RESERVED: &[&str] = &["timestamp", "level", "message"];

/// The `logStructured` line format: one JSON object per event (see the module doc).
struct JsonLines<T> {
    /// Stamps `timestamp`: the system clock, or a fixed one in tests.
    timer: T,
}

impl<S, N, T> FormatEvent<S, N> for JsonLines<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = JsonFields::default();
        for span in ctx.event_scope().into_iter().flat_map(|s| s.from_root()) {
            if let Some(span_fields) = span.extensions().get::<JsonFields>() {
                for (name, json) in &span_fields.0 {
                    fields.set(name, json.clone());
                }
            }
        }
        event.record(&mut fields);
        let message = fields.take("message").unwrap_or_else(|| "\"\"".to_owned());
        let mut timestamp = String::new();
        self.timer.format_time(&mut Writer::new(&mut timestamp))?;
        let level = level_name(*event.metadata().level());
        write!(w, "{{\"timestamp\":{},", json_string(&timestamp))?;
        write!(w, "\"level\":\"{level}\",\"message\":{message}")?;
        for (name, json) in fields.0.iter().filter(|(n, _)| !RESERVED.contains(n)) {
            write!(w, ",{}:{json}", json_string(name))?;
        }
        writeln!(w, "}}")
    }
}

/// MediaMTX's spelling of a level.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERR",
        Level::WARN => "WAR",
        Level::INFO => "INF",
        Level::DEBUG => "DEB",
        Level::TRACE => "TRA",
    }
}

/// `s` as a JSON string literal (RFC 8259 §7): quotes, backslashes and control characters
/// escaped; everything else as is (the output is UTF-8).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Mutex;

    use tracing_subscriber::Registry;

    use super::*;

    /// A clock stopped at one instant, so lines can be compared whole.
    struct FixedTime;

    impl FormatTime for FixedTime {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2024-05-01T12:00:00.000000Z")
        }
    }

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Runs `log` under a JSON subscriber and returns the lines written.
    fn json_lines(log: impl FnOnce()) -> Vec<String> {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = Registry::default()
            .with(SpanFieldsLayer)
            .with(json_layer(move || writer.clone(), FixedTime));
        tracing::subscriber::with_default(subscriber, log);
        let bytes = capture.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn span_fields_are_top_level_keys() {
        let lines = json_lines(|| {
            let conn = tracing::info_span!("rtsp", conn = %"127.0.0.1:50210");
            let _conn = conn.enter();
            tracing::info!(path = "demo", "is reading from path (TCP)");
        });
        assert_eq!(
            lines,
            [
                r#"{"timestamp":"2024-05-01T12:00:00.000000Z","level":"INF","message":"is reading from path (TCP)","conn":"127.0.0.1:50210","path":"demo"}"#
            ]
        );
    }

    #[test]
    fn correlation_id_of_an_outer_span_reaches_every_line() {
        let lines = json_lines(|| {
            let event = tracing::info_span!("event", correlation_id = "c-42", path = "cam1");
            let _event = event.enter();
            let session = tracing::info_span!("session", session = 7u64, path = "cam2");
            let _session = session.enter();
            tracing::warn!(lost = -3i64, ok = false, ratio = 0.5, "camera \"x\"\nlost");
            tracing::error!(path = "cam3", "gone");
        });
        assert_eq!(
            lines,
            [
                r#"{"timestamp":"2024-05-01T12:00:00.000000Z","level":"WAR","message":"camera \"x\"\nlost","correlation_id":"c-42","path":"cam2","session":7,"lost":-3,"ok":false,"ratio":0.5}"#,
                r#"{"timestamp":"2024-05-01T12:00:00.000000Z","level":"ERR","message":"gone","correlation_id":"c-42","path":"cam3","session":7}"#,
            ]
        );
    }

    #[test]
    fn fields_recorded_later_and_reserved_names() {
        let lines = json_lines(|| {
            let span = tracing::info_span!("conn", path = tracing::field::Empty, level = 1u64);
            let _span = span.enter();
            span.record("path", "late");
            tracing::debug!(timestamp = "mine", "\u{1}tab\there");
        });
        assert_eq!(
            lines,
            [
                r#"{"timestamp":"2024-05-01T12:00:00.000000Z","level":"DEB","message":"\u0001tab\there","path":"late"}"#
            ]
        );
    }

    #[test]
    fn level_names_are_mediamtx_spellings() {
        let names = [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG].map(level_name);
        assert_eq!(names, ["ERR", "WAR", "INF", "DEB"]);
    }

    #[test]
    fn missing_log_directory_is_an_error_naming_the_file() {
        let e = open_log_file("/nonexistent-vigia-dir/vigia.log").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("logFile \"/nonexistent-vigia-dir/vigia.log\""),
            "{text}"
        );
    }
}
