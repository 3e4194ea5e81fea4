//! OCR reads in, contract events out: [`crate::plate`] → [`crate::pass`] →
//! [`crate::watchlist`] → [`crate::events`], as one sans-IO machine.
//!
//! [`Pipeline::handle_ocr`] takes the recogniser's text for a plate box; text that cannot be a
//! plate is counted and dropped. Each reported pass gives an `lpr.detected` event and, when the
//! plate is on the watch list, an `alert.triggered` caused by it (same correlation id); take them
//! with [`Pipeline::poll_output`] (each detection with the JPEG crop of its pass's best read, for
//! the caller to store and name in `snapshotKey`: see [`crate::snapshot`]) or
//! [`Pipeline::poll_event`] (events only), and call [`Pipeline::handle_timeout`] at
//! [`Pipeline::poll_timeout`] so passes close on time. The watch list can be swapped at any time
//! ([`Pipeline::set_watchlist`], for hot reload). The envelopes get fresh UUIDs and the current
//! time from [`vigia_events::Event::new`]; everything else comes from the inputs.
//!
//! **Daily reports.** Bus events given to [`Pipeline::handle_bus_event`] tell which city each
//! camera belongs to (`camera.created`/`updated`/`deleted`, last one applied wins), each city's
//! CNPJ (`city.storage_plan_changed`) and the hours recorded (`recording.stopped`). Detections,
//! alerts and cameras seen (a read, or [`Pipeline::handle_camera_online`]) of a known camera count
//! in its city's [`DailyReports`]; when a day closes (local midnight plus [`REPORT_GRACE`], by
//! the times given in) an `analytics.daily_report` event comes out for each city whose CNPJ is
//! known. Contract v1 carries the CNPJ only in `city.storage_plan_changed`, so a city whose plan
//! has not changed since the service started has no report (counted in
//! [`PipelineStats::reports_without_cnpj`]).
//!
//! **Across restarts.** Two serialisable snapshots for the caller to store: [`BusKnowledge`]
//! (cities and CNPJs, [`Pipeline::bus_knowledge`] / [`Pipeline::restore`]) and [`ReportState`]
//! (the open days' figures and the recordings counted, [`Pipeline::report_state`] /
//! [`Pipeline::restore_reports`]). A restored day that ended while the process was down is
//! reported at the next [`Pipeline::handle_timeout`]; one still open keeps counting.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use vigia_events::{BoundingBox, Cnpj, Event, EventData};

use crate::events::{SOURCE, lpr_detected, watch_alert};
use crate::pass::{Pass, PassConfig, PassStats, PassTracker, Read};
use crate::plate::read_plate;
use crate::report::{DailyReports, ReportsSnapshot};
use crate::snapshot::Jpeg;
use crate::watchlist::Watchlist;

/// How long after local midnight a day's report waits for the day's last passes.
pub const REPORT_GRACE: TimeDelta = TimeDelta::minutes(1);

/// One recogniser output: the text read in a plate-shaped box of a frame.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OcrRead {
    /// The camera (Vigia path).
    pub camera_id: String,
    /// The raw text.
    pub text: String,
    /// The recogniser's confidence, 0..=1.
    pub confidence: f64,
    /// Wall-clock time of the frame.
    pub at: DateTime<Utc>,
    /// The caller's frame reference (to crop the snapshot later).
    #[serde(default)]
    pub frame: u64,
    /// The JPEG crop around the text in the frame (the live path makes one for each plate
    /// read; `replay`'s JSON input has none).
    #[serde(skip)]
    pub snapshot: Option<Jpeg>,
    /// Where the text is in the frame (the live path's detection box; optional in `replay`'s
    /// input, as the contract's `boundingBox`).
    #[serde(default)]
    pub bounding_box: Option<BoundingBox>,
}

/// An event to publish, and for a detection the snapshot of its pass, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The event (a detection's `snapshotKey` is not set: the caller sets it once the snapshot
    /// is stored).
    pub event: Event,
    /// The JPEG crop of the detection's best read.
    pub snapshot: Option<Jpeg>,
}

