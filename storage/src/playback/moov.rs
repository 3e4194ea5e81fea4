//! The boxes of a plain MP4 (ISO/IEC 14496-12): `ftyp`, a `moov` whose sample tables describe
//! every sample (§8.6–§8.7: `stts`, `ctts`, `stss`, `stsc`, `stsz`, `stco`/`co64`), an edit
//! list per track (§8.6.6), and the `mdat` header. Sample entries (`stsd`) are copied from the
//! recording's init segment, so codec configuration is never re-derived.

use bytes::{BufMut, Bytes, BytesMut};
use vigia_media::fmp4::InitTrack;

/// Movie timescale (`mvhd`, `tkhd`, `elst` durations): milliseconds, as MediaMTX.
const MOVIE_TIMESCALE: u32 = 1000;

/// One sample of the output, and where its bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) duration: u32,
    pub(crate) size: u32,
    pub(crate) composition_offset: i32,
    pub(crate) sync: bool,
    /// Index of the segment holding it.
    pub(crate) segment: usize,
    /// Offset of its payload in that segment.
    pub(crate) src: u64,
}

/// What the `trak` of one output track needs.
pub(crate) struct TrackTables<'a> {
    pub(crate) info: &'a InitTrack,
    /// The `stsd` box of the recording's init, whole.
    pub(crate) stsd: &'a [u8],
    pub(crate) samples: &'a [Planned],
    /// Each chunk: offset of its first byte from the start of the `mdat` payload, and its
    /// number of samples.
    pub(crate) chunks: &'a [(u64, u32)],
    /// Decode time of the first sample on the output timeline (negative: that much is skipped
    /// by the edit list; positive: an empty edit comes first).
    pub(crate) time_offset: i64,
}

/// `ftyp`: ISO base media with the usual brands.
pub(crate) fn ftyp() -> Bytes {
    let mut w = Writer::default();
    let b = w.open(b"ftyp");
    w.bytes(b"isom");
    w.u32(0x200);
    for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
        w.bytes(brand);
    }
    w.close(b);
    w.buf.freeze()
}

/// The `mdat` header for `payload` bytes (with `largesize` when needed).
pub(crate) fn mdat_header(payload: u64) -> Bytes {
    let mut w = Writer::default();
    match u32::try_from(payload + 8) {
        Ok(size) => {
            w.u32(size);
            w.bytes(b"mdat");
        }
        Err(_) => {
            w.u32(1);
            w.bytes(b"mdat");
            w.u64(payload + 16);
        }
    }
    w.buf.freeze()
}

/// The `moov`: chunk offsets are `mdat_payload_at` plus each chunk's offset in the `mdat`
/// payload, as `co64` when `co64` is set (its length does not depend on the offsets).
pub(crate) fn moov(tracks: &[TrackTables<'_>], mdat_payload_at: u64, co64: bool) -> Bytes {
    let mut w = Writer::default();
    let moov = w.open(b"moov");
    let duration = tracks.iter().map(presented_ms).max().unwrap_or(0);
    mvhd(&mut w, duration, tracks);
    for t in tracks {
        trak(&mut w, t, mdat_payload_at, co64);
    }
    w.close(moov);
    w.buf.freeze()
}

/// The `stsd` box of each `trak` of an init segment, by track ID.
pub(crate) fn sample_descriptions(init: &[u8]) -> Vec<(u32, Bytes)> {
    let Some((_, moov)) = find(init, b"moov") else {
        return Vec::new();
    };
    children(moov)
        .filter(|(fourcc, _, _)| fourcc == b"trak")
        .filter_map(|(_, _, trak)| {
            let id = track_id(find(trak, b"tkhd")?.1)?;
            let stbl = path(trak, &[b"mdia", b"minf", b"stbl"])?;
            let (stsd, _) = find(stbl, b"stsd")?;
            Some((id, Bytes::copy_from_slice(stsd)))
        })
        .collect()
}

/// `init` with, in each `trak` listed in `skips` (track ID, media time in the track's
/// timescale), an edit list of one edit from that media time to the end (`segment_duration`
/// 0, as fragmented files write it; §8.6.6), replacing any it had. Every other box is kept byte
/// for byte; an init this cannot take apart is returned as it is.
pub(crate) fn with_edit_lists(init: &Bytes, skips: &[(u32, u64)]) -> Bytes {
    let rewrite = || -> Option<Bytes> {
        let mut w = Writer::default();
        for (fourcc, whole, body) in whole_children(init)? {
            if &fourcc != b"moov" {
                w.bytes(whole);
                continue;
            }
            let moov = w.open(b"moov");
            for (fourcc, whole, trak) in whole_children(body)? {
                let skip = (&fourcc == b"trak")
                    .then(|| track_id(find(trak, b"tkhd")?.1))
                    .flatten()
                    .and_then(|id| skips.iter().find(|(i, _)| *i == id));
                match skip {
                    Some(&(_, media_time)) => edited_trak(&mut w, trak, media_time)?,
                    None => w.bytes(whole),
                }
            }
            w.close(moov);
        }
        Some(w.buf.freeze())
    };
    rewrite().unwrap_or_else(|| init.clone())
}

/// A `trak` with body `trak`, its `edts` replaced by one skipping to `media_time`.
fn edited_trak(w: &mut Writer, trak: &[u8], media_time: u64) -> Option<()> {
    let b = w.open(b"trak");
    for (fourcc, whole, _) in whole_children(trak)? {
        if &fourcc == b"edts" {
            continue;
        }
        w.bytes(whole);
        if &fourcc == b"tkhd" {
            let v1 = i32::try_from(media_time).is_err();
            let edts = w.open(b"edts");
            let elst = w.open_full(b"elst", u8::from(v1), 0);
            w.u32(1);
            w.time(v1, 0);
            w.time(v1, media_time);
            w.u32(0x0001_0000);
            w.close(elst);
            w.close(edts);
        }
    }
    w.close(b);
    Some(())
}

/// A box in a buffer: its type, all of its bytes, and its body.
pub(crate) type BoxRef<'a> = ([u8; 4], &'a [u8], &'a [u8]);

/// The child boxes of `data`, if they cover it exactly.
fn whole_children(data: &[u8]) -> Option<Vec<BoxRef<'_>>> {
    let boxes: Vec<_> = children(data).collect();
    let covered: usize = boxes.iter().map(|(_, whole, _)| whole.len()).sum();
    (covered == data.len()).then_some(boxes)
}

