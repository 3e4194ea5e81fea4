//! Tracks, codec parameters and access units: what every ingest produces and every reader consumes.

use std::sync::Arc;

use bytes::Bytes;

use crate::time::Timestamp;

/// Whether a track carries pictures or sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Pictures (H.264, H.265).
    Video,
    /// Sound (AAC, G.711, Opus).
    Audio,
}

/// One elementary stream of a path: its codec, its clock and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// Codec and its out-of-band parameters.
    pub codec: CodecParams,
    /// Ticks per second of this track's timestamps (RTP clock rate).
    pub clock_rate: u32,
}

impl Track {
    /// Whether this is a video or an audio track.
    pub fn kind(&self) -> MediaKind {
        self.codec.kind()
    }
}

/// The codecs Vigia carries, with the parameters a decoder needs before the first frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecParams {
    /// H.264 / AVC (ITU-T H.264).
    H264(VideoParams),
    /// H.265 / HEVC (ITU-T H.265).
    H265(VideoParams),
    /// MPEG-4 AAC.
    Aac(AacParams),
    /// G.711 A-law or µ-law (RFC 3551 PCMA/PCMU).
    G711(G711Params),
    /// Opus (RFC 7587).
    Opus(OpusParams),
}

impl CodecParams {
    /// Whether the codec is video or audio.
    pub fn kind(&self) -> MediaKind {
        match self {
            CodecParams::H264(_) | CodecParams::H265(_) => MediaKind::Video,
            _ => MediaKind::Audio,
        }
    }

    /// A short human name: `H264`, `H265`, `MPEG-4 Audio`, `G711`, `Opus` (MediaMTX's names).
    pub fn name(&self) -> &'static str {
        match self {
            CodecParams::H264(_) => "H264",
            CodecParams::H265(_) => "H265",
            CodecParams::Aac(_) => "MPEG-4 Audio",
            CodecParams::G711(_) => "G711",
            CodecParams::Opus(_) => "Opus",
        }
    }
}

/// Parameter sets of an H.264/H.265 track, raw NAL units without start codes.
///
/// Any of them may be unknown until they arrive in-band.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VideoParams {
    /// Video parameter set (H.265 only).
    pub vps: Option<Bytes>,
    /// Sequence parameter set.
    pub sps: Option<Bytes>,
    /// Picture parameter set.
    pub pps: Option<Bytes>,
}

/// AAC parameters: the AudioSpecificConfig (ISO 14496-3 §1.6.2.1) and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AacParams {
    /// The raw AudioSpecificConfig bytes.
    pub config: Bytes,
    /// Sampling rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
}

/// G.711 flavour and format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct G711Params {
    /// `true` for µ-law (PCMU), `false` for A-law (PCMA).
    pub mu_law: bool,
    /// Sampling rate in Hz (8000 unless the SDP says otherwise).
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
}

/// Opus format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpusParams {
    /// Channel count (1 or 2).
    pub channels: u16,
}

/// One decodable unit of one track: a picture (all its NAL units) or a block of audio frames.
///
/// Payload chunks are `Bytes` slices of what was received; cloning an access unit copies no
/// payload. The hub shares access units behind `Arc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessUnit {
    /// Index of the track in its stream's track list.
    pub track: usize,
    /// Presentation time.
    pub pts: Timestamp,
    /// Decode time (equals `pts` unless the stream has B-frames).
    pub dts: Timestamp,
    /// Whether a decoder can start here (IDR/IRAP for video; always true for audio).
    pub keyframe: bool,
    /// Wall-clock time of `pts` in UNIX microseconds, from RTCP sender reports or the server clock.
    pub wallclock_us: Option<i64>,
    /// Video: NAL units without start codes or length prefixes. Audio: one chunk per frame.
    pub data: Vec<Bytes>,
    /// Set on the unit where the track's codec parameters changed (new SPS/PPS mid-stream).
    pub new_params: Option<Arc<CodecParams>>,
}

impl AccessUnit {
    /// A unit as it comes out of a depacketizer: `dts` equal to `pts`, no wall-clock time, no
    /// parameter change (ingest fills those in).
    pub fn new(track: usize, pts: Timestamp, keyframe: bool, data: Vec<Bytes>) -> Self {
        Self {
            track,
            pts,
            dts: pts,
            keyframe,
            wallclock_us: None,
            data,
            new_params: None,
        }
    }

    /// Total payload size in bytes.
    pub fn len(&self) -> usize {
        self.data.iter().map(Bytes::len).sum()
    }

    /// Whether the unit carries no payload.
    pub fn is_empty(&self) -> bool {
        self.data.iter().all(Bytes::is_empty)
    }
}
