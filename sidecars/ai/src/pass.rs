//! One result per vehicle pass: plate reads grouped per camera, voted, parked cars suppressed.
//!
//! A camera reads the same plate on several keyframes while a car drives by, sometimes with a
//! character wrong. [`PassTracker`] turns those reads into one [`Pass`]:
//!
//! - **Grouping.** A read joins an open group of the same camera whose voted plate differs from
//!   it in at most [`MAX_GROUP_DISTANCE`] positions (a misread character or two); otherwise it
//!   opens a new group. A group is open for [`PassConfig::window`] (default 3 s) from its first
//!   read, then closes: the window is fixed, not extended by new reads, so a car that never
//!   leaves still gives a result after 3 s.
//! - **Voting.** Per position, each read votes for its character with its confidence (already
//!   lowered for positional fixes, see [`crate::plate::PlateRead::penalised`]); the heaviest
//!   character wins, ties going to the character of the most confident read. This beats taking
//!   the single best read: three frames with a different character wrong each (`XBC1D23`,
//!   `ABE1D23`, `ABC1D28`) still vote `ABC1D23`, which none of them read. Every position only
//!   ever holds characters valid for it, so the vote is always a plate. Its confidence is the
//!   best confidence among reads of the voted plate (the best read of any when none matches)
//!   times the least agreement over the positions (winning weight / total weight). That read
//!   (the most confident of the voted plate) also gives the pass its time, frame and snapshot
//!   (the JPEG crop the event refers to).
//! - **Suppression.** A plate seen on a camera is remembered until [`PassConfig::suppress`]
//!   (default 5 min) after its last read. A pass of a remembered plate is not reported, but
//!   renews the memory, so a parked car read every few seconds is reported once, when it arrives,
//!   and again only after it was gone for 5 minutes. A pass whose plate is within
//!   [`MAX_GROUP_DISTANCE`] positions of a plate remembered on the camera, and less confident
//!   than that plate's passes, is taken for a misread of it (a parked or returning car read with
//!   a character or two wrong, as a car's own reads within a pass are): not reported, and it
//!   renews the remembered plate. The price: a second vehicle whose plate differs from one seen
//!   on the camera in the last 5 minutes in at most two positions, and that is read less
//!   surely, is not reported (consecutive fleet plates passing together).
//!
//! Sans-IO: times are the frames' wall-clock times, given in. Drive it with
//! [`PassTracker::handle_read`] and [`PassTracker::handle_timeout`], take results with
//! [`PassTracker::poll_pass`], and wake up at [`PassTracker::poll_timeout`].

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use vigia_events::{BoundingBox, Plate};

use crate::plate::{PlateFormat, PlateRead, bytes7};
use crate::snapshot::Jpeg;

/// How many positions a read may differ from a group's voted plate and still join it.
pub const MAX_GROUP_DISTANCE: usize = 2;

/// The pass rules' durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassConfig {
    /// How long a group collects reads after its first one (default 3 s).
    pub window: TimeDelta,
    /// How long a plate seen on a camera is not reported again after its last read (default
    /// 5 min).
    pub suppress: TimeDelta,
}

impl Default for PassConfig {
    fn default() -> PassConfig {
        PassConfig {
            window: TimeDelta::seconds(3),
            suppress: TimeDelta::minutes(5),
        }
    }
}

/// One plate read on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The camera (Vigia path) the frame came from.
    pub camera_id: String,
    /// The plate as [`crate::plate::read_plate`] made it.
    pub plate: PlateRead,
    /// The recogniser's confidence, 0..=1, before the fix penalty.
    pub confidence: f64,
    /// Wall-clock time of the frame.
    pub at: DateTime<Utc>,
    /// The caller's reference to the frame (to find the crop of the best read later).
    pub frame: u64,
    /// The JPEG crop around the plate in that frame, when one was made.
    pub snapshot: Option<Jpeg>,
    /// Where the plate is in that frame, when known.
    pub bounding_box: Option<BoundingBox>,
}

impl Read {
    /// The confidence this read votes with: the recogniser's, lowered for fixed characters.
    pub fn weight(&self) -> f64 {
        self.plate.penalised(self.confidence.clamp(0.0, 1.0))
    }
}