fn mvhd(w: &mut Writer, duration: u64, tracks: &[TrackTables<'_>]) {
    let v1 = duration > u64::from(u32::MAX);
    let b = w.open_full(b"mvhd", u8::from(v1), 0);
    w.times(v1, 0);
    w.u32(MOVIE_TIMESCALE);
    w.time(v1, duration);
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    w.matrix();
    w.zeros(24);
    let next_id = tracks.iter().map(|t| t.info.id).max().unwrap_or(0);
    w.u32(next_id.saturating_add(1));
    w.close(b);
}

fn trak(w: &mut Writer, t: &TrackTables<'_>, mdat_payload_at: u64, co64: bool) {
    let trak = w.open(b"trak");
    tkhd(w, t);
    edts(w, t);
    let mdia = w.open(b"mdia");
    mdhd(w, t);
    hdlr(w, &t.info.handler);
    let minf = w.open(b"minf");
    media_header(w, &t.info.handler);
    dinf(w);
    let stbl = w.open(b"stbl");
    w.bytes(t.stsd);
    stts(w, t.samples);
    stss(w, t.samples);
    ctts(w, t.samples);
    stsc(w, t.chunks);
    stsz(w, t.samples);
    chunk_offsets(w, t.chunks, mdat_payload_at, co64);
    w.close(stbl);
    w.close(minf);
    w.close(mdia);
    w.close(trak);
}

/// Sum of the sample durations, in the track's timescale.
fn media_ticks(t: &TrackTables<'_>) -> u64 {
    t.samples.iter().map(|s| u64::from(s.duration)).sum()
}

/// How long the track plays on the output timeline, in the movie timescale.
fn presented_ms(t: &TrackTables<'_>) -> u64 {
    let end = i128::from(media_ticks(t)) + i128::from(t.time_offset);
    to_movie(
        u64::try_from(end.max(0)).unwrap_or(u64::MAX),
        t.info.timescale,
    )
}

fn to_movie(ticks: u64, timescale: u32) -> u64 {
    let ms = u128::from(ticks) * u128::from(MOVIE_TIMESCALE) / u128::from(timescale.max(1));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

fn tkhd(w: &mut Writer, t: &TrackTables<'_>) {
    let duration = presented_ms(t);
    let v1 = duration > u64::from(u32::MAX);
    let b = w.open_full(b"tkhd", u8::from(v1), 0x3);
    w.times(v1, 0);
    w.u32(t.info.id);
    w.u32(0);
    w.time(v1, duration);
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if &t.info.handler == b"soun" {
        0x0100
    } else {
        0
    });
    w.u16(0);
    w.matrix();
    w.u32(u32::from(t.info.width) << 16);
    w.u32(u32::from(t.info.height) << 16);
    w.close(b);
}

/// The edit list: skip the samples before the window's start, or wait for a track that starts
/// after it (§8.6.6).
fn edts(w: &mut Writer, t: &TrackTables<'_>) {
    let media = media_ticks(t);
    let mut entries: Vec<(u64, i64)> = Vec::with_capacity(2);
    if t.time_offset > 0 {
        let pause = to_movie(t.time_offset.unsigned_abs(), t.info.timescale);
        entries.push((pause, -1));
        entries.push((to_movie(media, t.info.timescale), 0));
    } else {
        let skip = t.time_offset.unsigned_abs();
        let shown = to_movie(media.saturating_sub(skip), t.info.timescale);
        entries.push((shown, i64::try_from(skip).unwrap_or(i64::MAX)));
    }
    let v1 = entries
        .iter()
        .any(|&(d, m)| d > u64::from(u32::MAX) || i32::try_from(m).is_err());
    let edts = w.open(b"edts");
    let b = w.open_full(b"elst", u8::from(v1), 0);
    w.u32(entries.len() as u32);
    for (duration, media_time) in entries {
        if v1 {
            w.u64(duration);
            w.u64(media_time as u64);
        } else {
            w.u32(duration as u32);
            w.u32(media_time as i32 as u32);
        }
        w.u32(0x0001_0000); // media rate 1.0
    }
    w.close(b);
    w.close(edts);
}

fn mdhd(w: &mut Writer, t: &TrackTables<'_>) {
    let duration = media_ticks(t);
    let v1 = duration > u64::from(u32::MAX);
    let b = w.open_full(b"mdhd", u8::from(v1), 0);
    w.times(v1, 0);
    w.u32(t.info.timescale.max(1));
    w.time(v1, duration);
    w.u16(0x55C4); // 'und'
    w.u16(0);
    w.close(b);
}

fn hdlr(w: &mut Writer, handler: &[u8; 4]) {
    let name: &[u8] = if handler == b"vide" {
        b"VideoHandler\0"
    } else {
        b"SoundHandler\0"
    };
    let b = w.open_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(handler);
    w.zeros(12);
    w.bytes(name);
    w.close(b);
}

fn media_header(w: &mut Writer, handler: &[u8; 4]) {
    let b = if handler == b"vide" {
        let b = w.open_full(b"vmhd", 0, 1);
        w.zeros(8);
        b
    } else {
        let b = w.open_full(b"smhd", 0, 0);
        w.zeros(4);
        b
    };
    w.close(b);
}

fn dinf(w: &mut Writer) {
    let dinf = w.open(b"dinf");
    let dref = w.open_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.open_full(b"url ", 0, 1);
    w.close(url);
    w.close(dref);
    w.close(dinf);
}

/// `stts` (§8.6.1.2): runs of equal durations.
fn stts(w: &mut Writer, samples: &[Planned]) {
    let runs = run_lengths(samples.iter().map(|s| s.duration));
    let b = w.open_full(b"stts", 0, 0);
    w.u32(runs.len() as u32);
    for (count, duration) in runs {
        w.u32(count);
        w.u32(duration);
    }
    w.close(b);
}

/// `stss` (§8.6.2), left out when every sample is a sync sample.
fn stss(w: &mut Writer, samples: &[Planned]) {
    if samples.iter().all(|s| s.sync) {
        return;
    }
    let numbers: Vec<u32> = (1..)
        .zip(samples)
        .filter(|(_, s)| s.sync)
        .map(|(n, _)| n)
        .collect();
    let b = w.open_full(b"stss", 0, 0);
    w.u32(numbers.len() as u32);
    for n in numbers {
        w.u32(n);
    }
    w.close(b);
}

/// `ctts` (§8.6.1.3), version 1 (signed) when an offset is negative; left out when all are 0.
fn ctts(w: &mut Writer, samples: &[Planned]) {
    if samples.iter().all(|s| s.composition_offset == 0) {
        return;
    }
    let signed = samples.iter().any(|s| s.composition_offset < 0);
    let runs = run_lengths(samples.iter().map(|s| s.composition_offset));
    let b = w.open_full(b"ctts", u8::from(signed), 0);
    w.u32(runs.len() as u32);
    for (count, offset) in runs {
        w.u32(count);
        w.u32(offset as u32);
    }
    w.close(b);
}

/// `stsc` (§8.7.4): one entry per change of samples-per-chunk.
fn stsc(w: &mut Writer, chunks: &[(u64, u32)]) {
    let mut entries: Vec<(u32, u32)> = Vec::new();
    for (index, &(_, count)) in (1u32..).zip(chunks) {
        if entries.last().is_none_or(|&(_, c)| c != count) {
            entries.push((index, count));
        }
    }
    let b = w.open_full(b"stsc", 0, 0);
    w.u32(entries.len() as u32);
    for (first_chunk, count) in entries {
        w.u32(first_chunk);
        w.u32(count);
        w.u32(1); // sample_description_index
    }
    w.close(b);
}

/// `stsz` (§8.7.3): one size for all, or a table.
fn stsz(w: &mut Writer, samples: &[Planned]) {
    let b = w.open_full(b"stsz", 0, 0);
    let first = samples.first().map_or(0, |s| s.size);
    if samples.iter().all(|s| s.size == first) {
        w.u32(first);
        w.u32(samples.len() as u32);
    } else {
        w.u32(0);
        w.u32(samples.len() as u32);
        for s in samples {
            w.u32(s.size);
        }
    }
    w.close(b);
}

/// `stco`, or `co64` past 4 GiB (§8.7.5).
fn chunk_offsets(w: &mut Writer, chunks: &[(u64, u32)], base: u64, co64: bool) {
    let b = w.open_full(if co64 { b"co64" } else { b"stco" }, 0, 0);
    w.u32(chunks.len() as u32);
    for &(offset, _) in chunks {
        let at = base.saturating_add(offset);
        if co64 {
            w.u64(at);
        } else {
            w.u32(u32::try_from(at).unwrap_or(u32::MAX));
        }
    }
    w.close(b);
}

/// `(count, value)` runs of equal consecutive values.
fn run_lengths<T: PartialEq + Copy>(values: impl Iterator<Item = T>) -> Vec<(u32, T)> {
    let mut runs: Vec<(u32, T)> = Vec::new();
    for v in values {
        match runs.last_mut() {
            Some((count, last)) if *last == v => *count += 1,
            _ => runs.push((1, v)),
        }
    }
    runs
}

/// The track ID in a `tkhd` body (§8.3.2).
fn track_id(tkhd: &[u8]) -> Option<u32> {
    let at = if *tkhd.first()? == 1 { 4 + 16 } else { 4 + 8 };
    let id = tkhd.get(at..at + 4)?;
    Some(u32::from_be_bytes(id.try_into().ok()?))
}

/// The box reached by following `names` from `data`'s children: its body.
pub(crate) fn path<'a>(data: &'a [u8], names: &[&[u8; 4]]) -> Option<&'a [u8]> {
    names.iter().try_fold(data, |inside, name| {
        find(inside, name).map(|(_, body)| body)
    })
}

