//! RTP payload formats: packetizers and depacketizers per codec.
//!
//! Depacketizers are push/pull: [`Depacketizer::push`] one RTP packet, then
//! [`Depacketizer::pull`] until `None`. H.264 and H.265 units copy no payload byte: their NAL
//! units are slices of the received packets, and a NAL unit reassembled from fragmentation units
//! (FU-A, FU) is its fragments, after a chunk holding its reconstructed header
//! ([`AccessUnit::nal_ends`]). A unit therefore keeps the buffers its packets were read into
//! alive while a ring holds it: the server reads each RTSP/TCP connection into 64 KiB buffers of
//! its own, filled one after another, and copies UDP datagrams into a buffer per publisher, so
//! what a camera's ring holds is its own media (issue 11). Audio frames (AAC, G.711, Opus) are
//! small and are copied once, into buffers of exactly the unit's size (at most [`MAX_AU_SIZE`]).
//! Timestamps are RTP time unwrapped to i64 such that
//! `pts.ticks as u32` is the packet's RTP timestamp, so RTCP sender reports map them directly
//! ([`crate::rtcp::SenderReportState::wallclock_us`]).
//!
//! Packetizers turn one access unit into [`OutPacket`]s whose first chunk is the RTP header (plus
//! any payload-format header) and whose other chunks are slices of the access unit: nothing is
//! copied, and a packet goes out with one vectored write.

mod aac;
mod g711;
mod h264;
mod h265;
mod opus;
mod unit_per_packet;
mod video;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use vigia_media::model::{AccessUnit, CodecParams, Track};
use vigia_media::time::{Timestamp, Unwrapper};

use crate::rtp::{RtpHeader, RtpPacket};

pub use aac::{AAC_FRAME_SAMPLES, AacDepacketizer, AacPacketizer};
pub use g711::{G711Depacketizer, G711Packetizer};
pub use h264::{H264Depacketizer, H264Packetizer};
pub use h265::{H265Depacketizer, H265Packetizer};
pub use opus::{OpusDepacketizer, OpusPacketizer, opus_packet_duration_48k};

/// Largest access unit a depacketizer assembles (8 MiB); larger ones are dropped with an error.
pub const MAX_AU_SIZE: usize = 8 << 20;

/// Default largest RTP payload a packetizer produces, in bytes (fits a 1500-byte Ethernet MTU
/// with IP, UDP, RTP and SRTP overhead to spare).
pub const DEFAULT_MTU_PAYLOAD: usize = 1450;

/// Access units a depacketizer holds ready before it drops the oldest (the caller should pull
/// after every push, so this only bites a caller that does not).
const MAX_READY: usize = 16;

/// What was wrong with a received packet, and which one it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (ssrc {ssrc:08x}, seq {seq})")]
pub struct DepacketizeError {
    /// SSRC of the offending packet.
    pub ssrc: u32,
    /// Sequence number of the offending packet.
    pub seq: u16,
    /// What went wrong.
    pub kind: DepacketizeErrorKind,
}

/// The kinds of [`DepacketizeError`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeErrorKind {
    /// The payload violates its RTP payload format.
    #[error("invalid payload: {0}")]
    Invalid(&'static str),
    /// A valid but unsupported construct (e.g. H.264 interleaved mode).
    #[error("unsupported payload: {0}")]
    Unsupported(&'static str),
    /// An access unit grew past [`MAX_AU_SIZE`].
    #[error("access unit of {size} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size reached.
        size: usize,
        /// The limit.
        max: usize,
    },
}

impl DepacketizeErrorKind {
    /// This error located at `pkt` (its SSRC and sequence number).
    fn at(self, pkt: &RtpPacket) -> DepacketizeError {
        DepacketizeError {
            ssrc: pkt.ssrc,
            seq: pkt.sequence_number,
            kind: self,
        }
    }
}

/// Why an access unit could not be packetized.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    /// The access unit's data cannot be carried (e.g. an empty or header-less NAL unit).
    #[error("cannot packetize: {0}")]
    Invalid(&'static str),
}

