//! RTP session logic (RFC 3550 §6): what the two ends of an RTP session keep between packets and
//! when they report to each other, as sans-IO state machines.
//!
//! - [`ReceiverSession`]: the receiving end of a publisher's media (RTSP RECORD): reception
//!   statistics per media, the RTP→wall-clock mapping its sender reports give, and receiver
//!   reports every [`REPORT_INTERVAL`], the first after half of it (RFC 3550 §6.2).
//! - [`SenderReports`]: the sending end towards one reader: per track, a sender report before its
//!   first packets and then every [`REPORT_INTERVAL`], counting what this reader was sent.
//! - [`SourceClock`]: a pulled source's RTP→wall-clock mapping, with a policy for sender reports
//!   not to trust.
//!
//! Nothing here reads a clock. A method that needs the time takes it: `now`, a monotonic
//! [`Instant`](std::time::Instant) for schedules and arrival jitter, and `now_us`, the wall clock
//! in UNIX microseconds that NTP fields carry. The driver reads both once per event and passes
//! them in, so tests run whole sessions on simulated time. Every compound RTCP packet built here
//! is a report followed by an SDES CNAME item ([`CNAME`]), as RFC 3550 §6.1 requires.

mod receiver;
mod sender;
mod wallclock;

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::rtcp::write_sdes_cname;

pub use receiver::ReceiverSession;
pub use sender::SenderReports;
pub use wallclock::{Ignored, MAX_SKEW_US, SourceClock};

/// Time between two reports of one media (RFC 3550's minimum interval is 5 s, §6.2).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// CNAME in the SDES item of every compound RTCP packet Vigia sends (RFC 3550 §6.1, §6.5.1).
pub const CNAME: &[u8] = b"vigia";

/// A compound RTCP packet: what `write_report` writes (an SR or RR), then SDES with [`CNAME`]
/// for `ssrc`.
fn compound(ssrc: u32, write_report: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    write_report(&mut out);
    write_sdes_cname(&mut out, ssrc, CNAME);
    out.freeze()
}

/// The report a compound packet built by [`compound`] starts with, checking that an SDES CNAME
/// item for the same SSRC follows it.
#[cfg(test)]
fn report_in(rtcp: &Bytes) -> crate::rtcp::RtcpPacket {
    use crate::rtcp::{RtcpPacket, parse_compound};

    let mut packets = parse_compound(rtcp)
        .expect("valid compound RTCP")
        .into_iter();
    let report = packets.next().expect("a report");
    let ssrc = match &report {
        RtcpPacket::SenderReport(sr) => sr.ssrc,
        RtcpPacket::ReceiverReport(rr) => rr.ssrc,
        other => panic!("a report first, got {other:?}"),
    };
    let Some(RtcpPacket::SourceDescription(chunks)) = packets.next() else {
        panic!("SDES after the report");
    };
    let cname = Bytes::from_static(CNAME);
    assert_eq!(
        (chunks[0].ssrc, &chunks[0].items[..]),
        (ssrc, &[(1, cname)][..])
    );
    report
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::payload::OutPacket;
    use crate::rtcp::{NtpTimestamp, RtcpPacket};
    use crate::rtp::{RtpHeader, RtpPacket};

    /// 2024-01-01T00:00:00Z in UNIX µs.
    const T0: i64 = 1_704_067_200_000_000;
    const SENDER: u32 = 0xAB;

    /// Frame `n` of a 25 fps video whose RTP time and sequence numbers wrap during the test.
    fn frame(n: u32) -> OutPacket {
        let header = RtpHeader {
            marker: true,
            payload_type: 96,
            sequence_number: 65_500u16.wrapping_add(n as u16),
            timestamp: (u32::MAX - 90_000).wrapping_add(3600 * n),
            ssrc: SENDER,
        };
        OutPacket {
            sequence_number: header.sequence_number,
            timestamp: header.timestamp,
            marker: true,
            chunks: vec![
                Bytes::copy_from_slice(&header.fixed_bytes()),
                Bytes::from_static(b"frame"),
            ],
        }
    }

    /// Two ends in memory on simulated time: 5 s of video sent with sender reports, each
    /// arriving 20 ms later at a receiving session.
    #[test]
    fn sender_reports_give_the_receiver_the_senders_clock_across_wraps() {
        let start = Instant::now();
        let mut sender = SenderReports::new([(SENDER, 90_000)]);
        let mut receiver = ReceiverSession::new(start, 0x11, [Some(90_000)]);
        let mut reports_sent = 0;
        for n in 0..=125 {
            let at = start + Duration::from_millis(40 * u64::from(n));
            let at_us = T0 + 40_000 * i64::from(n);
            let packet = frame(n);
            let rtcp = sender.on_sent(at, at_us, 0, std::slice::from_ref(&packet), at_us);
            if let Some(rtcp) = rtcp {
                assert_eq!(receiver.on_rtcp(at_us + 20_000, 0, &rtcp), Ok(()));
                reports_sent += 1;
            }
            let raw = Bytes::from(packet.chunks.concat());
            receiver.on_rtp(at, 0, &RtpPacket::parse(raw).expect("valid RTP"));
        }
        assert_eq!(reports_sent, 2, "at 0 s and 5 s");
        // Through the SR at 5 s, frames on both sides of the RTP timestamp wrap (frame 25).
        for n in [0, 10, 24, 25, 100, 125] {
            let rtp = i64::from(frame(n).timestamp);
            let expected = T0 + 40_000 * i64::from(n);
            assert_eq!(receiver.wallclock_us(0, rtp), Some(expected), "frame {n}");
        }
        let reports =
            receiver.receiver_reports(start + Duration::from_millis(5500), T0 + 5_500_000);
        let [(0, rtcp)] = reports.as_slice() else {
            panic!("one receiver report, got {reports:?}");
        };
        let RtcpPacket::ReceiverReport(rr) = report_in(rtcp) else {
            panic!("an RR");
        };
        let block = rr.reports[0];
        // Frame 0 is the probation packet (RFC 3550 A.1): 125 frames expected and received.
        assert_eq!(block.ssrc, SENDER);
        assert_eq!(block.reception.extended_highest_seq, 65_500 + 125);
        assert_eq!(block.reception.cumulative_lost, 0);
        assert_eq!(
            block.reception.jitter, 0,
            "frames sent and arriving every 40 ms"
        );
        let lsr = NtpTimestamp::from_unix_micros(T0 + 5_000_000).middle32();
        // DLSR: 480 ms between the SR's arrival and the RR, in 1/65536 s.
        assert_eq!((block.last_sr, block.delay_since_last_sr), (lsr, 31_457));
    }
}
