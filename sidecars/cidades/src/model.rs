//! Rows as stored and as answered (camelCase JSON), and the request bodies.
//!
//! A row is its own JSON view: nothing secret is serialized (a camera's sealed password shows
//! only as `hasPassword`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A storage plan: how long recordings are kept and how much space a city may use.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Plan id (the `planId` in events).
    pub id: Uuid,
    /// Unique name ("Básico 30 dias").
    pub name: String,
    /// Days recordings are kept, 1..=3650.
    pub retention_days: i32,
    /// Storage quota, GB.
    pub quota_gb: i64,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// A city (município) and the plan its prefeitura contracted.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct City {
    /// City id (the `cityId` in events).
    pub id: Uuid,
    /// 7-digit IBGE municipality code, unique.
    pub ibge_code: String,
    /// Name.
    pub name: String,
    /// Federative unit (`SP`).
    pub uf: String,
    /// The prefeitura's CNPJ, 14 characters without punctuation.
    pub cnpj: String,
    /// The storage plan every camera of the city follows.
    pub storage_plan_id: Uuid,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// A camera, its last reported status, and whether it has a stored password.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Camera {
    /// Camera id (the `cameraId` in events, Vigia's path name).
    pub id: Uuid,
    /// The city it belongs to.
    pub city_id: Uuid,
    /// Name, unique in the city.
    pub name: String,
    /// Where it is (free text: address, coordinates).
    pub location: String,
    /// `rtsp://` or `rtsps://` URL without credentials, unique.
    pub rtsp_url: String,
    /// RTSP login user, if any.
    pub username: Option<String>,
    /// The password sealed at rest; shown only as whether there is one.
    #[serde(rename = "hasPassword", serialize_with = "is_some")]
    pub password_sealed: Option<serde_json::Value>,
    /// Whether Vigia records it.
    pub record: bool,
    /// `unknown` until Vigia reports, then `online`, `degraded` or `offline`.
    pub status: String,
    /// Why `degraded` or `offline` (a `stream.health_check` reason).
    pub status_reason: Option<String>,
    /// Time of the health check that set the status.
    pub status_at: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed by the API.
    pub updated_at: DateTime<Utc>,
}

/// An `lpr.detected` or `alert.triggered` seen in a city.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    /// Local id.
    pub id: i64,
    /// The city of the camera.
    pub city_id: Uuid,
    /// The camera.
    pub camera_id: Uuid,
    /// `lpr` or `alert`.
    pub kind: String,
    /// The event's payload.
    pub detail: serde_json::Value,
    /// When it happened (the event's time).
    pub occurred_at: DateTime<Utc>,
}

/// Body of `POST /v1/plans` and `PUT /v1/plans/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanInput {
    /// Unique name.
    pub name: String,
    /// Days recordings are kept.
    pub retention_days: i64,
    /// Quota, GB.
    pub quota_gb: i64,
}

/// Body of `POST /v1/cities` and `PUT /v1/cities/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CityInput {
    /// 7-digit IBGE code.
    pub ibge_code: String,
    /// Name.
    pub name: String,
    /// UF.
    pub uf: String,
    /// CNPJ, formatted or not.
    pub cnpj: String,
    /// The plan's id.
    pub storage_plan_id: Uuid,
}

/// Body of `POST /v1/cameras` and `PUT /v1/cameras/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CameraInput {
    /// The city.
    pub city_id: Uuid,
    /// Name, unique in the city.
    pub name: String,
    /// Where it is.
    #[serde(default)]
    pub location: String,
    /// RTSP URL without credentials.
    pub rtsp_url: String,
    /// RTSP login user; `null`/absent for none.
    #[serde(default)]
    pub username: Option<String>,
    /// RTSP password (needs `username`). On PUT, absent keeps the stored one.
    #[serde(default)]
    pub password: Option<String>,
    /// Whether Vigia records it (default true).
    #[serde(default = "yes")]
    pub record: bool,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Items matching the filters, over all pages.
    pub total: i64,
}

fn yes() -> bool {
    true
}

fn is_some<S: serde::Serializer>(v: &Option<serde_json::Value>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(v.is_some())
}