/// Counters a depacketizer keeps; the server exports them as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepacketizeStats {
    /// Packets pushed.
    pub packets: u64,
    /// Packets missing according to sequence-number gaps.
    pub packets_lost: u64,
    /// Packets ignored: late/duplicate, or belonging to an access unit being skipped.
    pub packets_discarded: u64,
    /// Access units produced.
    pub access_units: u64,
    /// Access units dropped because of loss, errors, or an unread output queue.
    pub access_units_dropped: u64,
    /// Payload bytes copied into access units: audio frames, copied once into a buffer of the
    /// unit's exact size; none for H.264 and H.265 (see the module doc).
    pub bytes_copied: u64,
}

/// Turns RTP packets of one track into access units (push one packet, pull until `None`).
pub trait Depacketizer: Send {
    /// Takes one received packet. On error the packet and any partial access unit are dropped,
    /// and the depacketizer stays usable.
    fn push(&mut self, pkt: &RtpPacket) -> Result<(), DepacketizeError>;

    /// The next complete access unit, if any.
    fn pull(&mut self) -> Option<AccessUnit>;

    /// Counters since creation.
    fn stats(&self) -> DepacketizeStats;

    /// Panics if internal state is inconsistent; fuzzers call it after every step.
    fn check_invariants(&self);
}

/// Implements [`Depacketizer`] for a public depacketizer type by forwarding every method to
/// the shared core in its field `$core` (one with `push`, `pull`, `stats` and
/// `check_invariants` methods of the trait's signatures).
macro_rules! forward_depacketizer {
    ($ty:ty, $core:ident) => {
        impl $crate::payload::Depacketizer for $ty {
            fn push(
                &mut self,
                pkt: &$crate::rtp::RtpPacket,
            ) -> Result<(), $crate::payload::DepacketizeError> {
                self.$core.push(pkt)
            }

            fn pull(&mut self) -> Option<vigia_media::model::AccessUnit> {
                self.$core.pull()
            }

            fn stats(&self) -> $crate::payload::DepacketizeStats {
                self.$core.stats()
            }

            fn check_invariants(&self) {
                self.$core.check_invariants();
            }
        }
    };
}
use forward_depacketizer;

/// Implements [`Packetizer`] for a public packetizer type by forwarding both methods to the
/// shared packetizer in its field `$core`.
macro_rules! forward_packetizer {
    ($ty:ty, $core:ident) => {
        impl $crate::payload::Packetizer for $ty {
            fn packetize(
                &mut self,
                au: &vigia_media::model::AccessUnit,
                out: &mut Vec<$crate::payload::OutPacket>,
            ) -> Result<(), $crate::payload::PacketizeError> {
                self.$core.packetize(au, out)
            }

            fn next_sequence_number(&self) -> u16 {
                self.$core.next_sequence_number()
            }
        }
    };
}
use forward_packetizer;

/// One RTP packet to send: `chunks[0]` is the RTP header (plus payload-format headers), the other
/// chunks are slices of the access unit. Write them with one vectored write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutPacket {
    /// Sequence number written in the header.
    pub sequence_number: u16,
    /// RTP timestamp written in the header.
    pub timestamp: u32,
    /// Marker bit written in the header.
    pub marker: bool,
    /// Header chunk first, then payload slices.
    pub chunks: Vec<Bytes>,
}

impl OutPacket {
    /// Total packet length in bytes.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    /// Whether the packet has no bytes (never true for packets built here).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// RTP payload length (everything after the 12-byte fixed header), for RTCP octet counts.
    pub fn payload_len(&self) -> usize {
        self.len().saturating_sub(crate::rtp::FIXED_HEADER_LEN)
    }

    /// The packet as one contiguous buffer (copies; for datagram APIs without vectored writes).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len());
        self.chunks.iter().for_each(|c| out.extend_from_slice(c));
        out.freeze()
    }
}

/// How a packetizer stamps its packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketizerConfig {
    /// RTP payload type.
    pub payload_type: u8,
    /// SSRC.
    pub ssrc: u32,
    /// Sequence number of the first packet (RFC 3550 §5.1: should be random).
    pub initial_seq: u16,
    /// Added to every RTP timestamp (RFC 3550 §5.1: should be random).
    pub timestamp_offset: u32,
    /// Largest RTP payload in bytes; [`DEFAULT_MTU_PAYLOAD`] unless the path is known smaller.
    pub mtu: usize,
}

/// Turns access units of one track into RTP packets.
pub trait Packetizer: Send {
    /// Appends the packets carrying `au` to `out`; the last packet of a video unit has the marker.
    fn packetize(
        &mut self,
        au: &AccessUnit,
        out: &mut Vec<OutPacket>,
    ) -> Result<(), PacketizeError>;

