//! What Cidades takes from the bus: `stream.health_check` (camera status) and `lpr.detected` /
//! `alert.triggered` (occurrences per city).
//!
//! **Idempotence**, beyond the consumer's dedupe window, by the data itself, however late a copy
//! comes: an occurrence row is unique by the event's `source` + `id`, so a copy inserts nothing;
//! a health check sets the camera's status only if it is not older (by event time) than the one
//! that set it, so a copy writes the same values again and an older check changes nothing (no
//! table of consumed ids, which at one check per camera every few seconds would grow by
//! millions of rows a day). Events about unknown cameras (another installation's, or deleted)
//! are acknowledged and ignored.

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

/// Applies `event` (any number of times, with the effect of once).
pub async fn apply(state: &State, event: &Event) -> Result<(), Error> {
    let mut tx = state.pool.begin().await?;
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
    let before: Option<(String,)> =
        sqlx::query_as("SELECT status FROM cameras WHERE id = $1 FOR UPDATE")
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
        "INSERT INTO occurrences (event_source, event_id, city_id, camera_id, kind, detail, \
         occurred_at) SELECT $5, $6, city_id, id, $2, $3, $4 FROM cameras WHERE id = $1 \
         ON CONFLICT (event_source, event_id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(event.data.to_json())
    .bind(event.time)
    .bind(&event.source)
    .bind(&event.id)
    .execute(tx)
    .await?;
    Ok(false)
}