/// The voted result of one vehicle pass, to be reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    /// The camera.
    pub camera_id: String,
    /// The voted plate.
    pub plate: Plate,
    /// Its format.
    pub format: PlateFormat,
    /// The pass's confidence, 0..=1 (see the module doc).
    pub confidence: f64,
    /// Frame time of the best read of the voted plate (the event's `detectedAt`).
    pub detected_at: DateTime<Utc>,
    /// Frame time of the group's first read.
    pub first_seen: DateTime<Utc>,
    /// Frame time of the group's last read.
    pub last_seen: DateTime<Utc>,
    /// The caller's frame reference of that read.
    pub frame: u64,
    /// The JPEG crop of that read, if it had one (the event's snapshot).
    pub snapshot: Option<Jpeg>,
    /// Where the plate is in that read's frame, when known.
    pub bounding_box: Option<BoundingBox>,
    /// Reads in the group.
    pub reads: usize,
}

/// Counters of a tracker, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Reads handled.
    pub reads: u64,
    /// Passes reported.
    pub reported: u64,
    /// Passes of a plate seen within the suppression window, or taken for a misread of one,
    /// not reported.
    pub suppressed: u64,
    /// Reads older than their camera's newest read (out of order), dropped.
    pub late_reads: u64,
}

/// Groups reads into passes; see the module doc for the rules.
#[derive(Debug)]
pub struct PassTracker {
    config: PassConfig,
    groups: Vec<Group>,
    /// Per camera and plate: its last read time and its passes' best confidence, for
    /// suppression.
    seen: HashMap<(String, Plate), Seen>,
    out: VecDeque<Pass>,
    /// Time of each camera's newest read, to drop reads that come out of order.
    newest: HashMap<String, DateTime<Utc>>,
    stats: PassStats,
}

impl PassTracker {
    /// A tracker with no reads yet.
    pub fn new(config: PassConfig) -> PassTracker {
        PassTracker {
            config,
            groups: Vec::new(),
            seen: HashMap::new(),
            out: VecDeque::new(),
            newest: HashMap::new(),
            stats: PassStats::default(),
        }
    }

    /// Takes one read. Groups whose window ended by the read's time close first (whatever
    /// their camera: frame times are wall-clock times). A read older than its camera's newest
    /// is dropped and counted (a camera's frames arrive in order; a late one would reopen a
    /// closed pass). Cameras need not be in step with each other: a camera lagging behind
    /// another has its groups closed by the other's time, and its reads after that start a new
    /// group, suppressed as a repeat of the same plate.
    pub fn handle_read(&mut self, read: Read) {
        self.stats.reads += 1;
        let newest = self.newest.entry(read.camera_id.clone()).or_insert(read.at);
        if read.at < *newest {
            self.stats.late_reads += 1;
            return;
        }
        *newest = read.at;
        self.handle_timeout(read.at);
        let near = self.groups.iter_mut().find(|g| {
            g.camera_id == read.camera_id
                && distance(&g.vote().0, &read.plate.plate) <= MAX_GROUP_DISTANCE
        });
        match near {
            Some(g) => g.reads.push(read),
            None => self.groups.push(Group::new(read, self.config.window)),
        }
    }