    /// Sequence number the next packet will carry.
    fn next_sequence_number(&self) -> u16;
}

/// The depacketizer for `track`, producing access units tagged with `track_index`.
pub fn depacketizer_for(track: &Track, track_index: usize) -> Box<dyn Depacketizer> {
    match &track.codec {
        CodecParams::H264(p) => Box::new(H264Depacketizer::new(
            track_index,
            track.clock_rate,
            p.clone(),
        )),
        CodecParams::H265(p) => Box::new(H265Depacketizer::new(
            track_index,
            track.clock_rate,
            p.clone(),
        )),
        CodecParams::Aac(_) => Box::new(AacDepacketizer::new(track_index, track.clock_rate)),
        CodecParams::G711(p) => Box::new(G711Depacketizer::new(
            track_index,
            track.clock_rate,
            p.channels,
        )),
        CodecParams::Opus(_) => Box::new(OpusDepacketizer::new(track_index, track.clock_rate)),
    }
}

/// The packetizer for `track`.
pub fn packetizer_for(track: &Track, cfg: PacketizerConfig) -> Box<dyn Packetizer> {
    match &track.codec {
        CodecParams::H264(_) => Box::new(H264Packetizer::new(cfg, track.clock_rate)),
        CodecParams::H265(_) => Box::new(H265Packetizer::new(cfg, track.clock_rate)),
        CodecParams::Aac(_) => Box::new(AacPacketizer::new(cfg, track.clock_rate)),
        CodecParams::G711(p) => Box::new(G711Packetizer::new(cfg, track.clock_rate, p.channels)),
        CodecParams::Opus(_) => Box::new(OpusPacketizer::new(cfg, track.clock_rate)),
    }
}

/// What [`RtpTimeline::on_packet`] says about a packet's place in the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SeqEvent {
    /// Next in sequence (or the first packet).
    InOrder,
    /// `n` packets were skipped before this one; `0` means the sender restarted its sequence
    /// (a jump back further than [`MAX_MISORDER`]), so nothing is known about loss.
    Gap(u16),
    /// At most [`MAX_MISORDER`] behind the last one: a duplicate or a packet reordered too late.
    Late,
}

/// How far back a sequence number may be and still count as reordering rather than a restart
/// (RFC 3550 Appendix A.1 uses the same bound).
const MAX_MISORDER: u16 = 100;

/// Sequence tracking and timestamp unwrapping shared by all depacketizers.
#[derive(Clone, Debug, Default)]
struct RtpTimeline {
    last_seq: Option<u16>,
    unwrapper: Option<Unwrapper>,
}

impl RtpTimeline {
    /// Classifies `pkt` and returns its unwrapped timestamp (low 32 bits equal the RTP time).
    fn on_packet(&mut self, pkt: &RtpPacket) -> (SeqEvent, i64) {
        let event = match self.last_seq {
            None => SeqEvent::InOrder,
            Some(last) => match pkt.sequence_number.wrapping_sub(last.wrapping_add(1)) as i16 {
                0 => SeqEvent::InOrder,
                n if n > 0 => SeqEvent::Gap(n as u16),
                n if n.unsigned_abs() <= MAX_MISORDER + 1 => SeqEvent::Late,
                _ => SeqEvent::Gap(0),
            },
        };
        if event == SeqEvent::Late {
            return (event, 0);
        }
        self.last_seq = Some(pkt.sequence_number);
        let first = pkt.timestamp;
        let unwrapper = self
            .unwrapper
            .get_or_insert_with(|| Unwrapper::starting_at(first, i64::from(first)));
        (event, unwrapper.unwrap(pkt.timestamp))
    }

    /// [`RtpTimeline::on_packet`] with the counting every depacketizer does: the packet, any
    /// lost before it, and a late one as discarded. Returns `None` for a late packet (ignore it).
    fn admit(&mut self, pkt: &RtpPacket, stats: &mut DepacketizeStats) -> Option<(SeqEvent, i64)> {
        stats.packets += 1;
        let (event, ts) = self.on_packet(pkt);
        match event {
            SeqEvent::Late => {
                stats.packets_discarded += 1;
                return None;
            }
            SeqEvent::Gap(n) => stats.packets_lost += u64::from(n),
            SeqEvent::InOrder => {}
        }
        Some((event, ts))
    }
}

