//! Daily figures per city, closed at local midnight in São Paulo time.
//!
//! **Time zone.** Days are those of `America/Sao_Paulo`, taken as a fixed UTC−3 ([`LOCAL`]):
//! Brazil abolished daylight saving time in 2019 (Decree 9,772), so the offset has been −3 all
//! year since, and a fixed offset spares a time-zone database in the binary. If DST ever
//! returns, [`LOCAL`] is the one place to change (to `chrono-tz`). Dates before 2019 would be
//! off by an hour in the old DST summers; the service only reports the day just ended.
//!
//! [`DailyReports`] counts, per city and local day: plate detections (reported passes), the
//! distinct plates among them, alerts, detections per camera, the cameras seen online, and
//! hours recorded. At local midnight plus [`DailyReports`]'s grace period
//! ([`DailyReports::poll_due`]) the day's [`DayReport`] comes out once; its
//! [`DayTally::payload`] is the contract's `analytics.daily_report`. Contract v1 has no fields
//! for distinct plates and per-camera counts: the tally keeps them for logs and metrics until
//! the contract grows optional fields for them.
//!
//! A city has a report for a day when anything was recorded for it that day; the driver records
//! each watched camera as online at least once a day, so a quiet city still gets its zero
//! counts. Something recorded for a day already reported is dropped and counted
//! ([`DailyReports::late`]).
//!
//! **Across restarts.** [`DailyReports::snapshot`] gives the open days (every figure, the
//! distinct plates as their set) and the first date still open as a serialisable
//! [`ReportsSnapshot`]; [`DailyReports::restore`] takes it back at start. A restored day that
//! has ended by then is reported at the next [`DailyReports::poll_due`]; one still open keeps
//! counting. The caller stores the snapshot (the binary's `report-state.json`).
//!
//! Sans-IO: every time is given in.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use vigia_events::{AnalyticsDailyReport, Cnpj, Plate};

/// São Paulo time: UTC−3, without DST since 2019 (see the module doc).
pub const LOCAL: FixedOffset = match FixedOffset::west_opt(3 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC-3 is a valid offset"),
};

/// The São Paulo date of an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&LOCAL).date_naive()
}

/// The instant a São Paulo date ends (the next local midnight).
pub fn day_end(date: NaiveDate) -> DateTime<Utc> {
    let next = date.succ_opt().unwrap_or(NaiveDate::MAX);
    let local_midnight = next.and_time(chrono::NaiveTime::MIN);
    (local_midnight - TimeDelta::seconds(i64::from(LOCAL.local_minus_utc()))).and_utc()
}

/// One city's figures for one day.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DayTally {
    /// Plate detections (reported passes, one per `lpr.detected`).
    pub detections: u64,
    /// Distinct plates among them.
    pub plates: BTreeSet<Plate>,
    /// Alerts raised.
    pub alerts: u64,
    /// Detections per camera.
    pub per_camera: BTreeMap<String, u64>,
    /// Cameras seen online that day.
    pub cameras_online: BTreeSet<String>,
    /// Seconds recorded that day, over all the city's cameras.
    pub recording_seconds: f64,
}

impl DayTally {
    /// The `analytics.daily_report` payload for this tally. The CNPJ comes from Cidades'
    /// `city.storage_plan_changed` events (the service does not know it otherwise).
    pub fn payload(
        &self,
        city_id: &str,
        city_hall_cnpj: Cnpj,
        date: NaiveDate,
    ) -> AnalyticsDailyReport {
        AnalyticsDailyReport {
            city_id: city_id.to_owned(),
            city_hall_cnpj,
            date,
            cameras_online: u32::try_from(self.cameras_online.len()).unwrap_or(u32::MAX),
            recording_hours: self.recording_seconds / 3600.0,
            lpr_detections: self.detections,
            alerts: self.alerts,
            distinct_plates: Some(self.plates.len() as u64),
            lpr_detections_per_camera: Some(self.per_camera.clone()),
        }
    }

    /// Adds `other`'s figures to these (sets are joined).
    fn merge(&mut self, other: DayTally) {
        self.detections += other.detections;
        self.plates.extend(other.plates);
        self.alerts += other.alerts;
        for (camera, n) in other.per_camera {
            *self.per_camera.entry(camera).or_default() += n;
        }
        self.cameras_online.extend(other.cameras_online);
        self.recording_seconds += other.recording_seconds;
    }
}

