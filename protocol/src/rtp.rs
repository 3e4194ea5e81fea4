//! RTP packets (RFC 3550 §5): zero-copy parsing, header serialization and receive statistics.
//!
//! [`RtpPacket::parse`] borrows nothing and copies nothing: the payload, CSRC list and header
//! extension are `Bytes` slices of the received datagram. [`RtpHeader::write`] produces the
//! 12-byte fixed header so a packet can go out as `[header, payload chunks...]` with vectored
//! writes. [`ReceiverStats`] keeps the per-source counters of RFC 3550 Appendix A.1 and A.8.

use bytes::{BufMut, Bytes, BytesMut};

/// Length of the fixed RTP header (RFC 3550 §5.1), without CSRCs or extension.
pub const FIXED_HEADER_LEN: usize = 12;

/// Why an RTP packet was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// The bytes are not a valid RTP packet; `pos` is the offending byte offset.
    #[error("invalid RTP packet at byte {pos}: {what}")]
    Invalid {
        /// Byte offset in the packet where the problem was found.
        pos: usize,
        /// What is wrong.
        what: &'static str,
    },
}

fn invalid(pos: usize, what: &'static str) -> RtpError {
    RtpError::Invalid { pos, what }
}

/// An RTP header extension (RFC 3550 §5.3.1): the profile-defined 16 bits and the data words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpExtension {
    /// The 16-bit "defined by profile" field (e.g. `0xBEDE` for RFC 8285 one-byte headers).
    pub profile: u16,
    /// Extension data, a multiple of 4 bytes, without the 4-byte extension header.
    pub data: Bytes,
}

/// A parsed RTP packet (RFC 3550 §5.1) whose variable parts are slices of the received bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpPacket {
    /// Marker bit; for video, set on the last packet of an access unit (RFC 6184 §5.1).
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// RTP timestamp in the payload's clock.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Contributing sources, 4 bytes each, big-endian; see [`RtpPacket::csrcs`].
    pub csrc: Bytes,
    /// Header extension, if the X bit is set.
    pub extension: Option<RtpExtension>,
    /// Payload with the padding removed.
    pub payload: Bytes,
    /// Number of padding bytes that were removed (0 if the P bit was clear).
    pub padding: u8,
}

