//! What Cidades takes from the bus: `stream.health_check` (camera status) and `lpr.detected` /
//! `alert.triggered` (occurrences per city).
//!
//! **Idempotence.** Besides the consumer's dedupe window, each event's `source` + `id` is
//! inserted into `consumed_events` in the same transaction as its effect; a copy finds the row
//! and changes nothing, however late it comes. **Order.** A health check older than the one that
//! set the camera's status (by event time) is recorded as consumed but does not change it.
//! Events about unknown cameras (another installation's, or deleted) are acknowledged and
//! ignored.

use std::path::PathBuf;

use sqlx::PgConnection;
use uuid::Uuid;
use vigia_events::{ConsumerConfig, Event, EventData, HandlerFuture, StreamHealthCheck};

use crate::Error;
use crate::service::State;

/// The routing keys the service queue is bound to.
pub const BINDINGS: [&str; 3] = ["stream.health_check", "lpr.detected", "alert.triggered"];

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

/// Applies `event` once: its effect and its `consumed_events` row commit together.
pub async fn apply(state: &State, event: &Event) -> Result<(), Error> {
    let mut tx = state.pool.begin().await?;
    if !first_time(&mut tx, event).await? {
        return Ok(());
    }
    let status_changed = match &event.data {
        EventData::StreamHealthCheck(h) => health(&mut tx, event, h).await?,
        EventData::LprDetected(d) => occurrence(&mut tx, event, &d.camera_id, "lpr").await?,
        EventData::AlertTriggered(d) => occurrence(&mut tx, event, &d.camera_id, "alert").await?,
        _ => false,
    };
    tx.commit().await?;
    if status_changed {
        state.cache.invalidate_cameras().await;
    }
    Ok(())
}

/// Records the event as consumed; false when it already was.
async fn first_time(tx: &mut PgConnection, event: &Event) -> Result<bool, Error> {
    let done = sqlx::query(
        "INSERT INTO consumed_events (source, event_id, event_type) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&event.source)
    .bind(&event.id)
    .bind(event.event_type().as_str())
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets the camera's status from a newer health check; true when the status changed.
async fn health(
    tx: &mut PgConnection,
    event: &Event,
    h: &StreamHealthCheck,
) -> Result<bool, Error> {
    let Ok(id) = h.camera_id.parse::<Uuid>() else {
        return Ok(false);
    };
    let status = serde_json::to_value(h.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let before: Option<(String,)> = sqlx::query_as("SELECT status FROM cameras WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let updated = sqlx::query(
        "UPDATE cameras SET status = $2, status_reason = $3, status_at = $4 \
         WHERE id = $1 AND (status_at IS NULL OR status_at <= $4)",
    )
    .bind(id)
    .bind(&status)
    .bind(h.reason.map(|r| r.as_str()))
    .bind(event.time)
    .execute(tx)
    .await?;
    Ok(updated.rows_affected() == 1 && before.is_some_and(|(b,)| b != status))
}

/// Records an occurrence in the camera's city (unknown cameras are ignored).
async fn occurrence(
    tx: &mut PgConnection,
    event: &Event,
    camera_id: &str,
    kind: &str,
) -> Result<bool, Error> {
    let Ok(id) = camera_id.parse::<Uuid>() else {
        return Ok(false);
    };
    sqlx::query(
        "INSERT INTO occurrences (city_id, camera_id, kind, detail, occurred_at) \
         SELECT city_id, id, $2, $3, $4 FROM cameras WHERE id = $1",
    )
    .bind(id)
    .bind(kind)
    .bind(event.data.to_json())
    .bind(event.time)
    .execute(tx)
    .await?;
    Ok(false)
}
