//! Cameras from events: `camera.created` / `camera.updated` / `camera.deleted` become runtime
//! pulled paths, named by `cameraId`, with `source` = the camera URL, `record` from the event and
//! `recordDeleteAfter` = the storage plan's retention days; every other key comes from
//! `pathDefaults`. A `city.storage_plan_changed` changes the retention of the city's cameras
//! without restarting them (the recorder's next retention pass applies it).
//!
//! The [`CameraRegistry`] decides (order, idempotence, which plan is in force); this driver
//! applies its actions to the [`PathManager`] and the recorder's retention at once, and keeps the
//! registry in a state file (compact JSON, replaced atomically), loaded at start, so a restart
//! without the broker pulls the same cameras. The file is saved by [group
//! commit](group_commit): the handler's future, after which the consumer acks, completes only
//! once a save that includes the event's change is on disk, so a crash never loses an acked
//! camera, while a burst of events costs a few saves, not one each. A camera whose id is not a
//! valid path name, or is the name of a path in the config file, is refused: the handler errs,
//! and after the consumer's retries the event is in the DLQ; the error names the camera in the
//! log.

mod group_commit;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vigia_events::{Camera, Event, EventData, Keyring};

use crate::config::{PathConf, Source};
use crate::paths::PathManager;
use group_commit::{Persisted, Ticket};
use vigia_events::registry::{Action, CameraEvent, CameraRegistry, CameraSpec, Version};

/// The routing keys the camera consumer binds.
pub(crate) const BINDINGS: [&str; 4] = [
    "camera.created",
    "camera.updated",
    "camera.deleted",
    "city.storage_plan_changed",
];

/// Applies camera events to the path manager; one per node.
pub(crate) struct Cameras {
    paths: Arc<PathManager>,
    /// Opens the sealed camera passwords (`VIGIA_EVENTS_KEYS`…); `None` when no key is set.
    keyring: Option<Keyring>,
    registry: Arc<Persisted<CameraRegistry>>,
}

