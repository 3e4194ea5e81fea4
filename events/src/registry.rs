//! Cameras and city storage plans announced on the bus, as a sans-IO state machine: `camera.*`
//! and `city.storage_plan_changed` events in, path actions out. No clock, no files, no paths:
//! the server drives it, applies its actions and persists it (it serializes to JSON).
//!
//! **Order.** Each camera keeps the [`Version`] of the last event applied to it: the event's
//! CloudEvents `time` (set by Cidades when the camera changed), ties broken by event `id`. An
//! event whose version is lower than the camera's is stale and ignored (an older update arriving
//! late cannot undo a newer one); an equal version is the same event again and changes nothing
//! (idempotence). A deletion leaves a tombstone with its version, so a `camera.created` or
//! `camera.updated` older than the deletion, delivered late, does not bring the camera back.
//!
//! **Retention.** A camera event carries the storage plan of its city at the time; a
//! `city.storage_plan_changed` changes the plan of every camera of the city. Each city keeps
//! the version of its last plan event, ordered the same way. A camera keeps recordings for the
//! retention of whichever is newer: its own last event or its city's last plan event. A change
//! of retention alone never restarts a path ([`Action::Retain`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Event, EventData};

/// What Vigia needs to pull one camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CameraSpec {
    /// Camera id, also the path name.
    pub camera_id: String,
    /// City the camera belongs to (empty in state files written before cities were kept).
    #[serde(default)]
    pub city_id: String,
    /// The pulled `source`: the camera's RTSP URL, with its login if it has one.
    pub source: String,
    /// Whether the path records.
    pub record: bool,
    /// Days recordings are kept (`recordDeleteAfter`): the plan of the camera's own event in the
    /// registry's state; in an [`Action`], the retention in force (see the module docs).
    pub retention_days: u32,
    /// Correlation id of the event that set this state (carried on the path's logs and events).
    pub correlation_id: String,
}

impl CameraSpec {
    /// Whether `other` pulls and records the same way (retention and correlation id aside).
    fn same_path(&self, other: &CameraSpec) -> bool {
        self.source == other.source && self.record == other.record
    }
}

/// The order of events about one camera or one city: event time, then event id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    /// CloudEvents `time`.
    pub time: DateTime<Utc>,
    /// CloudEvents `id`.
    pub id: String,
}

impl Version {
    /// The version of `event`.
    pub fn of(event: &Event) -> Version {
        Version {
            time: event.time,
            id: event.id.clone(),
        }
    }
}

/// One event, reduced to what the registry needs.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraEvent {
    /// `camera.created` or `camera.updated`: the camera's full new state.
    Upsert(Version, CameraSpec),
    /// `camera.deleted`.
    Delete(Version, String),
    /// `city.storage_plan_changed`: the city and its new retention in days.
    CityPlan(Version, String, u32),
}

impl CameraEvent {
    /// The registry's view of a `camera.deleted` or `city.storage_plan_changed` event; `None`
    /// for every other type (a `camera.created`/`updated` needs its login opened first, which
    /// is the server's business: build [`CameraEvent::Upsert`] from it).
    pub fn without_login(event: &Event) -> Option<CameraEvent> {
        let version = Version::of(event);
        match &event.data {
            EventData::CameraDeleted(d) => Some(CameraEvent::Delete(version, d.camera_id.clone())),
            EventData::CityStoragePlanChanged(p) => Some(CameraEvent::CityPlan(
                version,
                p.city_id.clone(),
                p.storage_plan.retention_days,
            )),
            _ => None,
        }
    }
}

/// What the server must do after an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the path (the spec's `retention_days` is the retention in force).
    Add(CameraSpec),
    /// Replace the path: new URL or recording (the spec's `retention_days` is the retention in
    /// force).
    Update(CameraSpec),
    /// Keep the running paths, with a new retention in days for each of these cameras (possibly
    /// none: a city plan for a city without cameras still changes the state).
    Retain(Vec<(String, u32)>),
    /// Remove the path named by this camera id.
    Remove(String),
    /// Nothing to do.
    Skip(Skip),
}

/// Why an event changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The same event (same version) was applied already.
    Duplicate,
    /// An event with a newer version was applied already.
    Stale,
    /// An update that changes nothing the path uses (e.g. the camera's display name).
    Unchanged,
    /// A deletion of a camera that is not there.
    Unknown,
}

/// Every camera announced on the bus, including deleted ones' tombstones, and every city's
/// latest storage plan.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraRegistry {
    cameras: BTreeMap<String, Entry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    plans: BTreeMap<String, Plan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    version: Version,
    /// `None`: deleted (a tombstone).
    camera: Option<CameraSpec>,
}