    /// Closes the groups whose window ended at or before `now`, and forgets plates past their
    /// suppression window.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        let (due, open): (Vec<Group>, Vec<Group>) =
            self.groups.drain(..).partition(|g| g.closes_at <= now);
        self.groups = open;
        for group in due {
            self.close(group);
        }
        // Kept a window longer than the rule needs: a group still open may have started up to a
        // window before `now`, and its first read is what the rule compares.
        let keep = self.config.suppress + self.config.window;
        self.seen.retain(|_, seen| now - seen.last <= keep);
    }

    /// The next reported pass, if any.
    pub fn poll_pass(&mut self) -> Option<Pass> {
        self.out.pop_front()
    }

    /// When [`PassTracker::handle_timeout`] should next be called: the earliest group close.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.groups.iter().map(|g| g.closes_at).min()
    }

    /// The counters so far.
    pub fn stats(&self) -> PassStats {
        self.stats
    }

    fn close(&mut self, group: Group) {
        let pass = group.into_pass();
        let exact = (pass.camera_id.clone(), pass.plate.clone());
        let remembered = self
            .seen
            .get(&exact)
            .is_some_and(|seen| self.is_recent(seen, &pass));
        let misread_of = if remembered {
            None
        } else {
            self.misread_of(&pass)
        };
        let suppressed = remembered || misread_of.is_some();
        let key = misread_of.unwrap_or(exact);
        let seen = self.seen.entry(key).or_insert(Seen {
            last: pass.last_seen,
            confidence: pass.confidence,
        });
        seen.last = seen.last.max(pass.last_seen);
        if suppressed {
            self.stats.suppressed += 1;
        } else {
            seen.confidence = seen.confidence.max(pass.confidence);
            self.stats.reported += 1;
            self.out.push_back(pass);
        }
    }

    /// Whether `seen` was read within the suppression window before `pass` began.
    fn is_recent(&self, seen: &Seen, pass: &Pass) -> bool {
        pass.first_seen - seen.last <= self.config.suppress
    }

    /// The remembered plate of `pass`'s camera that `pass` is a misread of: the nearest (then
    /// the latest) within [`MAX_GROUP_DISTANCE`] positions, read within the suppression window,
    /// whose passes were more confident.
    fn misread_of(&self, pass: &Pass) -> Option<(String, Plate)> {
        self.seen
            .iter()
            .filter(|((camera, _), seen)| {
                *camera == pass.camera_id
                    && self.is_recent(seen, pass)
                    && seen.confidence > pass.confidence
            })
            .map(|(key, seen)| (distance(&key.1, &pass.plate), seen.last, key))
            .filter(|(d, _, _)| *d <= MAX_GROUP_DISTANCE)
            .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, _, key)| key.clone())
    }
}

/// What a tracker remembers of a plate on a camera.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Frame time of its last read.
    last: DateTime<Utc>,
    /// The best confidence of its reported passes.
    confidence: f64,
}

/// Positions at which two plates differ.
pub fn distance(a: &Plate, b: &Plate) -> usize {
    bytes7(a)
        .iter()
        .zip(bytes7(b).iter())
        .filter(|(x, y)| x != y)
        .count()
}

/// Reads of one pass being collected.
#[derive(Debug)]
struct Group {
    camera_id: String,
    closes_at: DateTime<Utc>,
    reads: Vec<Read>,
}

impl Group {
    fn new(read: Read, window: TimeDelta) -> Group {
        Group {
            camera_id: read.camera_id.clone(),
            closes_at: read.at + window,
            reads: vec![read],
        }
    }

    /// The per-position weighted vote and the least agreement over positions.
    fn vote(&self) -> (Plate, f64) {
        let mut plate = [0u8; 7];
        let mut agreement = 1.0f64;
        for (pos, slot) in plate.iter_mut().enumerate() {
            let (c, share) = self.vote_position(pos);
            *slot = c;
            agreement = agreement.min(share);
        }
        let text: String = plate.iter().map(|&c| c as char).collect();
        // Each position's winner is a character some read had there, valid for the position.
        let plate = Plate::parse(&text).unwrap_or_else(|e| unreachable!("vote {text}: {e}"));
        (plate, agreement)
    }

