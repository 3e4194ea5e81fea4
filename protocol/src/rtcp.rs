//! RTCP (RFC 3550 §6): compound packet parsing, SR/RR/SDES serialization, and the clock mapping
//! that sender reports provide.
//!
//! [`parse_compound`] accepts SR, RR, SDES and BYE and skips APP and unknown types (keeping their
//! bytes). [`SenderReportState`] maps RTP time to wall-clock time from the last SR received, so an
//! ingest can stamp `wallclock_us`. [`SenderReportGenerator`] builds SRs from a sender's counters.

use bytes::{BufMut, Bytes, BytesMut};

use crate::rtp::ReceptionReport;

/// Seconds between the NTP epoch (1900) and the UNIX epoch (1970).
const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

/// Packet types (RFC 3550 §12.1).
const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;

/// Why an RTCP compound packet was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// The bytes are not valid RTCP; `pos` is the offending byte offset in the compound packet.
    #[error("invalid RTCP at byte {pos}: {what}")]
    Invalid {
        /// Byte offset in the compound packet.
        pos: usize,
        /// What is wrong.
        what: &'static str,
    },
}

fn invalid(pos: usize, what: &'static str) -> RtcpError {
    RtcpError::Invalid { pos, what }
}

/// A 64-bit NTP timestamp (RFC 3550 §4): seconds since 1900 in the high 32 bits, fraction below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The NTP time of a UNIX time in microseconds.
    pub fn from_unix_micros(us: i64) -> Self {
        let secs = us.div_euclid(1_000_000) + NTP_UNIX_OFFSET_SECS;
        let frac = ((us.rem_euclid(1_000_000) as u64) << 32) / 1_000_000;
        Self(((secs as u64) << 32) | frac)
    }

    /// The UNIX time in microseconds (NTP era 0, i.e. until 2036; later values wrap).
    pub fn to_unix_micros(self) -> i64 {
        let secs = (self.0 >> 32) as i64 - NTP_UNIX_OFFSET_SECS;
        let frac_us = ((self.0 & 0xFFFF_FFFF) * 1_000_000 + (1 << 31)) >> 32;
        secs * 1_000_000 + frac_us as i64
    }

    /// The middle 32 bits, as used in LSR fields (RFC 3550 §6.4.1).
    pub fn middle32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// One report block of an SR or RR (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    /// Source this block is about.
    pub ssrc: u32,
    /// Loss, highest sequence and jitter.
    pub reception: ReceptionReport,
    /// Middle 32 bits of the last SR's NTP time from that source (0 if none).
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s (0 if none).
    pub delay_since_last_sr: u32,
}

/// A sender report (RFC 3550 §6.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderReport {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Wall-clock time when the report was sent.
    pub ntp: NtpTimestamp,
    /// The same instant in the sender's RTP clock.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
    /// Reception report blocks.
    pub reports: Vec<ReportBlock>,
}

/// A receiver report (RFC 3550 §6.4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverReport {
    /// The reporter's SSRC.
    pub ssrc: u32,
    /// Reception report blocks.
    pub reports: Vec<ReportBlock>,
}

/// One SDES chunk (RFC 3550 §6.5): a source and its items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdesChunk {
    /// The source described.
    pub ssrc: u32,
    /// `(item type, value)` pairs; type 1 is CNAME.
    pub items: Vec<(u8, Bytes)>,
}

/// One packet of a compound RTCP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RtcpPacket {
    /// Sender report (PT 200).
    SenderReport(SenderReport),
    /// Receiver report (PT 201).
    ReceiverReport(ReceiverReport),
    /// Source description (PT 202).
    SourceDescription(Vec<SdesChunk>),
    /// Goodbye (PT 203): the sources leaving and an optional reason.
    Bye {
        /// Sources leaving.
        ssrcs: Vec<u32>,
        /// Reason for leaving, if given.
        reason: Option<Bytes>,
    },
    /// APP (PT 204) or any other type, kept raw (header included) and otherwise ignored.
    Other {
        /// Packet type.
        packet_type: u8,
        /// The whole packet, header included.
        raw: Bytes,
    },
}

