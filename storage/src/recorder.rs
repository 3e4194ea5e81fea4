//! [`Recorder`]: one stream's access units → recorded segments of fMP4 parts (sans-IO).
//!
//! The recorder is a reader of the stream hub like any other. It cuts with the shared
//! [`Segmenter`] in its recording mode (segments end on a leading-track keyframe once they last
//! `recordSegmentDuration`; parts end at `recordPartDuration` or before `recordMaxPartSize`; a
//! leading-track step over [`vigia_media::fmp4::RECORDING_GAP_SECONDS`] is a gap that ends the
//! segment) and writes with the shared [`FragmentWriter`]. Each segment is a standalone fMP4
//! file: the init segment, then one `moof`+`mdat` per part, decode times starting at 0.
//!
//! Time: a segment's start is the wall-clock time of its first leading-track unit
//! ([`AccessUnit::wallclock_us`], which the server sets on every unit from RTCP sender reports
//! or arrival time); its duration is the sum of its parts' durations in the stream's own
//! clock. A gap therefore shows as the next segment starting later than the previous one ends.
//!
//! Push/pull: [`Recorder::push`] a unit, then [`Recorder::pull`] [`RecordEvent`]s until
//! `None`. [`Recorder::finish`] ends the segment in progress (the stream ended).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use vigia_media::fmp4::{Cut, FragmentWriter, G711Storage, PartDraft, Segmenter};
use vigia_media::{AccessUnit, CodecParams, Track};

/// How a path's segments are cut (`recordPartDuration`, `recordSegmentDuration`,
/// `recordMaxPartSize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Length of a part: how much is made durable at a time.
    pub part_duration: Duration,
    /// Minimum length of a segment (it ends at the next keyframe after it).
    pub segment_duration: Duration,
    /// Largest payload of one part, in bytes.
    pub max_part_size: usize,
}

impl Default for RecorderConfig {
    /// MediaMTX's defaults: 1 s parts, 1 h segments, 50 MB parts at most.
    fn default() -> Self {
        RecorderConfig {
            part_duration: Duration::from_secs(1),
            segment_duration: Duration::from_secs(3600),
            max_part_size: 50_000_000,
        }
    }
}

/// What the recorder produced, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordEvent {
    /// A segment begins: its file starts with `init`.
    SegmentStart {
        /// Wall-clock time of its first frame (UNIX µs): names the segment.
        start_us: i64,
        /// The init segment (`ftyp`+`moov`).
        init: Bytes,
    },
    /// One part (`moof`+`mdat`) of the open segment, as chunks sharing the units' payload.
    Part {
        /// The fragment's bytes, in order.
        chunks: Vec<Bytes>,
        /// Its duration, µs.
        duration_us: i64,
    },
    /// The open segment is complete.
    SegmentEnd {
        /// Its total duration, µs.
        duration_us: i64,
    },
}

/// Counters of one recorder, as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Segments started.
    pub segments: u64,
    /// Parts written.
    pub parts: u64,
    /// Units the segmenter dropped (before the first keyframe, after a gap until the next
    /// keyframe, or with insane timestamps).
    pub dropped_units: u64,
    /// Units dropped because no init segment could be written (no SPS yet).
    pub units_without_params: u64,
}

/// The recorder of one stream; see the module docs.
pub struct Recorder {
    config: RecorderConfig,
    tracks: Vec<Track>,
    segmenter: Segmenter,
    writer: FragmentWriter,
    init: Option<Bytes>,
    open: Option<OpenSegment>,
    sequence: u32,
    cuts: Vec<Cut>,
    events: VecDeque<RecordEvent>,
    /// Wall clock of the last leading unit, for units that come without one.
    last_wall_us: Option<(i64, i64)>,
    stats: RecorderStats,
}

struct OpenSegment {
    duration_us: i64,
}

impl Recorder {
    /// A recorder for a stream of `tracks`.
    pub fn new(tracks: Vec<Track>, config: RecorderConfig) -> Self {
        let segmenter = new_segmenter(&tracks, &config);
        Recorder {
            config,
            tracks,
            segmenter,
            writer: FragmentWriter::with_g711(G711Storage::Raw),
            init: None,
            open: None,
            sequence: 0,
            cuts: Vec::new(),
            events: VecDeque::new(),
            last_wall_us: None,
            stats: RecorderStats::default(),
        }
    }

