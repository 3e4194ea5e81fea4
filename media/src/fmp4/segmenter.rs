//! Where fragments (parts) and segments start and end, independent of how their bytes are made:
//! shared by the LL-HLS muxer (RFC 8216bis §4.4.4.9, §6.2.2) and the recorder.
//!
//! A sample's duration is only known when the next unit of its track arrives, so each track
//! holds one pending unit: the leading track's sample `P` is placed when the unit `U` after it
//! arrives at DTS `d`. Then, in order:
//! 1. if adding `P` would make the segment longer than the target duration (a stream whose GOP
//!    grew), the segment is cut before `P`, even without a keyframe; if it would make the part
//!    longer than the part target, the part is cut before `P`;
//! 2. `P` joins the open part;
//! 3. if `U` is a keyframe and the segment has reached the segment duration, part and segment
//!    end at `d`; else if the part has reached the part target, the part ends at `d`.
//!
//! Other tracks' samples join the part that is open when they complete, provided their DTS is
//! before the part's end; later ones wait for the next part. Timestamps jumping backwards or by
//! more than the target duration ([`JUMP_SECONDS`] before it is known) on the leading track end
//! the segment and restart the timeline at the next keyframe, with a discontinuity.
//!
//! `PART-TARGET` cannot change (RFC 8216bis §4.4.3.7), and a sample cannot be split: it is the
//! configured part duration, or the longest part of the first segment for streams whose frames
//! are longer. A stream whose frame interval later grows past it (a variable frame rate camera
//! dropping below 5 fps with 200 ms parts) gets parts longer than `PART-TARGET`; treating each
//! such frame as a discontinuity would drop video until the next keyframe, which is worse for
//! viewers. The playlist checker reports those parts.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::model::{AccessUnit, MediaKind, Track};
use crate::time::Timestamp;

/// The samples of one track within one part.
#[derive(Clone, Debug)]
pub struct PartRun {
    /// Index of the track (fMP4 track id minus one).
    pub track: usize,
    /// Decode time of the first sample in the track's clock (becomes the `tfdt`).
    pub base_decode_time: u64,
    /// Samples in decode order, contiguous: each starts where the previous one ends.
    pub samples: Vec<PartSample>,
}

/// One access unit with its duration, as the fragment's `trun` describes it.
#[derive(Clone, Debug)]
pub struct PartSample {
    /// The unit; its payload chunks go into the `mdat` as they are.
    pub unit: Arc<AccessUnit>,
    /// Duration in the track's clock (next unit's DTS minus this one's).
    pub duration: u32,
    /// PTS minus DTS in the track's clock.
    pub composition_offset: i32,
}

/// A forward DTS step larger than this on the leading track is a discontinuity.
pub const JUMP_SECONDS: i64 = 10;

/// Timestamps beyond ±2^53 ticks (over 3 000 years at 90 kHz) are dropped, so differences of
/// timestamps can never overflow.
const MAX_TICKS: i64 = 1 << 53;

/// Completed samples a non-leading track may queue while the leading track is silent.
const MAX_QUEUED: usize = 4096;

/// What the segmenter decided, in order.
#[derive(Debug)]
pub enum Cut {
    /// The next segment starts a new timeline: `EXT-X-DISCONTINUITY`.
    Discontinuity,
    /// A part is complete.
    Part(PartDraft),
    /// The segment in progress ends after its last part.
    SegmentEnd,
}

/// The samples and timing of one part.
#[derive(Debug)]
pub struct PartDraft {
    /// One run per track with samples, leading track first.
    pub runs: Vec<PartRun>,
    /// Duration in seconds (leading track's time).
    pub duration: f64,
    /// Whether the part starts with a leading-track keyframe.
    pub independent: bool,
    /// Wall-clock time of the part's first leading sample (UNIX µs).
    pub wallclock_us: Option<i64>,
}

#[derive(Debug, Default)]
struct TrackState {
    clock_rate: u32,
    pending: Option<Arc<AccessUnit>>,
    queue: VecDeque<PartSample>,
    last_duration: Option<u32>,
    /// DTS that maps to decode time 0 of this epoch's fMP4 timeline.
    origin: Option<i64>,
    /// Decode time where the next sample continues the fMP4 timeline.
    decode_end: u64,
}

