//! Typed, versioned payloads (the CloudEvents `data`) of every event type on the bus.
//!
//! Field names are camelCase on the wire. Versioning: adding an optional field keeps the version;
//! removing, renaming or retyping a field makes a new version, carried in the envelope's
//! `dataversion` extension. A consumer rejects versions it does not know (to the DLQ).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ids::{Cnpj, Plate};
use crate::secret::{
    KEY_ENV, KEY_ID_ENV, KEYS_ENV, Keyring, Login, PullUrl, SealedSecret, camera_password_context,
    userinfo_span,
};

/// The kinds of event on the bus. The wire name ([`EventType::as_str`]) is the CloudEvents
/// `type` and the AMQP routing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `camera.created` — Cidades registered a camera.
    CameraCreated,
    /// `camera.updated` — Cidades changed a camera (full new state).
    CameraUpdated,
    /// `camera.deleted` — Cidades removed a camera.
    CameraDeleted,
    /// `city.storage_plan_changed` — a city's storage plan changed.
    CityStoragePlanChanged,
    /// `recording.started` — Vigia started recording a camera.
    RecordingStarted,
    /// `recording.stopped` — Vigia stopped recording a camera.
    RecordingStopped,
    /// `stream.health_check` — periodic health of one stream.
    StreamHealthCheck,
    /// `lpr.detected` — the AI service read a licence plate.
    LprDetected,
    /// `alert.triggered` — the AI service raised an alert.
    AlertTriggered,
    /// `analytics.daily_report` — per-city daily figures.
    AnalyticsDailyReport,
}

impl EventType {
    /// Every type, in documentation order.
    pub const ALL: [EventType; 10] = [
        EventType::CameraCreated,
        EventType::CameraUpdated,
        EventType::CameraDeleted,
        EventType::CityStoragePlanChanged,
        EventType::RecordingStarted,
        EventType::RecordingStopped,
        EventType::StreamHealthCheck,
        EventType::LprDetected,
        EventType::AlertTriggered,
        EventType::AnalyticsDailyReport,
    ];

    /// The wire name, e.g. `camera.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CameraCreated => "camera.created",
            EventType::CameraUpdated => "camera.updated",
            EventType::CameraDeleted => "camera.deleted",
            EventType::CityStoragePlanChanged => "city.storage_plan_changed",
            EventType::RecordingStarted => "recording.started",
            EventType::RecordingStopped => "recording.stopped",
            EventType::StreamHealthCheck => "stream.health_check",
            EventType::LprDetected => "lpr.detected",
            EventType::AlertTriggered => "alert.triggered",
            EventType::AnalyticsDailyReport => "analytics.daily_report",
        }
    }

    /// Looks a wire name up.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The payload versions this build understands (the newest is the one it produces).
    ///
    /// `camera.created` and `camera.updated` read versions 1 and 2: they differ only in
    /// `credentials.password`, a clear string in 1 and a [`SealedSecret`] in 2, and a clear
    /// password is refused in any version, so both decode with one shape (a version 1 camera
    /// without credentials, as every credential-less producer sends, stays valid).
    pub fn supported_versions(self) -> &'static [u32] {
        match self.current_version() {
            2 => &[1, 2],
            _ => &[1],
        }
    }

    /// The payload version this build produces: 2 for `camera.created` and `camera.updated`
    /// (the password became a [`SealedSecret`]; version 1 carried it in clear), 1 for the rest.
    pub fn current_version(self) -> u32 {
        match self {
            EventType::CameraCreated | EventType::CameraUpdated => 2,
            _ => 1,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Login for a camera's RTSP URL. The password is sealed: see [`Camera::set_login`] to build
/// one, [`Camera::login`] and [`Camera::pull_url`] to open it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// User name (not secret: it is in the clear, as in any RTSP `Authorization` header).
    pub username: String,
    /// The password, AES-256-GCM sealed for this camera id, RTSP URL and username
    /// ([`camera_password_context`]).
    pub password: SealedSecret,
}

/// How a city's recordings are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoragePlan {
    /// Plan id in Cidades.
    pub plan_id: String,
    /// Days a recording is kept before retention deletes it (1..=3650).
    pub retention_days: u32,
}

