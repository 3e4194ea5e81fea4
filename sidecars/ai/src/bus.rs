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
//! **Cameras watched.** Those of `VIGIA_AI_CAMERAS`, always (the operator's list; bus events
//! about them only feed the reports). With `VIGIA_AI_CAMERAS=all`, every camera the bus
//! announces: `camera.created` (or a `camera.updated` of one not watched yet, whose creation was
//! missed) starts reading `<VIGIA_AI_RTSP>/<cameraId>` (Vigia names a camera's path by its id),
//! `camera.deleted` stops it. Cameras are not remembered across restarts: the queue is durable,
//! so events published while the service is down are read when it starts, but a camera created
//! before the queue existed is not known until its next `camera.updated`.

use std::collections::HashSet;
use std::path::Path;

use tokio::sync::{mpsc, oneshot};
use vigia_events::{ConsumerConfig, Event, EventData, HandlerFuture};

use vigia_ai::config::Config;

/// The routing keys the queue is bound to: cameras (city of each, which to watch), city plans
/// (the CNPJ of the reports) and finished recordings (recorded hours).
pub(crate) const BINDINGS: [&str; 5] = [
    "camera.created",
    "camera.updated",
    "camera.deleted",
    "city.storage_plan_changed",
    "recording.stopped",
];

/// An event from the queue and the way to tell the consumer it was applied (then it is acked).
pub(crate) type Delivery = (Event, oneshot::Sender<()>);

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
            applied.await.map_err(|_| "vigia-ai is stopping".to_owned())
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
}

impl Watched {
    /// The fixed `cameras` (read from the start), and whether to follow the bus (`all`).
    pub(crate) fn new(cameras: &[String], all: bool) -> Watched {
        Watched {
            fixed: cameras.iter().cloned().collect(),
            all,
            from_bus: HashSet::new(),
        }
    }

    /// What `event` changes, if anything (idempotent: a camera is started once, stopped once).
    pub(crate) fn apply(&mut self, event: &Event) -> Option<Change> {
        if !self.all {
            return None;
        }
        match &event.data {
            EventData::CameraCreated(c) | EventData::CameraUpdated(c) => {
                let id = &c.camera_id;
                if self.fixed.contains(id) || self.from_bus.contains(id) {
                    return None;
                }
                if !is_path_name(id) {
                    tracing::warn!(camera = %id, "camera id is not a Vigia path name; not read");
                    return None;
                }
                self.from_bus.insert(id.clone());
                Some(Change::Start(id.clone()))
            }
            EventData::CameraDeleted(d) => self
                .from_bus
                .remove(&d.camera_id)
                .then(|| Change::Stop(d.camera_id.clone())),
            _ => None,
        }
    }
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

    #[test]
    fn a_list_ignores_the_bus() {
        let mut w = Watched::new(&["cam-1".into()], false);
        assert_eq!(w.apply(&example(EventType::CameraCreated, "cam-2")), None);
    }
}