/// The part/segment scheduler of one stream.
#[derive(Debug)]
pub struct Segmenter {
    tracks: Vec<TrackState>,
    leading: usize,
    part_seconds: f64,
    segment_seconds: f64,
    /// `PART-TARGET`, fixed with the target duration: the configured part duration, or the
    /// longest part of the first segment if a single frame lasted longer (a very low frame rate).
    part_target: Option<f64>,
    longest_part: f64,
    target_duration: Option<u64>,
    started: bool,
    restarted: bool,
    seg_start: i64,
    /// Recording: the leading-track time that is decode time 0 of the open segment's file: its
    /// first keyframe, or earlier when another track's first sample in it is earlier (audio
    /// captured just before the keyframe), so no track's first sample is clamped.
    seg_origin: Option<i64>,
    part_start: i64,
    seg_has_parts: bool,
    part: Vec<PartSample>,
    /// Payload bytes placed since the open part started (all tracks).
    part_bytes: usize,
    recording: Option<RecordingRules>,
    dropped: u64,
}

/// How a recording's segmenter differs from LL-HLS's: no target duration to honour, a fixed
/// gap threshold, and a size limit per part (`recordMaxPartSize`).
#[derive(Debug, Clone, Copy)]
struct RecordingRules {
    max_part_bytes: usize,
}

/// A leading-track DTS step longer than this is a gap in a recording: the segment ends and the
/// next one starts at the next keyframe. A camera sending fewer frames than one per 5 s is thus
/// recorded as a series of gaps, which is what its timeline is.
pub const RECORDING_GAP_SECONDS: f64 = 5.0;

impl Segmenter {
    /// A segmenter for `tracks` cutting parts of `part_seconds` and segments of at least
    /// `segment_seconds`.
    pub fn new(tracks: &[Track], part_seconds: f64, segment_seconds: f64) -> Self {
        let mut s = Segmenter {
            tracks: Vec::new(),
            leading: 0,
            part_seconds,
            segment_seconds,
            part_target: None,
            longest_part: 0.0,
            target_duration: None,
            started: false,
            restarted: false,
            seg_start: 0,
            seg_origin: None,
            part_start: 0,
            seg_has_parts: false,
            part: Vec::new(),
            part_bytes: 0,
            recording: None,
            dropped: 0,
        };
        s.set_tracks(tracks);
        s
    }

    /// A segmenter for a recording: segments end only on a leading-track keyframe once they
    /// last `segment_seconds` (or at a gap of [`RECORDING_GAP_SECONDS`], or when a GOP grows
    /// past twice the segment duration); parts end at `part_seconds` or before they would
    /// exceed `max_part_bytes` of payload.
    pub fn for_recording(
        tracks: &[Track],
        part_seconds: f64,
        segment_seconds: f64,
        max_part_bytes: usize,
    ) -> Self {
        let mut s = Self::new(tracks, part_seconds, segment_seconds);
        s.recording = Some(RecordingRules {
            max_part_bytes: max_part_bytes.max(1),
        });
        s
    }

    /// Replaces the track list (after [`Segmenter::flush`]); decode times continue.
    pub fn set_tracks(&mut self, tracks: &[Track]) {
        self.leading = tracks
            .iter()
            .position(|t| t.kind() == MediaKind::Video)
            .unwrap_or(0);
        self.tracks.resize_with(tracks.len(), TrackState::default);
        for (state, track) in self.tracks.iter_mut().zip(tracks) {
            state.clock_rate = track.clock_rate.max(1);
        }
    }

    /// `EXT-X-TARGETDURATION`, fixed when the first segment ends.
    pub fn target_duration(&self) -> Option<u64> {
        self.target_duration
    }

    /// `EXT-X-PART-INF:PART-TARGET` in seconds, fixed when the first segment ends.
    pub fn part_target(&self) -> Option<f64> {
        self.part_target
    }

    /// Whether a timeline is running (a leading keyframe has been seen since the last flush).
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Units dropped so far (before the first keyframe, out of order, unknown track).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Index of the track that decides segment boundaries (the first video track).
    pub fn leading(&self) -> usize {
        self.leading
    }