/// What Cidades owns about a camera; the payload of `camera.created` and `camera.updated` v2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Camera {
    /// Camera id in Cidades (also the Vigia path name).
    pub camera_id: String,
    /// City the camera belongs to.
    pub city_id: String,
    /// Human name ("Av. Paulista x Rua Augusta").
    pub name: String,
    /// Where to pull the stream from (`rtsp://` or `rtsps://`), without credentials (a URL with
    /// user info is refused); [`Camera::pull_url`] gives it with the login in it.
    pub rtsp_url: String,
    /// Login for the RTSP URL, if the camera needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// Whether Vigia records the camera.
    pub record: bool,
    /// The storage plan the recordings follow.
    pub storage_plan: StoragePlan,
}

impl Camera {
    /// Sets the camera's login, sealing `password` with `keyring`'s sealing key, bound to this
    /// camera's id, its `rtsp_url` and `username`. Set the id and URL first: a password sealed
    /// for another id or URL does not open.
    pub fn set_login(&mut self, keyring: &Keyring, username: &str, password: &str) {
        let context = camera_password_context(&self.camera_id, &self.rtsp_url, username);
        self.credentials = Some(Credentials {
            username: username.to_owned(),
            password: keyring.encrypt_secret(password, &context),
        });
    }

    /// The username and clear password, `None` if the camera has no credentials. Fails, naming
    /// the camera and key id, when no keyring is given, the key is not in it, or the password
    /// was not sealed for this camera id, URL and username.
    pub fn login(&self, keyring: Option<&Keyring>) -> Result<Option<Login>, Error> {
        let Some(c) = &self.credentials else {
            return Ok(None);
        };
        let what = format!("camera {} password", self.camera_id);
        let Some(keyring) = keyring else {
            return Err(Error::Secret {
                what,
                key_id: c.password.key_id().to_owned(),
                reason: format!(
                    "no key is configured (set {KEYS_ENV}, or {KEY_ENV} with {KEY_ID_ENV})"
                ),
            });
        };
        let context = camera_password_context(&self.camera_id, &self.rtsp_url, &c.username);
        let password = keyring.decrypt_secret(&what, &c.password, &context)?;
        Ok(Some(Login {
            username: c.username.clone(),
            password,
        }))
    }

    /// The URL to pull the camera from: `rtsp_url` with the username and password in it
    /// (percent-encoded: `rtsp://user:p%40ss@host/...`), or `rtsp_url` as it is when the camera
    /// has no credentials (then `keyring` may be `None`). Errors as [`Camera::login`], or when
    /// `rtsp_url` has no host to put a login on.
    pub fn pull_url(&self, keyring: Option<&Keyring>) -> Result<PullUrl, Error> {
        let Some(login) = self.login(keyring)? else {
            return Ok(PullUrl::new(self.rtsp_url.clone()));
        };
        let invalid = |reason: String| Error::Invalid {
            what: format!("camera {} rtspUrl", self.camera_id),
            reason,
        };
        let mut url = url::Url::parse(&self.rtsp_url)
            .map_err(|e| invalid(format!("{:?} is not a URL: {e}", self.rtsp_url)))?;
        url.set_username(&login.username)
            .and_then(|()| url.set_password(Some(&login.password)))
            .map_err(|()| invalid(format!("{:?} has no host for a login", self.rtsp_url)))?;
        Ok(PullUrl::new(url.into()))
    }
}