/// The first child box of type `fourcc`: (whole box, body).
pub(crate) fn find<'a>(data: &'a [u8], fourcc: &[u8; 4]) -> Option<(&'a [u8], &'a [u8])> {
    children(data)
        .find(|(f, _, _)| f == fourcc)
        .map(|(_, whole, body)| (whole, body))
}

/// The boxes laid end to end in `data` (32-bit sizes; stops at the first that does not fit).
pub(crate) fn children(data: &[u8]) -> impl Iterator<Item = BoxRef<'_>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let header = data.get(pos..pos.checked_add(8)?)?;
        let size = u32::from_be_bytes(header.get(..4)?.try_into().ok()?) as usize;
        let fourcc: [u8; 4] = header.get(4..8)?.try_into().ok()?;
        let whole = data
            .get(pos..pos.checked_add(size)?)
            .filter(|_| size >= 8)?;
        pos += size;
        Some((fourcc, whole, whole.get(8..)?))
    })
}

/// A big-endian box writer with size back-patching (§4.2).
#[derive(Default)]
struct Writer {
    buf: BytesMut,
}

impl Writer {
    fn open(&mut self, fourcc: &[u8; 4]) -> usize {
        let start = self.buf.len();
        self.buf.put_u32(0);
        self.buf.put_slice(fourcc);
        start
    }

