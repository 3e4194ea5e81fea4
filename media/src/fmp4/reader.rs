//! Reading fMP4 back: the boxes [`super::init_segment`] and [`super::fragment`] write, and
//! the optional fields other muxers use (ISO/IEC 14496-12 §4.2, §8.8). Never panics; counts
//! are checked against the bytes present before anything is allocated.

use std::ops::Range;

use super::Fmp4Error;

/// The tracks of an initialization segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitInfo {
    /// One entry per `trak`, in file order.
    pub tracks: Vec<InitTrack>,
    /// Track IDs that have a `trex` in `mvex` (needed to play fragments).
    pub trex_track_ids: Vec<u32>,
}

/// One `trak` of an initialization segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitTrack {
    /// `tkhd` track ID.
    pub id: u32,
    /// `mdhd` timescale (ticks per second).
    pub timescale: u32,
    /// `hdlr` handler type (`vide`, `soun`).
    pub handler: [u8; 4],
    /// Type of the first sample entry (`avc1`, `hvc1`, `mp4a`, `Opus`, `fLaC`, ...).
    pub codec: [u8; 4],
    /// Visual sample entry width (0 for audio).
    pub width: u16,
    /// Visual sample entry height (0 for audio).
    pub height: u16,
    /// Audio sample entry channel count (0 for video).
    pub channels: u16,
    /// Audio sample entry sample rate in Hz (integer part of the 16.16 value; 0 for video).
    pub sample_rate: u32,
    /// Type of the codec configuration box found in the sample entry (`avcC`, `hvcC`, `esds`,
    /// `dOps`, `dfLa`), or zeros.
    pub config_type: [u8; 4],
    /// Body of that box (after the box header; FullBox version/flags included).
    pub config: Vec<u8>,
}

/// One fragment: its sequence number, its track runs and where its `mdat` payload is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FragmentInfo {
    /// `mfhd` sequence number.
    pub sequence_number: u32,
    /// One entry per `traf`, in file order.
    pub tracks: Vec<TrafInfo>,
    /// Byte range of the `mdat` payload (after its header) in the input.
    pub mdat: Range<usize>,
}

/// One `traf`: a track's samples in a fragment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrafInfo {
    /// `tfhd` track ID.
    pub track_id: u32,
    /// `tfdt` base media decode time (0 if absent).
    pub base_decode_time: u64,
    /// The samples of all its `trun`s, in order.
    pub samples: Vec<SampleInfo>,
}

/// One sample of a `trun`, with `tfhd` defaults applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleInfo {
    /// Duration in the track's timescale.
    pub duration: u32,
    /// Size in bytes.
    pub size: u32,
    /// Sample flags (§8.8.3.1).
    pub flags: u32,
    /// Composition time offset (signed in `trun` v1; v0 values are reinterpreted).
    pub composition_offset: i32,
    /// Offset of the sample's first byte in the input.
    pub offset: usize,
}

impl SampleInfo {
    /// Whether the flags mark a sync sample (`sample_is_non_sync_sample` clear).
    pub fn is_sync(&self) -> bool {
        self.flags & 0x0001_0000 == 0
    }
}

impl TrafInfo {
    /// Byte ranges of the samples in the input, in order.
    pub fn sample_ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.samples
            .iter()
            .map(|s| s.offset..s.offset + s.size as usize)
    }
}

/// A box inside the input: its type, absolute offset and body.
#[derive(Clone, Copy)]
struct Mp4Box<'a> {
    fourcc: [u8; 4],
    start: usize,
    body_start: usize,
    body: &'a [u8],
}

/// Iterates the boxes in `data`, which starts at absolute offset `base`.
fn boxes(data: &[u8], base: usize) -> impl Iterator<Item = Result<Mp4Box<'_>, Fmp4Error>> {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= data.len() {
            return None;
        }
        let item = one_box(data, pos, base);
        match &item {
            Ok(b) => pos = b.body_start - base + b.body.len(),
            Err(_) => failed = true,
        }
        Some(item)
    })
}