/// Why `data` of a `ty` event carries a camera secret in clear, if it does. Checked on the raw
/// JSON before the version, so the refusal says so whatever else is wrong.
pub(crate) fn clear_secret(ty: EventType, data: Option<&serde_json::Value>) -> Option<String> {
    if !matches!(ty, EventType::CameraCreated | EventType::CameraUpdated) {
        return None;
    }
    let data = data?;
    let password = data.pointer("/credentials/password");
    if password.is_some_and(serde_json::Value::is_string) {
        return Some(
            "data.credentials.password is a password in clear; camera passwords travel sealed \
             with AES-256-GCM ({\"alg\",\"keyId\",\"nonce\",\"ciphertext\"}, see docs/events.md, \
             \"Camera credentials\")"
                .into(),
        );
    }
    let url = data.get("rtspUrl").and_then(serde_json::Value::as_str);
    if url.and_then(userinfo_span).is_some() {
        return Some(
            "data.rtspUrl carries credentials before '@'; send the username in \
             data.credentials.username and the password sealed in data.credentials.password \
             (see docs/events.md, \"Camera credentials\")"
                .into(),
        );
    }
    None
}

/// Payload of `camera.deleted` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CameraDeleted {
    /// Camera id in Cidades.
    pub camera_id: String,
    /// City the camera belonged to.
    pub city_id: String,
}

/// Payload of `city.storage_plan_changed` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CityStoragePlanChanged {
    /// City id in Cidades.
    pub city_id: String,
    /// CNPJ of the city hall that contracts the plan.
    pub city_hall_cnpj: Cnpj,
    /// The new plan.
    pub storage_plan: StoragePlan,
}

/// Payload of `recording.started` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStarted {
    /// Camera being recorded.
    pub camera_id: String,
    /// Vigia path name.
    pub path: String,
    /// Id of this recording run.
    pub recording_id: String,
    /// Wall-clock start of the first segment.
    pub started_at: DateTime<Utc>,
}

/// Payload of `recording.stopped` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStopped {
    /// Camera that was recorded.
    pub camera_id: String,
    /// Vigia path name.
    pub path: String,
    /// Id of the recording run (as in `recording.started`).
    pub recording_id: String,
    /// Wall-clock start of the first segment.
    pub started_at: DateTime<Utc>,
    /// Wall-clock end of the last segment.
    pub stopped_at: DateTime<Utc>,
    /// Bytes written to storage.
    pub bytes: u64,
    /// Why it stopped: `source_lost`, `disabled`, `deleted`, `shutdown`, `error`.
    pub reason: String,
}

/// Health of one stream, from the server's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Frames arrive at the expected rate.
    Online,
    /// Frames arrive but late, slow or with gaps.
    Degraded,
    /// No frames.
    Offline,
}

/// Why a stream is `offline` or `degraded`, as the kind a consumer can act on; the wording the
/// source used is in [`StreamHealthCheck::detail`]. On the wire, [`HealthReason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum HealthReason {
    /// Offline: the camera refused the connection.
    ConnectionRefused,
    /// Offline: no answer, or no frame, in time.
    Timeout,
    /// Offline: the camera offers no codec Vigia can carry (e.g. only MJPEG).
    UnsupportedCodec,
    /// Offline: the camera refused the login.
    AuthFailure,
    /// Offline: the camera has no such stream (RTSP 404).
    NotFound,
    /// Offline: the camera ended the stream.
    SourceEnded,
    /// Offline: any other failure.
    Error,
    /// Degraded: frames stutter (the last one is over 2 s old).
    Stalled,
    /// Degraded: the frame rate fell below half of the stream's usual rate.
    LowFps,
    /// Degraded: recorded segments wait too long for upload (the object store fails or lags).
    RecorderBacklog,
}

impl HealthReason {
    /// Every reason: the offline kinds, then the degraded ones.
    pub const ALL: [HealthReason; 10] = [
        HealthReason::ConnectionRefused,
        HealthReason::Timeout,
        HealthReason::UnsupportedCodec,
        HealthReason::AuthFailure,
        HealthReason::NotFound,
        HealthReason::SourceEnded,
        HealthReason::Error,
        HealthReason::Stalled,
        HealthReason::LowFps,
        HealthReason::RecorderBacklog,
    ];