/// A day of one city: a closed one ([`DailyReports::poll_due`]), or an open one in a
/// [`ReportsSnapshot`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DayReport {
    /// The city.
    pub city_id: String,
    /// The São Paulo date.
    pub date: NaiveDate,
    /// Its figures.
    pub tally: DayTally,
}

/// What [`DailyReports`] keeps across a restart (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportsSnapshot {
    /// Every date before this one has been reported (`None`: nothing closed yet).
    pub closed_before: Option<NaiveDate>,
    /// The days not reported yet, in date then city order.
    pub days: Vec<DayReport>,
}

/// Tallies per city and day, closed at local midnight.
#[derive(Debug, Clone, Default)]
pub struct DailyReports {
    grace: TimeDelta,
    days: BTreeMap<(NaiveDate, String), DayTally>,
    /// Every date before this one has been reported.
    closed_before: Option<NaiveDate>,
    late: u64,
}

impl DailyReports {
    /// Tallies that close `grace` after local midnight (time for the day's last passes, which
    /// close a few seconds after their frames, to arrive).
    pub fn new(grace: TimeDelta) -> DailyReports {
        DailyReports {
            grace,
            ..DailyReports::default()
        }
    }

    /// Counts a reported pass of `plate` by `camera_id`, at the frame time `at`.
    pub fn record_detection(
        &mut self,
        city_id: &str,
        camera_id: &str,
        plate: &Plate,
        at: DateTime<Utc>,
    ) {
        if let Some(t) = self.tally(city_id, at) {
            t.detections += 1;
            t.plates.insert(plate.clone());
            *t.per_camera.entry(camera_id.to_owned()).or_default() += 1;
        }
    }

    /// Counts an alert raised at `at`.
    pub fn record_alert(&mut self, city_id: &str, at: DateTime<Utc>) {
        if let Some(t) = self.tally(city_id, at) {
            t.alerts += 1;
        }
    }

    /// Notes `camera_id` online at `at`.
    pub fn record_camera_online(&mut self, city_id: &str, camera_id: &str, at: DateTime<Utc>) {
        if let Some(t) = self.tally(city_id, at) {
            t.cameras_online.insert(camera_id.to_owned());
        }
    }

    /// Adds a recording from `started` to `stopped` (a `recording.stopped` event), split over
    /// the local days it spans.
    pub fn record_recording(
        &mut self,
        city_id: &str,
        started: DateTime<Utc>,
        stopped: DateTime<Utc>,
    ) {
        let mut from = started;
        while from < stopped {
            let to = day_end(local_date(from)).min(stopped);
            let seconds = (to - from).num_milliseconds() as f64 / 1000.0;
            if let Some(t) = self.tally(city_id, from) {
                t.recording_seconds += seconds;
            }
            from = to;
        }
    }

    /// Takes out, once, every day that ended at least the grace period before `now`, in date
    /// then city order.
    pub fn poll_due(&mut self, now: DateTime<Utc>) -> Vec<DayReport> {
        let open_from = local_date(now - self.grace);
        self.closed_before = Some(self.closed_before.map_or(open_from, |c| c.max(open_from)));
        let open = self.days.split_off(&(open_from, String::new()));
        let due = std::mem::replace(&mut self.days, open);
        due.into_iter()
            .map(|((date, city_id), tally)| DayReport {
                city_id,
                date,
                tally,
            })
            .collect()
    }