    /// The winning character at `pos` and its share of the weight.
    fn vote_position(&self, pos: usize) -> (u8, f64) {
        // (character, summed weight, best single weight); at most one entry per read.
        let mut tally: Vec<(u8, f64, f64)> = Vec::new();
        for r in &self.reads {
            let c = bytes7(&r.plate.plate)[pos];
            let w = r.weight();
            match tally.iter_mut().find(|t| t.0 == c) {
                Some(t) => (t.1, t.2) = (t.1 + w, t.2.max(w)),
                None => tally.push((c, w, w)),
            }
        }
        let total: f64 = tally.iter().map(|t| t.1).sum();
        let best = tally
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)));
        match best {
            Some((c, w, _)) if total > 0.0 => (c, w / total),
            Some((c, _, _)) => (c, 0.0),
            None => unreachable!("a group always has a read"),
        }
    }

    fn into_pass(self) -> Pass {
        let (plate, agreement) = self.vote();
        let best = |rs: &mut dyn Iterator<Item = &Read>| {
            // The most confident read; the earliest of equals (min_by keeps the first).
            rs.min_by(|a, b| b.weight().total_cmp(&a.weight())).cloned()
        };
        let exact = best(&mut self.reads.iter().filter(|r| r.plate.plate == plate));
        let Some(chosen) = exact.or_else(|| best(&mut self.reads.iter())) else {
            unreachable!("a group always has a read");
        };
        let times = self.reads.iter().map(|r| r.at);
        let first_seen = times.clone().min().unwrap_or(chosen.at);
        let last_seen = times.max().unwrap_or(chosen.at);
        Pass {
            camera_id: self.camera_id,
            first_seen,
            last_seen,
            format: PlateFormat::of(&plate),
            plate,
            confidence: chosen.weight() * agreement,
            detected_at: chosen.at,
            frame: chosen.frame,
            snapshot: chosen.snapshot,
            bounding_box: chosen.bounding_box,
            reads: self.reads.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plate::read_plate;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_790_000_000_000 + ms).unwrap()
    }

    fn read(camera: &str, text: &str, confidence: f64, ms: i64) -> Read {
        Read {
            camera_id: camera.into(),
            plate: read_plate(text).unwrap(),
            confidence,
            at: t(ms),
            frame: ms as u64,
            snapshot: None,
            bounding_box: None,
        }
    }

    /// (camera, plate) of each reported pass of [`run`]'s output.
    fn camera_plates(out: &[(String, String, i64)]) -> Vec<(&str, &str)> {
        out.iter()
            .map(|(c, p, _)| (c.as_str(), p.as_str()))
            .collect()
    }

    /// Feeds reads in order, then runs the clock to `end_ms`; returns (camera, plate, detected
    /// at ms) of every reported pass.
    fn run(reads: Vec<Read>, end_ms: i64) -> (Vec<(String, String, i64)>, PassStats) {
        let mut tracker = PassTracker::new(PassConfig::default());
        let mut out = Vec::new();
        let mut drain = |tr: &mut PassTracker| {
            while let Some(p) = tr.poll_pass() {
                let ms = (p.detected_at - t(0)).num_milliseconds();
                out.push((p.camera_id, p.plate.to_string(), ms));
            }
        };
        for r in reads {
            tracker.handle_read(r);
            drain(&mut tracker);
        }
        tracker.handle_timeout(t(end_ms));
        drain(&mut tracker);
        (out, tracker.stats())
    }

    #[test]
    fn reads_of_one_pass_become_one_voted_result() {
        // Each frame misreads a different position; none of them is right alone.
        let reads = vec![
            read("cam1", "XBC1D23", 0.9, 0),
            read("cam1", "ABE1D23", 0.8, 400),
            read("cam1", "ABC1D28", 0.7, 800),
        ];
        let mut tracker = PassTracker::new(PassConfig::default());
        for r in reads {
            tracker.handle_read(r);
        }
        assert_eq!(tracker.poll_pass(), None, "window still open");
        assert_eq!(tracker.poll_timeout(), Some(t(3000)));
        tracker.handle_timeout(t(2999));
        assert_eq!(tracker.poll_pass(), None);
        tracker.handle_timeout(t(3000));
        let pass = tracker.poll_pass().expect("closed at 3 s");
        assert_eq!(pass.plate.as_str(), "ABC1D23");
        assert_eq!(pass.format, PlateFormat::Mercosul);
        assert_eq!(pass.reads, 3);
        // No read is exact, so the best read of any stands for the pass: 0.9 times the least
        // agreement, 1.5 of 2.4 at the first position.
        assert_eq!((pass.detected_at, pass.frame), (t(0), 0));
        assert_eq!((pass.first_seen, pass.last_seen), (t(0), t(800)));
        assert!(
            (pass.confidence - 0.9 * 1.5 / 2.4).abs() < 1e-9,
            "{}",
            pass.confidence
        );
        assert_eq!(tracker.poll_pass(), None);
        assert_eq!(tracker.poll_timeout(), None);
    }

    #[test]
    fn the_pass_keeps_the_snapshot_of_its_best_read_of_the_voted_plate() {
        let jpeg = |tag: &'static [u8]| Some(Jpeg(bytes::Bytes::from_static(tag)));
        let with = |text, confidence, ms, tag| Read {
            snapshot: jpeg(tag),
            ..read("c", text, confidence, ms)
        };
        // The most confident read is a misread: the snapshot is the best read of ABC1D23's.
        let reads = [
            with("ABC1D23", 0.7, 0, b"first"),
            with("ABC1D28", 0.95, 100, b"misread"),
            with("ABC1D23", 0.8, 200, b"best"),
            with("ABC1D23", 0.6, 300, b"last"),
        ];
        let mut tracker = PassTracker::new(PassConfig::default());
        for r in reads {
            tracker.handle_read(r);
        }
        tracker.handle_timeout(t(10_000));
        let pass = tracker.poll_pass().unwrap();
        assert_eq!((pass.plate.as_str(), pass.frame), ("ABC1D23", 200));
        assert_eq!(pass.snapshot, jpeg(b"best"));
    }

    #[test]
    fn vote_weighs_confidence_and_fix_penalty() {
        // Two weak reads of '8' lose to one strong 'B'... at a position where both are valid.
        let (out, _) = run(
            vec![
                read("c", "ABC1B23", 0.95, 0),
                read("c", "ABC1823", 0.3, 100),
                read("c", "ABC1823", 0.3, 200),
            ],
            10_000,
        );
        assert_eq!(out, vec![("c".into(), "ABC1B23".into(), 0)]);
        // A fixed character (I→1) weighs less than a clean one of the same confidence.
        let (out, _) = run(
            vec![read("c", "ABCI234", 0.8, 0), read("c", "ABC7234", 0.8, 100)],
            10_000,
        );
        assert_eq!(out, vec![("c".into(), "ABC7234".into(), 100)]);
    }

    #[test]
    fn cameras_and_distant_plates_make_separate_passes() {
        let (out, stats) = run(
            vec![
                read("cam1", "ABC1D23", 0.9, 0),
                read("cam2", "ABC1D23", 0.9, 100),
                read("cam1", "XYZ9876", 0.9, 200),
                // Two positions off ABC1D23: the same car misread, joins the first group.
                read("cam1", "ABC1D88", 0.5, 300),
                // Three off: another car.
                read("cam1", "ABC7E88", 0.9, 400),
            ],
            10_000,
        );
        let plates: Vec<(&str, &str)> = out
            .iter()
            .map(|(c, p, _)| (c.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            plates,
            vec![
                ("cam1", "ABC1D23"),
                ("cam2", "ABC1D23"),
                ("cam1", "XYZ9876"),
                ("cam1", "ABC7E88")
            ]
        );
        assert_eq!((stats.reads, stats.reported, stats.suppressed), (5, 4, 0));
    }

    #[test]
    fn the_window_is_fixed_from_the_first_read() {
        // Reads every second for 10 s (a car stopped at a light): passes close at 3 s, 6 s, 9 s
        // and 12 s, and only the first is reported.
        let reads = (0..10)
            .map(|s| read("c", "ABC1234", 0.9, s * 1000))
            .collect();
        let (out, stats) = run(reads, 20_000);
        assert_eq!(out, vec![("c".into(), "ABC1234".into(), 0)]);
        assert_eq!((stats.reported, stats.suppressed), (1, 3));
    }

    #[test]
    fn parked_car_is_reported_once_until_gone_for_the_suppression_window() {
        let min = 60_000;
        let mut reads = Vec::new();
        // Seen every 4 minutes for an hour: each sighting is within 5 min of the last.
        for k in 0..15 {
            reads.push(read("c", "ABC1D23", 0.9, k * 4 * min));
        }
        // Gone for more than 5 min after its last sighting (56 min), then back.
        reads.push(read("c", "ABC1D23", 0.9, 62 * min));
        // Exactly 5 min after the previous read still counts as seen.
        reads.push(read("c", "ABC1D23", 0.9, 67 * min));
        let (out, stats) = run(reads, 80 * min);
        let times: Vec<i64> = out.iter().map(|o| o.2).collect();
        assert_eq!(times, vec![0, 62 * min]);
        assert_eq!((stats.reported, stats.suppressed), (2, 15));
    }

    #[test]
    fn a_less_sure_pass_near_a_remembered_plate_is_taken_for_its_misread() {
        let min = 60_000;
        let (out, stats) = run(
            vec![
                read("c", "ABC1D23", 0.9, 0),
                // The same car a minute later, read with two characters wrong, less surely:
                // not reported, and it renews ABC1D23's memory.
                read("c", "ABC8D28", 0.4, min),
                // Four minutes after that (five after the first pass): still remembered.
                read("c", "ABC1D23", 0.9, 5 * min + 30_000),
                // Three positions off: another vehicle.
                read("c", "ABG8D28", 0.4, 7 * min),
                // Two off but read more surely than ABC1D23 was: another vehicle.
                read("c", "ABC1D88", 0.95, 8 * min),
                // Another camera: its own memory.
                read("d", "ABC8D28", 0.4, 8 * min + 30_000),
                // Gone for more than 5 minutes: a near plate is reported again.
                read("c", "ABC1D24", 0.5, 20 * min),
            ],
            30 * min,
        );
        let got = camera_plates(&out);
        assert_eq!(
            got,
            vec![
                ("c", "ABC1D23"),
                ("c", "ABG8D28"),
                ("c", "ABC1D88"),
                ("d", "ABC8D28"),
                ("c", "ABC1D24"),
            ]
        );
        assert_eq!((stats.reported, stats.suppressed), (5, 2));
    }

    #[test]
    fn suppression_is_per_camera_and_survives_other_cameras_ticks() {
        let min = 60_000;
        let (out, _) = run(
            vec![
                read("a", "ABC1D23", 0.9, 0),
                read("b", "ABC1D23", 0.9, 10),
                // cam a again at 4:59, while another camera's reads tick the clock past 5:00
                // before the group closes.
                read("a", "ABC1D23", 0.9, 5 * min - 1000),
                read("b", "XYZ1234", 0.9, 5 * min + 1000),
            ],
            10 * min,
        );
        let got = camera_plates(&out);
        assert_eq!(
            got,
            vec![("a", "ABC1D23"), ("b", "ABC1D23"), ("b", "XYZ1234")]
        );
    }

    #[test]
    fn late_reads_are_dropped_and_counted() {
        let (out, stats) = run(
            vec![
                read("c", "ABC1234", 0.9, 5000),
                read("c", "XYZ1234", 0.9, 1000),
            ],
            10_000,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(stats.late_reads, 1);
    }

    #[test]
    fn cameras_need_not_be_in_step() {
        // Camera b's frames arrive a second behind camera a's: not late, both reported.
        let (out, stats) = run(
            vec![
                read("a", "ABC1234", 0.9, 5000),
                read("b", "XYZ1234", 0.9, 4000),
                read("b", "XYZ1234", 0.9, 4500),
            ],
            10_000,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(stats.late_reads, 0);
        assert_eq!(out[1], ("b".into(), "XYZ1234".into(), 4000));
    }

    #[test]
    fn custom_durations_apply() {
        let config = PassConfig {
            window: TimeDelta::milliseconds(500),
            suppress: TimeDelta::seconds(10),
        };
        let mut tracker = PassTracker::new(config);
        tracker.handle_read(read("c", "ABC1234", 0.9, 0));
        assert_eq!(tracker.poll_timeout(), Some(t(500)));
        tracker.handle_read(read("c", "ABC1234", 0.9, 600));
        assert!(tracker.poll_pass().is_some());
        tracker.handle_read(read("c", "ABC1234", 0.9, 11_200));
        tracker.handle_timeout(t(12_000));
        // 600 ms → 11.2 s is over 10 s: reported again.
        assert!(tracker.poll_pass().is_some());
        assert_eq!(tracker.stats().suppressed, 1);
    }

    #[test]
    fn distance_counts_differing_positions() {
        let p = |s| Plate::parse(s).unwrap();
        assert_eq!(distance(&p("ABC1234"), &p("ABC1234")), 0);
        assert_eq!(distance(&p("ABC1234"), &p("ABC1C34")), 1);
        assert_eq!(distance(&p("ABC1234"), &p("XYZ9876")), 7);
    }
}