/// Counters of a pipeline, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Texts that could not be a plate.
    pub rejected_texts: u64,
    /// The pass tracker's counters.
    pub passes: PassStats,
    /// `lpr.detected` events made.
    pub detections: u64,
    /// `alert.triggered` events made.
    pub alerts: u64,
    /// `analytics.daily_report` events made.
    pub reports: u64,
    /// City days that closed without a known CNPJ, so without a report.
    pub reports_without_cnpj: u64,
    /// Figures for a day already reported, dropped.
    pub late_figures: u64,
}

/// What a pipeline learnt from the bus that outlives a day: each camera's city and each city's
/// CNPJ, to keep across restarts ([`Pipeline::bus_knowledge`], [`Pipeline::restore`]), since
/// contract v1 sends a CNPJ only when a plan changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BusKnowledge {
    /// Camera id → city id.
    pub camera_cities: BTreeMap<String, String>,
    /// City id → the city hall's CNPJ (14 characters, unformatted).
    pub city_cnpjs: BTreeMap<String, String>,
}

/// The daily reports' state, to keep across restarts ([`Pipeline::report_state`],
/// [`Pipeline::restore_reports`]): the days not reported yet, and the recordings counted (so a
/// copy of a `recording.stopped` redelivered after the restart is not counted twice).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportState {
    /// The open days' figures.
    pub reports: ReportsSnapshot,
    /// `recordingId` → when it stopped, for the recordings counted in the last two days.
    pub recordings: BTreeMap<String, DateTime<Utc>>,
}

/// Reads to events; see the module doc.
#[derive(Debug)]
pub struct Pipeline {
    tracker: PassTracker,
    watchlist: Watchlist,
    /// Camera id → city id.
    cities: HashMap<String, String>,
    /// City id → city hall CNPJ.
    cnpjs: HashMap<String, Cnpj>,
    reports: DailyReports,
    /// Recording runs already counted (`recordingId` → when it stopped), so a copy of a
    /// `recording.stopped` that outlives the consumer's dedupe window is not counted twice;
    /// forgotten two days after they stopped (their day is closed by then).
    recordings: HashMap<String, DateTime<Utc>>,
    out: VecDeque<Output>,
    stats: PipelineStats,
}

impl Pipeline {
    /// A pipeline with the pass rules `config` and the watch list `watchlist`.
    pub fn new(config: PassConfig, watchlist: Watchlist) -> Pipeline {
        Pipeline {
            tracker: PassTracker::new(config),
            watchlist,
            cities: HashMap::new(),
            cnpjs: HashMap::new(),
            reports: DailyReports::new(REPORT_GRACE),
            recordings: HashMap::new(),
            out: VecDeque::new(),
            stats: PipelineStats::default(),
        }
    }

    /// The same pipeline with days closing `grace` after local midnight instead of
    /// [`REPORT_GRACE`] (call it before giving it anything).
    pub fn with_report_grace(mut self, grace: TimeDelta) -> Pipeline {
        self.reports = DailyReports::new(grace);
        self
    }

    /// Takes one recogniser output; its frame time also lets time pass (passes and days close).
    pub fn handle_ocr(&mut self, read: OcrRead) {
        self.handle_timeout(read.at);
        self.handle_camera_online(&read.camera_id, read.at);
        let Ok(plate) = read_plate(&read.text) else {
            self.stats.rejected_texts += 1;
            return;
        };
        self.tracker.handle_read(Read {
            camera_id: read.camera_id,
            plate,
            confidence: read.confidence,
            at: read.at,
            frame: read.frame,
            snapshot: read.snapshot,
            bounding_box: read.bounding_box,
        });
        self.drain();
    }