    /// Places `unit`, appending what it decided to `cuts`.
    pub fn push(&mut self, unit: Arc<AccessUnit>, cuts: &mut Vec<Cut>) {
        let sane = |t: i64| (-MAX_TICKS..=MAX_TICKS).contains(&t);
        if unit.track >= self.tracks.len() || !sane(unit.dts.ticks) || !sane(unit.pts.ticks) {
            self.dropped += 1;
        } else if unit.track == self.leading {
            self.push_leading(unit, cuts);
        } else {
            self.push_other(unit);
        }
    }

    /// Ends everything pending: the last samples get their track's previous duration, the open
    /// part and segment end, and the next keyframe starts a new timeline after a discontinuity.
    pub fn flush(&mut self, cuts: &mut Vec<Cut>) {
        if !self.started {
            return;
        }
        let mut end = self.part_start;
        if let Some(p) = self.take_pending(self.leading) {
            let duration = self.guess_duration(self.leading);
            end = p.dts.ticks + i64::from(duration);
            self.cut_before(p.dts.ticks, end, p.len(), cuts);
            self.add_leading(p, duration);
        }
        let leading = self.leading;
        for t in (0..self.tracks.len()).filter(|&t| t != leading) {
            if let Some(p) = self.take_pending(t) {
                let duration = self.guess_duration(t);
                self.complete_other(t, p, duration);
            }
        }
        self.close_part(i64::MAX, end, cuts);
        self.end_segment(end, cuts);
        for t in &mut self.tracks {
            t.origin = None;
            t.queue.clear();
        }
        self.seg_origin = None;
        self.started = false;
        self.restarted = true;
    }

    fn push_leading(&mut self, unit: Arc<AccessUnit>, cuts: &mut Vec<Cut>) {
        let Some(p) = self.take_pending(self.leading) else {
            return self.start(unit, cuts);
        };
        let d = unit.dts.ticks;
        if d < p.dts.ticks || self.seconds(d - p.dts.ticks) > self.max_step() {
            self.set_pending(self.leading, p);
            self.flush(cuts);
            return self.start(unit, cuts);
        }
        if d == p.dts.ticks {
            self.dropped += 1;
            return self.set_pending(self.leading, p);
        }
        self.cut_before(p.dts.ticks, d, p.len(), cuts);
        self.add_leading(p.clone(), duration_u32(d - p.dts.ticks));
        if unit.keyframe && self.seconds(d - self.seg_start) >= self.segment_seconds {
            self.close_part(d, d, cuts);
            self.end_segment(d, cuts);
        } else if self.seconds(d - self.part_start) >= self.part_seconds {
            self.close_part(d, d, cuts);
        }
        self.set_pending(self.leading, unit);
    }

    /// Step 1 of the module's rule: cuts before the sample `[start, end)` if it would overflow.
    fn cut_before(&mut self, start: i64, end: i64, size: usize, cuts: &mut Vec<Cut>) {
        let length = self.seconds(end - self.seg_start);
        let has_media = !self.part.is_empty() || self.seg_has_parts;
        if has_media && self.segment_too_long(length) {
            self.close_part(start, start, cuts);
            self.end_segment(start, cuts);
        } else if !self.part.is_empty()
            && (self.seconds(end - self.part_start) > self.part_target.unwrap_or(self.part_seconds)
                || self.part_too_big(size))
        {
            self.close_part(start, start, cuts);
        }
    }

    fn segment_too_long(&self, length: f64) -> bool {
        if self.recording.is_some() {
            return length > 2.0 * self.segment_seconds.max(RECORDING_GAP_SECONDS);
        }
        match self.target_duration {
            // EXTINF rounded to the nearest integer must not exceed it (§4.4.3.1).
            Some(target) => (length + 0.5).floor() > target as f64,
            None => length > first_segment_cap(self.segment_seconds),
        }
    }

    fn part_too_big(&self, size: usize) -> bool {
        self.recording
            .is_some_and(|r| self.part_bytes.saturating_add(size) > r.max_part_bytes)
    }

