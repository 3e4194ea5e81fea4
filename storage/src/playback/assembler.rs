//! [`Assembler`]: segments in, samples on the output timeline out to a [`Sink`] (the fMP4 or the
//! MP4 muxer). Owns what both formats share: reading segments, the continuity rule between
//! segments, and where each sample lands on the output timeline (see the parent module).

use std::ops::Range;

use bytes::Bytes;
use vigia_media::fmp4::{self, InitTrack, SampleInfo, TrafInfo};

use super::Window;
use super::reader::{Piece, SegmentReader};
use crate::StorageError;
use crate::index::{SPAN_TOLERANCE_US, SegmentEntry};

/// Where the samples go: a muxer for one output format.
///
/// Calls come in this order: [`Sink::init`] once, then per fragment and per track run the run's
/// samples ([`Sink::sample`]) and [`Sink::run_end`], then [`Sink::finish`].
pub trait Sink {
    /// The output's tracks: the first segment's init segment, its bytes and its tracks.
    fn init(&mut self, init: &Bytes, tracks: &[InitTrack]);
    /// One sample of track `track` (index into the init's tracks) at output decode time `dts`,
    /// in the track's timescale; negative before the window's start. Samples at or after the
    /// window's end never come.
    fn sample(&mut self, track: usize, dts: i64, sample: &SampleRef<'_>);
    /// The run of `track` in the current fragment ended; `dts` is the decode time just after
    /// its last sample given (the start of the first sample cut, if it was cut).
    fn run_end(&mut self, track: usize, dts: i64);
    /// No more samples.
    fn finish(&mut self);
}

/// A sample of a fragment being read, and where its bytes are.
#[derive(Clone, Copy, Debug)]
pub struct SampleRef<'a> {
    /// Duration, size, flags, recorded composition offset, and offset in `fragment`.
    pub info: &'a SampleInfo,
    /// Composition offset on the output: the recorded one minus the track's first sync
    /// sample's (see the parent module).
    pub composition_offset: i32,
    /// The whole fragment (`moof`+`mdat`) it belongs to.
    pub fragment: &'a Bytes,
    /// Offset of the fragment in its segment file.
    pub fragment_at: u64,
    /// Index of its segment among those begun, from 0.
    pub segment: usize,
}

impl SampleRef<'_> {
    /// The sample's payload, sharing the fragment's buffer (the reader checked that it lies
    /// inside the `mdat`).
    pub fn payload(&self) -> Bytes {
        let end = self.info.offset.saturating_add(self.info.size as usize);
        if end > self.fragment.len() {
            return Bytes::new();
        }
        self.fragment.slice(self.info.offset..end)
    }

    /// Byte range of the payload in the segment file.
    pub fn segment_range(&self) -> Range<u64> {
        let start = self.fragment_at.saturating_add(self.info.offset as u64);
        start..start.saturating_add(u64::from(self.info.size))
    }

    /// Whether this is a sync sample.
    pub fn is_sync(&self) -> bool {
        self.info.is_sync()
    }
}

/// Segments → samples on the output timeline → a [`Sink`]; see the parent module for the
/// rules.
#[derive(Debug)]
pub struct Assembler<S> {
    window: Window,
    sink: S,
    reader: SegmentReader,
    /// The first segment's init (ftyp+moov) and its tracks.
    init: Option<(Bytes, Vec<InitTrack>)>,
    leading: usize,
    keys: Vec<String>,
    /// Per track, the composition offset of its first sync sample, subtracted from all.
    cto_shift: Vec<Option<i32>>,
    current: Option<Current>,
    /// Output time of the next segment's decode time 0, ns; `None` before the first segment.
    next_offset_ns: Option<i64>,
    /// Wall-clock end of the previous segment per the index, UNIX µs.
    prev_end_us: Option<i64>,
    done: bool,
    finished: bool,
}

/// The segment being read.
#[derive(Debug)]
struct Current {
    index: usize,
    end_us: i64,
    /// Output time of its decode time 0, ns.
    offset_ns: i64,
    /// End of its media on its own timeline, ns: the leading track's, else the longest track's.
    leading_end_ns: Option<i64>,
    any_end_ns: i64,
    saw_init: bool,
}