    /// The wire name, e.g. `unsupported_codec`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthReason::ConnectionRefused => "connection_refused",
            HealthReason::Timeout => "timeout",
            HealthReason::UnsupportedCodec => "unsupported_codec",
            HealthReason::AuthFailure => "auth_failure",
            HealthReason::NotFound => "not_found",
            HealthReason::SourceEnded => "source_ended",
            HealthReason::Error => "error",
            HealthReason::Stalled => "stalled",
            HealthReason::LowFps => "low_fps",
            HealthReason::RecorderBacklog => "recorder_backlog",
        }
    }
}

impl From<HealthReason> for &'static str {
    fn from(reason: HealthReason) -> &'static str {
        reason.as_str()
    }
}

impl TryFrom<String> for HealthReason {
    type Error = String;

    fn try_from(name: String) -> Result<HealthReason, String> {
        HealthReason::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| format!("unknown health reason {name:?}"))
    }
}

impl std::fmt::Display for HealthReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Payload of `stream.health_check` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamHealthCheck {
    /// Camera of the stream.
    pub camera_id: String,
    /// Vigia path name.
    pub path: String,
    /// Overall status.
    pub status: HealthStatus,
    /// Received bitrate over the last interval, kbit/s.
    pub bitrate_kbps: u32,
    /// Received frames per second over the last interval.
    pub fps: f64,
    /// Readers currently attached.
    pub readers: u32,
    /// Last frame received, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame_at: Option<DateTime<Utc>>,
    /// Milliseconds between the last frame and this report, if a frame was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame_age_ms: Option<u64>,
    /// Why the stream is `offline` or `degraded`; absent when `online`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<HealthReason>,
    /// The reason in words: the source's own error for an offline (e.g. `unsupported codec:
    /// the source offers only MJPEG`), or what was measured for a degraded stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Connections to the source lost or failed since the stream was set up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnects: Option<u64>,
    /// Recorded streams only: complete segments waiting in the spool for upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder_backlog_segments: Option<u64>,
    /// Recorded streams only: bytes of those segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder_backlog_bytes: Option<u64>,
    /// Recorded streams only, with a backlog: milliseconds since the oldest waiting segment
    /// was complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder_backlog_age_ms: Option<u64>,
}

/// Payload of `lpr.detected` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LprDetected {
    /// Camera that saw the vehicle.
    pub camera_id: String,
    /// The plate read.
    pub plate: Plate,
    /// Recognition confidence, 0..=1.
    pub confidence: f64,
    /// Wall-clock time of the frame.
    pub detected_at: DateTime<Utc>,
    /// Object-store key of the snapshot, if one was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_key: Option<String>,
    /// The plate's format (it follows from the plate's fifth character; carried so that
    /// consumers need not know the rule). Optional in v1: producers before it omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PlateFormat>,
    /// Where the plate is in the frame, in pixels of the decoded picture. Optional in v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounding_box: Option<BoundingBox>,
}

/// Which of the two Brazilian formats a plate has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateFormat {
    /// `LLLNLNN`, e.g. `ABC1D23`.
    Mercosul,
    /// `LLLNNNN`, printed `ABC-1234`.
    Old,
}

impl PlateFormat {
    /// The format of `plate` (decided by its fifth character).
    pub fn of(plate: &Plate) -> PlateFormat {
        if plate.is_mercosul() {
            PlateFormat::Mercosul
        } else {
            PlateFormat::Old
        }
    }
}

/// A rectangle in a picture, in pixels: `x`, `y` its top-left corner (0, 0 is the picture's
/// top-left), `width` and `height` its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Someone should look.
    Warning,
    /// Someone must act now.
    Critical,
}

/// Payload of `alert.triggered` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertTriggered {
    /// Alert id.
    pub alert_id: String,
    /// Camera concerned.
    pub camera_id: String,
    /// Rule that fired, e.g. `plate_watchlist`, `camera_offline`.
    pub kind: String,
    /// Urgency.
    pub severity: Severity,
    /// Text for the operator.
    pub message: String,
    /// Id of the event that caused the alert (e.g. an `lpr.detected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause_event_id: Option<String>,
}