    /// The longest leading-track sample accepted: one longer could not fit in a segment of the
    /// target duration, so it is a timestamp jump.
    fn max_step(&self) -> f64 {
        if self.recording.is_some() {
            return RECORDING_GAP_SECONDS;
        }
        self.target_duration
            .map_or(JUMP_SECONDS as f64, |t| t as f64)
    }

    fn start(&mut self, unit: Arc<AccessUnit>, cuts: &mut Vec<Cut>) {
        if !unit.keyframe {
            self.dropped += 1;
            return;
        }
        if std::mem::take(&mut self.restarted) {
            cuts.push(Cut::Discontinuity);
        }
        self.started = true;
        self.seg_start = unit.dts.ticks;
        self.part_start = unit.dts.ticks;
        self.seg_has_parts = false;
        self.set_pending(self.leading, unit);
    }

    fn push_other(&mut self, unit: Arc<AccessUnit>) {
        let t = unit.track;
        let leading_clock = self.clock(self.leading);
        let before_start = unit.dts.rescale(leading_clock).ticks < self.seg_start;
        if !self.started || (self.tracks.get(t).is_some_and(|s| s.origin.is_none()) && before_start)
        {
            self.dropped += 1;
            return;
        }
        let Some(p) = self.take_pending(t) else {
            return self.set_pending(t, unit);
        };
        let step = unit.dts.ticks - p.dts.ticks;
        if step <= 0 {
            self.dropped += 1;
            return self.set_pending(t, p);
        }
        let duration = if step > JUMP_SECONDS * i64::from(self.clock(t)) {
            self.guess_duration(t)
        } else {
            duration_u32(step)
        };
        self.complete_other(t, p, duration);
        self.set_pending(t, unit);
    }

    fn complete_other(&mut self, t: usize, unit: Arc<AccessUnit>, duration: u32) {
        self.part_bytes = self.part_bytes.saturating_add(unit.len());
        let sample = sample(unit, duration);
        if let Some(state) = self.tracks.get_mut(t) {
            state.last_duration = Some(duration);
            if state.queue.len() >= MAX_QUEUED {
                state.queue.pop_front();
                self.dropped += 1;
            }
            state.queue.push_back(sample);
        }
    }

    fn add_leading(&mut self, unit: Arc<AccessUnit>, duration: u32) {
        if let Some(state) = self.tracks.get_mut(self.leading) {
            state.last_duration = Some(duration);
        }
        self.part_bytes = self.part_bytes.saturating_add(unit.len());
        self.part.push(sample(unit, duration));
    }

    /// Ends the open part at `end` (leading ticks) with the other tracks' samples whose DTS is
    /// before `other_before` (leading ticks).
    fn close_part(&mut self, other_before: i64, end: i64, cuts: &mut Vec<Cut>) {
        if self.part.is_empty() {
            self.part_start = end;
            return;
        }
        let leading = std::mem::take(&mut self.part);
        self.part_bytes = 0;
        let independent = leading.first().is_some_and(|s| s.unit.keyframe);
        let wallclock_us = leading.first().and_then(|s| s.unit.wallclock_us);
        let lead = self.leading;
        let mut tracks = vec![(lead, leading)];
        for t in (0..self.tracks.len()).filter(|&t| t != lead) {
            tracks.push((t, self.drain_before(t, other_before)));
        }
        if self.recording.is_some() && self.seg_origin.is_none() {
            self.seg_origin = Some(self.earliest(&tracks).min(self.seg_start));
        }
        let runs: Vec<PartRun> = tracks
            .into_iter()
            .filter_map(|(t, samples)| self.run(t, samples))
            .collect();
        let duration = self.seconds(end - self.part_start);
        self.longest_part = self.longest_part.max(duration);
        cuts.push(Cut::Part(PartDraft {
            runs,
            duration,
            independent,
            wallclock_us,
        }));
        self.part_start = end;
        self.seg_has_parts = true;
    }

    /// The earliest first-sample DTS of `tracks`, in leading-track ticks (rounded down).
    fn earliest(&self, tracks: &[(usize, Vec<PartSample>)]) -> i64 {
        let leading_clock = i128::from(self.clock(self.leading));
        tracks
            .iter()
            .filter_map(|(_, samples)| samples.first())
            .map(|s| {
                let dts = i128::from(s.unit.dts.ticks) * leading_clock;
                dts.div_euclid(i128::from(s.unit.dts.clock_rate.max(1))) as i64
            })
            .min()
            .unwrap_or(self.seg_start)
    }

