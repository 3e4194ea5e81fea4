//! The CloudEvents 1.0 envelope in structured JSON mode (CloudEvents spec §3, JSON format §3).
//!
//! Attributes used: `specversion` (`"1.0"`), `id`, `source`, `type`, `time`, `subject`,
//! `datacontenttype` (`application/json`), and two extensions: `correlationid` (the id shared by
//! every event of one causal chain) and `dataversion` (the payload version, an integer).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::payload::{EventData, EventType, clear_secret};

/// The AMQP `content-type` of a structured-mode CloudEvent.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// One event: envelope attributes and a typed payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique per `source` (a UUID for events this crate creates); consumers deduplicate on
    /// `source` + `id`.
    pub id: String,
    /// Who produced it, a URI reference such as `/vigia/node-1` or `/cidades`.
    pub source: String,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// What it is about, e.g. `camera/cam-12`.
    pub subject: Option<String>,
    /// Id shared by all events of one causal chain.
    pub correlation_id: String,
    /// The typed payload; its variant gives the `type`.
    pub data: EventData,
}

/// Why bytes are not an acceptable event. The display text is the DLQ reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("bad JSON: {0}")]
    BadJson(String),
    /// JSON, but not a CloudEvents 1.0 structured envelope.
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    /// A `type` this build does not know.
    #[error("unknown type {0:?}")]
    UnknownType(String),
    /// A known type in a payload version this build does not know.
    #[error("unsupported version {version} of {ty} (supported: {supported:?})")]
    UnsupportedVersion {
        /// The event type.
        ty: String,
        /// The version received.
        version: i64,
        /// Versions this build understands.
        supported: &'static [u32],
    },
    /// A camera secret in clear (a password in `data.credentials.password`, or credentials in
    /// `data.rtspUrl`): refused whatever the version, so it never reaches a handler or a log.
    #[error("clear secret in {ty}: {reason}")]
    ClearSecret {
        /// The event type.
        ty: String,
        /// Where the secret is and what to send instead.
        reason: String,
    },
    /// The payload does not match its schema.
    #[error("schema violation in {ty} data: {reason}")]
    SchemaViolation {
        /// The event type.
        ty: String,
        /// What was wrong, naming the field.
        reason: String,
    },
}

impl ParseError {
    /// A short machine-readable kind: `bad_json`, `invalid_envelope`, `unknown_type`,
    /// `clear_secret`, `unsupported_version`, `schema_violation`.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::BadJson(_) => "bad_json",
            ParseError::InvalidEnvelope(_) => "invalid_envelope",
            ParseError::UnknownType(_) => "unknown_type",
            ParseError::UnsupportedVersion { .. } => "unsupported_version",
            ParseError::ClearSecret { .. } => "clear_secret",
            ParseError::SchemaViolation { .. } => "schema_violation",
        }
    }
}

tokio::task_local! {
    /// The correlation id of the event whose handler is running on this task.
    static CORRELATION: String;
}

impl Event {
    /// A new event with a fresh UUID, `time = now`, the payload's default subject, and the
    /// correlation id of the event being handled on this task (if any, see
    /// [`with_correlation`]), else its own id.
    pub fn new(source: impl Into<String>, data: EventData) -> Event {
        let id = uuid::Uuid::new_v4().to_string();
        let correlation_id = current_correlation().unwrap_or_else(|| id.clone());
        Event {
            subject: Some(data.default_subject()),
            id,
            source: source.into(),
            time: Utc::now(),
            correlation_id,
            data,
        }
    }

    /// A new event caused by `parent`: same correlation id.
    pub fn caused_by(parent: &Event, source: impl Into<String>, data: EventData) -> Event {
        let mut e = Event::new(source, data);
        e.correlation_id = parent.correlation_id.clone();
        e
    }

    /// The event's type (routing key).
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    /// The structured-mode JSON object.
    pub fn to_json(&self) -> Value {
        let ty = self.event_type();
        let mut m = Map::new();
        m.insert("specversion".into(), "1.0".into());
        m.insert("id".into(), self.id.clone().into());
        m.insert("source".into(), self.source.clone().into());
        m.insert("type".into(), ty.as_str().into());
        m.insert(
            "time".into(),
            self.time
                .to_rfc3339_opts(SecondsFormat::Millis, true)
                .into(),
        );
        if let Some(s) = &self.subject {
            m.insert("subject".into(), s.clone().into());
        }
        m.insert("datacontenttype".into(), "application/json".into());
        m.insert("dataversion".into(), ty.current_version().into());
        m.insert("correlationid".into(), self.correlation_id.clone().into());
        m.insert("data".into(), self.data.to_json());
        Value::Object(m)
    }

