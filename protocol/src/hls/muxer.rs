//! [`HlsMuxer`]: the in-memory window of segments and parts of one stream.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use vigia_media::fmp4::{Cut, PartDraft, PartRun, Segmenter};
use vigia_media::{AccessUnit, CodecParams, Track};

use super::config::HlsConfig;
use super::naming::{self, Resource};
use super::playlist;
use crate::JOIN_AT_SENDING;

/// Makes the fMP4 bytes of an HLS stream: one initialization section per codec configuration
/// and one `moof`+`mdat` fragment per part.
///
/// The segmenter decides boundaries and durations; implementations only serialize. A real one
/// wraps `vigia_media::fmp4`; tests use a fake.
pub trait PartMuxer: Send {
    /// The initialization section (`ftyp`+`moov`) for `tracks`; fMP4 track ids are the track
    /// indexes plus one and each track's timescale is its clock rate.
    fn init(&mut self, tracks: &[Track]) -> Result<Bytes, HlsError>;

    /// One fragment with `sequence_number` in its `mfhd`, as chunks that share the samples'
    /// payload (no copy).
    fn fragment(&mut self, sequence_number: u32, runs: &[PartRun]) -> Vec<Bytes>;
}

/// Why the muxer could not take a unit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HlsError {
    /// The part muxer could not write an initialization section (e.g. a video track without SPS).
    #[error("cannot write the fMP4 initialization section: {0}")]
    Init(String),
}

/// The answer to a file request (see [`naming`] for the names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileAnswer {
    /// The file, as chunks to write in order.
    Ready(Vec<Bytes>),
    /// The file is the next part or segment: wait for [`HlsMuxer::version`] to change and ask
    /// again (bounded by a timeout of a few target durations), as for a preload hint
    /// (RFC 8216bis §4.4.5.3).
    NotYet,
    /// Unknown name, or no longer in memory: 404.
    NotFound,
    /// The file is bytes `offset..offset + len` of segment `msn` as the driver stored it
    /// ([`HlsConfig::store_segments`](super::HlsConfig::store_segments)).
    Stored {
        /// The stored segment.
        msn: u64,
        /// Where the file starts in it.
        offset: usize,
        /// Its length.
        len: usize,
    },
}

/// One complete or in-progress media segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) msn: u64,
    pub(crate) parts: Vec<Part>,
    /// `EXT-X-PROGRAM-DATE-TIME` line from the first unit's wall clock (maybe empty).
    pub(crate) date_line: Box<str>,
    /// `EXTINF` and URI lines, once complete.
    pub(crate) extinf_lines: Box<str>,
    pub(crate) discontinuity: bool,
    pub(crate) generation: u32,
    /// Bytes of its parts so far.
    pub(crate) bytes: usize,
    /// On disk: its parts' chunks are dropped, their offsets kept.
    pub(crate) stored: bool,
}

/// One part: its timing and its bytes.
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) duration: f64,
    /// Its bytes (none once its segment is stored).
    pub(crate) chunks: Vec<Bytes>,
    /// Where it starts in its segment, and its length.
    pub(crate) offset: usize,
    pub(crate) size: usize,
    /// Its `EXT-X-PART` line, rendered once.
    pub(crate) line: Box<str>,
    /// How many times its bytes were sent, alone or in its segment (see
    /// [`HlsMuxer::serve_file`]).
    pub(crate) times_served: u32,
}

impl Part {
    /// Its bytes are sent once more: at the [`JOIN_AT_SENDING`]th time, they are joined into
    /// one chunk.
    fn note_served(&mut self) {
        self.times_served = self.times_served.saturating_add(1);
        if self.times_served == JOIN_AT_SENDING && self.chunks.len() > 1 {
            self.chunks = vec![self.chunks.concat().into()];
        }
    }
}

impl Segment {
    /// Sum of the parts' durations in seconds.
    pub(crate) fn duration(&self) -> f64 {
        self.parts.iter().map(|p| p.duration).sum()
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.bytes
    }
}