impl Cameras {
    /// Loads the registry from `state_file` (none yet is an empty registry) and adds a path for
    /// every camera in it. A state file that cannot be read or parsed is an error. Must be
    /// called within a tokio runtime (the state file's writer is a task).
    pub(crate) fn load(
        paths: Arc<PathManager>,
        keyring: Option<Keyring>,
        state_file: PathBuf,
    ) -> Result<Arc<Cameras>, String> {
        let registry = match std::fs::read(&state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("events: camera state {}: {e}", state_file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CameraRegistry::default(),
            Err(e) => {
                return Err(format!(
                    "events: camera state {}: {e}",
                    state_file.display()
                ));
            }
        };
        let known: Vec<CameraSpec> = registry.cameras().map(|c| registry.in_force(c)).collect();
        if !known.is_empty() {
            tracing::info!(
                "events: {} cameras restored from {}",
                known.len(),
                state_file.display()
            );
        }
        let cameras = Arc::new(Cameras {
            paths,
            keyring,
            registry: Persisted::new(state_file, registry),
        });
        for spec in known {
            if let Err(e) = cameras.add_path(&spec) {
                tracing::error!(path = %spec.camera_id, correlation_id = %spec.correlation_id, "camera not restored: {e}");
            }
        }
        Ok(cameras)
    }

    /// Handles one event from the queue: applies it now, and returns a future that completes
    /// once the change is on disk (then the consumer may ack). An `Err` is retried, then
    /// dead-lettered.
    pub(crate) fn handle(
        &self,
        event: &Event,
    ) -> impl Future<Output = Result<(), String>> + Send + use<> {
        let durable = self
            .apply(event)
            .map(|ticket| ticket.map(|t| self.registry.durable(t)));
        async move {
            match durable? {
                Some(durable) => durable.await,
                None => Ok(()),
            }
        }
    }

    /// Applies `event` to the registry and the paths; the ticket of the registry state it
    /// leaves, to wait for (`None` for an event the camera consumer does not handle).
    fn apply(&self, event: &Event) -> Result<Option<Ticket>, String> {
        let Some(change) = camera_event(event, self.keyring.as_ref())? else {
            return Ok(None);
        };
        let id = match &change {
            CameraEvent::Upsert(_, spec) => Some(&spec.camera_id),
            CameraEvent::Delete(_, id) => Some(id),
            CameraEvent::CityPlan(..) => None,
        };
        if let Some(Err(e)) = id.map(|id| self.paths.check_dynamic_name(id)) {
            let id = id.map(String::as_str).unwrap_or_default();
            tracing::error!(path = %id, correlation_id = %event.correlation_id, "{} {} refused: {e}", event.event_type(), event.id);
            return Err(e.to_string());
        }
        let (result, ticket) = self.registry.update(|registry| {
            let action = registry.apply(change);
            let changed = !matches!(action, Action::Skip(_));
            (self.perform(&action, event), changed)
        });
        result.map(|()| Some(ticket))
    }

    fn perform(&self, action: &Action, event: &Event) -> Result<(), String> {
        let corr = &event.correlation_id;
        match action {
            Action::Add(spec) | Action::Update(spec) => {
                self.add_path(spec).map_err(|e| {
                    tracing::error!(path = %spec.camera_id, correlation_id = %corr, "camera not applied: {e}");
                    e
                })?;
                let verb = if matches!(action, Action::Add(_)) {
                    "added"
                } else {
                    "updated"
                };
                tracing::info!(path = %spec.camera_id, correlation_id = %corr, "camera {verb} by {} {}", event.event_type(), event.id);
            }
            Action::Retain(changed) => {
                for (id, days) in changed {
                    self.retain(id, *days);
                    tracing::info!(path = %id, correlation_id = %corr, "camera keeps recordings {days} days, by {} {}", event.event_type(), event.id);
                }
            }
            Action::Remove(id) => {
                self.paths.remove_dynamic(id);
                if let Some(recording) = self.paths.recording() {
                    recording.set_retention_override(id, None);
                }
                tracing::info!(path = %id, correlation_id = %corr, "camera removed by {} {}", event.event_type(), event.id);
            }
            Action::Skip(why) => {
                tracing::debug!(correlation_id = %corr, "{} {} changes nothing: {why:?}", event.event_type(), event.id);
            }
        }
        Ok(())
    }

    /// Adds or replaces the camera's path; `spec` has the retention in force.
    fn add_path(&self, spec: &CameraSpec) -> Result<(), String> {
        let conf = path_conf(&self.paths.config().path_defaults, spec);
        let corr = Some(spec.correlation_id.clone());
        self.paths
            .add_dynamic(&spec.camera_id, conf, corr)
            .map_err(|e| e.to_string())?;
        self.retain(&spec.camera_id, spec.retention_days);
        Ok(())
    }

    /// Makes the recorder keep `id`'s recordings `days` days, whatever its path's config said
    /// when it started recording (a plan can change while it records).
    fn retain(&self, id: &str, days: u32) {
        if let Some(recording) = self.paths.recording() {
            recording.set_retention_override(id, Some(retention(days)));
        }
    }
}

/// The registry's view of `event`; `None` for types the camera consumer does not handle.
fn camera_event(event: &Event, keyring: Option<&Keyring>) -> Result<Option<CameraEvent>, String> {
    match &event.data {
        EventData::CameraCreated(c) | EventData::CameraUpdated(c) => {
            let spec = spec_of(c, keyring, &event.correlation_id)?;
            Ok(Some(CameraEvent::Upsert(Version::of(event), spec)))
        }
        _ => Ok(CameraEvent::without_login(event)),
    }
}

/// What the path needs; the source URL carries the camera's login, its password opened with
/// `keyring` ([`Camera::pull_url`]). A password that does not open is an error naming the
/// camera and the key id (the event is retried, then dead-lettered).
fn spec_of(
    camera: &Camera,
    keyring: Option<&Keyring>,
    correlation_id: &str,
) -> Result<CameraSpec, String> {
    let source = camera.pull_url(keyring).map_err(|e| e.to_string())?;
    Ok(CameraSpec {
        camera_id: camera.camera_id.clone(),
        city_id: camera.city_id.clone(),
        source: source.expose().to_owned(),
        record: camera.record,
        retention_days: camera.storage_plan.retention_days,
        correlation_id: correlation_id.to_owned(),
    })
}

/// `pathDefaults` with the camera's source, recording and retention.
fn path_conf(defaults: &PathConf, spec: &CameraSpec) -> PathConf {
    let mut conf = defaults.clone();
    conf.source = Source::Rtsp(spec.source.clone());
    conf.record = spec.record;
    conf.record_delete_after = retention(spec.retention_days);
    conf
}

/// `days` as a `recordDeleteAfter`.
fn retention(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 86_400)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use vigia_events::{CameraDeleted, StoragePlan};

    use super::*;
    use crate::config::Config;

    fn camera(id: &str, url: &str) -> Camera {
        Camera {
            camera_id: id.to_owned(),
            city_id: "city-1".to_owned(),
            name: "Av. Paulista".to_owned(),
            rtsp_url: url.to_owned(),
            credentials: None,
            record: false,
            storage_plan: StoragePlan {
                plan_id: "p".to_owned(),
                retention_days: 3,
            },
        }
    }