impl<S: Sink> Assembler<S> {
    /// An assembler of `window` writing to `sink`.
    pub fn new(window: Window, sink: S) -> Self {
        Assembler {
            window,
            sink,
            reader: SegmentReader::default(),
            init: None,
            leading: 0,
            keys: Vec::new(),
            cto_shift: Vec::new(),
            current: None,
            next_offset_ns: None,
            prev_end_us: None,
            done: false,
            finished: false,
        }
    }

    /// Starts the next segment (the index's segments overlapping the window, in order).
    /// Returns `false` when it is not needed — the output already ended, or the segment does
    /// not continue the previous one (a gap) — and then nothing more is.
    pub fn begin_segment(&mut self, entry: &SegmentEntry) -> bool {
        self.end_segment();
        if self.done {
            return false;
        }
        if self
            .prev_end_us
            .is_some_and(|end| entry.start_us > end.saturating_add(SPAN_TOLERANCE_US))
        {
            self.done = true;
            return false;
        }
        let offset_ns = self.next_offset_ns.unwrap_or_else(|| {
            entry
                .start_us
                .saturating_sub(self.window.start_us)
                .saturating_mul(1000)
        });
        self.current = Some(Current {
            index: self.keys.len(),
            end_us: entry.end_us(),
            offset_ns,
            leading_end_ns: None,
            any_end_ns: 0,
            saw_init: false,
        });
        self.keys.push(entry.key.clone());
        self.reader = SegmentReader::default();
        true
    }