/// A city's latest `city.storage_plan_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    version: Version,
    retention_days: u32,
}

impl CameraRegistry {
    /// Applies `event` in the order described in the module docs and says what to do.
    pub fn apply(&mut self, event: CameraEvent) -> Action {
        match event {
            CameraEvent::Upsert(version, spec) => self.upsert(version, spec),
            CameraEvent::Delete(version, id) => self.delete(version, id),
            CameraEvent::CityPlan(version, city, days) => self.city_plan(version, city, days),
        }
    }

    /// The cameras that exist now (tombstones left out), by id, as the registry keeps them
    /// (`retention_days` from their own event: see [`CameraRegistry::in_force`]).
    pub fn cameras(&self) -> impl Iterator<Item = &CameraSpec> {
        self.cameras.values().filter_map(|e| e.camera.as_ref())
    }

    /// `spec` with the retention in force: its city's plan if that is newer than the camera's
    /// last event.
    pub fn in_force(&self, spec: &CameraSpec) -> CameraSpec {
        let version = self.cameras.get(&spec.camera_id).map(|e| &e.version);
        let mut spec = spec.clone();
        spec.retention_days = self.retention(&spec, version);
        spec
    }

    fn retention(&self, spec: &CameraSpec, camera_version: Option<&Version>) -> u32 {
        match (self.plans.get(&spec.city_id), camera_version) {
            (Some(plan), Some(v)) if plan.version > *v => plan.retention_days,
            (Some(plan), None) => plan.retention_days,
            _ => spec.retention_days,
        }
    }

    /// Why an event of `version` about camera `id` changes nothing, if it does not.
    fn ordered(&self, id: &str, version: &Version) -> Option<Skip> {
        let entry = self.cameras.get(id)?;
        if *version == entry.version {
            Some(Skip::Duplicate)
        } else if *version < entry.version {
            Some(Skip::Stale)
        } else {
            None
        }
    }

    fn upsert(&mut self, version: Version, spec: CameraSpec) -> Action {
        let id = spec.camera_id.clone();
        if let Some(skip) = self.ordered(&id, &version) {
            return Action::Skip(skip);
        }
        let current = self.cameras.get(&id).and_then(|e| e.camera.clone());
        let before = current.as_ref().map(|c| self.in_force(c));
        let days = self.retention(&spec, Some(&version));
        let mut stored = spec.clone();
        let action = match before {
            None => Action::Add(CameraSpec {
                retention_days: days,
                ..spec
            }),
            Some(old) if !old.same_path(&spec) => Action::Update(CameraSpec {
                retention_days: days,
                ..spec
            }),
            Some(old) => {
                // The path keeps running, with the correlation id of the event that set it up.
                stored.correlation_id = old.correlation_id.clone();
                if old.retention_days == days {
                    Action::Skip(Skip::Unchanged)
                } else {
                    Action::Retain(vec![(id.clone(), days)])
                }
            }
        };
        let entry = Entry {
            version,
            camera: Some(stored),
        };
        self.cameras.insert(id, entry);
        action
    }

    fn delete(&mut self, version: Version, id: String) -> Action {
        if let Some(skip) = self.ordered(&id, &version) {
            return Action::Skip(skip);
        }
        let existed = self.cameras.get(&id).is_some_and(|e| e.camera.is_some());
        self.cameras.insert(
            id.clone(),
            Entry {
                version,
                camera: None,
            },
        );
        if existed {
            Action::Remove(id)
        } else {
            Action::Skip(Skip::Unknown)
        }
    }