/// Parses a compound RTCP packet (RFC 3550 §6.1) into its packets.
///
/// Each packet's version must be 2 and its length must fit; padding is only honoured on the last
/// packet. Unknown types are returned as [`RtcpPacket::Other`], so new types never fail a parse.
pub fn parse_compound(raw: &Bytes) -> Result<Vec<RtcpPacket>, RtcpError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let head = raw
            .get(pos..pos + 4)
            .ok_or(invalid(pos, "truncated RTCP header"))?;
        if head[0] >> 6 != 2 {
            return Err(invalid(pos, "version is not 2"));
        }
        let len = 4 + 4 * usize::from(u16::from_be_bytes([head[2], head[3]]));
        let end = pos + len;
        if end > raw.len() {
            return Err(invalid(pos + 2, "length runs past the end"));
        }
        let body_end = if head[0] & 0x20 != 0 {
            strip_padding(raw, pos, end)?
        } else {
            end
        };
        let count = head[0] & 0x1F;
        out.push(parse_one(
            raw.slice(pos..end),
            head[1],
            count,
            body_end - pos,
            pos,
        )?);
        pos = end;
    }
    Ok(out)
}

fn strip_padding(raw: &Bytes, pos: usize, end: usize) -> Result<usize, RtcpError> {
    if end != raw.len() {
        return Err(invalid(pos, "padding on a packet that is not last"));
    }
    let count = usize::from(raw.get(end - 1).copied().unwrap_or(0));
    if count == 0 || count > end - pos - 4 {
        return Err(invalid(end - 1, "bad padding count"));
    }
    Ok(end - count)
}

