//! OCR reads in, contract events out: [`crate::plate`] → [`crate::pass`] →
//! [`crate::watchlist`] → [`crate::events`], as one sans-IO machine.
//!
//! [`Pipeline::handle_ocr`] takes the recogniser's text for a plate box; text that cannot be a
//! plate is counted and dropped. Each reported pass gives an `lpr.detected` event and, when the
//! plate is on the watch list, an `alert.triggered` caused by it (same correlation id); take them
//! with [`Pipeline::poll_event`] and call [`Pipeline::handle_timeout`] at
//! [`Pipeline::poll_timeout`] so passes close on time. The watch list can be swapped at any time
//! ([`Pipeline::set_watchlist`], for hot reload). The envelopes get fresh UUIDs and the current
//! time from [`vigia_events::Event::new`]; everything else comes from the inputs.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use vigia_events::{Event, EventData};

use crate::events::{SOURCE, lpr_detected, watch_alert};
use crate::pass::{Pass, PassConfig, PassStats, PassTracker, Read};
use crate::plate::read_plate;
use crate::watchlist::Watchlist;

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
}

/// Reads to events; see the module doc.
#[derive(Debug)]
pub struct Pipeline {
    tracker: PassTracker,
    watchlist: Watchlist,
    out: VecDeque<Event>,
    stats: PipelineStats,
}

impl Pipeline {
    /// A pipeline with the pass rules `config` and the watch list `watchlist`.
    pub fn new(config: PassConfig, watchlist: Watchlist) -> Pipeline {
        Pipeline {
            tracker: PassTracker::new(config),
            watchlist,
            out: VecDeque::new(),
            stats: PipelineStats::default(),
        }
    }

    /// Takes one recogniser output.
    pub fn handle_ocr(&mut self, read: OcrRead) {
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
        });
        self.drain();
    }

    /// Lets time pass: closes the passes due by `now`.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        self.tracker.handle_timeout(now);
        self.drain();
    }

    /// Replaces the watch list (for passes closing from now on).
    pub fn set_watchlist(&mut self, watchlist: Watchlist) {
        self.watchlist = watchlist;
    }

    /// The next event to publish.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    /// When [`Pipeline::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.tracker.poll_timeout()
    }

    /// The counters so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            passes: self.tracker.stats(),
            ..self.stats
        }
    }

    fn drain(&mut self) {
        while let Some(pass) = self.tracker.poll_pass() {
            self.emit(&pass);
        }
    }

    fn emit(&mut self, pass: &Pass) {
        let detection = Event::new(SOURCE, EventData::LprDetected(lpr_detected(pass, None)));
        self.stats.detections += 1;
        if let Some(m) = self.watchlist.lookup(&pass.plate) {
            let alert = watch_alert(&m, pass, &detection.id);
            let alert = Event::caused_by(&detection, SOURCE, EventData::AlertTriggered(alert));
            self.out.push_back(detection);
            self.out.push_back(alert);
            self.stats.alerts += 1;
        } else {
            self.out.push_back(detection);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use vigia_events::Severity;

    use super::*;

    fn ocr(camera: &str, text: &str, ms: i64) -> OcrRead {
        OcrRead {
            camera_id: camera.into(),
            text: text.into(),
            confidence: 0.9,
            at: DateTime::from_timestamp_millis(1_790_000_000_000 + ms).unwrap(),
            frame: ms as u64,
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