    fn city_plan(&mut self, version: Version, city: String, days: u32) -> Action {
        if let Some(plan) = self.plans.get(&city) {
            if version == plan.version {
                return Action::Skip(Skip::Duplicate);
            }
            if version < plan.version {
                return Action::Skip(Skip::Stale);
            }
        }
        let of_city: Vec<CameraSpec> = self
            .cameras()
            .filter(|c| c.city_id == city)
            .cloned()
            .collect();
        let before: Vec<u32> = of_city
            .iter()
            .map(|c| self.in_force(c).retention_days)
            .collect();
        let plan = Plan {
            version,
            retention_days: days,
        };
        self.plans.insert(city, plan);
        let changed = of_city
            .iter()
            .zip(before)
            .map(|(c, old)| (c.camera_id.clone(), old, self.in_force(c).retention_days))
            .filter(|(_, old, new)| old != new)
            .map(|(id, _, new)| (id, new))
            .collect();
        Action::Retain(changed)
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
            city_id: "city".to_owned(),
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

    fn plan(second: i64, id: &str, city: &str, days: u32) -> CameraEvent {
        CameraEvent::CityPlan(v(second, id), city.to_owned(), days)
    }

    fn with_days(mut spec: CameraSpec, days: u32) -> CameraSpec {
        spec.retention_days = days;
        spec
    }

    #[test]
    fn city_plans_case_table() {
        use super::Skip as S;
        use Action::*;
        let a = "rtsp://a/1";
        let b = "rtsp://b/1";
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<CameraEvent>, Vec<Action>)> = vec![
            ("a newer plan changes the city's cameras, no restart",
                vec![up(1, "e1", "c", a), up(1, "e1", "d", a), plan(2, "p2", "city", 30)],
                vec![Add(spec("c", a, "e1")), Add(spec("d", a, "e1")),
                     Retain(vec![("c".into(), 30), ("d".into(), 30)])]),
            ("a plan older than the camera's event changes nothing",
                vec![up(2, "e2", "c", a), plan(1, "p1", "city", 30)],
                vec![Add(spec("c", a, "e2")), Retain(vec![])]),
            ("the same plan twice", vec![plan(2, "p2", "city", 30), plan(2, "p2", "city", 30)],
                vec![Retain(vec![]), Skip(S::Duplicate)]),
            ("an older plan arriving late is ignored",
                vec![plan(3, "p3", "city", 30), plan(2, "p2", "city", 90)],
                vec![Retain(vec![]), Skip(S::Stale)]),
            ("a plan of another city", vec![up(1, "e1", "c", a), plan(2, "p2", "elsewhere", 30)],
                vec![Add(spec("c", a, "e1")), Retain(vec![])]),
            ("a camera created after its city's plan takes its own event's plan",
                vec![plan(1, "p1", "city", 30), up(2, "e2", "c", a)],
                vec![Retain(vec![]), Add(spec("c", a, "e2"))]),
            ("a camera event older than its city's plan takes the plan",
                vec![plan(3, "p3", "city", 30), up(2, "e2", "c", a)],
                vec![Retain(vec![]), Add(with_days(spec("c", a, "e2"), 30))]),
            ("an update that only changes retention keeps the path",
                vec![up(1, "e1", "c", a), up(2, "e2", "c", a), plan(3, "p3", "city", 30),
                     up(4, "e4", "c", a)],
                vec![Add(spec("c", a, "e1")), Skip(S::Unchanged), Retain(vec![("c".into(), 30)]),
                     Retain(vec![("c".into(), 7)])]),
            ("a new URL with a newer plan", vec![up(1, "e1", "c", a), plan(2, "p2", "city", 30), up(3, "e3", "c", b)],
                vec![Add(spec("c", a, "e1")), Retain(vec![("c".into(), 30)]), Update(spec("c", b, "e3"))]),
            ("a plan equal to the cameras' retention changes none",
                vec![up(1, "e1", "c", a), plan(2, "p2", "city", 7)],
                vec![Add(spec("c", a, "e1")), Retain(vec![])]),
        ];
        for (name, events, want) in cases {
            let mut reg = CameraRegistry::default();
            let got: Vec<Action> = events.into_iter().map(|e| reg.apply(e)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn plans_round_trip_and_old_state_files_load() {
        let mut reg = CameraRegistry::default();
        reg.apply(up(1, "e1", "c", "rtsp://a/1"));
        reg.apply(plan(2, "p2", "city", 30));
        let text = serde_json::to_string(&reg).unwrap();
        let back: CameraRegistry = serde_json::from_str(&text).unwrap();
        assert_eq!(back, reg);
        let cam = back.cameras().next().unwrap();
        assert_eq!(back.in_force(cam).retention_days, 30);
        let old = r#"{"cameras":{"c":{"version":{"time":"2026-01-01T00:00:00Z","id":"e"},
            "camera":{"cameraId":"c","source":"rtsp://a/1","record":false,"retentionDays":7,
            "correlationId":"x"}}}}"#;
        let old: CameraRegistry = serde_json::from_str(old).unwrap();
        assert_eq!(old.cameras().next().unwrap().city_id, "");
    }

    #[test]
    fn events_without_login_map_to_registry_events() {
        let ex = crate::examples();
        let kinds: Vec<Option<CameraEvent>> = ex.iter().map(CameraEvent::without_login).collect();
        assert!(
            kinds
                .iter()
                .any(|k| matches!(k, Some(CameraEvent::Delete(..))))
        );
        assert!(
            kinds
                .iter()
                .any(|k| matches!(k, Some(CameraEvent::CityPlan(..))))
        );
        assert_eq!(kinds.iter().filter(|k| k.is_some()).count(), 2);
    }
}