    /// Takes the next unit of any track (roughly in DTS order across tracks).
    pub fn push(&mut self, unit: Arc<AccessUnit>) {
        if let Some(params) = &unit.new_params {
            self.on_new_params(unit.track, params);
        }
        let starts =
            !self.segmenter.is_started() && unit.track == self.segmenter.leading() && unit.keyframe;
        if starts && self.init.is_none() {
            match self.writer.init(&self.tracks) {
                Ok(init) => self.init = Some(init),
                Err(e) => {
                    tracing::debug!("recorder: no init segment yet: {e}");
                    self.stats.units_without_params += 1;
                    return;
                }
            }
        }
        if unit.track == self.segmenter.leading()
            && let Some(wall) = unit.wallclock_us
        {
            self.last_wall_us = Some((unit.dts.as_micros(), wall));
        }
        let mut cuts = std::mem::take(&mut self.cuts);
        self.segmenter.push(unit, &mut cuts);
        self.apply(&mut cuts);
        self.cuts = cuts;
    }

    /// Ends the segment in progress: for the end of the stream.
    pub fn finish(&mut self) {
        let mut cuts = std::mem::take(&mut self.cuts);
        self.segmenter.flush(&mut cuts);
        self.apply(&mut cuts);
        self.cuts = cuts;
    }

    /// The next event, oldest first.
    pub fn pull(&mut self) -> Option<RecordEvent> {
        self.events.pop_front()
    }

    /// The recorder's counters.
    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            dropped_units: self.segmenter.dropped(),
            ..self.stats
        }
    }

    /// The configuration it cuts with.
    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    fn on_new_params(&mut self, track: usize, params: &Arc<CodecParams>) {
        let Some(t) = self.tracks.get_mut(track) else {
            return;
        };
        if std::mem::discriminant(&t.codec) != std::mem::discriminant(params.as_ref())
            || t.codec == **params
        {
            return;
        }
        t.codec = (**params).clone();
        // New parameters need a new init segment: end the segment, start anew at the keyframe.
        self.finish();
        self.init = None;
    }

    fn apply(&mut self, cuts: &mut Vec<Cut>) {
        for cut in cuts.drain(..) {
            match cut {
                Cut::Part(draft) => self.add_part(draft),
                Cut::SegmentEnd => self.end_segment(),
                Cut::Discontinuity => {}
            }
        }
    }

    fn add_part(&mut self, draft: PartDraft) {
        let duration_us = (draft.duration * 1e6).round() as i64;
        if self.open.is_none() {
            let Some(init) = self.init.clone() else {
                return;
            };
            // The file's time 0 may lie a little before its first keyframe (audio captured
            // just before it): the segment starts there, and lasts that much longer.
            let lead_in_us = self.lead_in_us(&draft);
            let start_us = draft
                .wallclock_us
                .or_else(|| self.estimate_wall(&draft))
                .unwrap_or(0)
                - lead_in_us;
            self.events
                .push_back(RecordEvent::SegmentStart { start_us, init });
            self.open = Some(OpenSegment {
                duration_us: lead_in_us,
            });
            self.stats.segments += 1;
        }
        self.sequence = self.sequence.wrapping_add(1);
        let chunks = self.writer.fragment(self.sequence, &draft.runs);
        if let Some(open) = self.open.as_mut() {
            open.duration_us += duration_us;
        }
        self.stats.parts += 1;
        self.events.push_back(RecordEvent::Part {
            chunks,
            duration_us,
        });
    }

    /// Decode time of the first leading sample of a segment's first part, in µs (0 unless
    /// another track starts earlier in the file).
    fn lead_in_us(&self, draft: &PartDraft) -> i64 {
        let Some(run) = draft.runs.first() else {
            return 0;
        };
        let clock = self
            .tracks
            .get(run.track)
            .map_or(1, |t| t.clock_rate.max(1));
        (i128::from(run.base_decode_time) * 1_000_000 / i128::from(clock)) as i64
    }

    /// Wall time of a part whose first unit carried none: the last known wall clock moved by
    /// the DTS difference.
    fn estimate_wall(&self, draft: &PartDraft) -> Option<i64> {
        let (dts_us, wall) = self.last_wall_us?;
        let first = draft.runs.first()?.samples.first()?;
        Some(wall + first.unit.dts.as_micros() - dts_us)
    }

    fn end_segment(&mut self) {
        if let Some(open) = self.open.take() {
            self.events.push_back(RecordEvent::SegmentEnd {
                duration_us: open.duration_us,
            });
        }
    }
}

fn new_segmenter(tracks: &[Track], config: &RecorderConfig) -> Segmenter {
    Segmenter::for_recording(
        tracks,
        config.part_duration.as_secs_f64(),
        config.segment_duration.as_secs_f64(),
        config.max_part_size,
    )
}

#[cfg(test)]
mod tests;
