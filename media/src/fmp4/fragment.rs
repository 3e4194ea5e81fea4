//! Fragments: `moof` + `mdat` as a chunk list (ISO/IEC 14496-12 §8.8).

use bytes::Bytes;

use super::writer::BoxWriter;
use super::{NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};

/// One sample of a fragment, its payload already in sample format (AVCC length-prefixed NAL
/// units, a raw AAC/Opus frame, a FLAC frame).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Duration in the track's timescale (decode time of the next sample minus this one's).
    pub duration: u32,
    /// Presentation time minus decode time, in the track's timescale (negative is allowed:
    /// `trun` v1).
    pub composition_offset: i32,
    /// Whether this is a sync sample (a decoder can start here).
    pub keyframe: bool,
    /// The payload, in order; written to `mdat` as these very `Bytes`.
    pub data: Vec<Bytes>,
}

impl Sample {
    /// Payload size in bytes (the `trun` sample size).
    pub fn size(&self) -> usize {
        self.data.iter().map(Bytes::len).sum()
    }
}

/// The samples of one track in one fragment: a `traf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackRun {
    /// Track ID (track index + 1, as in the init segment).
    pub track_id: u32,
    /// Decode time of the first sample in the track's timescale (`tfdt`).
    pub base_decode_time: u64,
    /// The samples, in decode order.
    pub samples: Vec<Sample>,
}

/// Sizes of the fixed boxes: `mfhd`; per `traf`: header, `tfhd` (flags 0x020000), `tfdt` v1,
/// `trun` header with data offset; per sample 16 bytes.
const MOOF_HEADER: usize = 8 + 16;
const TRAF_FIXED: usize = 8 + 16 + 20 + 20;
const TRUN_ENTRY: usize = 16;
const MDAT_HEADER: usize = 8;
const MDAT_LARGE_HEADER: usize = 16;

/// `tfhd` flag: data offsets are relative to the `moof` (§8.8.7.1).
const DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags: data offset, sample duration, size, flags and composition offset present.
const TRUN_FLAGS: u32 = 0x01 | 0x100 | 0x200 | 0x400 | 0x800;

pub(super) fn build(sequence_number: u32, runs: &[TrackRun]) -> Vec<Bytes> {
    let moof_len = MOOF_HEADER
        + runs
            .iter()
            .map(|r| TRAF_FIXED + TRUN_ENTRY * r.samples.len())
            .sum::<usize>();
    let payload: usize = runs.iter().flat_map(|r| &r.samples).map(Sample::size).sum();
    let chunk_count: usize = runs
        .iter()
        .flat_map(|r| &r.samples)
        .map(|s| s.data.len())
        .sum();
    let mdat_header = if payload + MDAT_HEADER > u32::MAX as usize {
        MDAT_LARGE_HEADER
    } else {
        MDAT_HEADER
    };

    let mut w = BoxWriter::with_capacity(moof_len + mdat_header);
    let moof = w.open(b"moof");
    let mfhd = w.open_full(b"mfhd", 0, 0);
    w.u32(sequence_number);
    w.close(mfhd);
    let mut data_offset = moof_len + mdat_header;
    for run in runs {
        traf(&mut w, run, data_offset);
        data_offset += run.samples.iter().map(Sample::size).sum::<usize>();
    }
    w.close(moof);
    mdat_header_box(&mut w, payload, mdat_header);

    let mut chunks = Vec::with_capacity(1 + chunk_count);
    chunks.push(w.buf.freeze());
    for sample in runs.iter().flat_map(|r| &r.samples) {
        chunks.extend(sample.data.iter().cloned());
    }
    chunks
}

fn traf(w: &mut BoxWriter, run: &TrackRun, data_offset: usize) {
    let traf = w.open(b"traf");
    let tfhd = w.open_full(b"tfhd", 0, DEFAULT_BASE_IS_MOOF);
    w.u32(run.track_id);
    w.close(tfhd);
    let tfdt = w.open_full(b"tfdt", 1, 0);
    w.u64(run.base_decode_time);
    w.close(tfdt);
    let trun = w.open_full(b"trun", 1, TRUN_FLAGS);
    w.u32(u32::try_from(run.samples.len()).unwrap_or(u32::MAX));
    // A fragment over 2 GiB cannot be addressed by trun's signed 32-bit data offset.
    w.i32(i32::try_from(data_offset).unwrap_or(i32::MAX));
    for s in &run.samples {
        w.u32(s.duration);
        w.u32(u32::try_from(s.size()).unwrap_or(u32::MAX));
        w.u32(if s.keyframe {
            SYNC_SAMPLE_FLAGS
        } else {
            NON_SYNC_SAMPLE_FLAGS
        });
        w.i32(s.composition_offset);
    }
    w.close(trun);
    w.close(traf);
}

/// The `mdat` header (§8.1.1): 32-bit size, or `largesize` when the payload needs it.
fn mdat_header_box(w: &mut BoxWriter, payload: usize, header: usize) {
    if header == MDAT_LARGE_HEADER {
        w.u32(1);
        w.bytes(b"mdat");
        w.u64((payload + header) as u64);
    } else {
        w.u32((payload + header) as u32);
        w.bytes(b"mdat");
    }
}
