//! What `vigia-ai run` takes from the bus, and which cameras it watches.
//!
//! **Consumer.** A durable queue of its own (`VIGIA_AI_QUEUE`, default `vigia.ai.inputs`, with
//! the retry queues and `<queue>.dlq` that `vigia_events::topology` declares) bound to
//! [`BINDINGS`] on `VIGIA_AI_EXCHANGE`, read with `vigia_events::Consumer`: a malformed or
//! misrouted message goes to the DLQ with a log line (the consumer does it), a lost broker is
//! reconnected with backoff and unacked messages come back. The handler hands each event to the
//! run loop, which owns the [`vigia_ai::pipeline::Pipeline`], and is acked only once the loop
//! applied it. Applying is idempotent: a camera's city and a city's CNPJ are set (a copy sets the
//! same), a recording is counted once per `recordingId`, a camera already watched is not
//! started twice; the consumer's dedupe window (`<state dir>/<queue>.dedupe`) drops most copies
//! before that.
//!
//! **State across restarts** ([`Saved`], `<state dir>/bus-state.json`, written by
//! `crate::state::StateFile`): what the pipeline learnt (cameras' cities, cities' CNPJs) and the
//! cameras read from the bus, written (atomically, by rename) after each event that changed it
//! and before the event is acked; loaded at start. Without it a restart would forget every
//! CNPJ, and so every report, until a plan changed.
//!
//! **Cameras watched.** Those of `VIGIA_AI_CAMERAS`, always (the operator's list; bus events
//! about them only feed the reports). With `VIGIA_AI_CAMERAS=all`, every camera the bus
//! announces: `camera.created` (or a `camera.updated` of one not watched yet, whose creation was
//! missed) starts reading `<VIGIA_AI_RTSP>/<cameraId>` (Vigia names a camera's path by its id),
//! `camera.deleted` stops it. A camera created before the queue first existed (so whose
//! `camera.created` this service never saw) is started by Vigia's `stream.health_check` saying
//! it is `online` (every pulled camera is reported every `eventsHealthInterval`, 10 s by
//! default), when the report's path is the camera id; a camera deleted on the bus is not started
//! again by a late report (only a new `camera.created` does). Events published while the service
//! is down wait in the durable queue, and the state file keeps the cameras known before.

use std::collections::HashSet;
use std::path::Path;

use tokio::sync::{mpsc, oneshot};
use vigia_events::{ConsumerConfig, Event, EventData, HandlerFuture, HealthStatus};

use vigia_ai::config::Config;
use vigia_ai::pipeline::BusKnowledge;

/// The routing keys the queue is bound to: cameras (city of each, which to watch), city plans
/// (the CNPJ of the reports), finished recordings (recorded hours) and Vigia's health reports
/// (cameras online whose creation this service missed).
pub(crate) const BINDINGS: [&str; 6] = [
    "camera.created",
    "camera.updated",
    "camera.deleted",
    "city.storage_plan_changed",
    "recording.stopped",
    "stream.health_check",
];

/// An event from the queue and the way to tell the consumer it was applied (then it is acked)
/// or not (the error text: retried, then dead-lettered).
pub(crate) type Delivery = (Event, oneshot::Sender<Result<(), String>>);

/// The consumer configuration of `config`'s broker `url`.
pub(crate) fn consumer_config(config: &Config, url: &str, state_dir: &Path) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(url, &config.queue, &BINDINGS, state_dir);
    c.exchange = config.exchange.clone();
    c.connection_name = "vigia-ai-consumer".into();
    c
}

/// The consumer's handler: sends each event to `deliveries` and completes once the receiver
/// says it was applied (an error, so a retry, when the run loop is gone).
pub(crate) fn handler(
    deliveries: mpsc::Sender<Delivery>,
) -> impl Fn(Event) -> HandlerFuture + Send + Sync + 'static {
    move |event| {
        let tx = deliveries.clone();
        Box::pin(async move {
            let (done, applied) = oneshot::channel();
            tx.send((event, done))
                .await
                .map_err(|_| "vigia-ai is stopping".to_owned())?;
            applied
                .await
                .map_err(|_| "vigia-ai is stopping".to_owned())?
        })
    }
}

/// A change of the cameras read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Start reading this path.
    Start(String),
    /// Stop reading this path.
    Stop(String),
}

