//! [`Mp4Muxer`] and [`Mp4File`]: the plain MP4 output (`format=mp4`), `moov` first.
//!
//! A `moov` needs every sample's size and duration before the first media byte, so this is
//! two passes. The first pass reads every segment of the window through the [`Assembler`] —
//! today by streaming the whole segments and keeping only their `moof` sample tables (payload
//! bytes pass through a one-fragment buffer and are dropped); reading only the `moof`s with
//! ranged reads would need a fragment index in the recording — and yields an [`Mp4File`]: the
//! header bytes (`ftyp`, `moov`, `mdat` header) and, for the `mdat`, where each run of samples
//! lies in which segment. The second pass serves any byte range of the file from that layout
//! ([`Mp4File::pieces`]): the header from memory, the media with ranged reads of the segments.
//!
//! Samples are kept as MediaMTX's `muxerMP4` keeps them: each track from its last sync sample
//! before the window's start, with real durations, and an edit list that skips to the start.

use std::ops::Range;

use bytes::Bytes;
use vigia_media::fmp4::InitTrack;

use super::Assembler;
use super::assembler::{SampleRef, Sink};
use super::fmp4::duration_u32;
use super::moov::{self, Planned, TrackTables};

/// Ranges of one segment closer than this are read in one request (the `moof` between two
/// fragments' payloads is read and dropped).
const MAX_GAP: u64 = 64 << 10;

/// Longest single ranged read.
const MAX_READ: u64 = 8 << 20;

/// The MP4 sink; use it as [`super::Mp4Playback`].
#[derive(Debug, Default)]
pub struct Mp4Muxer {
    init: Bytes,
    tracks: Vec<TrackPlan>,
}

/// One output track's samples.
#[derive(Debug, Default)]
struct TrackPlan {
    info: InitTrack,
    samples: Vec<Planned>,
    /// Output decode time of the first sample kept.
    time_offset: i64,
    last_dts: i64,
}

impl Sink for Mp4Muxer {
    fn init(&mut self, init: &Bytes, tracks: &[InitTrack]) {
        self.init = init.clone();
        self.tracks = tracks
            .iter()
            .map(|t| TrackPlan {
                info: t.clone(),
                ..TrackPlan::default()
            })
            .collect();
    }

    fn sample(&mut self, track: usize, dts: i64, sample: &SampleRef<'_>) {
        let Some(t) = self.tracks.get_mut(track) else {
            return;
        };
        let sync = sample.is_sync();
        if t.samples.is_empty() && !sync {
            return; // cannot start decoding here
        }
        // A sync sample before the start, or the first after it, drops the GOP before it.
        if sync && (dts < 0 || t.last_dts < 0) {
            t.samples.clear();
        }
        // A sample recorded earlier than where the track is goes at that place (as in fMP4).
        let dts = match t.samples.last_mut() {
            None => {
                t.time_offset = dts;
                dts
            }
            Some(last) => {
                let dts = dts.max(t.last_dts);
                last.duration = duration_u32(dts.saturating_sub(t.last_dts));
                dts
            }
        };
        t.samples.push(Planned {
            duration: 0,
            size: sample.info.size,
            composition_offset: sample.composition_offset,
            sync,
            segment: sample.segment,
            src: sample.segment_range().start,
        });
        t.last_dts = dts;
    }

    fn run_end(&mut self, track: usize, dts: i64) {
        if let Some(t) = self.tracks.get_mut(track) {
            let duration = duration_u32(dts.saturating_sub(t.last_dts));
            if let Some(last) = t.samples.last_mut() {
                last.duration = duration;
            }
        }
    }

    fn finish(&mut self) {}
}

/// A plain MP4 file laid out but not read: its header, and where the rest comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mp4File {
    header: Bytes,
    extents: Vec<Extent>,
    keys: Vec<String>,
    len: u64,
}

/// A run of the `mdat` copied from one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Extent {
    /// Offset in the output file.
    at: u64,
    segment: usize,
    src: Range<u64>,
}

impl Extent {
    fn end(&self) -> u64 {
        self.at + (self.src.end - self.src.start)
    }
}

/// A part of an output byte range, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes already known (the header).
    Bytes(Bytes),
    /// Read `src` of segment `key`, then send the `keep` ranges of what was read, in order.
    Fetch {
        /// Object key of the segment.
        key: String,
        /// Byte range to read.
        src: Range<u64>,
        /// Ranges of the bytes read (offsets from `src.start`) that belong to the output.
        keep: Vec<Range<usize>>,
    },
}

impl Mp4File {
    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (never: a file has at least a header).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `ftyp` + `moov` + the `mdat` header.
    pub fn header(&self) -> &Bytes {
        &self.header
    }

    /// What to send for the bytes `range` of the file (clipped to the file), in order. Reads
    /// of one segment separated by less than 64 KiB are merged, up to 8 MiB each.
    pub fn pieces(&self, range: Range<u64>) -> Vec<Piece> {
        let (start, end) = (range.start.min(self.len), range.end.min(self.len));
        let mut pieces = Vec::new();
        if start >= end {
            return pieces;
        }
        let header_len = self.header.len() as u64;
        if start < header_len {
            let cut = start as usize..end.min(header_len) as usize;
            pieces.push(Piece::Bytes(self.header.slice(cut)));
        }
        let first = self.extents.partition_point(|e| e.end() <= start);
        for e in self.extents.iter().skip(first).take_while(|e| e.at < end) {
            let from = e.src.start + start.saturating_sub(e.at);
            let to = e.src.end - e.end().saturating_sub(end);
            self.add_read(&mut pieces, e.segment, from..to);
        }
        pieces
    }