    /// Takes the next bytes of the current segment. An error names the segment and what is
    /// wrong; the output then ends there ([`Assembler::finish`] still flushes what was read).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        if self.done || self.current.is_none() {
            return Ok(());
        }
        self.reader.push(chunk);
        while !self.done {
            let piece = match self.reader.next() {
                Ok(Some(piece)) => piece,
                Ok(None) => break,
                Err(what) => return Err(self.fail(what)),
            };
            let handled = match piece {
                Piece::Init(bytes) => self.on_init(bytes),
                Piece::Fragment { bytes, at } => self.on_fragment(&bytes, at),
            };
            handled.map_err(|what| self.fail(what))?;
        }
        Ok(())
    }

    /// Ends the current segment: the next one continues after its media. A segment that ended
    /// inside a box (torn) or without an init ends the output.
    pub fn end_segment(&mut self) {
        let Some(cur) = self.current.take() else {
            return;
        };
        if !cur.saw_init || self.reader.buffered() > 0 {
            self.done = true;
        }
        let media_ns = cur.leading_end_ns.unwrap_or(cur.any_end_ns);
        self.next_offset_ns = Some(cur.offset_ns.saturating_add(media_ns));
        self.prev_end_us = Some(cur.end_us);
    }

    /// No more input: ends the current segment and flushes the sink.
    pub fn finish(&mut self) {
        self.end_segment();
        self.done = true;
        if !std::mem::replace(&mut self.finished, true) {
            self.sink.finish();
        }
    }

    /// Whether no more input is needed (then the driver stops downloading).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The sink, for format-specific output.
    pub(crate) fn sink(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The keys of the segments begun, by index (as in [`SampleRef::segment`]).
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Into the sink and the keys of the segments begun.
    pub fn into_parts(self) -> (S, Vec<String>) {
        (self.sink, self.keys)
    }

    fn fail(&mut self, what: String) -> StorageError {
        self.done = true;
        let key = self.keys.last().cloned().unwrap_or_default();
        StorageError::Segment { key, what }
    }

    fn on_init(&mut self, bytes: Bytes) -> Result<(), String> {
        if let Some(cur) = self.current.as_mut() {
            cur.saw_init = true;
        }
        match &self.init {
            // New codec parameters: the output cannot continue with the first init.
            Some((first, _)) if *first != bytes => self.done = true,
            Some(_) => {}
            None => {
                let info = fmp4::read_init(&bytes).map_err(|e| format!("init: {e}"))?;
                if info.tracks.is_empty() {
                    return Err("init without tracks".to_owned());
                }
                self.leading = info
                    .tracks
                    .iter()
                    .position(|t| &t.handler == b"vide")
                    .unwrap_or(0);
                self.sink.init(&bytes, &info.tracks);
                self.cto_shift = vec![None; info.tracks.len()];
                self.init = Some((bytes, info.tracks));
            }
        }
        Ok(())
    }

    fn on_fragment(&mut self, bytes: &Bytes, at: u64) -> Result<(), String> {
        let info = fmp4::read_fragment(bytes).map_err(|e| format!("fragment at byte {at}: {e}"))?;
        let Some(cur) = self.current.as_ref() else {
            return Ok(());
        };
        let (segment, offset_ns) = (cur.index, cur.offset_ns);
        let mut leading_ended = false;
        for traf in &info.tracks {
            let Some((t, timescale)) = self.track_of(traf.track_id) else {
                continue;
            };
            let run = Run {
                track: t,
                timescale,
                offset_ns,
                segment,
                at,
            };
            let (end_ns, ended) = self.feed_run(&run, traf, bytes);
            self.note_end(t, end_ns);
            leading_ended |= ended && t == self.leading;
        }
        if leading_ended {
            self.done = true;
        }
        Ok(())
    }

    /// Gives the run's samples before the window's end to the sink; returns the run's media
    /// end on the segment's timeline (ns) and whether the window's end was reached.
    fn feed_run(&mut self, run: &Run, traf: &TrafInfo, fragment: &Bytes) -> (i64, bool) {
        let base = i64::try_from(traf.base_decode_time).unwrap_or(i64::MAX / 4);
        let offset = ns_to_ticks(run.offset_ns, run.timescale);
        let end = ns_to_ticks(self.window.duration_us.saturating_mul(1000), run.timescale);
        let mut dts = base.saturating_add(offset);
        let mut ended = false;
        for info in &traf.samples {
            if dts >= end {
                ended = true;
                break;
            }
            let sample = SampleRef {
                info,
                composition_offset: self.output_cto(run.track, info),
                fragment,
                fragment_at: run.at,
                segment: run.segment,
            };
            self.sink.sample(run.track, dts, &sample);
            dts = dts.saturating_add(i64::from(info.duration));
        }
        self.sink.run_end(run.track, dts);
        let total: i64 = traf.samples.iter().map(|s| i64::from(s.duration)).sum();
        (
            ticks_to_ns(base.saturating_add(total), run.timescale),
            ended,
        )
    }

    /// `info`'s composition offset minus its track's first sync sample's.
    fn output_cto(&mut self, track: usize, info: &SampleInfo) -> i32 {
        let Some(shift) = self.cto_shift.get_mut(track) else {
            return info.composition_offset;
        };
        if shift.is_none() && info.is_sync() {
            *shift = Some(info.composition_offset);
        }
        info.composition_offset.saturating_sub(shift.unwrap_or(0))
    }

    fn note_end(&mut self, track: usize, end_ns: i64) {
        let leading = self.leading;
        if let Some(cur) = self.current.as_mut() {
            cur.any_end_ns = cur.any_end_ns.max(end_ns);
            if track == leading {
                cur.leading_end_ns = Some(cur.leading_end_ns.unwrap_or(0).max(end_ns));
            }
        }
    }

    fn track_of(&self, id: u32) -> Option<(usize, u32)> {
        let (_, tracks) = self.init.as_ref()?;
        let t = tracks.iter().position(|t| t.id == id)?;
        Some((t, tracks.get(t)?.timescale.max(1)))
    }
}

/// One track run being fed: its track, timescale, and where it comes from.
struct Run {
    track: usize,
    timescale: u32,
    offset_ns: i64,
    segment: usize,
    at: u64,
}

/// `ns` in ticks of `timescale`, rounded down (towards −∞).
pub(crate) fn ns_to_ticks(ns: i64, timescale: u32) -> i64 {
    let ticks = (i128::from(ns) * i128::from(timescale)).div_euclid(1_000_000_000);
    clamp_i64(ticks)
}

/// `ticks` of `timescale` in ns, rounded down.
pub(crate) fn ticks_to_ns(ticks: i64, timescale: u32) -> i64 {
    let ns = (i128::from(ticks) * 1_000_000_000).div_euclid(i128::from(timescale.max(1)));
    clamp_i64(ns)
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}