    /// The structured-mode JSON bytes (one line, no trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        // A `Value` always serializes.
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }

    /// Parses structured-mode JSON bytes, checking envelope, type, version and payload.
    pub fn from_slice(bytes: &[u8]) -> Result<Event, ParseError> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| ParseError::BadJson(e.to_string()))?;
        Event::from_json(v)
    }

    /// Parses an already-decoded JSON value; see [`Event::from_slice`].
    pub fn from_json(v: Value) -> Result<Event, ParseError> {
        let Value::Object(mut m) = v else {
            return Err(ParseError::InvalidEnvelope("not a JSON object".into()));
        };
        let spec = str_attr(&m, "specversion")?;
        if spec != "1.0" {
            return Err(ParseError::InvalidEnvelope(format!(
                "specversion {spec:?}, expected \"1.0\""
            )));
        }
        let (ty_name, ty) = parse_type(&m)?;
        if let Some(reason) = clear_secret(ty, m.get("data")) {
            return Err(ParseError::ClearSecret {
                ty: ty_name,
                reason,
            });
        }
        let version = parse_version(&m, &ty_name, ty)?;
        check_content_type(&m)?;
        let id = non_empty_attr(&m, "id")?;
        let source = non_empty_attr(&m, "source")?;
        let time = parse_time(&m)?;
        let subject = opt_str_attr(&m, "subject")?;
        let correlation_id = opt_str_attr(&m, "correlationid")?.unwrap_or_else(|| id.clone());
        let data = m
            .remove("data")
            .ok_or_else(|| ParseError::InvalidEnvelope("missing attribute \"data\"".into()))?;
        let supported = ty.supported_versions();
        let data = if supported.iter().any(|&v| i64::from(v) == version) {
            EventData::from_json_supported(ty, data)
        } else {
            unreachable_version(version)
        }
        .map_err(|reason| ParseError::SchemaViolation {
            ty: ty_name.clone(),
            reason,
        })?;
        Ok(Event {
            id,
            source,
            time,
            subject,
            correlation_id,
            data,
        })
    }
}

/// Runs `fut` with `correlation_id` as the task's current correlation id, so that
/// [`Event::new`] inside it inherits the id. The consumer wraps every handler in this.
pub async fn with_correlation<F: std::future::Future>(correlation_id: String, fut: F) -> F::Output {
    CORRELATION.scope(correlation_id, fut).await
}

/// Runs `f` (synchronous code: the part of a handler before its future is first polled) with
/// `correlation_id` as the current correlation id, like [`with_correlation`].
pub(crate) fn sync_with_correlation<R>(correlation_id: String, f: impl FnOnce() -> R) -> R {
    CORRELATION.sync_scope(correlation_id, f)
}

/// The correlation id of the event being handled on this task, if any.
pub fn current_correlation() -> Option<String> {
    CORRELATION.try_with(Clone::clone).ok()
}

/// Fuzz entry: parses arbitrary bytes; whatever parses must re-encode and re-parse to the same
/// event. Never panics on any input except a broken invariant.
#[doc(hidden)]
pub fn fuzz_envelope(data: &[u8]) {
    let Ok(event) = Event::from_slice(data) else {
        return;
    };
    let again = Event::from_slice(&event.to_bytes());
    match again {
        Ok(again) => assert_eq!(
            again.to_json(),
            event.to_json(),
            "re-parse changed the event"
        ),
        Err(e) => panic!("re-encoded event does not parse: {e}"),
    }
}

fn unreachable_version(version: i64) -> Result<EventData, String> {
    // `parse_version` only lets supported versions through; keep a graceful answer anyway.
    Err(format!("no decoder for version {version}"))
}

fn str_attr<'a>(m: &'a Map<String, Value>, name: &str) -> Result<&'a str, ParseError> {
    match m.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ParseError::InvalidEnvelope(format!(
            "attribute {name:?} is not a string"
        ))),
        None => Err(ParseError::InvalidEnvelope(format!(
            "missing attribute {name:?}"
        ))),
    }
}

fn non_empty_attr(m: &Map<String, Value>, name: &str) -> Result<String, ParseError> {
    let s = str_attr(m, name)?;
    if s.is_empty() {
        return Err(ParseError::InvalidEnvelope(format!(
            "attribute {name:?} is empty"
        )));
    }
    Ok(s.to_owned())
}

fn opt_str_attr(m: &Map<String, Value>, name: &str) -> Result<Option<String>, ParseError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => str_attr(m, name).map(|s| Some(s.to_owned())),
    }
}

fn parse_type(m: &Map<String, Value>) -> Result<(String, EventType), ParseError> {
    let name = str_attr(m, "type")?;
    let ty = EventType::from_name(name).ok_or_else(|| ParseError::UnknownType(name.into()))?;
    Ok((name.to_owned(), ty))
}

fn parse_version(m: &Map<String, Value>, name: &str, ty: EventType) -> Result<i64, ParseError> {
    let version = match m.get("dataversion") {
        None => 1,
        Some(v) => v.as_i64().ok_or_else(|| {
            ParseError::InvalidEnvelope("attribute \"dataversion\" is not an integer".into())
        })?,
    };
    let supported = ty.supported_versions();
    if !supported.iter().any(|&s| i64::from(s) == version) {
        return Err(ParseError::UnsupportedVersion {
            ty: name.into(),
            version,
            supported,
        });
    }
    Ok(version)
}

fn check_content_type(m: &Map<String, Value>) -> Result<(), ParseError> {
    match opt_str_attr(m, "datacontenttype")?.as_deref() {
        None | Some("application/json") => Ok(()),
        Some(other) => Err(ParseError::InvalidEnvelope(format!(
            "datacontenttype {other:?}, expected \"application/json\""
        ))),
    }
}

fn parse_time(m: &Map<String, Value>) -> Result<DateTime<Utc>, ParseError> {
    let s = str_attr(m, "time")?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ParseError::InvalidEnvelope(format!("attribute \"time\" {s:?}: {e}")))
}