/// Parses one packet; `pkt` is its bytes, `body_len` its length without padding.
fn parse_one(
    pkt: Bytes,
    pt: u8,
    count: u8,
    body_len: usize,
    at: usize,
) -> Result<RtcpPacket, RtcpError> {
    let body = pkt.slice(4..body_len);
    match pt {
        PT_SR => parse_sr(&body, count, at).map(RtcpPacket::SenderReport),
        PT_RR => parse_rr(&body, count, at).map(RtcpPacket::ReceiverReport),
        PT_SDES => parse_sdes(&body, count, at).map(RtcpPacket::SourceDescription),
        PT_BYE => parse_bye(&body, count, at),
        _ => Ok(RtcpPacket::Other {
            packet_type: pt,
            raw: pkt,
        }),
    }
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn parse_sr(body: &[u8], count: u8, at: usize) -> Result<SenderReport, RtcpError> {
    let short = || invalid(at, "sender report too short");
    let ntp_hi = be32(body, 4).ok_or_else(short)?;
    let ntp_lo = be32(body, 8).ok_or_else(short)?;
    Ok(SenderReport {
        ssrc: be32(body, 0).ok_or_else(short)?,
        ntp: NtpTimestamp((u64::from(ntp_hi) << 32) | u64::from(ntp_lo)),
        rtp_timestamp: be32(body, 12).ok_or_else(short)?,
        packet_count: be32(body, 16).ok_or_else(short)?,
        octet_count: be32(body, 20).ok_or_else(short)?,
        reports: parse_blocks(body.get(24..).unwrap_or(&[]), count, at)?,
    })
}

fn parse_rr(body: &[u8], count: u8, at: usize) -> Result<ReceiverReport, RtcpError> {
    Ok(ReceiverReport {
        ssrc: be32(body, 0).ok_or(invalid(at, "receiver report too short"))?,
        reports: parse_blocks(body.get(4..).unwrap_or(&[]), count, at)?,
    })
}

fn parse_blocks(b: &[u8], count: u8, at: usize) -> Result<Vec<ReportBlock>, RtcpError> {
    let mut out = Vec::with_capacity(usize::from(count));
    for i in 0..usize::from(count) {
        let block = b
            .get(i * 24..i * 24 + 24)
            .ok_or(invalid(at, "report block past the end"))?;
        let word = |n: usize| be32(block, n * 4).unwrap_or(0);
        let lost_word = word(1);
        // 24-bit two's complement cumulative loss.
        let cumulative_lost = ((lost_word << 8) as i32) >> 8;
        out.push(ReportBlock {
            ssrc: word(0),
            reception: ReceptionReport {
                fraction_lost: (lost_word >> 24) as u8,
                cumulative_lost,
                extended_highest_seq: word(2),
                jitter: word(3),
            },
            last_sr: word(4),
            delay_since_last_sr: word(5),
        });
    }
    Ok(out)
}

fn parse_sdes(body: &Bytes, count: u8, at: usize) -> Result<Vec<SdesChunk>, RtcpError> {
    let mut chunks = Vec::new();
    let mut pos = 0;
    for _ in 0..count {
        let ssrc = be32(body, pos).ok_or(invalid(at, "SDES chunk past the end"))?;
        pos += 4;
        let mut items = Vec::new();
        loop {
            let kind = *body.get(pos).ok_or(invalid(at, "SDES item past the end"))?;
            if kind == 0 {
                pos = (pos + 4) & !3; // null item, then pad to a 32-bit boundary
                break;
            }
            let len = usize::from(
                *body
                    .get(pos + 1)
                    .ok_or(invalid(at, "SDES item past the end"))?,
            );
            if pos + 2 + len > body.len() {
                return Err(invalid(at, "SDES item past the end"));
            }
            items.push((kind, body.slice(pos + 2..pos + 2 + len)));
            pos += 2 + len;
        }
        chunks.push(SdesChunk { ssrc, items });
    }
    Ok(chunks)
}

fn parse_bye(body: &Bytes, count: u8, at: usize) -> Result<RtcpPacket, RtcpError> {
    let ssrcs = (0..usize::from(count))
        .map(|i| be32(body, i * 4).ok_or(invalid(at, "BYE source past the end")))
        .collect::<Result<Vec<_>, _>>()?;
    let off = 4 * usize::from(count);
    let reason = match body.get(off) {
        None => None,
        Some(&len) => {
            let end = off + 1 + usize::from(len);
            if end > body.len() {
                return Err(invalid(at, "BYE reason past the end"));
            }
            Some(body.slice(off + 1..end))
        }
    };
    Ok(RtcpPacket::Bye { ssrcs, reason })
}

impl SenderReport {
    /// Appends the SR (RFC 3550 §6.4.1) to `out`; at most 31 report blocks are written.
    pub fn write(&self, out: &mut BytesMut) {
        let blocks = &self.reports[..self.reports.len().min(31)];
        write_header(out, blocks.len() as u8, PT_SR, 6 + 6 * blocks.len());
        out.put_u32(self.ssrc);
        out.put_u64(self.ntp.0);
        out.put_u32(self.rtp_timestamp);
        out.put_u32(self.packet_count);
        out.put_u32(self.octet_count);
        blocks.iter().for_each(|b| write_block(out, b));
    }
}

impl ReceiverReport {
    /// Appends the RR (RFC 3550 §6.4.2) to `out`; at most 31 report blocks are written.
    pub fn write(&self, out: &mut BytesMut) {
        let blocks = &self.reports[..self.reports.len().min(31)];
        write_header(out, blocks.len() as u8, PT_RR, 1 + 6 * blocks.len());
        out.put_u32(self.ssrc);
        blocks.iter().for_each(|b| write_block(out, b));
    }
}

/// Appends an SDES packet with one chunk carrying a CNAME (RFC 3550 §6.5.1), which every
/// compound packet must include (§6.1). CNAMEs longer than 255 bytes are truncated.
pub fn write_sdes_cname(out: &mut BytesMut, ssrc: u32, cname: &[u8]) {
    let cname = &cname[..cname.len().min(255)];
    // ssrc + type + len + text + at least one null, padded to 4.
    let chunk_len = (4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    write_header(out, 1, PT_SDES, chunk_len / 4);
    out.put_u32(ssrc);
    out.put_u8(1);
    out.put_u8(cname.len() as u8);
    out.put_slice(cname);
    out.put_bytes(0, chunk_len - 6 - cname.len());
}

fn write_header(out: &mut BytesMut, count: u8, pt: u8, words_after_header: usize) {
    out.put_u8(0x80 | (count & 0x1F));
    out.put_u8(pt);
    out.put_u16(words_after_header as u16);
}

fn write_block(out: &mut BytesMut, b: &ReportBlock) {
    out.put_u32(b.ssrc);
    let lost = (b.reception.cumulative_lost.clamp(-(1 << 23), (1 << 23) - 1) as u32) & 0xFF_FFFF;
    out.put_u32((u32::from(b.reception.fraction_lost) << 24) | lost);
    out.put_u32(b.reception.extended_highest_seq);
    out.put_u32(b.reception.jitter);
    out.put_u32(b.last_sr);
    out.put_u32(b.delay_since_last_sr);
}

/// Maps a source's RTP time to wall-clock time using the last sender report received from it,
/// and fills the LSR/DLSR fields of report blocks about that source (RFC 3550 §6.4.1).
#[derive(Clone, Debug)]
pub struct SenderReportState {
    clock_rate: u32,
    last: Option<LastSr>,
}

/// The last SR received: its RTP/NTP pair and when it arrived (receiver's clock).
#[derive(Clone, Copy, Debug)]
struct LastSr {
    rtp: u32,
    ntp: NtpTimestamp,
    arrived_us: i64,
}

impl SenderReportState {
    /// A mapping for a track whose RTP clock runs at `clock_rate` Hz; empty until the first SR.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            last: None,
        }
    }

    /// Records a sender report received at `now_us` (the receiver's clock, UNIX microseconds).
    pub fn on_sender_report(&mut self, sr: &SenderReport, now_us: i64) {
        self.last = Some(LastSr {
            rtp: sr.rtp_timestamp,
            ntp: sr.ntp,
            arrived_us: now_us,
        });
    }

    /// Wall-clock UNIX microseconds (the sender's clock) of RTP time `rtp_ts`, or `None` before
    /// the first SR.
    ///
    /// `rtp_ts` may be an unwrapped i64 whose low 32 bits are the RTP timestamp (as depacketizers
    /// in [`crate::payload`] produce); the distance to the SR is taken as the nearest 32-bit one,
    /// valid within ±2^31 ticks (6.6 h at 90 kHz) of the report.
    pub fn wallclock_us(&self, rtp_ts: i64) -> Option<i64> {
        let last = self.last?;
        if self.clock_rate == 0 {
            return None;
        }
        let delta = i64::from((rtp_ts as u32).wrapping_sub(last.rtp) as i32);
        Some(last.ntp.to_unix_micros() + (delta * 1_000_000).div_euclid(i64::from(self.clock_rate)))
    }

    /// A report block about source `ssrc` at `now_us`, with LSR and DLSR from the last SR
    /// (both 0 before any SR, as RFC 3550 §6.4.1 requires).
    pub fn report_block(&self, ssrc: u32, reception: ReceptionReport, now_us: i64) -> ReportBlock {
        let (last_sr, delay_since_last_sr) = self.last.map_or((0, 0), |l| {
            let waited = now_us.saturating_sub(l.arrived_us).max(0);
            let dlsr = (i128::from(waited) * 65_536 / 1_000_000).min(i128::from(u32::MAX));
            (l.ntp.middle32(), dlsr as u32)
        });
        ReportBlock {
            ssrc,
            reception,
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// How far one sender report's RTP↔NTP mapping may move from the previous report's, when the
/// packets sent since say it should move by less than [`SR_REANCHOR_US`]. Players that re-anchor
/// their timestamps on every SR (ffmpeg's RTSP demuxer does) see the source's jitter as timestamp
/// jumps: a step back of more than one audio frame (~21 ms) is a non-monotonic DTS there. 2 ms
/// per report (every 5 s) still follows a clock drift of 400 ppm, far beyond a real one.
pub const SR_MAX_SLEW_US: i64 = 2_000;

/// A change of the RTP↔NTP mapping this large (the source reconnected, or its own sender reports
/// took over from arrival times) is followed at once rather than slewed.
pub const SR_REANCHOR_US: i64 = 100_000;

/// Builds sender reports from a sender's running counters (RFC 3550 §6.4.1).
///
/// The RTP time of each report is where the previous report's mapping extrapolates to at the
/// report's NTP time, moved toward what the last packet sent says by at most
/// [`SR_MAX_SLEW_US`] (or all the way when they differ by more than [`SR_REANCHOR_US`]), so the
/// jitter of the wall-clock times given in does not reach the reader.
#[derive(Clone, Debug)]
pub struct SenderReportGenerator {
    ssrc: u32,
    clock_rate: u32,
    packets: u32,
    octets: u32,
    last: Option<(u32, i64)>,
    /// The last report's mapping: RTP time and the UNIX microseconds it stood for.
    reported: Option<(u32, i64)>,
}

impl SenderReportGenerator {
    /// A generator for source `ssrc` whose RTP clock runs at `clock_rate` Hz.
    pub fn new(ssrc: u32, clock_rate: u32) -> Self {
        Self {
            ssrc,
            clock_rate,
            packets: 0,
            octets: 0,
            last: None,
            reported: None,
        }
    }

    /// Counts a sent packet: its RTP timestamp, payload length, and the wall-clock UNIX
    /// microseconds that RTP time corresponds to.
    pub fn on_packet_sent(&mut self, rtp_ts: u32, payload_len: usize, wallclock_us: i64) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.on_timing(rtp_ts, wallclock_us);
    }

    /// Notes that RTP time `rtp_ts` stands for wall-clock `wallclock_us` (UNIX µs) without
    /// counting a packet: the mapping of a packet about to be sent, so that a report can go out
    /// before it.
    pub fn on_timing(&mut self, rtp_ts: u32, wallclock_us: i64) {
        self.last = Some((rtp_ts, wallclock_us));
    }

    /// The SR to send at wall-clock `now_us` (see the type's doc for its RTP time). `None`
    /// before any packet (RFC 3550 §6.4: a source that has not sent sends RRs instead).
    pub fn report(&mut self, now_us: i64) -> Option<SenderReport> {
        let observed = self.extrapolate(self.last?, now_us);
        let rtp_timestamp = match self.reported {
            None => observed,
            Some(previous) => self.slew(self.extrapolate(previous, now_us), observed),
        };
        self.reported = Some((rtp_timestamp, now_us));
        Some(SenderReport {
            ssrc: self.ssrc,
            ntp: NtpTimestamp::from_unix_micros(now_us),
            rtp_timestamp,
            packet_count: self.packets,
            octet_count: self.octets,
            reports: Vec::new(),
        })
    }

    /// The RTP time at `now_us` by the mapping `(rtp, at_us)`.
    fn extrapolate(&self, (rtp, at_us): (u32, i64), now_us: i64) -> u32 {
        let elapsed =
            (i128::from(now_us) - i128::from(at_us)) * i128::from(self.clock_rate) / 1_000_000;
        rtp.wrapping_add(elapsed as i64 as u32)
    }

    /// `predicted` moved toward `observed` as the type's doc says.
    fn slew(&self, predicted: u32, observed: u32) -> u32 {
        let ticks = |us: i64| us * i64::from(self.clock_rate) / 1_000_000;
        let diff = i64::from(observed.wrapping_sub(predicted) as i32);
        if diff.abs() > ticks(SR_REANCHOR_US) {
            return observed;
        }
        let step = diff.clamp(-ticks(SR_MAX_SLEW_US), ticks(SR_MAX_SLEW_US));
        predicted.wrapping_add(step as i32 as u32)
    }
}

#[doc(hidden)]
/// Fuzz entry: parses a compound packet and feeds its SRs to a [`SenderReportState`].
pub fn fuzz_parse(data: &[u8]) {
    let raw = Bytes::copy_from_slice(data);
    let Ok(pkts) = parse_compound(&raw) else {
        return;
    };
    let mut state = SenderReportState::new(90_000);
    for p in &pkts {
        if let RtcpPacket::SenderReport(sr) = p {
            state.on_sender_report(sr, 0);
            let _ = state.wallclock_us(i64::from(sr.rtp_timestamp));
            let _ = state.report_block(sr.ssrc, ReceptionReport::default(), i64::MAX);
        }
    }
}

/// Compound packet cases `(name, bytes, packet count or error substring)` for tests and fuzz seeds.
#[doc(hidden)]
pub fn parse_cases() -> Vec<(&'static str, Vec<u8>, Result<usize, &'static str>)> {
    let sr = sample_sr();
    let mut sr_bytes = BytesMut::new();
    sr.write(&mut sr_bytes);
    write_sdes_cname(&mut sr_bytes, sr.ssrc, b"vigia@cam12");
    let mut rr = BytesMut::new();
    ReceiverReport {
        ssrc: 9,
        reports: sr.reports.clone(),
    }
    .write(&mut rr);
    let bye = vec![0x81, PT_BYE, 0, 2, 0, 0, 0, 9, 3, b'b', b'y', b'e'];
    let app = vec![0x80, 204, 0, 2, 0, 0, 0, 9, b'n', b'a', b'm', b'e'];
    let mut app_then_rr = app.clone();
    app_then_rr.extend_from_slice(&rr);
    vec![
        ("sr_sdes", sr_bytes.to_vec(), Ok(2)),
        ("rr", rr.to_vec(), Ok(1)),
        ("bye_reason", bye, Ok(1)),
        ("app_then_rr", app_then_rr, Ok(2)),
        ("truncated", vec![0x80, PT_RR, 0], Err("truncated")),
        ("version", vec![0x40, PT_RR, 0, 0], Err("version")),
        (
            "len_past_end",
            vec![0x80, PT_RR, 0, 5, 0, 0, 0, 1],
            Err("length"),
        ),
        (
            "rr_blocks_missing",
            vec![0x82, PT_RR, 0, 1, 0, 0, 0, 1],
            Err("report block"),
        ),
        (
            "padding_bad",
            vec![0xA0, PT_RR, 0, 1, 0, 0, 0, 9],
            Err("padding"),
        ),
    ]
}

fn sample_sr() -> SenderReport {
    SenderReport {
        ssrc: 0x1234_5678,
        ntp: NtpTimestamp::from_unix_micros(1_700_000_000_250_000),
        rtp_timestamp: 4_000_000_000,
        packet_count: 1000,
        octet_count: 1_200_000,
        reports: vec![ReportBlock {
            ssrc: 0xCAFE,
            reception: ReceptionReport {
                fraction_lost: 3,
                cumulative_lost: -2,
                extended_highest_seq: 70_000,
                jitter: 42,
            },
            last_sr: 0x1111_2222,
            delay_since_last_sr: 65_536,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_case_table() {
        for (name, bytes, want) in parse_cases() {
            let got = parse_compound(&Bytes::from(bytes));
            match (got, want) {
                (Ok(p), Ok(n)) => assert_eq!(p.len(), n, "{name}"),
                (Err(RtcpError::Invalid { what, .. }), Err(w)) => {
                    assert!(what.contains(w), "{name}: {what:?} lacks {w:?}")
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn sr_round_trips_and_sdes_reads_back() {
        let bytes = Bytes::from(parse_cases().remove(0).1);
        let pkts = parse_compound(&bytes).unwrap();
        assert_eq!(pkts[0], RtcpPacket::SenderReport(sample_sr()));
        let RtcpPacket::SourceDescription(chunks) = &pkts[1] else {
            panic!("{pkts:?}")
        };
        assert_eq!(
            chunks[0].items,
            vec![(1, Bytes::from_static(b"vigia@cam12"))]
        );
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn bye_and_app() {
        let p = parse_compound(&Bytes::from(parse_cases().remove(2).1)).unwrap();
        assert_eq!(
            p[0],
            RtcpPacket::Bye {
                ssrcs: vec![9],
                reason: Some(Bytes::from_static(b"bye"))
            }
        );
        let p = parse_compound(&Bytes::from(parse_cases().remove(3).1)).unwrap();
        assert!(matches!(
            p[0],
            RtcpPacket::Other {
                packet_type: 204,
                ..
            }
        ));
    }

    #[test]
    fn ntp_conversions() {
        let us = 1_700_000_000_123_456;
        assert_eq!(NtpTimestamp::from_unix_micros(us).to_unix_micros(), us);
        assert_eq!(
            NtpTimestamp::from_unix_micros(0).0,
            (NTP_UNIX_OFFSET_SECS as u64) << 32
        );
    }

    #[test]
    fn wallclock_from_sr_across_wrap() {
        let mut st = SenderReportState::new(90_000);
        assert_eq!(st.wallclock_us(0), None);
        let mut sr = sample_sr();
        sr.rtp_timestamp = u32::MAX - 44_999; // 0.5 s before the wrap
        st.on_sender_report(&sr, 5_000_000);
        let base = 1_700_000_000_250_000;
        assert_eq!(st.wallclock_us(i64::from(u32::MAX - 44_999)), Some(base));
        assert_eq!(
            st.wallclock_us((1i64 << 32) + 45_000),
            Some(base + 1_000_000)
        );
        assert_eq!(
            st.wallclock_us(i64::from(u32::MAX - 134_999)),
            Some(base - 1_000_000)
        );
    }

    #[test]
    fn generator_extrapolates_rtp_time() {
        let mut g = SenderReportGenerator::new(5, 90_000);
        assert!(g.report(0).is_none());
        g.on_packet_sent(1000, 100, 1_000_000);
        g.on_packet_sent(4000, 50, 1_033_333);
        let sr = g.report(1_133_333).unwrap();
        assert_eq!((sr.packet_count, sr.octet_count), (2, 150));
        assert_eq!(sr.rtp_timestamp, 4000 + 9000);
        assert_eq!(sr.ntp.to_unix_micros(), 1_133_333);
    }

    /// The RTP time `g` reports at `now_us` after a packet of RTP time `rtp` stamped `wall_us`.
    fn report_after(g: &mut SenderReportGenerator, rtp: u32, wall_us: i64, now_us: i64) -> i64 {
        g.on_packet_sent(rtp, 100, wall_us);
        i64::from(g.report(now_us).unwrap().rtp_timestamp)
    }

    #[test]
    fn generator_keeps_wall_clock_jitter_out_of_its_reports() {
        // 48 kHz audio, a report every 5 s; the wall-clock times given in jitter by ±30 ms
        // (a source's own sender reports under load).
        let mut g = SenderReportGenerator::new(5, 48_000);
        let mut previous = report_after(&mut g, 0, 0, 10_000);
        for (k, jitter_us) in [30_000i64, -30_000, 25_000, -20_000, 30_000]
            .iter()
            .enumerate()
        {
            let k = k as i64 + 1;
            let rtp = (k * 5 * 48_000) as u32;
            let now = k * 5_000_000 + 10_000;
            let reported = report_after(&mut g, rtp, k * 5_000_000 + jitter_us, now);
            // Exactly 5 s of RTP time later, give or take the 2 ms slew (96 ticks).
            let step = reported - previous - 5 * 48_000;
            assert!(step.abs() <= 96, "report {k} moved by {step} ticks");
            previous = reported;
        }
    }

    #[test]
    fn generator_follows_a_drift_and_a_jump() {
        let mut g = SenderReportGenerator::new(5, 90_000);
        report_after(&mut g, 0, 0, 0);
        // The source's clock runs 1 ms per report late: the reports follow it.
        let mut reported = 0;
        for k in 1..=10i64 {
            reported = report_after(
                &mut g,
                (k * 450_000) as u32,
                k * 5_000_000 + k * 1_000,
                k * 5_000_000,
            );
        }
        assert_eq!(reported, 10 * 450_000 - 900, "10 ms of drift followed");
        // A 2 s jump (a reconnect) is taken at once.
        let rtp = 11 * 450_000;
        let jumped = report_after(&mut g, rtp as u32, 55_000_000 + 2_000_000, 55_000_000);
        assert_eq!(jumped, rtp - 180_000);
    }

    #[test]
    fn generator_slews_across_the_rtp_wrap() {
        let mut g = SenderReportGenerator::new(5, 90_000);
        let start = u32::MAX - 100_000;
        report_after(&mut g, start, 0, 0);
        let reported = report_after(&mut g, start.wrapping_add(450_000), 5_010_000, 5_000_000);
        // 10 ms late by the packet: moved 2 ms (180 ticks) that way, across the wrap.
        assert_eq!(reported as u32, start.wrapping_add(450_000 - 180));
    }
}