    fn drain_before(&mut self, t: usize, before: i64) -> Vec<PartSample> {
        let leading_clock = self.clock(self.leading);
        let Some(state) = self.tracks.get_mut(t) else {
            return Vec::new();
        };
        let n = state
            .queue
            .iter()
            .take_while(|s| s.unit.dts.rescale(leading_clock).ticks < before)
            .count();
        state.queue.drain(..n).collect()
    }

    /// A run of `samples` of track `t` on the fMP4 decode timeline, or `None` when empty.
    fn run(&mut self, t: usize, samples: Vec<PartSample>) -> Option<PartRun> {
        let first = samples.first()?.unit.dts.ticks;
        let (state_clock, decode_end) = self.tracks.get(t).map(|s| (s.clock_rate, s.decode_end))?;
        let start = match self.recording {
            // Each recorded segment is a file of its own whose decode times start at 0.
            Some(_) => {
                let origin = self.seg_origin.unwrap_or(self.seg_start);
                Timestamp::new(origin, self.tracks.get(self.leading)?.clock_rate)
                    .rescale(state_clock)
                    .ticks
            }
            None => first - decode_end as i64,
        };
        let state = self.tracks.get_mut(t)?;
        let origin = *state.origin.get_or_insert(start);
        let base_decode_time = u64::try_from(first - origin).unwrap_or(0);
        let total: u64 = samples.iter().map(|s| u64::from(s.duration)).sum();
        state.decode_end = base_decode_time + total;
        Some(PartRun {
            track: t,
            base_decode_time,
            samples,
        })
    }

    fn end_segment(&mut self, end: i64, cuts: &mut Vec<Cut>) {
        if !self.seg_has_parts {
            return;
        }
        let length = self.seconds(end - self.seg_start);
        if self.target_duration.is_none() {
            let rounded = (length + 0.5)
                .floor()
                .max(self.segment_seconds.ceil())
                .max(1.0);
            self.target_duration = Some(rounded as u64);
            self.part_target = Some(self.part_seconds.max(self.longest_part));
        }
        cuts.push(Cut::SegmentEnd);
        if self.recording.is_some() {
            for t in &mut self.tracks {
                t.origin = None;
                t.decode_end = 0;
            }
            self.seg_origin = None;
        }
        self.seg_start = end;
        self.seg_has_parts = false;
    }

    fn take_pending(&mut self, t: usize) -> Option<Arc<AccessUnit>> {
        self.tracks.get_mut(t)?.pending.take()
    }

    fn set_pending(&mut self, t: usize, unit: Arc<AccessUnit>) {
        if let Some(state) = self.tracks.get_mut(t) {
            state.pending = Some(unit);
        }
    }

    fn guess_duration(&self, t: usize) -> u32 {
        let state = self.tracks.get(t);
        let fallback = state.map_or(1, |s| (s.clock_rate / 25).max(1));
        state.and_then(|s| s.last_duration).unwrap_or(fallback)
    }

    fn clock(&self, t: usize) -> u32 {
        self.tracks.get(t).map_or(1, |s| s.clock_rate)
    }

    fn seconds(&self, ticks: i64) -> f64 {
        ticks as f64 / f64::from(self.clock(self.leading))
    }
}

/// How long the first segment may grow while waiting for a keyframe (no target duration yet).
fn first_segment_cap(segment_seconds: f64) -> f64 {
    (segment_seconds * 10.0).max(10.0)
}

fn duration_u32(ticks: i64) -> u32 {
    u32::try_from(ticks).unwrap_or(u32::MAX)
}

fn sample(unit: Arc<AccessUnit>, duration: u32) -> PartSample {
    let offset = unit.pts.ticks - unit.dts.ticks;
    let composition_offset =
        i32::try_from(offset).unwrap_or(if offset < 0 { i32::MIN } else { i32::MAX });
    PartSample {
        unit,
        duration,
        composition_offset,
    }
}