fn one_box(data: &[u8], pos: usize, base: usize) -> Result<Mp4Box<'_>, Fmp4Error> {
    let at = base + pos;
    let mut c = Cursor::new(data.get(pos..).unwrap_or_default(), at, "box header");
    let size32 = c.u32()?;
    let fourcc = c.fourcc()?;
    let (header, size) = match size32 {
        0 => (8, (data.len() - pos) as u64),
        1 => (16, c.u64()?),
        s => (8, u64::from(s)),
    };
    if size < header {
        return Err(Fmp4Error::Invalid {
            pos: at,
            what: "box size smaller than its header",
        });
    }
    let end = usize::try_from(size)
        .ok()
        .and_then(|s| pos.checked_add(s))
        .filter(|&e| e <= data.len())
        .ok_or(Fmp4Error::Incomplete {
            pos: at,
            what: "box",
        })?;
    let body_start = pos + header as usize;
    Ok(Mp4Box {
        fourcc,
        start: at,
        body_start: base + body_start,
        body: data.get(body_start..end).unwrap_or_default(),
    })
}

/// The first child of `parent` of type `fourcc`.
fn child<'a>(parent: &Mp4Box<'a>, fourcc: &[u8; 4]) -> Result<Mp4Box<'a>, Fmp4Error> {
    for b in boxes(parent.body, parent.body_start) {
        let b = b?;
        if &b.fourcc == fourcc {
            return Ok(b);
        }
    }
    Err(Fmp4Error::Invalid {
        pos: parent.start,
        what: missing_what(fourcc),
    })
}

fn missing_what(fourcc: &[u8; 4]) -> &'static str {
    match fourcc {
        b"moov" => "no moov",
        b"tkhd" => "trak without tkhd",
        b"mdia" => "trak without mdia",
        b"mdhd" => "mdia without mdhd",
        b"hdlr" => "mdia without hdlr",
        b"minf" => "mdia without minf",
        b"stbl" => "minf without stbl",
        b"stsd" => "stbl without stsd",
        b"mfhd" => "moof without mfhd",
        b"tfhd" => "traf without tfhd",
        _ => "missing box",
    }
}

/// A bounds-checked big-endian reader over a box body.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], base: usize, what: &'static str) -> Self {
        Self {
            data,
            pos: 0,
            base,
            what,
        }
    }

    fn of(b: &Mp4Box<'a>, what: &'static str) -> Self {
        Self::new(b.body, b.body_start, what)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], Fmp4Error> {
        let bytes = self
            .data
            .get(self.pos..self.pos.saturating_add(N))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(Fmp4Error::Incomplete {
                pos: self.base + self.pos,
                what: self.what,
            })?;
        self.pos += N;
        Ok(bytes)
    }

    fn skip(&mut self, n: usize) -> Result<(), Fmp4Error> {
        if self.data.len().saturating_sub(self.pos) < n {
            return Err(Fmp4Error::Incomplete {
                pos: self.base + self.pos,
                what: self.what,
            });
        }
        self.pos += n;
        Ok(())
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn u16(&mut self) -> Result<u16, Fmp4Error> {
        Ok(u16::from_be_bytes(self.take()?))
    }

    fn u32(&mut self) -> Result<u32, Fmp4Error> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, Fmp4Error> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    fn fourcc(&mut self) -> Result<[u8; 4], Fmp4Error> {
        self.take()
    }

    /// FullBox version and flags.
    fn full(&mut self) -> Result<(u8, u32), Fmp4Error> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0xFF_FFFF))
    }

    /// A `u32` in version 0, a `u64` in version 1 (times and durations).
    fn versioned(&mut self, version: u8) -> Result<u64, Fmp4Error> {
        if version == 1 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }
}

pub(super) fn read_init(data: &[u8]) -> Result<InitInfo, Fmp4Error> {
    let mut moov = None;
    for b in boxes(data, 0) {
        let b = b?;
        if &b.fourcc == b"moov" {
            moov = Some(b);
            break;
        }
    }
    let moov = moov.ok_or(Fmp4Error::Invalid {
        pos: 0,
        what: "no moov",
    })?;
    let mut info = InitInfo::default();
    for b in boxes(moov.body, moov.body_start) {
        let b = b?;
        match &b.fourcc {
            b"trak" => info.tracks.push(trak(&b)?),
            b"mvex" => info.trex_track_ids = trex_ids(&b)?,
            _ => {}
        }
    }
    Ok(info)
}