/// Bounded queue of finished access units.
#[derive(Clone, Debug, Default)]
struct ReadyQueue {
    aus: VecDeque<AccessUnit>,
}

impl ReadyQueue {
    fn push(&mut self, au: AccessUnit, stats: &mut DepacketizeStats) {
        if self.aus.len() >= MAX_READY {
            self.aus.pop_front();
            stats.access_units_dropped += 1;
        }
        stats.access_units += 1;
        self.aus.push_back(au);
    }

    fn pop(&mut self) -> Option<AccessUnit> {
        self.aus.pop_front()
    }

    fn check_invariants(&self) {
        assert!(self.aus.len() <= MAX_READY);
        for au in &self.aus {
            assert!(!au.data.is_empty(), "empty access unit queued");
            assert!(au.len() <= MAX_AU_SIZE, "oversized access unit queued");
        }
    }
}

/// Copies the chunks `selected` picks (by index) into one allocation of exactly their total
/// length and points each at its copy; returns how many bytes were copied.
///
/// Used for audio units, whose frames are a few hundred bytes: copied, they hold an exactly
/// sized buffer rather than the receive buffers their packets were read into (video units are
/// slices of those instead, see the module doc).
fn copy_exact(chunks: &mut [Bytes], selected: impl Fn(usize) -> bool) -> usize {
    let total: usize = (0..chunks.len())
        .filter(|&i| selected(i))
        .filter_map(|i| chunks.get(i).map(Bytes::len))
        .sum();
    if total == 0 {
        return 0;
    }
    let mut buf = BytesMut::with_capacity(total);
    for (i, chunk) in chunks.iter().enumerate() {
        if selected(i) {
            buf.extend_from_slice(chunk);
        }
    }
    let buf = buf.freeze();
    let mut pos = 0;
    for (i, chunk) in chunks.iter_mut().enumerate() {
        if selected(i) {
            let end = pos + chunk.len();
            *chunk = buf.slice(pos..end);
            pos = end;
        }
    }
    total
}

/// Sequence numbering and header writing shared by all packetizers.
#[derive(Clone, Debug)]
struct PacketWriter {
    cfg: PacketizerConfig,
    clock_rate: u32,
    seq: u16,
    scratch: BytesMut,
}

impl PacketWriter {
    fn new(cfg: PacketizerConfig, clock_rate: u32) -> Self {
        let cfg = PacketizerConfig {
            mtu: cfg.mtu.max(64),
            ..cfg
        };
        Self {
            cfg,
            clock_rate,
            seq: cfg.initial_seq,
            scratch: BytesMut::new(),
        }
    }

    /// RTP timestamp of `ticks` in the track clock, plus the configured offset.
    fn rtp_ts(&self, pts: Timestamp) -> u32 {
        (pts.rescale(self.clock_rate).ticks as u32).wrapping_add(self.cfg.timestamp_offset)
    }

    /// A few bytes (e.g. an aggregation size field) as a chunk sharing the scratch allocation.
    fn small(&mut self, bytes: &[u8]) -> Bytes {
        self.scratch.extend_from_slice(bytes);
        self.scratch.split().freeze()
    }

    /// Builds one packet: RTP header + `prefix` in one chunk, then `payload` chunks.
    fn emit(&mut self, ts: u32, marker: bool, prefix: &[u8], payload: &[Bytes]) -> OutPacket {
        let header = RtpHeader {
            marker,
            payload_type: self.cfg.payload_type,
            sequence_number: self.seq,
            timestamp: ts,
            ssrc: self.cfg.ssrc,
        };
        if self.scratch.capacity() < 64 {
            self.scratch.reserve(2048);
        }
        let mut chunks = Vec::with_capacity(1 + payload.len());
        chunks.push(header.write(prefix, &mut self.scratch));
        chunks.extend(payload.iter().filter(|c| !c.is_empty()).cloned());
        self.seq = self.seq.wrapping_add(1);
        OutPacket {
            sequence_number: header.sequence_number,
            timestamp: ts,
            marker,
            chunks,
        }
    }
}