/// Payload of `analytics.daily_report` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsDailyReport {
    /// City id in Cidades.
    pub city_id: String,
    /// CNPJ of the city hall the report is for.
    pub city_hall_cnpj: Cnpj,
    /// The day reported (city local date).
    pub date: NaiveDate,
    /// Cameras that were online at some point of the day.
    pub cameras_online: u32,
    /// Hours of video recorded.
    pub recording_hours: f64,
    /// Plates read.
    pub lpr_detections: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Distinct plates among the detections. Optional in v1: producers before it omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_plates: Option<u64>,
    /// Detections per camera id (cameras without one are left out). Optional in v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lpr_detections_per_camera: Option<BTreeMap<String, u64>>,
}

/// The payload of an event, one variant per [`EventType`].
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// `camera.created`.
    CameraCreated(Camera),
    /// `camera.updated`.
    CameraUpdated(Camera),
    /// `camera.deleted`.
    CameraDeleted(CameraDeleted),
    /// `city.storage_plan_changed`.
    CityStoragePlanChanged(CityStoragePlanChanged),
    /// `recording.started`.
    RecordingStarted(RecordingStarted),
    /// `recording.stopped`.
    RecordingStopped(RecordingStopped),
    /// `stream.health_check`.
    StreamHealthCheck(StreamHealthCheck),
    /// `lpr.detected`.
    LprDetected(LprDetected),
    /// `alert.triggered`.
    AlertTriggered(AlertTriggered),
    /// `analytics.daily_report`.
    AnalyticsDailyReport(AnalyticsDailyReport),
}

impl EventData {
    /// The event type this payload belongs to.
    pub fn event_type(&self) -> EventType {
        match self {
            EventData::CameraCreated(_) => EventType::CameraCreated,
            EventData::CameraUpdated(_) => EventType::CameraUpdated,
            EventData::CameraDeleted(_) => EventType::CameraDeleted,
            EventData::CityStoragePlanChanged(_) => EventType::CityStoragePlanChanged,
            EventData::RecordingStarted(_) => EventType::RecordingStarted,
            EventData::RecordingStopped(_) => EventType::RecordingStopped,
            EventData::StreamHealthCheck(_) => EventType::StreamHealthCheck,
            EventData::LprDetected(_) => EventType::LprDetected,
            EventData::AlertTriggered(_) => EventType::AlertTriggered,
            EventData::AnalyticsDailyReport(_) => EventType::AnalyticsDailyReport,
        }
    }

    /// The natural CloudEvents `subject` (`camera/<id>` or `city/<id>`).
    pub fn default_subject(&self) -> String {
        match self {
            EventData::CameraCreated(c) | EventData::CameraUpdated(c) => camera(&c.camera_id),
            EventData::CameraDeleted(d) => camera(&d.camera_id),
            EventData::CityStoragePlanChanged(d) => format!("city/{}", d.city_id),
            EventData::RecordingStarted(d) => camera(&d.camera_id),
            EventData::RecordingStopped(d) => camera(&d.camera_id),
            EventData::StreamHealthCheck(d) => camera(&d.camera_id),
            EventData::LprDetected(d) => camera(&d.camera_id),
            EventData::AlertTriggered(d) => camera(&d.camera_id),
            EventData::AnalyticsDailyReport(d) => format!("city/{}", d.city_id),
        }
    }

