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
    /// A NAL unit may span several chunks (see `nal_ends`); read NAL units through
    /// [`AccessUnit::nals`].
    pub data: Vec<Bytes>,
    /// Empty when every chunk of `data` is one NAL unit. Otherwise where each NAL unit ends in
    /// `data` (one past its last chunk, increasing, the last equal to `data.len()`): a NAL unit
    /// reassembled from RTP fragmentation units keeps its fragments as chunks, its header in a
    /// chunk of its own, so its bytes are never copied.
    pub nal_ends: Vec<u32>,
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
            nal_ends: Vec::new(),
            new_params: None,
        }
    }

    /// The unit's NAL units (video) or frames (audio), each as its chunks of `data`. A
    /// malformed `nal_ends` ends the iteration where it stops making sense.
    pub fn nals(&self) -> Nals<'_> {
        Nals::new(&self.data, &self.nal_ends)
    }

    /// How many NAL units (or frames) the unit holds.
    pub fn nal_count(&self) -> usize {
        if self.nal_ends.is_empty() {
            self.data.len()
        } else {
            self.nal_ends.len()
        }
    }

    /// Each NAL unit in one `Bytes`, joining (copying) those in several chunks: for consumers
    /// that parse whole NAL units, off the per-packet path.
    pub fn contiguous_nals(&self) -> Vec<Bytes> {
        self.nals().map(join_chunks).collect()
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

/// The NAL units of an [`AccessUnit`], each as a slice of its chunks
/// ([`AccessUnit::nals`]).
#[derive(Clone, Debug)]
pub struct Nals<'a> {
    data: &'a [Bytes],
    ends: &'a [u32],
    start: usize,
    next: usize,
}

impl<'a> Nals<'a> {
    /// The NAL units of chunks `data` whose ends are `ends`, as in [`AccessUnit::nal_ends`]
    /// (for a unit still being built).
    pub fn new(data: &'a [Bytes], ends: &'a [u32]) -> Self {
        Self {
            data,
            ends,
            start: 0,
            next: 0,
        }
    }
}

impl<'a> Iterator for Nals<'a> {
    type Item = &'a [Bytes];

    fn next(&mut self) -> Option<&'a [Bytes]> {
        let end = if self.ends.is_empty() {
            self.start + 1
        } else {
            usize::try_from(*self.ends.get(self.next)?).ok()?
        };
        let chunks = self.data.get(self.start..end).filter(|c| !c.is_empty())?;
        self.start = end;
        self.next += 1;
        Some(chunks)
    }
}

/// A NAL unit's chunks in one `Bytes`: the chunk itself when there is one, else a copy.
pub fn join_chunks(chunks: &[Bytes]) -> Bytes {
    match chunks {
        [one] => one.clone(),
        _ => chunks.concat().into(),
    }
}

/// The first `N` bytes of a NAL unit given as chunks (fewer when it is shorter; the rest 0),
/// and how many there were: its header, or the start of a slice header, across chunk
/// boundaries.
pub fn leading_bytes<const N: usize>(chunks: &[Bytes]) -> ([u8; N], usize) {
    let mut out = [0u8; N];
    let mut filled = 0;
    for chunk in chunks {
        let take = chunk.len().min(N - filled);
        out[filled..filled + take].copy_from_slice(&chunk[..take]);
        filled += take;
        if filled == N {
            break;
        }
    }
    (out, filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(data: &[&'static [u8]], nal_ends: Vec<u32>) -> AccessUnit {
        let data = data.iter().map(|d| Bytes::from_static(d)).collect();
        AccessUnit {
            nal_ends,
            ..AccessUnit::new(0, Timestamp::new(0, 90_000), false, data)
        }
    }

    #[test]
    fn without_ends_every_chunk_is_a_nal_unit() {
        let au = unit(&[b"\x67ab", b"\x68c", b"\x65def"], vec![]);
        let nals: Vec<_> = au.nals().collect();
        assert_eq!(nals.len(), 3);
        assert_eq!(au.nal_count(), 3);
        assert_eq!(nals[2], [Bytes::from_static(b"\x65def")]);
        assert_eq!(au.contiguous_nals()[1], Bytes::from_static(b"\x68c"));
    }

    #[test]
    fn ends_group_chunks_into_nal_units() {
        let au = unit(&[b"\x06x", b"\x65", b"abc", b"de"], vec![1, 4]);
        let nals: Vec<_> = au.nals().collect();
        assert_eq!(nals.len(), 2);
        assert_eq!(au.nal_count(), 2);
        assert_eq!(nals[1].len(), 3);
        assert_eq!(au.contiguous_nals()[1], Bytes::from_static(b"\x65abcde"));
        assert_eq!(au.len(), 8);
    }

    #[test]
    fn malformed_ends_stop_the_iteration() {
        assert_eq!(unit(&[b"a", b"b"], vec![1, 5]).nals().count(), 1);
        assert_eq!(unit(&[b"a", b"b"], vec![2, 1]).nals().count(), 1);
        assert_eq!(unit(&[b"a", b"b"], vec![0, 2]).nals().count(), 0);
    }

    #[test]
    fn leading_bytes_cross_chunks() {
        let chunks = [
            Bytes::from_static(b"\x41"),
            Bytes::from_static(b"\x9a\x02\x03"),
        ];
        assert_eq!(leading_bytes::<3>(&chunks), ([0x41, 0x9a, 0x02], 3));
        assert_eq!(
            leading_bytes::<6>(&chunks),
            ([0x41, 0x9a, 0x02, 0x03, 0, 0], 4)
        );
        assert_eq!(leading_bytes::<2>(&[]), ([0, 0], 0));
    }
}
