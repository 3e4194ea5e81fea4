//! The cameras of each city, kept in step with Cidades through `vigia.events`.
//!
//! A token grants the camera paths of the user's cities, so Admin must know each camera's city.
//! The service queue (`ADMIN_QUEUE`) is bound to `camera.created`, `camera.updated` and
//! `camera.deleted`; each sets or tombstones the `cameras` row of its `cameraId` (the Vigia
//! path) **only if it is not older** (by event time) than the change that set it, so copies
//! and late deliveries have the effect of once and a deletion is never undone by an older
//! update. `PUT /v1/cameras/{path}` stays for cameras that Cidades does not manage.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use vigia_events::{ConsumerConfig, Event, EventData, HandlerFuture};

use crate::Error;
use crate::state::State;

/// The routing keys the service queue is bound to.
pub const BINDINGS: [&str; 3] = ["camera.created", "camera.updated", "camera.deleted"];

/// The consumer configuration for `url`, queue `queue`, dedupe window under `state_dir`.
pub fn consumer_config(url: &str, queue: &str, state_dir: PathBuf) -> ConsumerConfig {
    ConsumerConfig::new(url, queue, &BINDINGS, state_dir)
}

/// The handler: applies one event (a future for [`vigia_events::Consumer`]).
pub fn handler(state: State) -> impl Fn(Event) -> HandlerFuture + Send + Sync + 'static {
    move |event| {
        let state = state.clone();
        Box::pin(async move { apply(&state, &event).await.map_err(|e| e.to_string()) })
    }
}

/// Applies `event` (any number of times, with the effect of once); events about other things,
/// or with a city id that is not a UUID, are acknowledged and ignored.
pub async fn apply(state: &State, event: &Event) -> Result<(), Error> {
    let (camera, city, deleted) = match &event.data {
        EventData::CameraCreated(c) | EventData::CameraUpdated(c) => {
            (&c.camera_id, &c.city_id, false)
        }
        EventData::CameraDeleted(d) => (&d.camera_id, &d.city_id, true),
        _ => return Ok(()),
    };
    let Ok(city) = city.parse::<Uuid>() else {
        tracing::warn!(
            camera,
            city,
            "camera event with a city id that is not a UUID, ignored"
        );
        return Ok(());
    };
    upsert(state, camera, city, deleted, event.time).await
}

/// The camera paths of each of `cities`.
pub async fn by_city(pool: &PgPool, cities: &[Uuid]) -> Result<BTreeMap<Uuid, Vec<String>>, Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT city_id, path FROM cameras WHERE city_id = ANY($1) AND NOT deleted ORDER BY path",
    )
    .bind(cities)
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for (city, path) in rows {
        out.entry(city).or_default().push(path);
    }
    Ok(out)
}

/// The city of camera `path`.
pub async fn city_of(pool: &PgPool, path: &str) -> Result<Option<Uuid>, Error> {
    Ok(
        sqlx::query_scalar("SELECT city_id FROM cameras WHERE path = $1 AND NOT deleted")
            .bind(path)
            .fetch_optional(pool)
            .await?,
    )
}

/// Sets camera `path` of `city` (or its tombstone) as of `at`, unless a newer change set it.
pub async fn upsert(
    state: &State,
    path: &str,
    city: Uuid,
    deleted: bool,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO cameras (path, city_id, deleted, event_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (path) DO UPDATE SET city_id = EXCLUDED.city_id, \
         deleted = EXCLUDED.deleted, event_at = EXCLUDED.event_at \
         WHERE cameras.event_at IS NULL OR cameras.event_at <= EXCLUDED.event_at",
    )
    .bind(path)
    .bind(city)
    .bind(deleted)
    .bind(at)
    .execute(&state.pool)
    .await?;
    Ok(())
}