    fn open_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
        let start = self.open(fourcc);
        self.buf
            .put_u32((u32::from(version) << 24) | (flags & 0xFF_FFFF));
        start
    }

    /// Ends the box opened at `start`. A `moov` over 4 GiB (hundreds of millions of samples)
    /// cannot be written; its size saturates.
    fn close(&mut self, start: usize) {
        let size = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        if let Some(slot) = self.buf.get_mut(start..start + 4) {
            slot.copy_from_slice(&size.to_be_bytes());
        }
    }

    fn u16(&mut self, v: u16) {
        self.buf.put_u16(v);
    }

    fn u32(&mut self, v: u32) {
        self.buf.put_u32(v);
    }

    fn u64(&mut self, v: u64) {
        self.buf.put_u64(v);
    }

    fn bytes(&mut self, v: &[u8]) {
        self.buf.put_slice(v);
    }

    fn zeros(&mut self, n: usize) {
        self.buf.put_bytes(0, n);
    }

    /// A time or duration: 64 bits in version 1, else 32.
    fn time(&mut self, v1: bool, v: u64) {
        if v1 {
            self.u64(v);
        } else {
            self.u32(u32::try_from(v).unwrap_or(u32::MAX));
        }
    }

    /// Creation and modification times.
    fn times(&mut self, v1: bool, v: u64) {
        self.time(v1, v);
        self.time(v1, v);
    }

    /// The unity matrix (§8.2.2.3).
    fn matrix(&mut self) {
        for v in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000u32] {
            self.u32(v);
        }
    }
}