/// Which depacketizer a fuzz input drives.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuzzCodec {
    /// H.264, 90 kHz.
    H264,
    /// H.265, 90 kHz.
    H265,
    /// AAC-hbr, 48 kHz.
    Aac,
    /// G.711 PCMA, 8 kHz.
    G711,
    /// Opus, 48 kHz.
    Opus,
}

impl FuzzCodec {
    /// All codecs, for corpus writers.
    pub const ALL: [FuzzCodec; 5] = [Self::H264, Self::H265, Self::Aac, Self::G711, Self::Opus];

    /// The fuzz target name (`depacketize_<codec>`).
    pub fn target(self) -> &'static str {
        match self {
            Self::H264 => "depacketize_h264",
            Self::H265 => "depacketize_h265",
            Self::Aac => "depacketize_aac",
            Self::G711 => "depacketize_g711",
            Self::Opus => "depacketize_opus",
        }
    }

    /// The track a fuzz input is decoded as (also the codec's track in the round-trip tests).
    fn track(self) -> Track {
        use vigia_media::model::{AacParams, G711Params, OpusParams};
        let (codec, clock_rate) = match self {
            Self::H264 => (CodecParams::H264(Default::default()), 90_000),
            Self::H265 => (CodecParams::H265(Default::default()), 90_000),
            Self::Aac => {
                let config = Bytes::from_static(&[0x11, 0x90]);
                (
                    CodecParams::Aac(AacParams {
                        config,
                        sample_rate: 48_000,
                        channels: 2,
                    }),
                    48_000,
                )
            }
            Self::G711 => (
                CodecParams::G711(G711Params {
                    mu_law: false,
                    sample_rate: 8000,
                    channels: 1,
                }),
                8000,
            ),
            Self::Opus => (CodecParams::Opus(OpusParams { channels: 2 }), 48_000),
        };
        Track { codec, clock_rate }
    }

    /// Case-table inputs for this codec as `(name, fuzz input)`, the seed corpus.
    pub fn seeds(self) -> Vec<(String, Vec<u8>)> {
        let cases = match self {
            Self::H264 => h264::cases(),
            Self::H265 => h265::cases(),
            Self::Aac => aac::cases(),
            Self::G711 => g711::cases(),
            Self::Opus => opus::cases(),
        };
        cases
            .into_iter()
            .map(|c| (c.name.to_owned(), join_packets(&c.packets)))
            .collect()
    }
}

