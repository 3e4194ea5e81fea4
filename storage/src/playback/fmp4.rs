//! [`Fmp4Muxer`]: the fragmented output. The first segment's init, then fragments of about a
//! second, re-timed onto the output timeline, written as they fill (MediaMTX's `muxerFMP4`).

use std::collections::VecDeque;

use bytes::Bytes;
use vigia_media::fmp4::{self, InitTrack, Sample, TrackRun};

use super::Assembler;
use super::assembler::{SampleRef, Sink};
use super::moov;

/// Length of an output fragment, in seconds of one track's time.
const PART_SECONDS: i64 = 1;

/// The fMP4 sink; use it as [`super::Fmp4Playback`].
#[derive(Debug, Default)]
pub struct Fmp4Muxer {
    tracks: Vec<TrackOut>,
    /// The init, until the first fragment goes out with it.
    init: Option<Bytes>,
    sequence: u32,
    out: VecDeque<Bytes>,
    wrote_media: bool,
}

/// One output track's samples waiting for their fragment.
#[derive(Debug, Default)]
struct TrackOut {
    id: u32,
    timescale: u32,
    /// Decode time of the first pending sample, once a sample at or after the window's start
    /// came.
    first_dts: Option<i64>,
    last_dts: i64,
    samples: Vec<Sample>,
    /// The most negative composition offset written (0 if none).
    min_cto: i32,
}

impl Sink for Fmp4Muxer {
    fn init(&mut self, init: &Bytes, tracks: &[InitTrack]) {
        self.init = Some(init.clone());
        self.tracks = tracks
            .iter()
            .map(|t| TrackOut {
                id: t.id,
                timescale: t.timescale.max(1),
                ..TrackOut::default()
            })
            .collect();
    }

    fn sample(&mut self, track: usize, dts: i64, sample: &SampleRef<'_>) {
        let Some(t) = self.tracks.get_mut(track) else {
            return;
        };
        if t.samples.is_empty() && !sample.is_sync() {
            return; // cannot start decoding here
        }
        let s = Sample {
            duration: 0,
            composition_offset: sample.composition_offset,
            keyframe: sample.is_sync(),
            data: vec![sample.payload()],
        };
        t.min_cto = t.min_cto.min(s.composition_offset);
        if dts < 0 {
            t.preroll(s);
            return;
        }
        t.visible(dts, s);
        let part = PART_SECONDS * i64::from(t.timescale);
        if t.last_dts.saturating_sub(t.first_dts.unwrap_or(t.last_dts)) >= part {
            self.flush(false);
        }
    }

    fn run_end(&mut self, track: usize, dts: i64) {
        if let Some(t) = self.tracks.get_mut(track)
            && t.first_dts.is_some()
        {
            let duration = duration_u32(dts.saturating_sub(t.last_dts));
            if let Some(last) = t.samples.last_mut() {
                last.duration = duration;
            }
        }
    }

    fn finish(&mut self) {
        self.flush(true);
    }
}

impl Fmp4Muxer {
    /// The next output chunk, in order (the init, then each fragment's chunks).
    pub fn pull(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }

    /// Whether any media was written (else there was nothing to play in the window).
    pub fn wrote_media(&self) -> bool {
        self.wrote_media
    }

    /// Writes a fragment of every track's pending samples; unless `last`, each track keeps its
    /// last sample, whose duration the next sample decides.
    fn flush(&mut self, last: bool) {
        let runs: Vec<TrackRun> = self
            .tracks
            .iter_mut()
            .filter_map(|t| t.take_run(last))
            .collect();
        if runs.is_empty() {
            return;
        }
        if let Some(init) = self.init.take() {
            self.out.push_back(self.edited(&init));
        }
        self.sequence = self.sequence.wrapping_add(1);
        self.out.extend(fmp4::fragment(self.sequence, &runs));
        self.wrote_media = true;
    }

    /// The init with an edit list in each track whose composition offsets went negative, so
    /// that players that shift such tracks (ffmpeg, and browsers playing a file through it)
    /// still present its first sync sample at 0.
    fn edited(&self, init: &Bytes) -> Bytes {
        let skips: Vec<(u32, u64)> = self
            .tracks
            .iter()
            .filter(|t| t.min_cto < 0)
            .map(|t| (t.id, u64::from(t.min_cto.unsigned_abs())))
            .collect();
        if skips.is_empty() {
            return init.clone();
        }
        moov::with_edit_lists(init, &skips)
    }
}

impl TrackOut {
    /// A sample before the window's start: a sync sample starts the GOP anew; they decode, but
    /// take no time (see [`TrackOut::visible`] for the last one).
    fn preroll(&mut self, s: Sample) {
        if s.keyframe {
            self.samples.clear();
        }
        self.samples.push(s);
    }

    /// A sample at or after the window's start at `dts`.
    fn visible(&mut self, dts: i64, s: Sample) {
        match self.first_dts {
            None if s.keyframe || self.samples.is_empty() => {
                self.samples.clear();
                self.first_dts = Some(dts);
            }
            // The pre-roll's last sample is the picture on screen at the window's start: it
            // lasts until this one; the others decode at 0 and take no time.
            None => {
                self.first_dts = Some(0);
                if let Some(last) = self.samples.last_mut() {
                    last.duration = duration_u32(dts);
                }
            }
            // A sample recorded earlier than where the track is goes at that place, so the
            // track's time never runs back and never drifts (see the parent module).
            Some(_) => {
                let dts = dts.max(self.last_dts);
                let duration = duration_u32(dts.saturating_sub(self.last_dts));
                if let Some(last) = self.samples.last_mut() {
                    last.duration = duration;
                }
                self.samples.push(s);
                self.last_dts = dts;
                return;
            }
        }
        self.samples.push(s);
        self.last_dts = dts;
    }

    /// The pending samples as a run (all of them if `last`, else all but the last).
    fn take_run(&mut self, last: bool) -> Option<TrackRun> {
        let first_dts = self.first_dts?;
        let keep = usize::from(!last);
        if self.samples.len() <= keep {
            return None;
        }
        let rest = self.samples.split_off(self.samples.len() - keep);
        let samples = std::mem::replace(&mut self.samples, rest);
        if !last {
            self.first_dts = Some(self.last_dts);
        }
        Some(TrackRun {
            track_id: self.id,
            base_decode_time: u64::try_from(first_dts).unwrap_or(0),
            samples,
        })
    }
}

impl Assembler<Fmp4Muxer> {
    /// The next output chunk, in order; see [`Fmp4Muxer::pull`].
    pub fn pull(&mut self) -> Option<Bytes> {
        self.sink().pull()
    }
}

/// A non-negative tick count as a sample duration.
pub(crate) fn duration_u32(ticks: i64) -> u32 {
    u32::try_from(ticks.max(0)).unwrap_or(u32::MAX)
}