fn trak(trak: &Mp4Box<'_>) -> Result<InitTrack, Fmp4Error> {
    let mut t = InitTrack::default();
    let tkhd = child(trak, b"tkhd")?;
    let mut c = Cursor::of(&tkhd, "tkhd");
    let (version, _) = c.full()?;
    c.skip(if version == 1 { 16 } else { 8 })?;
    t.id = c.u32()?;
    let mdia = child(trak, b"mdia")?;
    let mdhd = child(&mdia, b"mdhd")?;
    let mut c = Cursor::of(&mdhd, "mdhd");
    let (version, _) = c.full()?;
    c.skip(if version == 1 { 16 } else { 8 })?;
    t.timescale = c.u32()?;
    let mut c = Cursor::of(&child(&mdia, b"hdlr")?, "hdlr");
    c.skip(8)?;
    t.handler = c.fourcc()?;
    let stbl = child(&child(&mdia, b"minf")?, b"stbl")?;
    sample_entry(&child(&stbl, b"stsd")?, &mut t)?;
    Ok(t)
}

/// The first entry of `stsd` (§8.5.2): type, visual or audio fields, codec configuration box.
fn sample_entry(stsd: &Mp4Box<'_>, t: &mut InitTrack) -> Result<(), Fmp4Error> {
    let mut c = Cursor::of(stsd, "stsd");
    c.skip(8)?; // version, flags, entry_count
    let rest = stsd.body.get(c.pos..).unwrap_or_default();
    let entry = boxes(rest, stsd.body_start + c.pos)
        .next()
        .ok_or(Fmp4Error::Invalid {
            pos: stsd.start,
            what: "stsd without entries",
        })??;
    t.codec = entry.fourcc;
    let mut c = Cursor::of(&entry, "sample entry");
    c.skip(8)?; // reserved, data_reference_index
    let children_at = if &t.handler == b"vide" {
        c.skip(16)?;
        t.width = c.u16()?;
        t.height = c.u16()?;
        78
    } else if &t.handler == b"soun" {
        c.skip(8)?;
        t.channels = c.u16()?;
        c.skip(6)?; // samplesize, pre_defined, reserved
        t.sample_rate = c.u32()? >> 16;
        28
    } else {
        return Ok(());
    };
    let inner = entry.body.get(children_at..).unwrap_or_default();
    for b in boxes(inner, entry.body_start + children_at) {
        let b = b?;
        if matches!(&b.fourcc, b"avcC" | b"hvcC" | b"esds" | b"dOps" | b"dfLa") {
            t.config_type = b.fourcc;
            t.config = b.body.to_vec();
            break;
        }
    }
    Ok(())
}

fn trex_ids(mvex: &Mp4Box<'_>) -> Result<Vec<u32>, Fmp4Error> {
    let mut ids = Vec::new();
    for b in boxes(mvex.body, mvex.body_start) {
        let b = b?;
        if &b.fourcc == b"trex" {
            let mut c = Cursor::of(&b, "trex");
            c.skip(4)?;
            ids.push(c.u32()?);
        }
    }
    Ok(ids)
}

pub(super) fn read_fragment(data: &[u8]) -> Result<FragmentInfo, Fmp4Error> {
    let mut moof = None;
    let mut mdat = None;
    for b in boxes(data, 0) {
        let b = b?;
        match (&b.fourcc, moof.is_some()) {
            (b"moof", false) => moof = Some(b),
            (b"mdat", true) => {
                mdat = Some(b.body_start..b.body_start + b.body.len());
                break;
            }
            (b"moof", true) => break,
            _ => {}
        }
    }
    let moof = moof.ok_or(Fmp4Error::Invalid {
        pos: 0,
        what: "no moof",
    })?;
    let mdat = mdat.ok_or(Fmp4Error::Invalid {
        pos: moof.start,
        what: "moof without mdat",
    })?;
    let mut c = Cursor::of(&child(&moof, b"mfhd")?, "mfhd");
    c.skip(4)?;
    let mut info = FragmentInfo {
        sequence_number: c.u32()?,
        tracks: Vec::new(),
        mdat,
    };
    // Without base-data-offset or default-base-is-moof, a traf's data follows the previous
    // traf's (the first one's starts at the moof) (§8.8.7.1).
    let mut implicit_base = moof.start;
    for b in boxes(moof.body, moof.body_start) {
        let b = b?;
        if &b.fourcc == b"traf" {
            let (traf, end) = traf(&b, moof.start, implicit_base)?;
            check_in_mdat(&traf, &info.mdat, b.start)?;
            implicit_base = end;
            info.tracks.push(traf);
        }
    }
    Ok(info)
}

fn check_in_mdat(traf: &TrafInfo, mdat: &Range<usize>, pos: usize) -> Result<(), Fmp4Error> {
    for s in &traf.samples {
        let end = s.offset.checked_add(s.size as usize);
        if s.offset < mdat.start || end.is_none_or(|e| e > mdat.end) {
            return Err(Fmp4Error::Invalid {
                pos,
                what: "sample outside mdat",
            });
        }
    }
    Ok(())
}