/// Which cameras are read: the fixed list, plus the bus's when `all`.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    fixed: HashSet<String>,
    all: bool,
    from_bus: HashSet<String>,
    /// Cameras deleted on the bus (since this start), which health reports do not start again.
    deleted: HashSet<String>,
}

impl Watched {
    /// The fixed `cameras` (read from the start), and whether to follow the bus (`all`).
    pub(crate) fn new(cameras: &[String], all: bool) -> Watched {
        Watched {
            fixed: cameras.iter().cloned().collect(),
            all,
            from_bus: HashSet::new(),
            deleted: HashSet::new(),
        }
    }

    /// The cameras read because the bus announced them, sorted.
    pub(crate) fn bus_cameras(&self) -> Vec<String> {
        let mut cameras: Vec<String> = self.from_bus.iter().cloned().collect();
        cameras.sort();
        cameras
    }

    /// Takes back the cameras of [`Watched::bus_cameras`] (at start; ignored unless `all`);
    /// returns those to start.
    pub(crate) fn restore(&mut self, cameras: Vec<String>) -> Vec<String> {
        if !self.all {
            return Vec::new();
        }
        let new: Vec<String> = cameras
            .into_iter()
            .filter(|c| !self.fixed.contains(c) && is_path_name(c))
            .collect();
        self.from_bus.extend(new.iter().cloned());
        new
    }

    /// What `event` changes, if anything (idempotent: a camera is started once, stopped once).
    pub(crate) fn apply(&mut self, event: &Event) -> Option<Change> {
        if !self.all {
            return None;
        }
        match &event.data {
            EventData::CameraCreated(c) => {
                self.deleted.remove(&c.camera_id);
                self.start(&c.camera_id)
            }
            EventData::CameraUpdated(c) if !self.deleted.contains(&c.camera_id) => {
                self.start(&c.camera_id)
            }
            EventData::StreamHealthCheck(h)
                if h.status == HealthStatus::Online
                    && h.path == h.camera_id
                    && !self.deleted.contains(&h.camera_id) =>
            {
                self.start(&h.camera_id)
            }
            EventData::CameraDeleted(d) => {
                self.deleted.insert(d.camera_id.clone());
                self.from_bus
                    .remove(&d.camera_id)
                    .then(|| Change::Stop(d.camera_id.clone()))
            }
            _ => None,
        }
    }

    /// Starts reading camera `id` unless it is read already or cannot be a path.
    fn start(&mut self, id: &str) -> Option<Change> {
        if self.fixed.contains(id) || self.from_bus.contains(id) {
            return None;
        }
        if !is_path_name(id) {
            tracing::warn!(camera = %id, "camera id is not a Vigia path name; not read");
            return None;
        }
        self.from_bus.insert(id.to_owned());
        Some(Change::Start(id.to_owned()))
    }
}

/// The file of [`Saved`] in the state dir.
pub(crate) const STATE_FILE: &str = "bus-state.json";

/// What `run` keeps across restarts (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Saved {
    /// The pipeline's.
    pub(crate) known: BusKnowledge,
    /// The cameras read because the bus announced them.
    pub(crate) cameras: Vec<String>,
}