/// Fuzz input format: packets each prefixed by a big-endian u16 length.
#[doc(hidden)]
pub fn join_packets(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        out.extend_from_slice(&(p.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        out.extend_from_slice(p.get(..usize::from(u16::MAX)).unwrap_or(p));
    }
    out
}

/// Splits a fuzz input into packets (a truncated last packet is kept as is).
#[doc(hidden)]
pub fn split_packets(mut data: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    while let [hi, lo, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        out.push(Bytes::copy_from_slice(&rest[..len]));
        data = &rest[len..];
    }
    out
}

/// Fuzz entry: parses length-prefixed packets, pushes each, pulls everything, checks invariants.
#[doc(hidden)]
pub fn fuzz_depacketize(codec: FuzzCodec, data: &[u8]) -> Vec<AccessUnit> {
    let track = codec.track();
    let mut d = depacketizer_for(&track, 0);
    let mut out = Vec::new();
    for raw in split_packets(data) {
        let Ok(pkt) = RtpPacket::parse(raw) else {
            continue;
        };
        let _ = d.push(&pkt);
        d.check_invariants();
        while let Some(au) = d.pull() {
            assert!(!au.data.is_empty());
            check_repacketize(&track, &au);
            out.push(au);
            d.check_invariants();
        }
    }
    out
}

/// Packetizes `au` again and depacketizes the result: the payload must survive unchanged
/// (NAL for NAL for video, byte for byte for audio).
fn check_repacketize(track: &Track, au: &AccessUnit) {
    let cfg = PacketizerConfig {
        payload_type: 96,
        ssrc: 1,
        initial_seq: 0,
        timestamp_offset: 0,
        mtu: 300,
    };
    let mut packets = Vec::new();
    if packetizer_for(track, cfg)
        .packetize(au, &mut packets)
        .is_err()
    {
        return; // e.g. an empty AAC frame or a malformed Opus TOC: not packetizable
    }
    let mut d = depacketizer_for(track, 0);
    let mut back = Vec::new();
    for p in &packets {
        let pkt = RtpPacket::parse(p.to_bytes()).expect("own packet parses");
        d.push(&pkt).expect("own packet depacketizes");
        back.extend(std::iter::from_fn(|| d.pull()));
    }
    assert_eq!(
        back.first().map(|a| a.pts.ticks as u32),
        Some(au.pts.ticks as u32)
    );
    let flat = |aus: &[AccessUnit]| aus.iter().flat_map(|a| a.data.clone()).collect::<Vec<_>>();
    if track.kind() == vigia_media::model::MediaKind::Video {
        let nals = |aus: &[AccessUnit]| {
            aus.iter()
                .flat_map(AccessUnit::contiguous_nals)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            nals(&back),
            au.contiguous_nals(),
            "NAL units changed by a round trip"
        );
    } else {
        assert_eq!(
            flat(&back).concat(),
            au.data.concat(),
            "audio changed by a round trip"
        );
    }
}

/// One row of a depacketizer case table: packets in, access units expected out.
#[derive(Clone, Debug)]
#[cfg_attr(not(test), allow(dead_code))] // expectations are read by tests only
struct Case {
    name: &'static str,
    packets: Vec<Vec<u8>>,
    /// Expected access units as `(pts ticks, keyframe, chunk lengths)`.
    want: Vec<(i64, bool, Vec<usize>)>,
    /// Expected number of push errors.
    errors: usize,
}

/// Builds an RTP packet for case tables.
fn rtp(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let h = RtpHeader {
        marker,
        payload_type: 96,
        sequence_number: seq,
        timestamp: ts,
        ssrc: 0x5EED,
    };
    let mut v = h.fixed_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// Splits a captured fixture (length-prefixed packets) into packets.
fn fixture(data: &[u8]) -> Vec<Vec<u8>> {
    split_packets(data)
        .into_iter()
        .map(|b| b.to_vec())
        .collect()
}

/// Runs every case of a codec's table through a fresh depacketizer from `new`, comparing
/// summaries; shared by every codec's tests.
#[cfg(test)]
fn run_cases(cases: &[Case], new: impl Fn() -> Box<dyn Depacketizer>) {
    for case in cases {
        run_case(case, new());
    }
}

/// Runs one case through `d`, comparing summaries.
#[cfg(test)]
fn run_case(case: &Case, mut d: Box<dyn Depacketizer>) {
    let mut got = Vec::new();
    let mut errors = 0;
    for p in &case.packets {
        let pkt = RtpPacket::parse(Bytes::from(p.clone())).expect(case.name);
        if d.push(&pkt).is_err() {
            errors += 1;
        }
        d.check_invariants();
        while let Some(au) = d.pull() {
            got.push((
                au.pts.ticks,
                au.keyframe,
                au.contiguous_nals()
                    .iter()
                    .map(Bytes::len)
                    .collect::<Vec<_>>(),
            ));
        }
    }
    assert_eq!(got, case.want, "{}: access units", case.name);
    assert_eq!(errors, case.errors, "{}: errors", case.name);
}

/// Packetizes `au`, parses the packets back, depacketizes them and checks the result matches.
#[cfg(test)]
fn round_trip(track: &Track, au: &AccessUnit, mtu: usize) -> Vec<OutPacket> {
    let cfg = PacketizerConfig {
        payload_type: 96,
        ssrc: 1,
        initial_seq: 65534,
        timestamp_offset: 0,
        mtu,
    };
    let mut p = packetizer_for(track, cfg);
    let mut out = Vec::new();
    p.packetize(au, &mut out).unwrap();
    let mut d = depacketizer_for(track, au.track);
    let mut got = Vec::new();
    for pkt in &out {
        assert!(
            pkt.payload_len() <= mtu.max(64),
            "payload {} > mtu {mtu}",
            pkt.payload_len()
        );
        d.push(&RtpPacket::parse(pkt.to_bytes()).unwrap()).unwrap();
        d.check_invariants();
        got.extend(std::iter::from_fn(|| d.pull()));
    }
    // Marker-less tails (audio) flush on the next timestamp; video ends with the marker.
    let data: Vec<Bytes> = got.iter().flat_map(AccessUnit::contiguous_nals).collect();
    assert_eq!(data, au.contiguous_nals(), "payload round trip");
    assert_eq!(got.first().map(|a| a.pts), Some(au.pts), "pts round trip");
    out
}
