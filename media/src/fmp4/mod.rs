//! fMP4 (CMAF) muxing and reading: initialization segments and fragments built as lists of
//! `Bytes` chunks, so access-unit payloads are never copied (ISO/IEC 14496-12, CMAF
//! ISO/IEC 23000-19).
//!
//! - [`init_segment`]: `ftyp` + `moov` for a stream's tracks (track ID = index + 1).
//! - [`SampleBuilder`]: per track, turns [`AccessUnit`](crate::AccessUnit)s into [`Sample`]s (AVCC length
//!   prefixes, durations from the next unit's DTS, composition offsets, G.711 → FLAC).
//! - [`fragment`]: `moof` + `mdat` for one or more [`TrackRun`]s; the box headers are one chunk
//!   and every sample chunk follows as the same `Bytes` it was given.
//! - [`Segmenter`]: where parts and segments of a stream start and end (LL-HLS and recording);
//!   [`FragmentWriter`] turns its parts into fragments.
//! - [`read_init`] / [`read_fragment`]: a reader for what this module writes (and for common
//!   fMP4 in general), for tests, fuzzing and verification. It never panics on any input.
//!
//! G.711 tracks are written as FLAC (`fLaC` + `dfLa`), because browsers cannot play G.711 in
//! MP4 (see [`crate::codec::flac`]), or as received ([`G711Storage::Raw`]) for recordings.

mod fragment;
mod init;
mod reader;
mod runs;
mod sample;
mod segmenter;
mod writer;

use bytes::Bytes;

use crate::model::{CodecParams, Track};

pub use fragment::{Sample, TrackRun};
pub use reader::{FragmentInfo, InitInfo, InitTrack, SampleInfo, TrafInfo};
pub use runs::FragmentWriter;
pub use sample::SampleBuilder;
pub use segmenter::{
    Cut, JUMP_SECONDS, PartDraft, PartRun, PartSample, RECORDING_GAP_SECONDS, Segmenter,
};

/// `trun` sample flags of a sync sample: `sample_depends_on` = 2 (depends on no other), not
/// a non-sync sample (ISO/IEC 14496-12 §8.8.3.1).
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;