    fn manager(yaml: &str) -> Arc<PathManager> {
        let loaded = Config::from_yaml_str(yaml, "test.yml", &HashMap::new()).unwrap();
        PathManager::new(Arc::new(loaded.config))
    }

    fn state_file(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigia-cameras-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("cameras.json")
    }

    #[test]
    fn sealed_credentials_are_opened_into_the_source_url() {
        let keyring = Keyring::new([("k1".to_owned(), [7u8; 32])]).unwrap();
        let mut cam = camera("c", "rtsp://10.0.0.5:554/stream1");
        cam.set_login(&keyring, "admin", "p@ss word");
        let spec = spec_of(&cam, Some(&keyring), "corr").unwrap();
        assert_eq!(
            spec.source,
            "rtsp://admin:p%40ss%20word@10.0.0.5:554/stream1"
        );
        let err = spec_of(&cam, None, "corr").unwrap_err();
        assert!(err.contains("camera c"), "{err}");
    }

    #[test]
    fn path_conf_takes_record_and_retention_from_the_event() {
        let mut spec = spec_of(&camera("c", "rtsp://h/s"), None, "corr").unwrap();
        spec.record = true;
        let conf = path_conf(&PathConf::default(), &spec);
        assert_eq!(conf.source, Source::Rtsp("rtsp://h/s".to_owned()));
        assert!(conf.record);
        assert_eq!(conf.record_delete_after, Duration::from_secs(3 * 86_400));
    }

    #[tokio::test]
    async fn events_make_paths_and_the_state_survives_a_restart() {
        let file = state_file("restart");
        let paths = manager("paths:\n  fixed:\n    source: publisher\n");
        let cams = Cameras::load(paths.clone(), None, file.clone()).unwrap();
        let created = Event::new(
            "/cidades",
            EventData::CameraCreated(camera("cam-1", "rtsp://127.0.0.1:1/x")),
        );
        cams.handle(&created).await.unwrap();
        cams.handle(&created).await.unwrap();
        assert_eq!(
            paths.get("cam-1").unwrap().correlation_id.as_deref(),
            Some(created.correlation_id.as_str())
        );

        let clash = Event::new(
            "/cidades",
            EventData::CameraCreated(camera("fixed", "rtsp://h/s")),
        );
        assert!(
            cams.handle(&clash)
                .await
                .unwrap_err()
                .contains("config file")
        );
        let bad = Event::new(
            "/cidades",
            EventData::CameraCreated(camera("../x", "rtsp://h/s")),
        );
        assert!(cams.handle(&bad).await.is_err());

        let paths2 = manager("paths:\n  fixed:\n    source: publisher\n");
        Cameras::load(paths2.clone(), None, file.clone()).unwrap();
        let restored = paths2.get("cam-1").unwrap();
        assert_eq!(
            restored.conf.source,
            Source::Rtsp("rtsp://127.0.0.1:1/x".to_owned())
        );

        let deleted = Event::new(
            "/cidades",
            EventData::CameraDeleted(CameraDeleted {
                camera_id: "cam-1".to_owned(),
                city_id: "city-1".to_owned(),
            }),
        );
        cams.handle(&deleted).await.unwrap();
        assert!(
            paths.get("cam-1").is_err(),
            "no config entry matches once removed"
        );
        let paths3 = manager("");
        Cameras::load(paths3.clone(), None, file.clone()).unwrap();
        assert!(paths3.get("cam-1").is_err());
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }

    #[tokio::test]
    async fn a_city_plan_changes_retention_and_survives_a_restart() {
        let file = state_file("plan");
        let paths = manager("");
        let cams = Cameras::load(paths.clone(), None, file.clone()).unwrap();
        let created = Event::new(
            "/cidades",
            EventData::CameraCreated(camera("cam-p", "rtsp://127.0.0.1:1/x")),
        );
        cams.handle(&created).await.unwrap();
        let started = paths.get("cam-p").unwrap();
        let mut plan = Event::new(
            "/cidades",
            EventData::CityStoragePlanChanged(vigia_events::CityStoragePlanChanged {
                city_id: "city-1".to_owned(),
                city_hall_cnpj: vigia_events::Cnpj::parse("11222333000181").unwrap(),
                storage_plan: StoragePlan {
                    plan_id: "p2".to_owned(),
                    retention_days: 30,
                },
            }),
        );
        plan.time = created.time + chrono::Duration::seconds(1);
        cams.handle(&plan).await.unwrap();
        assert!(
            Arc::ptr_eq(&started, &paths.get("cam-p").unwrap()),
            "a plan change does not restart the path"
        );
        let paths2 = manager("");
        Cameras::load(paths2.clone(), None, file.clone()).unwrap();
        let restored = paths2.get("cam-p").unwrap();
        assert_eq!(restored.conf.record_delete_after, retention(30));
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
}
