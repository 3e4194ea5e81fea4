//! One fixed example event per type: the case table behind the docs, the schema tests and the
//! fuzz seed corpus.

use chrono::{DateTime, NaiveDate, Utc};

use crate::envelope::Event;
use crate::ids::{Cnpj, Plate};
use crate::payload::*;
use crate::secret::{Keyring, camera_password_context};

/// One example [`Event`] per [`EventType`], in [`EventType::ALL`] order, with fixed ids and times.
#[doc(hidden)]
pub fn examples() -> Vec<Event> {
    let data = [
        EventData::CameraCreated(camera(true)),
        EventData::CameraUpdated(camera(false)),
        EventData::CameraDeleted(CameraDeleted {
            camera_id: "cam-0042".into(),
            city_id: "sp-campinas".into(),
        }),
        EventData::CityStoragePlanChanged(CityStoragePlanChanged {
            city_id: "sp-campinas".into(),
            city_hall_cnpj: cnpj(),
            storage_plan: plan(),
        }),
        EventData::RecordingStarted(RecordingStarted {
            camera_id: "cam-0042".into(),
            path: "cam-0042".into(),
            recording_id: "rec-7f3a".into(),
            started_at: at("2026-11-28T10:00:00Z"),
        }),
        EventData::RecordingStopped(RecordingStopped {
            camera_id: "cam-0042".into(),
            path: "cam-0042".into(),
            recording_id: "rec-7f3a".into(),
            started_at: at("2026-11-28T10:00:00Z"),
            stopped_at: at("2026-11-28T11:30:00Z"),
            bytes: 1_350_000_000,
            reason: "source_lost".into(),
        }),
        EventData::StreamHealthCheck(StreamHealthCheck {
            camera_id: "cam-0042".into(),
            path: "cam-0042".into(),
            status: HealthStatus::Degraded,
            bitrate_kbps: 1800,
            fps: 12.5,
            readers: 3,
            last_frame_at: Some(at("2026-11-28T10:14:59.960Z")),
            last_frame_age_ms: Some(40),
            reason: Some(HealthReason::LowFps),
            detail: Some("12.5 fps, usual 25.0 fps".into()),
            reconnects: Some(2),
            recorder_backlog_segments: Some(1),
            recorder_backlog_bytes: Some(4_718_592),
            recorder_backlog_age_ms: Some(3_200),
        }),
        EventData::LprDetected(LprDetected {
            camera_id: "cam-0042".into(),
            plate: Plate::parse("BRA2E19").unwrap_or_else(|_| unreachable!()),
            confidence: 0.97,
            detected_at: at("2026-11-28T10:15:03.120Z"),
            snapshot_key: Some("lpr/2026/11/28/cam-0042/101503120.jpg".into()),
            format: Some(PlateFormat::Mercosul),
            bounding_box: Some(BoundingBox {
                x: 612,
                y: 418,
                width: 96,
                height: 31,
            }),
        }),
        EventData::AlertTriggered(AlertTriggered {
            alert_id: "alert-19c2".into(),
            camera_id: "cam-0042".into(),
            kind: "plate_watchlist".into(),
            severity: Severity::Critical,
            message: "Plate BRA2E19 is on the watchlist".into(),
            cause_event_id: Some("6f1c2a0e-5b7d-4c1e-9a3b-2d8e4f6a7b10".into()),
        }),
        EventData::AnalyticsDailyReport(AnalyticsDailyReport {
            city_id: "sp-campinas".into(),
            city_hall_cnpj: cnpj(),
            date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default(),
            cameras_online: 412,
            recording_hours: 9811.5,
            lpr_detections: 120_554,
            alerts: 37,
            distinct_plates: Some(48_312),
            lpr_detections_per_camera: Some(
                [("cam-0042".to_owned(), 1_204), ("cam-0043".to_owned(), 877)].into(),
            ),
        }),
    ];
    data.into_iter()
        .enumerate()
        .map(|(i, data)| Event {
            id: format!("00000000-0000-4000-8000-{:012}", i + 1),
            source: source_of(data.event_type()).into(),
            time: at("2026-11-28T10:15:00Z"),
            subject: Some(data.default_subject()),
            correlation_id: "c0ffee00-0000-4000-8000-000000000001".into(),
            data,
        })
        .collect()
}

fn source_of(ty: EventType) -> &'static str {
    match ty {
        EventType::CameraCreated
        | EventType::CameraUpdated
        | EventType::CameraDeleted
        | EventType::CityStoragePlanChanged => "/cidades",
        EventType::RecordingStarted
        | EventType::RecordingStopped
        | EventType::StreamHealthCheck => "/vigia/node-1",
        _ => "/ai",
    }
}

/// The keyring the examples' camera password is sealed with: key id `example`, key bytes
/// 0, 1, … 31 (base64 `AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=`). The password is `s3cret`:
/// a test vector for producers in other languages, never a key to deploy.
#[doc(hidden)]
pub fn example_keyring() -> Keyring {
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    Keyring::new([("example".to_owned(), key)]).unwrap_or_else(|_| unreachable!())
}

fn camera(record: bool) -> Camera {
    let mut camera = Camera {
        camera_id: "cam-0042".into(),
        city_id: "sp-campinas".into(),
        name: "Av. Francisco Glicério x R. Barão de Jaguara".into(),
        rtsp_url: "rtsp://10.20.0.42:554/Streaming/Channels/101".into(),
        credentials: None,
        record,
        storage_plan: plan(),
    };
    // Fixed nonces, so the examples are fixed; a real producer uses `Camera::set_login`, which
    // draws a fresh one for every encryption.
    let nonce = if record {
        *b"vigia-events"
    } else {
        *b"vigia-event2"
    };
    let context = camera_password_context(&camera.camera_id, &camera.rtsp_url, "vigia");
    camera.credentials = Some(Credentials {
        username: "vigia".into(),
        password: example_keyring().seal_with_nonce(nonce, "s3cret", &context),
    });
    camera
}

fn plan() -> StoragePlan {
    StoragePlan {
        plan_id: "plan-30d".into(),
        retention_days: 30,
    }
}

fn cnpj() -> Cnpj {
    Cnpj::parse("11222333000181").unwrap_or_else(|_| unreachable!())
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}