    /// Lets time pass: closes the passes and days due by `now`.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        self.tracker.handle_timeout(now);
        self.drain();
        self.close_days(now);
    }

    /// Notes a camera online at `at` (the stream reader calls it for decoded frames, so a camera
    /// without plates still counts in its city's report).
    pub fn handle_camera_online(&mut self, camera_id: &str, at: DateTime<Utc>) {
        if let Some(city) = self.cities.get(camera_id) {
            self.reports.record_camera_online(city, camera_id, at);
        }
    }

    /// Takes what the bus says about cameras, cities and recordings (see the module doc);
    /// other events are ignored.
    pub fn handle_bus_event(&mut self, event: &Event) {
        match &event.data {
            EventData::CameraCreated(c) | EventData::CameraUpdated(c) => {
                self.cities.insert(c.camera_id.clone(), c.city_id.clone());
            }
            EventData::CameraDeleted(d) => {
                self.cities.remove(&d.camera_id);
            }
            EventData::CityStoragePlanChanged(d) => {
                self.cnpjs
                    .insert(d.city_id.clone(), d.city_hall_cnpj.clone());
            }
            EventData::RecordingStopped(d) => {
                if self.recordings.contains_key(&d.recording_id) {
                    return;
                }
                self.recordings.insert(d.recording_id.clone(), d.stopped_at);
                if let Some(city) = self.cities.get(&d.camera_id) {
                    self.reports
                        .record_recording(city, d.started_at, d.stopped_at);
                }
            }
            _ => {}
        }
    }

    /// What the bus taught it so far (see [`BusKnowledge`]).
    pub fn bus_knowledge(&self) -> BusKnowledge {
        BusKnowledge {
            camera_cities: self
                .cities
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            city_cnpjs: self
                .cnpjs
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().to_owned()))
                .collect(),
        }
    }

    /// Takes back what [`Pipeline::bus_knowledge`] gave (at start, before any bus event);
    /// a CNPJ that does not parse is an error naming its city.
    pub fn restore(&mut self, known: BusKnowledge) -> Result<(), String> {
        for (city, cnpj) in known.city_cnpjs {
            let parsed = Cnpj::parse(&cnpj).map_err(|e| format!("city {city:?}: {e}"))?;
            self.cnpjs.insert(city, parsed);
        }
        self.cities.extend(known.camera_cities);
        Ok(())
    }

    /// The daily reports' state (see [`ReportState`]).
    pub fn report_state(&self) -> ReportState {
        ReportState {
            reports: self.reports.snapshot(),
            recordings: self
                .recordings
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        }
    }

    /// Takes back what [`Pipeline::report_state`] gave (at start, before any read or bus
    /// event); days that ended meanwhile are reported at the next [`Pipeline::handle_timeout`].
    pub fn restore_reports(&mut self, state: ReportState) {
        self.reports.restore(state.reports);
        self.recordings.extend(state.recordings);
    }

    /// Replaces the watch list (for passes closing from now on).
    pub fn set_watchlist(&mut self, watchlist: Watchlist) {
        self.watchlist = watchlist;
    }

    /// The next event to publish, with its snapshot (see [`Output`]).
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next event to publish, its snapshot dropped.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.poll_output().map(|o| o.event)
    }

    /// When [`Pipeline::handle_timeout`] is next due: a pass or a day closing.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        [self.tracker.poll_timeout(), self.reports.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The counters so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            passes: self.tracker.stats(),
            late_figures: self.reports.late(),
            ..self.stats
        }
    }

    fn drain(&mut self) {
        while let Some(mut pass) = self.tracker.poll_pass() {
            let snapshot = pass.snapshot.take();
            self.emit(&pass, snapshot);
        }
    }

    fn push(&mut self, event: Event) {
        self.out.push_back(Output {
            event,
            snapshot: None,
        });
    }

    /// The detection of `pass` (with `snapshot`) and its alert, if any.
    fn emit(&mut self, pass: &Pass, snapshot: Option<Jpeg>) {
        let detection = Event::new(SOURCE, EventData::LprDetected(lpr_detected(pass, None)));
        self.stats.detections += 1;
        let city = self.cities.get(&pass.camera_id);
        if let Some(city) = city {
            self.reports
                .record_detection(city, &pass.camera_id, &pass.plate, pass.detected_at);
        }
        let detection = Output {
            event: detection,
            snapshot,
        };
        let Some(m) = self.watchlist.lookup(&pass.plate) else {
            self.out.push_back(detection);
            return;
        };
        let alert = watch_alert(&m, pass, &detection.event.id);
        let alert = Event::caused_by(&detection.event, SOURCE, EventData::AlertTriggered(alert));
        if let Some(city) = city {
            self.reports.record_alert(city, pass.detected_at);
        }
        self.out.push_back(detection);
        self.push(alert);
        self.stats.alerts += 1;
    }

    /// Turns the days closed by `now` into reports.
    fn close_days(&mut self, now: DateTime<Utc>) {
        self.recordings
            .retain(|_, stopped| now - *stopped < TimeDelta::days(2));
        for day in self.reports.poll_due(now) {
            let Some(cnpj) = self.cnpjs.get(&day.city_id) else {
                self.stats.reports_without_cnpj += 1;
                continue;
            };
            let payload = day.tally.payload(&day.city_id, cnpj.clone(), day.date);
            let event = Event::new(SOURCE, EventData::AnalyticsDailyReport(payload));
            self.push(event);
            self.stats.reports += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use vigia_events::{EventType, Severity};

    use super::*;

    fn ocr(camera: &str, text: &str, ms: i64) -> OcrRead {
        OcrRead {
            camera_id: camera.into(),
            text: text.into(),
            confidence: 0.9,
            at: DateTime::from_timestamp_millis(1_790_000_000_000 + ms).unwrap(),
            frame: ms as u64,
            snapshot: None,
            bounding_box: None,
        }
    }

    fn events(p: &mut Pipeline) -> Vec<Event> {
        std::iter::from_fn(|| p.poll_event()).collect()
    }

    #[test]
    fn passes_become_detections_and_watched_plates_alerts() {
        let list =
            Watchlist::parse("plates:\n  - plate: ABC1D23\n    reason: stolen\n", "w").unwrap();
        let mut p = Pipeline::new(PassConfig::default(), list);
        p.handle_ocr(ocr("cam1", "ABC-1D23", 0));
        p.handle_ocr(ocr("cam1", "A8C1D23", 400));
        p.handle_ocr(ocr("cam1", "~~~", 500));
        p.handle_ocr(ocr("cam2", "XYZ 9876", 600));
        assert!(events(&mut p).is_empty(), "windows still open");
        let due = p.poll_timeout().unwrap();
        p.handle_timeout(due + TimeDelta::seconds(1));
        let got = events(&mut p);
        let summary: Vec<(String, String)> = got
            .iter()
            .map(|e| match &e.data {
                EventData::LprDetected(d) => ("lpr".into(), d.plate.to_string()),
                EventData::AlertTriggered(a) => (a.kind.clone(), a.camera_id.clone()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let want = [
            ("lpr", "ABC1D23"),
            ("plate_watchlist", "cam1"),
            ("lpr", "XYZ9876"),
        ];
        assert_eq!(summary, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
        let EventData::AlertTriggered(alert) = &got[1].data else {
            unreachable!()
        };
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.cause_event_id.as_deref(), Some(got[0].id.as_str()));
        assert_eq!(got[1].correlation_id, got[0].correlation_id);
        let stats = p.stats();
        assert_eq!(
            (stats.rejected_texts, stats.detections, stats.alerts),
            (1, 2, 1)
        );
        assert_eq!(stats.passes.reads, 3);
    }

    /// The contract's example events about `cam-0042` in `sp-campinas`, but its deletion and
    /// any of `skip`'s types.
    fn bus(p: &mut Pipeline, skip: &[EventType]) {
        for e in vigia_events::examples() {
            let ty = e.event_type();
            if ty != EventType::CameraDeleted && !skip.contains(&ty) {
                p.handle_bus_event(&e);
            }
        }
    }

    fn reports(got: &[Event]) -> Vec<&vigia_events::AnalyticsDailyReport> {
        got.iter()
            .filter_map(|e| match &e.data {
                EventData::AnalyticsDailyReport(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn known_cameras_count_in_their_citys_daily_report() {
        let list = Watchlist::parse("plates:\n  - plate: ABC1D23\n    reason: x\n", "w").unwrap();
        let mut p = Pipeline::new(PassConfig::default(), list);
        bus(&mut p, &[]);
        bus(&mut p, &[]);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let read = |camera: &str, text: &str, t: &str| OcrRead {
            camera_id: camera.into(),
            text: text.into(),
            confidence: 0.9,
            at: at(t),
            frame: 0,
            snapshot: None,
            bounding_box: None,
        };
        // 2026-11-28 in São Paulo: two passes and an alert on cam-0042, one on an unknown camera.
        p.handle_ocr(read("cam-0042", "ABC1D23", "2026-11-28T12:00:00Z"));
        p.handle_ocr(read("cam-0042", "XYZ9876", "2026-11-28T13:00:00Z"));
        p.handle_ocr(read("cam-9999", "QRS4E56", "2026-11-28T13:30:00Z"));
        // 00:30 local on the 29th: the 28th is not closed yet, a minute after midnight it is.
        p.handle_ocr(read("cam-0042", "not a plate", "2026-11-29T03:00:30Z"));
        assert!(reports(&events(&mut p)).is_empty());
        assert_eq!(p.poll_timeout(), Some(at("2026-11-29T03:01:00Z")));
        p.handle_timeout(at("2026-11-29T03:01:00Z"));
        let got = events(&mut p);
        let r = reports(&got);
        assert_eq!(r.len(), 1, "{got:?}");
        assert_eq!(
            (r[0].city_id.as_str(), r[0].date.to_string()),
            ("sp-campinas", "2026-11-28".into())
        );
        assert_eq!(
            (r[0].lpr_detections, r[0].alerts, r[0].cameras_online),
            (2, 1, 1)
        );
        // The example recording ran 10:00-11:30 UTC that day (counted once, though the bus
        // events were given twice: the first `bus` call above and this one).
        assert_eq!(r[0].recording_hours, 1.5);
        assert_eq!(p.stats().reports, 1);
    }

    #[test]
    fn what_the_bus_taught_survives_a_restart() {
        let mut p = Pipeline::new(PassConfig::default(), Watchlist::default());
        bus(&mut p, &[]);
        let known = p.bus_knowledge();
        assert_eq!(known.camera_cities["cam-0042"], "sp-campinas");
        let text = serde_json::to_string(&known).unwrap();
        let mut q = Pipeline::new(PassConfig::default(), Watchlist::default());
        q.restore(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(q.bus_knowledge(), known);
        let mut bad = known.clone();
        bad.city_cnpjs.insert("x".into(), "123".into());
        assert!(q.restore(bad).unwrap_err().starts_with("city \"x\""));
    }

    #[test]
    fn the_days_figures_survive_a_restart_and_a_closed_day_is_reported() {
        let list = Watchlist::parse("plates:\n  - plate: ABC1D23\n    reason: x\n", "w").unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let read = |text: &str, t: &str| OcrRead {
            camera_id: "cam-0042".into(),
            text: text.into(),
            confidence: 0.9,
            at: at(t),
            frame: 0,
            snapshot: None,
            bounding_box: None,
        };
        let mut p = Pipeline::new(PassConfig::default(), list.clone());
        bus(&mut p, &[]);
        p.handle_ocr(read("ABC1D23", "2026-11-28T12:00:00Z"));
        p.handle_timeout(at("2026-11-28T12:00:10Z"));
        assert_eq!(events(&mut p).len(), 2, "detection and alert");
        let (known, state) = (p.bus_knowledge(), p.report_state());
        assert_eq!(state.recordings.len(), 1);
        let text = serde_json::to_string(&state).unwrap();

        // Restarted the same day: it keeps counting, and a copy of the recording does not count.
        let restart = |text: &str| {
            let mut q = Pipeline::new(PassConfig::default(), list.clone());
            q.restore(known.clone()).unwrap();
            q.restore_reports(serde_json::from_str(text).unwrap());
            q
        };
        let mut q = restart(&text);
        assert_eq!(q.report_state(), state);
        bus(&mut q, &[]);
        q.handle_ocr(read("XYZ9876", "2026-11-28T20:00:00Z"));
        q.handle_timeout(at("2026-11-29T03:01:00Z"));
        let got = events(&mut q);
        let r = reports(&got);
        assert_eq!(r.len(), 1, "{got:?}");
        assert_eq!(
            (r[0].lpr_detections, r[0].alerts, r[0].cameras_online),
            (2, 1, 1)
        );
        assert_eq!(r[0].recording_hours, 1.5);

        // Down over midnight: the day is reported at the first timeout after the start.
        let mut q = restart(&text);
        assert_eq!(q.poll_timeout(), Some(at("2026-11-29T03:01:00Z")));
        q.handle_timeout(at("2026-11-30T09:00:00Z"));
        let got = events(&mut q);
        let r = reports(&got);
        assert_eq!(r.len(), 1, "{got:?}");
        assert_eq!(
            (r[0].date.to_string(), r[0].lpr_detections),
            ("2026-11-28".into(), 1)
        );
        assert_eq!(q.report_state().reports.days, []);
    }

    #[test]
    fn a_city_without_a_known_cnpj_has_no_report() {
        let mut p = Pipeline::new(PassConfig::default(), Watchlist::default());
        bus(&mut p, &[EventType::CityStoragePlanChanged]);
        let t0 = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .to_utc();
        p.handle_camera_online("cam-0042", t0);
        p.handle_timeout(t0 + TimeDelta::days(1));
        assert!(reports(&events(&mut p)).is_empty());
        assert_eq!(p.stats().reports_without_cnpj, 1);
    }

    #[test]
    fn a_deleted_camera_no_longer_counts() {
        let mut p = Pipeline::new(PassConfig::default(), Watchlist::default());
        bus(&mut p, &[]);
        let deleted = vigia_events::examples()
            .into_iter()
            .find(|e| e.event_type() == EventType::CameraDeleted)
            .unwrap();
        p.handle_bus_event(&deleted);
        let t0 = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .to_utc();
        p.handle_camera_online("cam-0042", t0);
        p.handle_timeout(t0 + TimeDelta::days(1));
        // Only the example recording's day (the 28th, before the deletion) is reported.
        let got = events(&mut p);
        let dates: Vec<String> = reports(&got).iter().map(|r| r.date.to_string()).collect();
        assert_eq!(dates, ["2026-11-28"]);
    }

    #[test]
    fn a_detection_comes_out_with_the_snapshot_and_box_of_its_best_read() {
        let list = Watchlist::parse("plates:\n  - plate: ABC1D23\n    reason: x\n", "w").unwrap();
        let mut p = Pipeline::new(PassConfig::default(), list);
        let jpeg = |tag: &'static [u8]| Some(Jpeg(bytes::Bytes::from_static(tag)));
        let bbox = |x: u32| BoundingBox {
            x,
            y: 20,
            width: 90,
            height: 30,
        };
        let with = |text, confidence, ms: i64, tag| OcrRead {
            confidence,
            snapshot: jpeg(tag),
            bounding_box: Some(bbox(ms as u32)),
            ..ocr("cam1", text, ms)
        };
        p.handle_ocr(with("ABC1D23", 0.8, 0, b"a"));
        p.handle_ocr(with("ABC1D23", 0.95, 400, b"b"));
        p.handle_ocr(with("ABC1D28", 0.7, 800, b"c"));
        p.handle_timeout(DateTime::from_timestamp_millis(1_790_000_005_000).unwrap());
        let detection = p.poll_output().unwrap();
        assert_eq!(detection.snapshot, jpeg(b"b"));
        let EventData::LprDetected(d) = &detection.event.data else {
            panic!("{detection:?}")
        };
        assert_eq!(d.snapshot_key, None, "set once stored");
        assert_eq!(d.bounding_box, Some(bbox(400)), "the best read's box");
        assert_eq!(d.format, Some(vigia_events::PlateFormat::Mercosul));
        let alert = p.poll_output().unwrap();
        assert!(matches!(alert.event.data, EventData::AlertTriggered(_)));
        assert_eq!(alert.snapshot, None);
        // Reads given as JSON (replay) have none.
        let line =
            r#"{"cameraId":"c","text":"ABC1D23","confidence":0.9,"at":"2026-12-02T13:45:12Z"}"#;
        let read: OcrRead = serde_json::from_str(line).unwrap();
        assert_eq!(
            (read.frame, read.snapshot, read.bounding_box),
            (0, None, None)
        );
        // A box may be given, as the contract writes it.
        let line = r#"{"cameraId":"c","text":"ABC1D23","confidence":0.9,"at":"2026-12-02T13:45:12Z","boundingBox":{"x":400,"y":20,"width":90,"height":30}}"#;
        let read: OcrRead = serde_json::from_str(line).unwrap();
        assert_eq!(read.bounding_box, Some(bbox(400)));
    }

    #[test]
    fn a_new_watchlist_applies_to_later_passes() {
        let mut p = Pipeline::new(PassConfig::default(), Watchlist::default());
        p.handle_ocr(ocr("cam1", "ABC1D23", 0));
        p.handle_timeout(DateTime::from_timestamp_millis(1_790_000_005_000).unwrap());
        assert_eq!(events(&mut p).len(), 1);
        let list = Watchlist::parse("plates:\n  - plate: XYZ9876\n    reason: x\n", "w").unwrap();
        p.set_watchlist(list);
        p.handle_ocr(ocr("cam1", "XYZ9876", 6000));
        p.handle_timeout(DateTime::from_timestamp_millis(1_790_000_010_000).unwrap());
        assert_eq!(events(&mut p).len(), 2, "detection and alert");
    }
}