/// The HLS muxer of one stream: segments and parts of the last few seconds as `Bytes`, and the
/// playlists that list them.
///
/// Feed it with [`HlsMuxer::push`]; serve [`HlsMuxer::media_playlist`],
/// [`HlsMuxer::multivariant_playlist`] and [`HlsMuxer::file`]. Every new part or segment
/// increments [`HlsMuxer::version`]: a driver holding blocked requests re-asks then.
///
/// Discontinuities: a publisher reconnect ([`HlsMuxer::reset`]), a timestamp jump, or new codec
/// parameters ([`AccessUnit::new_params`]) end the segment in progress; the next segment starts
/// at the next keyframe with `EXT-X-DISCONTINUITY` and, if the parameters changed, a new
/// initialization section under a new name (`init{g}.mp4`). Media sequence numbers, the target
/// duration and the fMP4 decode timeline continue, so the playlist stays valid across them
/// (RFC 8216bis §4.4.4.3, §6.2.1) and clients keep playing without a reload.
pub struct HlsMuxer {
    pub(crate) config: HlsConfig,
    pub(crate) tracks: Vec<Track>,
    segmenter: Segmenter,
    part_muxer: Box<dyn PartMuxer>,
    pub(crate) inits: VecDeque<(u32, Bytes)>,
    pub(crate) generation: u32,
    /// Complete segments, oldest first (listed ones are the last `segment_count`).
    pub(crate) segments: VecDeque<Segment>,
    /// The segment in progress (maybe without parts yet).
    pub(crate) current: Segment,
    /// `EXT-X-DISCONTINUITY` tags of segments dropped from memory.
    pub(crate) dropped_discontinuities: u64,
    fragment_sequence: u32,
    version: u64,
    cuts: Vec<Cut>,
    /// Segments ended early because they outgrew `segment_max_size`.
    oversized_segments: u64,
    /// Complete segments not yet handed to the driver to store.
    to_store: Vec<u64>,
    /// Stored segments that left the window: their files can go.
    dropped_stored: Vec<u64>,
    /// The newest complete segment when a media playlist was last served: segments up to it
    /// have been listed to a client, so they are kept past the window (`extra_segments`).
    pub(crate) listed_to_clients: Cell<Option<u64>>,
}