/// Whether `id` can be a path of Vigia's RTSP URL (as `VIGIA_AI_CAMERAS` entries must be).
fn is_path_name(id: &str) -> bool {
    !id.is_empty()
        && !id.contains(|c: char| c.is_whitespace() || c.is_control() || "?#%".contains(c))
        && !id.split('/').any(|s| s.is_empty() || s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use vigia_events::{EventType, examples};

    use super::*;
    use crate::state::StateFile;

    fn example(ty: EventType, camera: &str) -> Event {
        let mut e = examples()
            .into_iter()
            .find(|e| e.event_type() == ty)
            .unwrap();
        match &mut e.data {
            EventData::CameraCreated(c) | EventData::CameraUpdated(c) => {
                c.camera_id = camera.into()
            }
            EventData::CameraDeleted(d) => d.camera_id = camera.into(),
            _ => {}
        }
        e
    }

    #[test]
    fn all_follows_the_bus_once_per_camera() {
        let mut w = Watched::new(&["fixed".into()], true);
        let created = example(EventType::CameraCreated, "cam-1");
        assert_eq!(w.apply(&created), Some(Change::Start("cam-1".into())));
        assert_eq!(w.apply(&created), None, "a copy changes nothing");
        let updated = example(EventType::CameraUpdated, "cam-2");
        assert_eq!(w.apply(&updated), Some(Change::Start("cam-2".into())));
        assert_eq!(w.apply(&example(EventType::CameraCreated, "fixed")), None);
        assert_eq!(w.apply(&example(EventType::CameraDeleted, "fixed")), None);
        let deleted = example(EventType::CameraDeleted, "cam-1");
        assert_eq!(w.apply(&deleted), Some(Change::Stop("cam-1".into())));
        assert_eq!(w.apply(&deleted), None);
        assert_eq!(w.apply(&example(EventType::CameraCreated, "../x")), None);
        assert_eq!(w.apply(&example(EventType::CameraCreated, "a b")), None);
    }

    #[tokio::test]
    async fn the_state_file_round_trips_and_restores_the_bus_cameras() {
        let dir = std::env::temp_dir().join(format!("vigia-ai-bus-state-{}", std::process::id()));
        let mut file = StateFile::new(dir.join(STATE_FILE));
        assert_eq!(file.load(), Ok(Saved::default()), "no file yet");
        let mut w = Watched::new(&[], true);
        w.apply(&example(EventType::CameraCreated, "cam-1"));
        let mut saved = Saved {
            cameras: w.bus_cameras(),
            ..Saved::default()
        };
        saved
            .known
            .camera_cities
            .insert("cam-1".into(), "city".into());
        file.save(saved.clone()).await.unwrap();
        let mut again = StateFile::<Saved>::new(dir.join(STATE_FILE));
        assert_eq!(again.load().as_ref(), Ok(&saved));
        let mut w = Watched::new(&["fixed".into()], true);
        assert_eq!(w.restore(vec!["cam-1".into(), "fixed".into()]), ["cam-1"]);
        assert_eq!(w.apply(&example(EventType::CameraCreated, "cam-1")), None);
        std::fs::write(dir.join("bus-state.json"), "{").unwrap();
        assert!(again.load().unwrap_err().contains("bus-state.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn health(camera: &str, status: HealthStatus) -> Event {
        let mut e = examples()
            .into_iter()
            .find(|e| e.event_type() == EventType::StreamHealthCheck)
            .unwrap();
        if let EventData::StreamHealthCheck(h) = &mut e.data {
            (h.camera_id, h.path, h.status) = (camera.into(), camera.into(), status);
        }
        e
    }

    #[test]
    fn a_camera_whose_creation_was_missed_is_started_by_its_health_report() {
        let mut w = Watched::new(&["fixed".into()], true);
        let online = health("cam-1", HealthStatus::Online);
        assert_eq!(w.apply(&online), Some(Change::Start("cam-1".into())));
        assert_eq!(w.apply(&online), None, "every report after changes nothing");
        assert_eq!(
            w.apply(&example(EventType::CameraCreated, "cam-1")),
            None,
            "read already"
        );
        assert_eq!(w.apply(&health("cam-2", HealthStatus::Offline)), None);
        assert_eq!(w.apply(&health("fixed", HealthStatus::Online)), None);
        let mut elsewhere = health("cam-3", HealthStatus::Online);
        if let EventData::StreamHealthCheck(h) = &mut elsewhere.data {
            h.path = "other-path".into();
        }
        assert_eq!(w.apply(&elsewhere), None, "not a path named by its camera");
        // Deleted: a late report or update does not bring it back; a new creation does.
        let deleted = example(EventType::CameraDeleted, "cam-1");
        assert_eq!(w.apply(&deleted), Some(Change::Stop("cam-1".into())));
        assert_eq!(w.apply(&online), None);
        assert_eq!(w.apply(&example(EventType::CameraUpdated, "cam-1")), None);
        let created = example(EventType::CameraCreated, "cam-1");
        assert_eq!(w.apply(&created), Some(Change::Start("cam-1".into())));
    }

    #[test]
    fn a_list_ignores_the_bus() {
        let mut w = Watched::new(&["cam-1".into()], false);
        assert_eq!(w.apply(&example(EventType::CameraCreated, "cam-2")), None);
    }
}