    /// Appends `src` of `segment` to the last read if it is close, else as a new read.
    fn add_read(&self, pieces: &mut Vec<Piece>, segment: usize, src: Range<u64>) {
        let key = self.keys.get(segment).cloned().unwrap_or_default();
        if let Some(Piece::Fetch {
            key: last_key,
            src: last,
            keep,
        }) = pieces.last_mut()
            && *last_key == key
            && src.start >= last.end
            && src.start - last.end <= MAX_GAP
            && src.end - last.start <= MAX_READ
        {
            let rel = |v: u64| (v - last.start) as usize;
            keep.push(rel(src.start)..rel(src.end));
            last.end = src.end;
            return;
        }
        let len = (src.end - src.start) as usize;
        pieces.push(Piece::Fetch {
            key,
            src,
            keep: std::iter::once(0..len).collect(),
        });
    }
}

impl Assembler<Mp4Muxer> {
    /// The file's layout once every segment was read and [`Assembler::finish`] called; `None`
    /// when the window holds no sample.
    pub fn into_file(self) -> Option<Mp4File> {
        let (muxer, keys) = self.into_parts();
        muxer.into_file(keys)
    }
}

impl Mp4Muxer {
    /// Lays the file out: tracks with samples, their samples in `mdat` in the order they come
    /// in the segments, one chunk per run of one track's samples contiguous in a segment.
    fn into_file(self, keys: Vec<String>) -> Option<Mp4File> {
        let stsds = moov::sample_descriptions(&self.init);
        let playable: Vec<(&TrackPlan, &Bytes)> = self
            .tracks
            .iter()
            // A track with nothing at or after the window's start shows nothing.
            .filter(|t| !t.samples.is_empty() && t.last_dts >= 0)
            .filter_map(|t| {
                let (_, stsd) = stsds.iter().find(|(id, _)| *id == t.info.id)?;
                Some((t, stsd))
            })
            .collect();
        if playable.is_empty() {
            return None;
        }
        let plans: Vec<&TrackPlan> = playable.iter().map(|(t, _)| *t).collect();
        let Layout {
            chunks,
            extents,
            payload,
        } = layout(&plans);
        let tables: Vec<TrackTables<'_>> = playable
            .iter()
            .zip(&chunks)
            .map(|((t, stsd), chunks)| TrackTables {
                info: &t.info,
                stsd,
                samples: &t.samples,
                chunks,
                time_offset: t.time_offset,
            })
            .collect();
        Some(assemble(&tables, extents, keys, payload))
    }
}

/// Where the samples go in the `mdat`.
struct Layout {
    /// Per track its chunks: (offset in the `mdat` payload, number of samples).
    chunks: Vec<Vec<(u64, u32)>>,
    /// The runs copied from segments, offsets from the `mdat` payload start.
    extents: Vec<Extent>,
    /// Length of the `mdat` payload.
    payload: u64,
}

/// Lays the samples of `tracks` out in the order they come in the segments.
fn layout(tracks: &[&TrackPlan]) -> Layout {
    let mut order: Vec<(usize, u64, usize, &Planned)> = tracks
        .iter()
        .enumerate()
        .flat_map(|(t, plan)| plan.samples.iter().map(move |s| (s.segment, s.src, t, s)))
        .collect();
    order.sort_by_key(|&(segment, src, t, _)| (segment, src, t));
    let mut chunks: Vec<Vec<(u64, u32)>> = vec![Vec::new(); tracks.len()];
    let mut extents: Vec<Extent> = Vec::new();
    let mut at = 0u64;
    let mut last_track = usize::MAX;
    for (segment, src, t, s) in order {
        let size = u64::from(s.size);
        let Some(track_chunks) = chunks.get_mut(t) else {
            continue;
        };
        match extents.last_mut() {
            Some(e) if last_track == t && e.segment == segment && e.src.end == src => {
                e.src.end += size;
                if let Some(chunk) = track_chunks.last_mut() {
                    chunk.1 += 1;
                }
            }
            _ => {
                track_chunks.push((at, 1));
                extents.push(Extent {
                    at,
                    segment,
                    src: src..src.saturating_add(size),
                });
            }
        }
        last_track = t;
        at += size;
    }
    Layout {
        chunks,
        extents,
        payload: at,
    }
}

/// The header for `tables` and the extents moved to their place in the file.
fn assemble(
    tables: &[TrackTables<'_>],
    mut extents: Vec<Extent>,
    keys: Vec<String>,
    payload: u64,
) -> Mp4File {
    let ftyp = moov::ftyp();
    let mdat = moov::mdat_header(payload);
    // The moov's length depends on stco vs co64, not on the offsets it holds.
    let payload_at = |co64| (ftyp.len() + moov::moov(tables, 0, co64).len() + mdat.len()) as u64;
    let co64 = payload_at(false) + payload > u64::from(u32::MAX);
    let at = payload_at(co64);
    let moov = moov::moov(tables, at, co64);
    for e in &mut extents {
        e.at += at;
    }
    let mut header = Vec::with_capacity(at as usize);
    for part in [&ftyp, &moov, &mdat] {
        header.extend_from_slice(part);
    }
    Mp4File {
        header: Bytes::from(header),
        extents,
        keys,
        len: at + payload,
    }
}