    /// When the next day with figures is due for [`DailyReports::poll_due`].
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        let ((date, _), _) = self.days.first_key_value()?;
        Some(day_end(*date) + self.grace)
    }

    /// The days not reported yet and where reporting stands, to keep across a restart.
    pub fn snapshot(&self) -> ReportsSnapshot {
        ReportsSnapshot {
            closed_before: self.closed_before,
            days: self
                .days
                .iter()
                .map(|((date, city_id), tally)| DayReport {
                    city_id: city_id.clone(),
                    date: *date,
                    tally: tally.clone(),
                })
                .collect(),
        }
    }

    /// Takes back a [`DailyReports::snapshot`] (at start, before anything is recorded): its
    /// days are open again (reported by the next [`DailyReports::poll_due`] if they ended), and
    /// nothing is counted for a day it had reported. Days it has twice are added up.
    pub fn restore(&mut self, snapshot: ReportsSnapshot) {
        self.closed_before = self.closed_before.max(snapshot.closed_before);
        for day in snapshot.days {
            let t = self.days.entry((day.date, day.city_id)).or_default();
            t.merge(day.tally);
        }
    }

    /// Records dropped because their day had been reported already.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The tally of `city_id` for the day of `at`, or `None` (counted late) when that day was
    /// reported already.
    fn tally(&mut self, city_id: &str, at: DateTime<Utc>) -> Option<&mut DayTally> {
        let date = local_date(at);
        if self.closed_before.is_some_and(|c| date < c) {
            self.late += 1;
            return None;
        }
        Some(self.days.entry((date, city_id.to_owned())).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn p(s: &str) -> Plate {
        Plate::parse(s).unwrap()
    }

    #[test]
    fn local_days_start_at_three_utc() {
        assert_eq!(local_date(at("2026-12-03T02:59:59Z")), d("2026-12-02"));
        assert_eq!(local_date(at("2026-12-03T03:00:00Z")), d("2026-12-03"));
        // Southern summer, when DST used to apply: still UTC-3.
        assert_eq!(local_date(at("2027-01-15T02:30:00Z")), d("2027-01-14"));
        assert_eq!(day_end(d("2026-12-02")), at("2026-12-03T03:00:00Z"));
        assert_eq!(day_end(d("2026-12-31")), at("2027-01-01T03:00:00Z"));
    }

    #[test]
    fn a_day_is_counted_and_reported_once_after_midnight() {
        let mut r = DailyReports::new(TimeDelta::minutes(1));
        r.record_camera_online("poa", "cam1", at("2026-12-02T10:00:00Z"));
        r.record_camera_online("poa", "cam2", at("2026-12-02T10:00:00Z"));
        r.record_camera_online("poa", "cam2", at("2026-12-02T11:00:00Z"));
        r.record_detection("poa", "cam1", &p("ABC1D23"), at("2026-12-02T10:00:00Z"));
        r.record_detection("poa", "cam1", &p("ABC1D23"), at("2026-12-02T18:00:00Z"));
        r.record_detection("poa", "cam2", &p("XYZ9876"), at("2026-12-03T02:59:00Z"));
        r.record_alert("poa", at("2026-12-02T18:00:01Z"));
        // Another city, and the next local day of the first.
        r.record_detection("rec", "cam9", &p("QRS4E56"), at("2026-12-02T12:00:00Z"));
        r.record_detection("poa", "cam1", &p("ABC1D23"), at("2026-12-03T03:00:00Z"));

        assert_eq!(r.poll_timeout(), Some(at("2026-12-03T03:01:00Z")));
        assert!(r.poll_due(at("2026-12-03T03:00:59Z")).is_empty(), "grace");
        let due = r.poll_due(at("2026-12-03T03:01:00Z"));
        let keys: Vec<(&str, NaiveDate)> =
            due.iter().map(|x| (x.city_id.as_str(), x.date)).collect();
        assert_eq!(
            keys,
            vec![("poa", d("2026-12-02")), ("rec", d("2026-12-02"))]
        );
        let poa = &due[0].tally;
        assert_eq!((poa.detections, poa.plates.len(), poa.alerts), (3, 2, 1));
        assert_eq!(
            poa.per_camera,
            BTreeMap::from([("cam1".to_owned(), 2), ("cam2".to_owned(), 1)])
        );
        assert_eq!(poa.cameras_online.len(), 2);
        assert!(
            r.poll_due(at("2026-12-03T04:00:00Z")).is_empty(),
            "reported once"
        );
        assert_eq!(r.poll_timeout(), Some(at("2026-12-04T03:01:00Z")));

        // Too late for the 2nd: dropped and counted.
        r.record_alert("poa", at("2026-12-03T02:59:59Z"));
        assert_eq!(r.late(), 1);
        let next = r.poll_due(at("2026-12-04T03:01:00Z"));
        assert_eq!(next.len(), 1);
        assert_eq!(
            (next[0].date, next[0].tally.detections),
            (d("2026-12-03"), 1)
        );
    }

    #[test]
    fn recordings_are_split_at_local_midnight() {
        let mut r = DailyReports::new(TimeDelta::zero());
        r.record_recording(
            "poa",
            at("2026-12-02T23:00:00Z"),
            at("2026-12-03T05:00:00Z"),
        );
        r.record_recording(
            "poa",
            at("2026-12-03T05:00:00Z"),
            at("2026-12-03T05:00:00Z"),
        );
        let due = r.poll_due(at("2026-12-05T00:00:00Z"));
        let hours: Vec<(NaiveDate, f64)> = due
            .iter()
            .map(|x| (x.date, x.tally.recording_seconds / 3600.0))
            .collect();
        assert_eq!(hours, vec![(d("2026-12-02"), 4.0), (d("2026-12-03"), 2.0)]);
    }

    #[test]
    fn a_snapshot_keeps_every_figure_across_a_restart() {
        let mut r = DailyReports::new(TimeDelta::minutes(1));
        r.record_detection("poa", "cam1", &p("ABC1D23"), at("2026-12-02T10:00:00Z"));
        r.record_detection("poa", "cam2", &p("XYZ9876"), at("2026-12-02T11:00:00Z"));
        r.record_alert("poa", at("2026-12-02T11:00:00Z"));
        r.record_camera_online("poa", "cam1", at("2026-12-02T10:00:00Z"));
        r.record_recording(
            "poa",
            at("2026-12-02T10:00:00Z"),
            at("2026-12-02T10:20:00.123Z"),
        );
        r.record_detection("rec", "cam9", &p("QRS4E56"), at("2026-12-02T12:00:00Z"));
        // The 1st is reported already: closedBefore is kept.
        r.record_alert("poa", at("2026-12-01T12:00:00Z"));
        assert_eq!(r.poll_due(at("2026-12-02T12:00:00Z")).len(), 1);
        let snapshot = r.snapshot();
        assert_eq!(snapshot.closed_before, Some(d("2026-12-02")));
        assert_eq!(snapshot.days.len(), 2);
        let text = serde_json::to_string(&snapshot).unwrap();
        let back: ReportsSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snapshot, "{text}");

        // The restarted process: the same plate again stays one distinct plate.
        let mut q = DailyReports::new(TimeDelta::minutes(1));
        q.restore(back);
        assert_eq!(q.snapshot(), snapshot);
        q.record_detection("poa", "cam1", &p("ABC1D23"), at("2026-12-02T20:00:00Z"));
        q.record_alert("poa", at("2026-12-01T23:00:00Z"));
        assert_eq!(q.late(), 1, "the 1st stays reported");
        let due = q.poll_due(at("2026-12-03T03:01:00Z"));
        let poa = &due[0].tally;
        assert_eq!(
            (poa.detections, poa.plates.len(), poa.alerts),
            (3, 2, 1),
            "both halves"
        );
        assert_eq!(
            poa.per_camera,
            BTreeMap::from([("cam1".to_owned(), 2), ("cam2".to_owned(), 1)])
        );
        assert_eq!(poa.cameras_online.len(), 1);
        assert_eq!(poa.recording_seconds, 1200.123);
        assert_eq!(
            (due[1].city_id.as_str(), due[1].tally.detections),
            ("rec", 1)
        );
    }

    #[test]
    fn a_day_that_ended_while_down_is_reported_at_start() {
        let mut r = DailyReports::new(TimeDelta::minutes(1));
        r.record_detection("poa", "cam1", &p("ABC1D23"), at("2026-12-02T10:00:00Z"));
        let snapshot = r.snapshot();
        let mut q = DailyReports::new(TimeDelta::minutes(1));
        q.restore(snapshot);
        assert_eq!(q.poll_timeout(), Some(at("2026-12-03T03:01:00Z")));
        // Back two days later: the 2nd comes out at the first poll.
        let due = q.poll_due(at("2026-12-04T15:00:00Z"));
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].date, due[0].tally.detections), (d("2026-12-02"), 1));
        assert_eq!(q.snapshot().days, []);
    }

    #[test]
    fn payload_carries_the_tally() {
        let plates = ["ABC1D23", "ABC1234"].map(|p| Plate::parse(p).unwrap());
        let tally = DayTally {
            detections: 10_000,
            plates: plates.into(),
            per_camera: [("a".to_owned(), 9_000), ("b".to_owned(), 1_000)].into(),
            alerts: 3,
            cameras_online: ["a", "b"].map(String::from).into(),
            recording_seconds: 5400.0,
        };
        let cnpj = Cnpj::parse("11222333000181").unwrap();
        let got = tally.payload("poa", cnpj.clone(), d("2026-12-02"));
        let want = AnalyticsDailyReport {
            city_id: "poa".into(),
            city_hall_cnpj: cnpj,
            date: d("2026-12-02"),
            cameras_online: 2,
            recording_hours: 1.5,
            lpr_detections: 10_000,
            alerts: 3,
            distinct_plates: Some(2),
            lpr_detections_per_camera: Some([("a".into(), 9_000), ("b".into(), 1_000)].into()),
        };
        assert_eq!(got, want);
    }
}