impl std::fmt::Debug for HlsMuxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlsMuxer")
            .field("config", &self.config)
            .field("generation", &self.generation)
            .field("segments", &self.segments.len())
            .field("current_msn", &self.current.msn)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl HlsMuxer {
    /// A muxer for a stream of `tracks`, writing fMP4 with `part_muxer`.
    pub fn new(config: HlsConfig, tracks: Vec<Track>, part_muxer: Box<dyn PartMuxer>) -> Self {
        let segmenter = Segmenter::new(
            &tracks,
            config.part_duration.as_secs_f64(),
            config.segment_duration.as_secs_f64(),
        );
        HlsMuxer {
            config,
            tracks,
            segmenter,
            part_muxer,
            inits: VecDeque::new(),
            generation: 0,
            segments: VecDeque::new(),
            current: Segment::new(0, 0),
            dropped_discontinuities: 0,
            fragment_sequence: 1,
            version: 0,
            cuts: Vec::new(),
            oversized_segments: 0,
            to_store: Vec::new(),
            dropped_stored: Vec::new(),
            listed_to_clients: Cell::new(None),
        }
    }

    /// A muxer writing fMP4 with `vigia_media::fmp4` ([`Fmp4PartMuxer`](super::Fmp4PartMuxer)).
    pub fn with_fmp4(config: HlsConfig, tracks: Vec<Track>) -> Self {
        Self::new(config, tracks, Box::new(super::Fmp4PartMuxer::new()))
    }

    /// Takes the next access unit of any track (roughly in DTS order across tracks).
    ///
    /// Units before the first keyframe of the leading (first video) track are dropped. Fails
    /// only when a keyframe would start a timeline but the initialization section cannot be
    /// written; that unit is dropped and the next keyframe tries again.
    pub fn push(&mut self, unit: Arc<AccessUnit>) -> Result<(), HlsError> {
        if let Some(params) = &unit.new_params {
            self.on_new_params(unit.track, params);
        }
        let starts =
            !self.segmenter.is_started() && unit.track == self.segmenter.leading() && unit.keyframe;
        if starts {
            self.ensure_init()?;
        }
        let mut cuts = std::mem::take(&mut self.cuts);
        self.segmenter.push(unit, &mut cuts);
        self.apply(&mut cuts);
        self.cuts = cuts;
        if self.current.bytes > self.config.segment_max_size {
            self.oversized_segments += 1;
            self.flush();
        }
        Ok(())
    }

    /// Segments ended early so far because they outgrew
    /// [`HlsConfig::segment_max_size`](super::HlsConfig::segment_max_size); a driver logs when
    /// this grows.
    pub fn oversized_segments(&self) -> u64 {
        self.oversized_segments
    }

    /// A publisher reconnected (or the stream otherwise restarted) with `tracks`: ends the
    /// segment in progress; the next keyframe starts a new segment after a discontinuity, with a
    /// new initialization section if the tracks differ.
    pub fn reset(&mut self, tracks: Vec<Track>) {
        self.flush();
        if tracks != self.tracks {
            self.next_generation();
            self.segmenter.set_tracks(&tracks);
            self.tracks = tracks;
        }
    }

    /// Increases with every new part or segment; wake blocked requests when it changes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The current tracks (as updated by new parameters and [`HlsMuxer::reset`]).
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Units dropped so far (before the first keyframe, out of order, unknown track).
    pub fn dropped_units(&self) -> u64 {
        self.segmenter.dropped()
    }

    /// The current initialization section, once written.
    pub fn init(&self) -> Option<Bytes> {
        self.init_of(self.generation)
    }

    /// A complete segment still in memory, as chunks (its parts' chunks, in order).
    pub fn segment(&self, msn: u64) -> Option<Vec<Bytes>> {
        let segment = self.complete(msn).filter(|s| !s.stored)?;
        Some(
            segment
                .parts
                .iter()
                .flat_map(|p| p.chunks.iter().cloned())
                .collect(),
        )
    }

    /// Part `index` of segment `msn` (complete or in progress) still in memory.
    pub fn part(&self, msn: u64, index: u64) -> Option<Vec<Bytes>> {
        let segment = self.find(msn).filter(|s| !s.stored)?;
        let part = segment.parts.get(usize::try_from(index).ok()?)?;
        Some(part.chunks.clone())
    }

    /// Resolves a file name of the playlists ([`naming`]).
    pub fn file(&self, name: &str) -> FileAnswer {
        self.answer(naming::parse(name))
    }

    /// What a request for `resource` (a parsed file name) gets.
    fn answer(&self, resource: Option<Resource>) -> FileAnswer {
        if let Some(stored) = self.stored_file(resource) {
            return stored;
        }
        let found = match resource {
            None => return FileAnswer::NotFound,
            Some(Resource::Init(g)) => self.init_of(g).map(|b| vec![b]),
            Some(Resource::Segment(msn)) => self.segment(msn),
            Some(Resource::Part(msn, index)) => self.part(msn, index),
        };
        match found {
            Some(chunks) => FileAnswer::Ready(chunks),
            None if self.is_next(resource) => FileAnswer::NotYet,
            None => FileAnswer::NotFound,
        }
    }

    /// Resolves a file name as [`HlsMuxer::file`] does, for a client that is sent the answer.
    ///
    /// A part is the units' own bytes, one chunk per received fragment (~60 at 2 Mbit/s),
    /// which the server writes in one vectored write. A part whose bytes go out for the
    /// [`JOIN_AT_SENDING`]th time, alone or in its segment, is joined into one chunk: a stream
    /// watched by a few players keeps no copy of its media, one watched by many makes one per
    /// part, which the kernel copies to each faster.
    pub fn serve_file(&mut self, name: &str) -> FileAnswer {
        let resource = naming::parse(name);
        match resource {
            Some(Resource::Part(msn, index)) => {
                if let Some(part) = self.part_mut(msn, index) {
                    part.note_served();
                }
            }
            Some(Resource::Segment(msn)) => {
                if let Some(segment) = self.complete_mut(msn) {
                    segment.parts.iter_mut().for_each(Part::note_served);
                }
            }
            _ => {}
        }
        self.answer(resource)
    }

    fn part_mut(&mut self, msn: u64, index: u64) -> Option<&mut Part> {
        let segment = if msn == self.current.msn {
            &mut self.current
        } else {
            self.complete_mut(msn)?
        };
        segment.parts.get_mut(usize::try_from(index).ok()?)
    }

    /// Where `resource` is, if it is a stored segment or a part of one.
    fn stored_file(&self, resource: Option<Resource>) -> Option<FileAnswer> {
        let (msn, part) = match resource? {
            Resource::Segment(msn) => (msn, None),
            Resource::Part(msn, index) => (msn, Some(usize::try_from(index).ok()?)),
            Resource::Init(_) => return None,
        };
        let segment = self.complete(msn).filter(|s| s.stored)?;
        let (offset, len) = match part {
            None => (0, segment.bytes),
            Some(index) => segment.parts.get(index).map(|p| (p.offset, p.size))?,
        };
        Some(FileAnswer::Stored { msn, offset, len })
    }

    /// Complete segments not handed out yet to be stored, as `(msn, chunks)`; the driver writes
    /// each and calls [`HlsMuxer::stored`]. Empty unless
    /// [`HlsConfig::store_segments`](super::HlsConfig::store_segments).
    pub fn segments_to_store(&mut self) -> Vec<(u64, Vec<Bytes>)> {
        let msns = std::mem::take(&mut self.to_store);
        msns.into_iter()
            .filter_map(|msn| Some((msn, self.segment(msn)?)))
            .collect()
    }

    /// Segment `msn` is written where the driver keeps it: its bytes are dropped from memory
    /// and requests for it are answered with [`FileAnswer::Stored`]. `false` when it already
    /// left the window (the driver deletes what it wrote).
    pub fn stored(&mut self, msn: u64) -> bool {
        let Some(segment) = self.complete_mut(msn) else {
            return false;
        };
        segment.stored = true;
        for part in &mut segment.parts {
            part.chunks = Vec::new();
        }
        true
    }

    /// Stored segments that left the window since the last call: the driver deletes them.
    pub fn take_dropped_stored(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.dropped_stored)
    }

    /// The driver cannot store segments (its directory is unusable): complete segments stay in
    /// memory from now on, and none is handed out to be stored.
    pub fn keep_segments_in_memory(&mut self) {
        self.config.store_segments = false;
        self.to_store.clear();
    }

    /// The parts produced so far as `(msn, index)` of the newest, if any.
    pub(crate) fn last_part(&self) -> Option<(u64, u64)> {
        if let Some(n) = self.current.parts.len().checked_sub(1) {
            return Some((self.current.msn, n as u64));
        }
        let last = self.segments.back()?;
        Some((last.msn, last.parts.len().saturating_sub(1) as u64))
    }

    /// `EXT-X-TARGETDURATION` in seconds, fixed when the first segment ends; a driver bounds a
    /// blocked request's wait by three of these (RFC 8216bis §6.2.5.2).
    pub fn target_duration(&self) -> Option<u64> {
        self.segmenter.target_duration()
    }

    /// `PART-TARGET` in seconds (the configured part duration until the first segment ends).
    pub fn part_target(&self) -> f64 {
        let configured = self.config.part_duration.as_secs_f64();
        self.segmenter.part_target().unwrap_or(configured)
    }

    pub(crate) fn init_of(&self, generation: u32) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|(g, _)| *g == generation)
            .map(|(_, b)| b.clone())
    }

    fn find(&self, msn: u64) -> Option<&Segment> {
        if msn == self.current.msn {
            return Some(&self.current);
        }
        self.complete(msn)
    }

    /// Complete segment `msn`, if still in the window.
    fn complete(&self, msn: u64) -> Option<&Segment> {
        self.segments.get(self.index_of(msn)?)
    }

    fn complete_mut(&mut self, msn: u64) -> Option<&mut Segment> {
        let index = self.index_of(msn)?;
        self.segments.get_mut(index)
    }

    /// Where complete segment `msn` would be in [`HlsMuxer::segments`].
    fn index_of(&self, msn: u64) -> Option<usize> {
        let first = self.segments.front()?.msn;
        usize::try_from(msn.checked_sub(first)?).ok()
    }

    /// Whether a missing resource is about to exist: the in-progress segment, the next part
    /// (the preload hint) or the one after it.
    fn is_next(&self, resource: Option<Resource>) -> bool {
        let (msn, parts) = (self.current.msn, self.current.parts.len() as u64);
        match resource {
            Some(Resource::Segment(m)) => m == msn,
            Some(Resource::Part(m, i)) => (m == msn && i <= parts + 1) || (m == msn + 1 && i == 0),
            _ => false,
        }
    }

    fn on_new_params(&mut self, track: usize, params: &Arc<CodecParams>) {
        let Some(current) = self.tracks.get(track) else {
            return;
        };
        if current.codec == **params {
            return;
        }
        if self.init().is_some() {
            self.flush();
            self.next_generation();
        }
        if let Some(t) = self.tracks.get_mut(track) {
            t.codec = (**params).clone();
        }
    }

    fn flush(&mut self) {
        let mut cuts = std::mem::take(&mut self.cuts);
        self.segmenter.flush(&mut cuts);
        self.apply(&mut cuts);
        self.cuts = cuts;
    }

    fn next_generation(&mut self) {
        if self.init().is_some() {
            self.generation += 1;
        }
    }

    fn ensure_init(&mut self) -> Result<(), HlsError> {
        if self.init().is_none() {
            let init = self.part_muxer.init(&self.tracks)?;
            self.inits.push_back((self.generation, init));
        }
        Ok(())
    }

    fn apply(&mut self, cuts: &mut Vec<Cut>) {
        for cut in cuts.drain(..) {
            match cut {
                Cut::Discontinuity => self.current.discontinuity = true,
                Cut::Part(draft) => self.add_part(draft),
                Cut::SegmentEnd => self.end_segment(),
            }
        }
    }

    fn add_part(&mut self, draft: PartDraft) {
        // The units' own bytes, not copied (see `serve_file`).
        let chunks = self
            .part_muxer
            .fragment(self.fragment_sequence, &draft.runs);
        self.fragment_sequence = self.fragment_sequence.wrapping_add(1).max(1);
        if self.current.parts.is_empty() {
            self.current.date_line = playlist::date_line(draft.wallclock_us);
            self.current.generation = self.generation;
        }
        let index = self.current.parts.len() as u64;
        let offset = self.current.bytes;
        let size = chunks.iter().map(Bytes::len).sum::<usize>();
        self.current.bytes += size;
        self.current.parts.push(Part {
            duration: draft.duration,
            chunks,
            offset,
            size,
            line: playlist::part_line(self.current.msn, index, draft.duration, draft.independent),
            times_served: 0,
        });
        self.version += 1;
    }

    fn end_segment(&mut self) {
        let next = Segment::new(self.current.msn + 1, self.generation);
        let mut done = std::mem::replace(&mut self.current, next);
        done.extinf_lines = playlist::extinf_lines(done.msn, done.duration());
        if done.parts.is_empty() {
            self.current.msn = done.msn;
            self.current.discontinuity = done.discontinuity;
            return;
        }
        if self.config.store_segments {
            self.to_store.push(done.msn);
        }
        self.segments.push_back(done);
        while self.past_the_window() {
            let Some(dropped) = self.segments.pop_front() else {
                break;
            };
            self.dropped_discontinuities += u64::from(dropped.discontinuity);
            if dropped.stored {
                self.dropped_stored.push(dropped.msn);
            }
        }
        let oldest = self
            .segments
            .front()
            .map_or(self.generation, |s| s.generation);
        self.inits.retain(|(g, _)| *g >= oldest);
        self.version += 1;
    }

    /// Whether the oldest segment in memory is to go: it is past the window and either no
    /// client was given a playlist that listed it, or `extra_segments` are kept already.
    fn past_the_window(&self) -> bool {
        let Some(oldest) = self.segments.front() else {
            return false;
        };
        let beyond = self.segments.len().saturating_sub(self.window());
        let seen = self
            .listed_to_clients
            .get()
            .is_some_and(|newest| newest >= oldest.msn);
        beyond > self.config.extra_segments || (beyond > 0 && !seen)
    }

    /// Complete segments the stream keeps listed: `segment_count` while it is watched; once no
    /// media playlist has been served for `segment_count` segments, only the newest covering
    /// three target durations, the fewest RFC 8216bis §6.2.2 lets a playlist hold. Most cameras
    /// of a city are watched by nobody most of the time; with `hlsAlwaysRemux` each would
    /// otherwise hold `segment_count` segments of media (~1.7 MiB at 2 Mbit/s). A player that
    /// arrives starts at the live edge as before, and the window grows back as segments
    /// complete.
    fn window(&self) -> usize {
        let count = self.config.segment_count.max(1);
        if self.is_watched() {
            return count;
        }
        let Some(target) = self.target_duration() else {
            return count;
        };
        let needed = 3.0 * target as f64 - DURATION_SLACK;
        let mut covered = 0.0;
        for (index, segment) in self.segments.iter().rev().enumerate() {
            covered += segment.duration();
            if covered >= needed {
                return (index + 1).min(count);
            }
        }
        count
    }

    /// Whether a media playlist was served while one of the last `segment_count` segments was
    /// the newest.
    fn is_watched(&self) -> bool {
        let Some(newest) = self.segments.back() else {
            return false;
        };
        let count = self.config.segment_count.max(1) as u64;
        self.listed_to_clients
            .get()
            .is_some_and(|served| served + count >= newest.msn)
    }
}

/// Rounding in segment durations (sums of part durations in seconds) that must not cost a
/// segment more in the unwatched window.
const DURATION_SLACK: f64 = 1e-6;

impl Segment {
    fn new(msn: u64, generation: u32) -> Self {
        Segment {
            msn,
            parts: Vec::new(),
            date_line: Box::from(""),
            extinf_lines: Box::from(""),
            discontinuity: false,
            generation,
            bytes: 0,
            stored: false,
        }
    }
}