    /// The payload as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let v = match self {
            EventData::CameraCreated(d) | EventData::CameraUpdated(d) => serde_json::to_value(d),
            EventData::CameraDeleted(d) => serde_json::to_value(d),
            EventData::CityStoragePlanChanged(d) => serde_json::to_value(d),
            EventData::RecordingStarted(d) => serde_json::to_value(d),
            EventData::RecordingStopped(d) => serde_json::to_value(d),
            EventData::StreamHealthCheck(d) => serde_json::to_value(d),
            EventData::LprDetected(d) => serde_json::to_value(d),
            EventData::AlertTriggered(d) => serde_json::to_value(d),
            EventData::AnalyticsDailyReport(d) => serde_json::to_value(d),
        };
        // Serializing these plain structs cannot fail (no maps with non-string keys).
        v.unwrap_or(serde_json::Value::Null)
    }

    /// Decodes `ty`'s payload in any of its supported versions (they share one shape today, see
    /// [`EventType::supported_versions`]) and checks its semantic rules.
    pub(crate) fn from_json_supported(
        ty: EventType,
        data: serde_json::Value,
    ) -> Result<EventData, String> {
        fn de<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        let out = match ty {
            EventType::CameraCreated => EventData::CameraCreated(de(data)?),
            EventType::CameraUpdated => EventData::CameraUpdated(de(data)?),
            EventType::CameraDeleted => EventData::CameraDeleted(de(data)?),
            EventType::CityStoragePlanChanged => EventData::CityStoragePlanChanged(de(data)?),
            EventType::RecordingStarted => EventData::RecordingStarted(de(data)?),
            EventType::RecordingStopped => EventData::RecordingStopped(de(data)?),
            EventType::StreamHealthCheck => EventData::StreamHealthCheck(de(data)?),
            EventType::LprDetected => EventData::LprDetected(de(data)?),
            EventType::AlertTriggered => EventData::AlertTriggered(de(data)?),
            EventType::AnalyticsDailyReport => EventData::AnalyticsDailyReport(de(data)?),
        };
        out.validate()?;
        Ok(out)
    }

    /// Checks the rules serde's types cannot express (ranges, URL schemes, non-empty ids).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            EventData::CameraCreated(c) | EventData::CameraUpdated(c) => validate_camera(c),
            EventData::CameraDeleted(d) => non_empty("cameraId", &d.camera_id),
            EventData::CityStoragePlanChanged(d) => validate_plan(&d.storage_plan),
            EventData::RecordingStarted(d) => non_empty("recordingId", &d.recording_id),
            EventData::RecordingStopped(d) if d.stopped_at < d.started_at => {
                Err("stoppedAt is before startedAt".into())
            }
            EventData::RecordingStopped(d) => non_empty("recordingId", &d.recording_id),
            EventData::StreamHealthCheck(d) if !(d.fps.is_finite() && d.fps >= 0.0) => {
                Err(format!("fps {} out of range", d.fps))
            }
            EventData::StreamHealthCheck(d) => non_empty("cameraId", &d.camera_id),
            EventData::LprDetected(d) if !(0.0..=1.0).contains(&d.confidence) => {
                Err(format!("confidence {} outside 0..=1", d.confidence))
            }
            EventData::LprDetected(d) => non_empty("cameraId", &d.camera_id),
            EventData::AlertTriggered(d) => non_empty("alertId", &d.alert_id),
            EventData::AnalyticsDailyReport(d)
                if !(d.recording_hours.is_finite() && d.recording_hours >= 0.0) =>
            {
                Err(format!("recordingHours {} out of range", d.recording_hours))
            }
            EventData::AnalyticsDailyReport(d) => non_empty("cityId", &d.city_id),
        }
    }
}

fn camera(id: &str) -> String {
    format!("camera/{id}")
}

fn non_empty(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    Ok(())
}

fn validate_camera(c: &Camera) -> Result<(), String> {
    non_empty("cameraId", &c.camera_id)?;
    non_empty("cityId", &c.city_id)?;
    if !(c.rtsp_url.starts_with("rtsp://") || c.rtsp_url.starts_with("rtsps://")) {
        return Err(format!(
            "rtspUrl {:?} is not rtsp:// or rtsps://",
            c.rtsp_url
        ));
    }
    if userinfo_span(&c.rtsp_url).is_some() {
        return Err("rtspUrl carries credentials; they go in credentials, sealed".into());
    }
    validate_plan(&c.storage_plan)
}

fn validate_plan(p: &StoragePlan) -> Result<(), String> {
    if !(1..=3650).contains(&p.retention_days) {
        return Err(format!(
            "retentionDays {} outside 1..=3650",
            p.retention_days
        ));
    }
    Ok(())
}
