//! Cameras announced on the bus, as a sans-IO state machine: `camera.*` events in, path actions
//! out. No clock, no files, no paths: [`super::cameras`] drives it and persists it.
//!
//! **Order.** Each camera keeps the [`Version`] of the last event applied to it: the event's
//! CloudEvents `time` (set by Cidades when the camera changed), ties broken by event `id`. An
//! event whose version is lower than the camera's is stale and ignored (an older update arriving
//! late cannot undo a newer one); an equal version is the same event again and changes nothing
//! (idempotence). A deletion leaves a tombstone with its version, so a `camera.created` or
//! `camera.updated` older than the deletion, delivered late, does not bring the camera back.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What Vigia needs to pull one camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CameraSpec {
    /// Camera id, also the path name.
    pub(crate) camera_id: String,
    /// The pulled `source`: the camera's RTSP URL, with its login if it has one.
    pub(crate) source: String,
    /// Whether the path records.
    pub(crate) record: bool,
    /// Days recordings are kept (`recordDeleteAfter`).
    pub(crate) retention_days: u32,
    /// Correlation id of the event that set this state (carried on the path's logs and events).
    pub(crate) correlation_id: String,
}

impl CameraSpec {
    /// Whether `other` pulls and records the same way (the correlation id aside).
    fn same_path(&self, other: &CameraSpec) -> bool {
        self.source == other.source
            && self.record == other.record
            && self.retention_days == other.retention_days
    }
}

/// The order of a camera's events: event time, then event id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Version {
    /// CloudEvents `time`.
    pub(crate) time: DateTime<Utc>,
    /// CloudEvents `id`.
    pub(crate) id: String,
}

/// One `camera.*` event, reduced to what the registry needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CameraEvent {
    /// `camera.created` or `camera.updated`: the camera's full new state.
    Upsert(Version, CameraSpec),
    /// `camera.deleted`.
    Delete(Version, String),
}

/// What the server must do after an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Create the path.
    Add(CameraSpec),
    /// Replace the path (new URL, recording or retention).
    Update(CameraSpec),
    /// Remove the path named by this camera id.
    Remove(String),
    /// Nothing to do.
    Skip(Skip),
}

/// Why an event changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The same event (same version) was applied already.
    Duplicate,
    /// An event with a newer version was applied already.
    Stale,
    /// An update that changes nothing the path uses (e.g. the camera's display name).
    Unchanged,
    /// A deletion of a camera that is not there.
    Unknown,
}

/// Every camera announced on the bus, including deleted ones' tombstones.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CameraRegistry {
    cameras: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    version: Version,
    /// `None`: deleted (a tombstone).
    camera: Option<CameraSpec>,
}

impl CameraRegistry {
    /// Applies `event` in the order described in the module docs and says what to do.
    pub(crate) fn apply(&mut self, event: CameraEvent) -> Action {
        let (version, id) = match &event {
            CameraEvent::Upsert(v, spec) => (v, &spec.camera_id),
            CameraEvent::Delete(v, id) => (v, id),
        };
        let previous = self.cameras.get(id);
        if let Some(entry) = previous {
            if *version == entry.version {
                return Action::Skip(Skip::Duplicate);
            }
            if *version < entry.version {
                return Action::Skip(Skip::Stale);
            }
        }
        let current = previous.and_then(|e| e.camera.clone());
        let (id, version) = (id.clone(), version.clone());
        let (camera, action) = match event {
            CameraEvent::Upsert(_, spec) => {
                let action = match &current {
                    None => Action::Add(spec.clone()),
                    Some(old) if old.same_path(&spec) => Action::Skip(Skip::Unchanged),
                    Some(_) => Action::Update(spec.clone()),
                };
                // An unchanged camera keeps the correlation id of the event that set it up.
                let kept = match action {
                    Action::Skip(_) => current,
                    _ => Some(spec),
                };
                (kept, action)
            }
            CameraEvent::Delete(..) => match current {
                Some(_) => (None, Action::Remove(id.clone())),
                None => (None, Action::Skip(Skip::Unknown)),
            },
        };
        self.cameras.insert(id, Entry { version, camera });
        action
    }