/// `tfhd` fields that apply to the `trun`s of a `traf`.
#[derive(Default)]
struct Defaults {
    base: usize,
    duration: u32,
    size: u32,
    flags: u32,
}

/// Parses a `traf`; returns it and the end offset of its data.
fn traf(
    traf: &Mp4Box<'_>,
    moof_start: usize,
    implicit_base: usize,
) -> Result<(TrafInfo, usize), Fmp4Error> {
    let tfhd = child(traf, b"tfhd")?;
    let (track_id, d) = tfhd_fields(&tfhd, moof_start, implicit_base)?;
    let mut info = TrafInfo {
        track_id,
        ..TrafInfo::default()
    };
    let mut next = d.base;
    for b in boxes(traf.body, traf.body_start) {
        let b = b?;
        match &b.fourcc {
            b"tfdt" => {
                let mut c = Cursor::of(&b, "tfdt");
                let (version, _) = c.full()?;
                info.base_decode_time = c.versioned(version)?;
            }
            b"trun" => next = trun(&b, &d, next, &mut info.samples)?,
            _ => {}
        }
    }
    Ok((info, next))
}

fn tfhd_fields(
    tfhd: &Mp4Box<'_>,
    moof_start: usize,
    implicit_base: usize,
) -> Result<(u32, Defaults), Fmp4Error> {
    let mut c = Cursor::of(tfhd, "tfhd");
    let (_, flags) = c.full()?;
    let track_id = c.u32()?;
    let mut d = Defaults {
        base: implicit_base,
        ..Defaults::default()
    };
    if flags & 0x02_0000 != 0 {
        d.base = moof_start;
    }
    if flags & 0x01 != 0 {
        d.base = usize::try_from(c.u64()?).map_err(|_| Fmp4Error::Invalid {
            pos: tfhd.start,
            what: "tfhd base data offset",
        })?;
    }
    if flags & 0x02 != 0 {
        c.skip(4)?; // sample_description_index
    }
    if flags & 0x08 != 0 {
        d.duration = c.u32()?;
    }
    if flags & 0x10 != 0 {
        d.size = c.u32()?;
    }
    if flags & 0x20 != 0 {
        d.flags = c.u32()?;
    }
    Ok((track_id, d))
}

/// Parses a `trun` (§8.8.8) into `out`; `next` is where its data starts unless it has a data
/// offset. Returns where the next run's data starts.
fn trun(
    b: &Mp4Box<'_>,
    d: &Defaults,
    next: usize,
    out: &mut Vec<SampleInfo>,
) -> Result<usize, Fmp4Error> {
    let mut c = Cursor::of(b, "trun");
    let (_, flags) = c.full()?;
    let count = c.u32()? as usize;
    let mut offset = next;
    if flags & 0x01 != 0 {
        let rel = i64::from(c.u32()? as i32);
        offset = usize::try_from(d.base as i64 + rel).map_err(|_| Fmp4Error::Invalid {
            pos: b.start,
            what: "trun data offset before the file",
        })?;
    }
    let first_flags = if flags & 0x04 != 0 {
        Some(c.u32()?)
    } else {
        None
    };
    let entry_len = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count()
        * 4;
    if count.saturating_mul(entry_len) > c.remaining() || (entry_len == 0 && count > 1 << 20) {
        return Err(Fmp4Error::Incomplete {
            pos: b.start,
            what: "trun sample count",
        });
    }
    out.reserve(count);
    for i in 0..count {
        let field = |c: &mut Cursor<'_>, bit: u32, default: u32| {
            if flags & bit != 0 {
                c.u32()
            } else {
                Ok(default)
            }
        };
        let duration = field(&mut c, 0x100, d.duration)?;
        let size = field(&mut c, 0x200, d.size)?;
        let sample_flags = field(&mut c, 0x400, d.flags)?;
        let sample_flags = match (i, first_flags) {
            (0, Some(f)) => f,
            _ => sample_flags,
        };
        let composition_offset = field(&mut c, 0x800, 0)? as i32;
        out.push(SampleInfo {
            duration,
            size,
            flags: sample_flags,
            composition_offset,
            offset,
        });
        offset = offset
            .checked_add(size as usize)
            .ok_or(Fmp4Error::Invalid {
                pos: b.start,
                what: "trun sizes overflow",
            })?;
    }
    Ok(offset)
}