impl RtpPacket {
    /// Parses `raw` as one RTP packet; the result's slices share `raw`'s buffer.
    ///
    /// Rejects: fewer than 12 bytes, version other than 2, CSRC list or extension running past
    /// the end, a padding count of 0 or larger than what follows the header (RFC 3550 §5.1).
    pub fn parse(raw: Bytes) -> Result<Self, RtpError> {
        let fixed: [u8; FIXED_HEADER_LEN] = raw
            .get(..FIXED_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(invalid(raw.len(), "shorter than the 12-byte fixed header"))?;
        if fixed[0] >> 6 != 2 {
            return Err(invalid(0, "version is not 2"));
        }
        let has_padding = fixed[0] & 0x20 != 0;
        let has_extension = fixed[0] & 0x10 != 0;
        let csrc_end = FIXED_HEADER_LEN + 4 * usize::from(fixed[0] & 0x0F);
        if csrc_end > raw.len() {
            return Err(invalid(raw.len(), "CSRC list runs past the end"));
        }
        let (extension, payload_start) = if has_extension {
            parse_extension(&raw, csrc_end)?
        } else {
            (None, csrc_end)
        };
        let (payload_end, padding) = if has_padding {
            padding_bounds(&raw, payload_start)?
        } else {
            (raw.len(), 0)
        };
        Ok(Self {
            marker: fixed[1] & 0x80 != 0,
            payload_type: fixed[1] & 0x7F,
            sequence_number: u16::from_be_bytes([fixed[2], fixed[3]]),
            timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
            csrc: raw.slice(FIXED_HEADER_LEN..csrc_end),
            extension,
            payload: raw.slice(payload_start..payload_end),
            padding,
        })
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.csrc
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The fixed-header fields of this packet.
    pub fn header(&self) -> RtpHeader {
        RtpHeader {
            marker: self.marker,
            payload_type: self.payload_type,
            sequence_number: self.sequence_number,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        }
    }

    /// Serializes the packet again (copying); CSRCs, extension and padding are kept.
    ///
    /// For a packet that [`RtpPacket::parse`] accepted, the output equals the input byte for byte.
    pub fn to_bytes(&self) -> Bytes {
        let ext_len = self.extension.as_ref().map_or(0, |e| 4 + e.data.len());
        let len = FIXED_HEADER_LEN + self.csrc.len() + ext_len + self.payload.len();
        let mut out = BytesMut::with_capacity(len + usize::from(self.padding));
        let mut first = self.header().fixed_bytes();
        first[0] |= (self.csrc.len() / 4) as u8 & 0x0F;
        if self.extension.is_some() {
            first[0] |= 0x10;
        }
        if self.padding > 0 {
            first[0] |= 0x20;
        }
        out.put_slice(&first);
        out.put_slice(&self.csrc);
        if let Some(ext) = &self.extension {
            out.put_u16(ext.profile);
            out.put_u16((ext.data.len() / 4) as u16);
            out.put_slice(&ext.data);
        }
        out.put_slice(&self.payload);
        if self.padding > 0 {
            out.put_bytes(0, usize::from(self.padding) - 1);
            out.put_u8(self.padding);
        }
        out.freeze()
    }
}

/// The fixed RTP header fields a sender chooses per packet (no CSRCs, no extension, no padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits; the high bit is ignored).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// The 12 header bytes (RFC 3550 §5.1), version 2, no padding, extension or CSRC.
    pub fn fixed_bytes(&self) -> [u8; FIXED_HEADER_LEN] {
        let mut b = [0u8; FIXED_HEADER_LEN];
        b[0] = 0x80;
        b[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        b[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        b[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        b
    }

    /// Appends the header bytes and `prefix` (e.g. a FU header) to `scratch` and splits them off
    /// as one `Bytes`. Reusing `scratch` across packets shares one allocation among many headers.
    pub fn write(&self, prefix: &[u8], scratch: &mut BytesMut) -> Bytes {
        scratch.reserve(FIXED_HEADER_LEN + prefix.len());
        scratch.put_slice(&self.fixed_bytes());
        scratch.put_slice(prefix);
        scratch.split().freeze()
    }
}

/// Parses the header extension starting at `start`; returns it and where the payload begins.
fn parse_extension(raw: &Bytes, start: usize) -> Result<(Option<RtpExtension>, usize), RtpError> {
    let head = raw
        .get(start..start + 4)
        .ok_or(invalid(start, "extension header runs past the end"))?;
    let profile = u16::from_be_bytes([head[0], head[1]]);
    let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let end = start + 4 + 4 * words;
    if end > raw.len() {
        return Err(invalid(start + 2, "extension length runs past the end"));
    }
    let data = raw.slice(start + 4..end);
    Ok((Some(RtpExtension { profile, data }), end))
}

/// Reads the padding count in the last byte; returns the payload end and the count.
fn padding_bounds(raw: &Bytes, payload_start: usize) -> Result<(usize, u8), RtpError> {
    let count = *raw
        .last()
        .ok_or(invalid(raw.len(), "padding bit set on an empty packet"))?;
    if count == 0 {
        return Err(invalid(raw.len() - 1, "padding count is zero"));
    }
    let end = raw
        .len()
        .checked_sub(usize::from(count))
        .filter(|&end| end >= payload_start)
        .ok_or(invalid(raw.len() - 1, "padding longer than the payload"))?;
    Ok((end, count))
}

/// Sequence-number gap beyond which a jump is a restart, not loss (RFC 3550 Appendix A.1).
const MAX_DROPOUT: u16 = 3000;
/// Backward distance still treated as reordering/duplicate (RFC 3550 Appendix A.1).
const MAX_MISORDER: u16 = 100;
/// In-order packets needed before a new source is valid (RFC 3550 Appendix A.1).
const MIN_SEQUENTIAL: u8 = 2;
const SEQ_MOD: i64 = 1 << 16;

/// Per-source receive statistics (RFC 3550 Appendix A.1 sequence validation, A.3 loss, A.8 jitter).
#[derive(Clone, Debug, Default)]
pub struct ReceiverStats {
    max_seq: u16,
    cycles: i64,
    base_seq: i64,
    bad_seq: Option<u16>,
    probation: u8,
    received: u64,
    expected_prior: i64,
    received_prior: u64,
    last_transit: Option<i64>,
    jitter_x16: u64,
    started: bool,
}

/// What [`ReceiverStats::on_packet`] concluded about a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In sequence, or a tolerated gap/reorder: count and use it.
    Valid,
    /// The source is still on probation (RFC 3550 A.1); the packet was counted as a candidate.
    Probation,
    /// A large jump; one more in-order packet from there restarts the sequence.
    Jump,
}

/// A receiver-report block's worth of numbers (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceptionReport {
    /// Fraction lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost (24-bit signed on the wire; clamped when written).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles << 16 | max seq).
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
}

impl ReceiverStats {
    /// Statistics for a source not yet seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a packet: its sequence number, RTP timestamp and arrival time expressed in the
    /// payload's clock units (the caller converts its `now`). Returns whether it is usable.
    pub fn on_packet(&mut self, seq: u16, rtp_ts: u32, arrival: i64) -> SeqVerdict {
        if !self.started {
            self.init_seq(seq);
            self.started = true;
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let verdict = self.update_seq(seq);
        if verdict == SeqVerdict::Valid {
            self.update_jitter(rtp_ts, arrival);
        }
        verdict
    }

    /// Extended highest sequence number received (RFC 3550 §6.4.1).
    pub fn extended_highest_seq(&self) -> i64 {
        self.cycles + i64::from(self.max_seq)
    }

    /// Packets received from this source (including duplicates, as RFC 3550 A.3 notes).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative packets lost: expected minus received (negative with duplicates).
    pub fn lost(&self) -> i64 {
        self.expected() - self.received as i64
    }

    /// Interarrival jitter estimate in timestamp units (RFC 3550 §6.4.1, A.8).
    pub fn jitter(&self) -> u32 {
        (self.jitter_x16 >> 4).min(u64::from(u32::MAX)) as u32
    }

    /// Builds a report and starts a new interval for the fraction-lost computation (A.3).
    pub fn report(&mut self) -> ReceptionReport {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received as i64 - self.received_prior as i64;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval - received_interval;
        let fraction_lost = if expected_interval <= 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval).min(255) as u8
        };
        ReceptionReport {
            fraction_lost,
            cumulative_lost: self.lost().clamp(-(1 << 23), (1 << 23) - 1) as i32,
            extended_highest_seq: self.extended_highest_seq() as u32,
            jitter: self.jitter(),
        }
    }

    fn expected(&self) -> i64 {
        if self.received == 0 {
            return 0;
        }
        self.extended_highest_seq() - self.base_seq + 1
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = i64::from(seq);
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// RFC 3550 Appendix A.1 `update_seq`.
    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += SEQ_MOD;
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= (1 << 16) - u32::from(MAX_MISORDER) {
            if self.bad_seq != Some(seq) {
                self.bad_seq = Some(seq.wrapping_add(1));
                return SeqVerdict::Jump;
            }
            self.init_seq(seq);
        }
        self.received += 1;
        SeqVerdict::Valid
    }

    /// RFC 3550 Appendix A.8, in 1/16 fixed point. The transit difference is taken modulo 2^32,
    /// as A.8's 32-bit arithmetic does, so an RTP timestamp wrap (every ~13 h at 90 kHz) is not
    /// a 2^32-tick jump in transit time.
    fn update_jitter(&mut self, rtp_ts: u32, arrival: i64) {
        let transit = arrival.wrapping_sub(i64::from(rtp_ts));
        if let Some(last) = self.last_transit {
            let d = (transit.wrapping_sub(last) as i32).unsigned_abs();
            let j = self.jitter_x16 as i128;
            let next = j + i128::from(d) - ((j + 8) >> 4);
            self.jitter_x16 = next.clamp(0, i128::from(u64::MAX >> 8)) as u64;
        }
        self.last_transit = Some(transit);
    }
}

#[doc(hidden)]
/// Fuzz entry: parses `data` as one packet; an accepted packet must re-serialize identically
/// (up to the padding's filler bytes).
pub fn fuzz_parse(data: &[u8]) {
    let raw = Bytes::copy_from_slice(data);
    if let Ok(pkt) = RtpPacket::parse(raw.clone()) {
        // Padding bytes other than the count are arbitrary on the wire and written as zeros.
        let enc = pkt.to_bytes();
        let kept = raw.len() - usize::from(pkt.padding);
        assert_eq!(enc.len(), raw.len());
        assert_eq!(enc[..kept], raw[..kept], "re-encode differs");
        assert!(pkt.payload.len() + FIXED_HEADER_LEN <= raw.len());
        let mut stats = ReceiverStats::new();
        stats.on_packet(pkt.sequence_number, pkt.timestamp, 0);
    }
}

/// Parse cases: `(name, bytes, expected result)`; drive the unit tests and the fuzz seed corpus.
#[doc(hidden)]
pub fn parse_cases() -> Vec<(&'static str, Vec<u8>, Result<(), &'static str>)> {
    let hdr = |b0: u8| {
        vec![
            b0, 0xE0, 0x12, 0x34, 0, 0, 0x03, 0xE8, 0xDE, 0xAD, 0xBE, 0xEF,
        ]
    };
    let with = |mut h: Vec<u8>, tail: &[u8]| {
        h.extend_from_slice(tail);
        h
    };
    vec![
        ("minimal", with(hdr(0x80), &[1, 2, 3]), Ok(())),
        ("empty_payload", hdr(0x80), Ok(())),
        (
            "csrc_2",
            with(hdr(0x82), &[0, 0, 0, 1, 0, 0, 0, 2, 9]),
            Ok(()),
        ),
        (
            "extension",
            with(hdr(0x90), &[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0, 7]),
            Ok(()),
        ),
        ("padding", with(hdr(0xA0), &[5, 6, 0, 0, 3]), Ok(())),
        ("padding_all", with(hdr(0xA0), &[0, 0, 3]), Ok(())),
        ("short", vec![0x80, 0x60, 0, 1], Err("shorter")),
        ("version_1", with(hdr(0x40), &[1]), Err("version")),
        ("csrc_past_end", with(hdr(0x83), &[0, 0, 0, 1]), Err("CSRC")),
        (
            "ext_header_past_end",
            with(hdr(0x90), &[0xBE]),
            Err("extension header"),
        ),
        (
            "ext_len_past_end",
            with(hdr(0x90), &[0xBE, 0xDE, 0, 2, 1, 2, 3, 4]),
            Err("extension length"),
        ),
        ("padding_zero", with(hdr(0xA0), &[1, 0]), Err("zero")),
        (
            "padding_too_long",
            with(hdr(0xA0), &[1, 2, 9]),
            Err("padding longer"),
        ),
        (
            "padding_into_ext",
            with(hdr(0xB0), &[0xBE, 0xDE, 0, 0, 2]),
            Err("padding longer"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_case_table() {
        for (name, bytes, want) in parse_cases() {
            let got = RtpPacket::parse(Bytes::from(bytes.clone()));
            match (got, want) {
                (Ok(pkt), Ok(())) => assert_eq!(pkt.to_bytes(), bytes, "{name}: re-encode"),
                (Err(RtpError::Invalid { what, .. }), Err(w)) => {
                    assert!(what.contains(w), "{name}: {what:?} lacks {w:?}")
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn fields_and_slices() {
        let raw = Bytes::from(parse_cases().remove(3).1);
        let pkt = RtpPacket::parse(raw).unwrap();
        assert!(pkt.marker);
        assert_eq!(pkt.payload_type, 0x60);
        assert_eq!(pkt.sequence_number, 0x1234);
        assert_eq!(pkt.timestamp, 1000);
        assert_eq!(pkt.ssrc, 0xDEAD_BEEF);
        let ext = pkt.extension.unwrap();
        assert_eq!(
            (ext.profile, &ext.data[..]),
            (0xBEDE, &[0x10, 0xAA, 0, 0][..])
        );
        assert_eq!(&pkt.payload[..], &[7]);
        let csrc = RtpPacket::parse(Bytes::from(parse_cases().remove(2).1)).unwrap();
        assert_eq!(csrc.csrcs().collect::<Vec<_>>(), vec![1, 2]);
        let pad = RtpPacket::parse(Bytes::from(parse_cases().remove(4).1)).unwrap();
        assert_eq!((&pad.payload[..], pad.padding), (&[5, 6][..], 3));
    }

    #[test]
    fn header_write_shares_scratch() {
        let mut scratch = BytesMut::new();
        let h = RtpHeader {
            marker: true,
            payload_type: 96,
            sequence_number: 65535,
            timestamp: 90_000,
            ssrc: 7,
        };
        let a = h.write(&[0x7C, 0x85], &mut scratch);
        assert_eq!(a.len(), 14);
        let pkt = RtpPacket::parse(a).unwrap();
        assert_eq!(pkt.header(), h);
        assert_eq!(&pkt.payload[..], &[0x7C, 0x85]);
    }

    fn feed(stats: &mut ReceiverStats, seqs: &[u16]) {
        for &s in seqs {
            stats.on_packet(s, 0, 0);
        }
    }

    #[test]
    fn stats_probation_then_loss_and_wrap() {
        let mut s = ReceiverStats::new();
        assert_eq!(s.on_packet(65533, 0, 0), SeqVerdict::Probation);
        assert_eq!(s.on_packet(65534, 0, 0), SeqVerdict::Valid);
        feed(&mut s, &[65535, 1, 2]); // 0 lost
        assert_eq!(s.extended_highest_seq(), 65536 + 2);
        assert_eq!(s.received(), 4);
        assert_eq!(s.lost(), 1);
        let r = s.report();
        assert_eq!(r.cumulative_lost, 1);
        assert_eq!(r.fraction_lost, 51); // 256 / 5
        feed(&mut s, &[3, 4]);
        assert_eq!(s.report().fraction_lost, 0);
    }

    #[test]
    fn stats_big_jump_restarts_after_two() {
        let mut s = ReceiverStats::new();
        feed(&mut s, &[10, 11, 12]);
        assert_eq!(s.on_packet(30_000, 0, 0), SeqVerdict::Jump);
        assert_eq!(s.on_packet(30_001, 0, 0), SeqVerdict::Valid);
        assert_eq!(s.extended_highest_seq(), 30_001);
        assert_eq!(s.lost(), 0);
    }

    #[test]
    fn stats_jitter_follows_a8() {
        let mut s = ReceiverStats::new();
        // 20 ms packets at 8 kHz (160 ticks), arrivals alternate 0 / +80 ticks late.
        for i in 0..200u16 {
            let ts = u32::from(i) * 160;
            let late = if i % 2 == 0 { 0 } else { 80 };
            s.on_packet(i, ts, i64::from(ts) + late);
        }
        assert!((75..=80).contains(&s.jitter()), "jitter {}", s.jitter());
    }

    #[test]
    fn stats_jitter_ignores_the_timestamp_wrap() {
        let mut s = ReceiverStats::new();
        // 40 ms frames at 90 kHz whose RTP timestamps wrap past 2^32 midway, arriving on time
        // but for a 900-tick lateness on every other frame, as in A.8's example above.
        let start = u32::MAX - 50 * 3_600;
        for i in 0..100u16 {
            let ts = start.wrapping_add(u32::from(i) * 3_600);
            let arrival =
                i64::from(start) + i64::from(i) * 3_600 + if i % 2 == 0 { 0 } else { 900 };
            s.on_packet(i, ts, arrival);
        }
        assert!((850..=900).contains(&s.jitter()), "jitter {}", s.jitter());
    }
}