    /// The cameras that exist now (tombstones left out), by id.
    pub(crate) fn cameras(&self) -> impl Iterator<Item = &CameraSpec> {
        self.cameras.values().filter_map(|e| e.camera.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(second: i64, id: &str) -> Version {
        Version {
            time: DateTime::from_timestamp(1_700_000_000 + second, 0).unwrap(),
            id: id.to_owned(),
        }
    }

    fn spec(cam: &str, url: &str, corr: &str) -> CameraSpec {
        CameraSpec {
            camera_id: cam.to_owned(),
            source: url.to_owned(),
            record: false,
            retention_days: 7,
            correlation_id: corr.to_owned(),
        }
    }

    fn up(second: i64, id: &str, cam: &str, url: &str) -> CameraEvent {
        CameraEvent::Upsert(v(second, id), spec(cam, url, id))
    }

    fn del(second: i64, id: &str, cam: &str) -> CameraEvent {
        CameraEvent::Delete(v(second, id), cam.to_owned())
    }

    /// Name, events in, actions out, cameras left.
    type Case = (
        &'static str,
        Vec<CameraEvent>,
        Vec<Action>,
        Vec<&'static str>,
    );

    #[test]
    fn case_table() {
        use super::Skip as S;
        use Action::*;
        let a = "rtsp://a/1";
        let b = "rtsp://b/1";
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("create", vec![up(1, "e1", "c", a)],
                vec![Add(spec("c", a, "e1"))], vec!["c"]),
            ("same event twice is one path", vec![up(1, "e1", "c", a), up(1, "e1", "c", a)],
                vec![Add(spec("c", a, "e1")), Skip(S::Duplicate)], vec!["c"]),
            ("update changes the URL", vec![up(1, "e1", "c", a), up(2, "e2", "c", b)],
                vec![Add(spec("c", a, "e1")), Update(spec("c", b, "e2"))], vec!["c"]),
            ("older update arriving late is ignored",
                vec![up(1, "e1", "c", a), up(3, "e3", "c", b), up(2, "e2", "c", a)],
                vec![Add(spec("c", a, "e1")), Update(spec("c", b, "e3")), Skip(S::Stale)],
                vec!["c"]),
            ("update with nothing new", vec![up(1, "e1", "c", a), up(2, "e2", "c", a)],
                vec![Add(spec("c", a, "e1")), Skip(S::Unchanged)], vec!["c"]),
            ("update before create creates", vec![up(2, "e2", "c", b), up(1, "e1", "c", a)],
                vec![Add(spec("c", b, "e2")), Skip(S::Stale)], vec!["c"]),
            ("delete", vec![up(1, "e1", "c", a), del(2, "e2", "c")],
                vec![Add(spec("c", a, "e1")), Remove("c".into())], vec![]),
            ("delete twice", vec![up(1, "e1", "c", a), del(2, "e2", "c"), del(2, "e2", "c")],
                vec![Add(spec("c", a, "e1")), Remove("c".into()), Skip(S::Duplicate)], vec![]),
            ("create older than the delete stays deleted",
                vec![del(2, "e2", "c"), up(1, "e1", "c", a)],
                vec![Skip(S::Unknown), Skip(S::Stale)], vec![]),
            ("re-created after a delete", vec![up(1, "e1", "c", a), del(2, "e2", "c"), up(3, "e3", "c", b)],
                vec![Add(spec("c", a, "e1")), Remove("c".into()), Add(spec("c", b, "e3"))], vec!["c"]),
            ("same time: the higher id wins", vec![up(1, "eb", "c", b), up(1, "ea", "c", a)],
                vec![Add(spec("c", b, "eb")), Skip(S::Stale)], vec!["c"]),
            ("cameras are ordered apart", vec![up(5, "e5", "c", a), up(1, "e1", "d", a)],
                vec![Add(spec("c", a, "e5")), Add(spec("d", a, "e1"))], vec!["c", "d"]),
        ];
        for (name, events, want, cameras) in cases {
            let mut reg = CameraRegistry::default();
            let got: Vec<Action> = events.into_iter().map(|e| reg.apply(e)).collect();
            assert_eq!(got, want, "{name}");
            let ids: Vec<&str> = reg.cameras().map(|c| c.camera_id.as_str()).collect();
            assert_eq!(ids, cameras, "{name}");
        }
    }

    #[test]
    fn unchanged_update_keeps_the_correlation_of_the_create() {
        let mut reg = CameraRegistry::default();
        reg.apply(up(1, "e1", "c", "rtsp://a/1"));
        reg.apply(up(2, "e2", "c", "rtsp://a/1"));
        let cam = reg.cameras().next().unwrap();
        assert_eq!(cam.correlation_id, "e1");
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut reg = CameraRegistry::default();
        reg.apply(up(1, "e1", "c", "rtsp://a/1"));
        reg.apply(up(1, "e1", "d", "rtsp://a/2"));
        reg.apply(del(2, "e2", "d"));
        let text = serde_json::to_string(&reg).unwrap();
        let back: CameraRegistry = serde_json::from_str(&text).unwrap();
        assert_eq!(back, reg);
        let mut back = back;
        assert_eq!(back.apply(del(1, "e0", "d")), Action::Skip(Skip::Stale));
    }
}