/// `trun` sample flags of a non-sync sample: `sample_depends_on` = 1, `sample_is_non_sync_sample`.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// What went wrong building or reading fMP4.
///
/// Muxing errors name the track (its index in the track list); reader errors give the byte
/// offset in the input and the box or field being read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    /// A parameter the init segment needs has not arrived yet (e.g. the SPS of a video track).
    #[error("track {track}: {what} not known yet")]
    MissingParams {
        /// Index of the track.
        track: usize,
        /// The missing parameter.
        what: &'static str,
    },
    /// A track's parameters cannot be written (an SPS that does not parse, clock rate 0).
    #[error("track {track}: {what}")]
    BadParams {
        /// Index of the track.
        track: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// The input ended inside `what`.
    #[error("{what}: input ended at byte {pos}")]
    Incomplete {
        /// Offset of the box or field that is cut.
        pos: usize,
        /// The box or field being read.
        what: &'static str,
    },
    /// `what` at byte `pos` contradicts ISO/IEC 14496-12 or is missing.
    #[error("{what} at byte {pos}")]
    Invalid {
        /// Offset of the offending box or field.
        pos: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// Builds the initialization segment (`ftyp` + `moov`) for `tracks`.
///
/// Per track a `trak` with `tkhd` (width/height from the SPS), `mdhd` (timescale from
/// [`timescale`]), `hdlr`, and a sample entry: `avc1`+`avcC`, `hvc1`+`hvcC`, `mp4a`+`esds`,
/// `Opus`+`dOps`, or `fLaC`+`dfLa` for G.711; empty sample tables; `mvex`/`trex`. Track IDs are
/// the track index + 1. Fails if a video track has no SPS/PPS (or, for H.265, VPS) yet, or
/// its SPS does not parse.
pub fn init_segment(tracks: &[Track]) -> Result<Bytes, Fmp4Error> {
    init::build(tracks, G711Storage::Flac)
}

/// How G.711 tracks are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum G711Storage {
    /// Transcoded to FLAC (`fLaC` + `dfLa`): what browsers play (LL-HLS, live viewing).
    #[default]
    Flac,
    /// The bytes as received, in QuickTime's `ulaw` / `alaw` sample entries (one sample per
    /// access unit, payload not copied): what recordings keep, bit-exact evidence that
    /// ffmpeg, VLC and every VMS read, though browsers do not.
    Raw,
}

/// [`init_segment`] with G.711 tracks written as `g711` says.
pub fn init_segment_with(tracks: &[Track], g711: G711Storage) -> Result<Bytes, Fmp4Error> {
    init::build(tracks, g711)
}

/// Builds one fragment (`moof` + `mdat`, ISO/IEC 14496-12 §8.8.4–§8.8.8 and §8.1.1).
///
/// The `moof` holds `mfhd` with `sequence_number` and one `traf` per run (`tfhd` with
/// default-base-is-moof, `tfdt` v1, `trun` v1 with data offset and per-sample duration, size,
/// flags and signed composition offset). `mdat` holds the runs' samples in order.
///
/// Returns the chunks to send in order: first the `moof` and `mdat` header in one `Bytes`, then
/// every sample chunk as the same `Bytes` given (payload never copied).
pub fn fragment(sequence_number: u32, runs: &[TrackRun]) -> Vec<Bytes> {
    fragment::build(sequence_number, runs)
}

/// Total length of a chunk list, e.g. for a `Content-Length` header.
pub fn total_len(chunks: &[Bytes]) -> usize {
    chunks.iter().map(Bytes::len).sum()
}

/// The `mdhd` timescale a track gets: its clock rate, except G.711 (written as FLAC), which
/// uses the sample rate (the FLAC-in-ISOBMFF spec asks for it), falling back to the clock rate.
///
/// [`SampleBuilder`] expresses durations and decode times in this timescale.
pub fn timescale(track: &Track) -> u32 {
    match &track.codec {
        CodecParams::G711(g) if g.sample_rate != 0 => g.sample_rate,
        _ => track.clock_rate,
    }
}

/// The RFC 6381 `CODECS` value of a track as muxed here (`avc1.64001F`, `hvc1.1.6.L93.B0`,
/// `mp4a.40.2`, `opus`, `flac`), or `None` if its parameters are not known or do not parse.
pub fn codec_string(track: &Track) -> Option<String> {
    use crate::codec::{aac, h264, h265};
    match &track.codec {
        CodecParams::H264(p) => Some(h264::SpsInfo::parse(p.sps.as_ref()?).ok()?.codec_string()),
        CodecParams::H265(p) => Some(h265::SpsInfo::parse(p.sps.as_ref()?).ok()?.codec_string()),
        CodecParams::Aac(a) => Some(
            aac::AudioSpecificConfig::parse(&a.config)
                .ok()?
                .codec_string(),
        ),
        CodecParams::Opus(_) => Some("opus".to_owned()),
        CodecParams::G711(_) => Some("flac".to_owned()),
    }
}

/// Parses an initialization segment: the tracks of its `moov`.
pub fn read_init(data: &[u8]) -> Result<InitInfo, Fmp4Error> {
    reader::read_init(data)
}

/// Parses one fragment (`moof` first, then `mdat`; `styp`/`sidx`/`prft` before are skipped):
/// sequence number, per track its base decode time and samples, and where each run's data is.
///
/// Checks that every sample lies inside the `mdat`.
pub fn read_fragment(data: &[u8]) -> Result<FragmentInfo, Fmp4Error> {
    reader::read_fragment(data)
}

#[doc(hidden)]
pub use sample::{fuzz_fmp4_roundtrip, fuzz_fmp4_seeds};

#[cfg(test)]
mod tests;
