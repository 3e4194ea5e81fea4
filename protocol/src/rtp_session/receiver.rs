//! The receiving end of a publisher's RTP session: reception statistics, the sender-report clock
//! mapping, and receiver reports (RFC 3550 §6.4.2).

use std::time::Instant;

use bytes::Bytes;

use super::wallclock::{Ignored, trust_sender_clock};
use super::{REPORT_INTERVAL, compound};
use crate::rtcp::{ReceiverReport, RtcpPacket, SenderReportState, parse_compound};
use crate::rtp::{ReceiverStats, RtpPacket};

/// The receiving end of an RTP session with one sender (a publisher), per media it announced:
/// reception statistics of the source sending it (RFC 3550 Appendix A.1 sequence validation, A.3
/// loss, A.8 jitter), the mapping from its RTP time to its wall clock given by its sender reports,
/// and the receiver reports that tell the sender both.
///
/// Promises:
/// - reports are due [`REPORT_INTERVAL`] / 2 after the session started (RFC 3550 §6.2), then
///   [`REPORT_INTERVAL`] after the previous ones were taken ([`Self::poll_timeout`]);
/// - a media reports only once a packet came (a report block is about a source), one RR + SDES
///   compound packet each, with LSR/DLSR from its last sender report;
/// - a packet from a new SSRC restarts that media's statistics (the publisher restarted its
///   stream); the clock mapping stays until the next sender report;
/// - packets of a media the session does not carry, or of no announced media, are ignored.
#[derive(Debug)]
pub struct ReceiverSession {
    /// Vigia's SSRC as the receiver in its reports.
    ssrc: u32,
    /// Indexed by announced media; `None` for media not carried.
    media: Vec<Option<Reception>>,
    /// Origin of packet arrival times (for the jitter estimate).
    started: Instant,
    next_report: Instant,
}

/// What is known about one media's sender.
#[derive(Debug)]
struct Reception {
    clock_rate: u32,
    /// The sender's SSRC for this media, once a packet came.
    source: Option<u32>,
    stats: ReceiverStats,
    reports: SenderReportState,
}

impl ReceiverSession {
    /// A session started at `now` in which Vigia, as SSRC `ssrc`, receives media with these RTP
    /// clock rates (Hz) in announced order, `None` for a media it does not carry.
    pub fn new(
        now: Instant,
        ssrc: u32,
        clock_rates: impl IntoIterator<Item = Option<u32>>,
    ) -> Self {
        let media = clock_rates
            .into_iter()
            .map(|rate| rate.map(Reception::new))
            .collect();
        Self {
            ssrc,
            media,
            started: now,
            next_report: now + REPORT_INTERVAL / 2,
        }
    }

    /// When the next receiver reports are due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_report
    }

    /// Counts `packet` of announced media `media`, arrived at `now`, for the reports.
    pub fn on_rtp(&mut self, now: Instant, media: usize, packet: &RtpPacket) {
        if let Some(Some(reception)) = self.media.get_mut(media) {
            let arrival_us = now.saturating_duration_since(self.started).as_micros();
            reception.count(packet, arrival_us);
        }
    }

    /// One compound RTCP packet of announced media `media`, received at wall-clock `now_us`
    /// (UNIX µs): its sender reports (RFC 3550 §6.4.1) map the media's RTP time to the sender's
    /// wall clock and give the LSR/DLSR of the next reports. An invalid packet is ignored, and so
    /// is a sender report whose clock is not to be trusted ([`trust_sender_clock`]): that is the
    /// error, for the driver to tell the operator once.
    pub fn on_rtcp(&mut self, now_us: i64, media: usize, raw: &Bytes) -> Result<(), Ignored> {
        let Some(Some(reception)) = self.media.get_mut(media) else {
            return Err(Ignored::UnknownTrack);
        };
        let Ok(packets) = parse_compound(raw) else {
            return Ok(());
        };
        let mut result = Ok(());
        for packet in packets {
            if let RtcpPacket::SenderReport(sr) = packet {
                result = trust_sender_clock(sr.ntp, now_us);
                if result.is_ok() {
                    reception.reports.on_sender_report(&sr, now_us);
                }
            }
        }
        result
    }

    /// The sender's wall clock (UNIX µs) at RTP time `rtp_ts` of `media`, or `None` before its
    /// first sender report. `rtp_ts` may be unwrapped (see [`SenderReportState::wallclock_us`]).
    pub fn wallclock_us(&self, media: usize, rtp_ts: i64) -> Option<i64> {
        self.media
            .get(media)?
            .as_ref()?
            .reports
            .wallclock_us(rtp_ts)
    }

    /// The receiver reports due at `now` (none before [`Self::poll_timeout`]), stamped with
    /// wall-clock `now_us` for DLSR: per announced media that has sent packets, its index and an
    /// RR + SDES compound packet. Taking them starts the next interval of the loss fraction.
    pub fn receiver_reports(&mut self, now: Instant, now_us: i64) -> Vec<(usize, Bytes)> {
        if now < self.next_report {
            return Vec::new();
        }
        self.next_report = now + REPORT_INTERVAL;
        let ssrc = self.ssrc;
        let media = self.media.iter_mut().enumerate();
        media
            .filter_map(|(index, reception)| {
                let reception = reception.as_mut()?;
                let source = reception.source?;
                let reception_report = reception.stats.report();
                let block = reception
                    .reports
                    .report_block(source, reception_report, now_us);
                let report = ReceiverReport {
                    ssrc,
                    reports: vec![block],
                };
                Some((index, compound(ssrc, |out| report.write(out))))
            })
            .collect()
    }
}

impl Reception {
    fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            source: None,
            stats: ReceiverStats::new(),
            reports: SenderReportState::new(clock_rate),
        }
    }

    /// Counts a packet that arrived `arrival_us` after the session started (a new SSRC starts
    /// the statistics again).
    fn count(&mut self, packet: &RtpPacket, arrival_us: u128) {
        if self.source != Some(packet.ssrc) {
            self.source = Some(packet.ssrc);
            self.stats = ReceiverStats::new();
        }
        let arrival = arrival_us * u128::from(self.clock_rate) / 1_000_000;
        self.stats
            .on_packet(packet.sequence_number, packet.timestamp, arrival as i64);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rtcp::{NtpTimestamp, ReportBlock, SenderReport};
    use crate::rtp::ReceptionReport;
    use crate::rtp_session::report_in;
    use crate::rtp_session::wallclock::MAX_SKEW_US;

    /// 2024-01-01T00:00:00Z in UNIX µs.
    const T0: i64 = 1_704_067_200_000_000;
    const VIGIA: u32 = 0x5157_4941;
    const CAMERA: u32 = 0xCA;

    fn packet(ssrc: u32, seq: u16, timestamp: u32) -> RtpPacket {
        RtpPacket {
            marker: false,
            payload_type: 96,
            sequence_number: seq,
            timestamp,
            ssrc,
            csrc: Bytes::new(),
            extension: None,
            payload: Bytes::from_static(b"x"),
            padding: 0,
        }
    }

    fn sender_report(ntp_us: i64, rtp_timestamp: u32) -> Bytes {
        let sr = SenderReport {
            ssrc: CAMERA,
            ntp: NtpTimestamp::from_unix_micros(ntp_us),
            rtp_timestamp,
            packet_count: 0,
            octet_count: 0,
            reports: Vec::new(),
        };
        compound(CAMERA, |out| sr.write(out))
    }

    /// The one report block of an RR + SDES compound packet from Vigia.
    fn block(rtcp: &Bytes) -> ReportBlock {
        match report_in(rtcp) {
            RtcpPacket::ReceiverReport(rr) if rr.ssrc == VIGIA && rr.reports.len() == 1 => {
                rr.reports[0]
            }
            other => panic!("one RR block from Vigia first, got {other:?}"),
        }
    }

    /// A video-only session started at `start`, reports taken at the first due time.
    fn video(start: Instant) -> ReceiverSession {
        ReceiverSession::new(start, VIGIA, [Some(90_000)])
    }

    /// The single report due at `at`.
    fn only_report(session: &mut ReceiverSession, at: Instant) -> ReportBlock {
        match session.receiver_reports(at, T0).as_slice() {
            [(0, rtcp)] => block(rtcp),
            other => panic!("one report of media 0, got {other:?}"),
        }
    }

    #[test]
    fn reports_first_after_half_the_interval_then_from_when_they_were_taken() {
        let start = Instant::now();
        let mut session = video(start);
        session.on_rtp(start, 0, &packet(CAMERA, 1, 0));
        assert_eq!(session.poll_timeout(), start + Duration::from_millis(2500));
        let early = start + Duration::from_micros(2_499_999);
        assert!(session.receiver_reports(early, T0).is_empty());
        assert_eq!(
            session
                .receiver_reports(start + Duration::from_millis(2500), T0)
                .len(),
            1
        );
        assert_eq!(session.poll_timeout(), start + Duration::from_millis(7500));
        assert!(
            session
                .receiver_reports(start + Duration::from_millis(7499), T0)
                .is_empty()
        );
        // Taken late (a busy driver): the next interval counts from then.
        let late = start + Duration::from_secs(9);
        assert_eq!(session.receiver_reports(late, T0).len(), 1);
        assert_eq!(session.poll_timeout(), late + REPORT_INTERVAL);
    }

    #[test]
    fn only_media_that_sent_packets_report_but_the_schedule_moves_on() {
        let start = Instant::now();
        let mut session = ReceiverSession::new(start, VIGIA, [Some(90_000), None, Some(8000)]);
        let due = start + REPORT_INTERVAL / 2;
        assert!(session.receiver_reports(due, T0).is_empty());
        assert_eq!(session.poll_timeout(), due + REPORT_INTERVAL);
        session.on_rtp(due, 1, &packet(7, 1, 0));
        session.on_rtp(due, 2, &packet(8, 1, 0));
        session.on_rtp(due, 5, &packet(9, 1, 0));
        let reports = session.receiver_reports(due + REPORT_INTERVAL, T0);
        let reported: Vec<_> = reports.iter().map(|(m, r)| (*m, block(r).ssrc)).collect();
        assert_eq!(reported, vec![(2, 8)]);
    }

    #[test]
    fn counts_loss_and_reordering_across_the_sequence_wrap() {
        let start = Instant::now();
        let mut session = video(start);
        // 65533 is the source's probation packet (RFC 3550 A.1); counting starts at 65534.
        // Then the wrap, 0 after 1 (reordered), and 2 lost.
        for seq in [65533, 65534, 65535, 1, 0, 3, 4] {
            session.on_rtp(start, 0, &packet(CAMERA, seq, 0));
        }
        let first = only_report(&mut session, start + REPORT_INTERVAL / 2);
        let expected = ReceptionReport {
            fraction_lost: 36, // 1 lost of 7, in 1/256
            cumulative_lost: 1,
            extended_highest_seq: 65536 + 4,
            jitter: 0,
        };
        assert_eq!((first.ssrc, first.reception), (CAMERA, expected));
        for seq in 5..=9 {
            session.on_rtp(start, 0, &packet(CAMERA, seq, 0));
        }
        let second = only_report(&mut session, start + REPORT_INTERVAL * 2);
        assert_eq!(
            (
                second.reception.fraction_lost,
                second.reception.cumulative_lost
            ),
            (0, 1),
            "nothing lost in this interval"
        );
        session.on_rtp(start, 0, &packet(CAMERA, 10, 0));
        session.on_rtp(start, 0, &packet(CAMERA, 13, 0));
        let third = only_report(&mut session, start + REPORT_INTERVAL * 3);
        let expected = ReceptionReport {
            fraction_lost: 128,
            cumulative_lost: 3,
            extended_highest_seq: 65536 + 13,
            jitter: 0,
        };
        assert_eq!(third.reception, expected);
    }

    #[test]
    fn jitter_follows_late_arrivals_in_the_media_clock() {
        let start = Instant::now();
        let mut session = video(start);
        // 40 ms apart in RTP time (3600 ticks at 90 kHz); the fourth packet comes 10 ms late.
        let lateness_ms = [0, 0, 0, 10, 0];
        for (n, late) in lateness_ms.into_iter().enumerate() {
            let at = start + Duration::from_millis(40 * n as u64 + late);
            session.on_rtp(at, 0, &packet(CAMERA, n as u16, 3600 * n as u32));
        }
        // A.8 in 1/16 units: J = 900 (10 ms late), then 900 + 900 - 56 (back on time).
        let report = only_report(&mut session, start + REPORT_INTERVAL / 2);
        assert_eq!(report.reception.jitter, (900 + 900 - 56) / 16);
    }

    #[test]
    fn a_new_ssrc_restarts_the_statistics() {
        let start = Instant::now();
        let mut session = video(start);
        for seq in [1, 2, 8] {
            session.on_rtp(start, 0, &packet(CAMERA, seq, 0));
        }
        assert_eq!(
            only_report(&mut session, start + REPORT_INTERVAL / 2)
                .reception
                .cumulative_lost,
            5
        );
        for seq in [100, 101, 102] {
            session.on_rtp(start, 0, &packet(CAMERA + 1, seq, 0));
        }
        let report = only_report(&mut session, start + REPORT_INTERVAL * 2);
        let expected = ReceptionReport {
            fraction_lost: 0,
            cumulative_lost: 0,
            extended_highest_seq: 102,
            jitter: 0,
        };
        assert_eq!((report.ssrc, report.reception), (CAMERA + 1, expected));
    }

    #[test]
    fn sender_reports_give_the_clock_mapping_and_lsr_dlsr() {
        let start = Instant::now();
        let mut session = video(start);
        session.on_rtp(start, 0, &packet(CAMERA, 1, 0));
        assert_eq!(session.wallclock_us(0, 9000), None, "no SR yet");
        let before = only_report(&mut session, start + REPORT_INTERVAL / 2);
        assert_eq!((before.last_sr, before.delay_since_last_sr), (0, 0));
        assert_eq!(
            session.on_rtcp(T0 + 300_000, 0, &sender_report(T0, 9000)),
            Ok(())
        );
        assert_eq!(session.wallclock_us(0, 9000 + 90_000), Some(T0 + 1_000_000));
        assert_eq!(session.wallclock_us(1, 9000), None, "no such media");
        let due = start + REPORT_INTERVAL * 2;
        let after = match session.receiver_reports(due, T0 + 1_800_000).as_slice() {
            [(0, rtcp)] => block(rtcp),
            other => panic!("one report, got {other:?}"),
        };
        // DLSR: the 1.5 s between the SR's arrival and this report, in 1/65536 s.
        let lsr = NtpTimestamp::from_unix_micros(T0).middle32();
        assert_eq!((after.last_sr, after.delay_since_last_sr), (lsr, 98_304));
    }

    #[test]
    fn invalid_rtcp_and_unknown_media_change_nothing() {
        let start = Instant::now();
        let mut session = ReceiverSession::new(start, VIGIA, [Some(90_000), None]);
        let invalid = Bytes::from_static(b"\x80\xc8\x00");
        assert_eq!(session.on_rtcp(T0, 0, &invalid), Ok(()), "dropped unread");
        let sr = sender_report(T0, 0);
        assert_eq!(session.on_rtcp(T0, 1, &sr), Err(Ignored::UnknownTrack));
        assert_eq!(session.on_rtcp(T0, 4, &sr), Err(Ignored::UnknownTrack));
        assert_eq!(session.wallclock_us(0, 0), None);
        assert_eq!(session.wallclock_us(1, 0), None);
    }

    #[test]
    fn sender_reports_from_a_clock_not_to_trust_map_nothing() {
        let start = Instant::now();
        let mut session = video(start);
        let arrival = T0 + 300_000;
        let skewed = sender_report(arrival + MAX_SKEW_US + 1, 9000);
        assert_eq!(
            session.on_rtcp(arrival, 0, &skewed),
            Err(Ignored::Skewed(MAX_SKEW_US + 1))
        );
        let no_clock = sender_report(arrival, 9000);
        let no_clock = {
            // NTP 0 (no wall clock): bytes 8..16 of the SR.
            let mut raw = no_clock.to_vec();
            raw[8..16].fill(0);
            Bytes::from(raw)
        };
        assert_eq!(
            session.on_rtcp(arrival, 0, &no_clock),
            Err(Ignored::NoWallClock)
        );
        assert_eq!(session.wallclock_us(0, 9000), None);
        let within = sender_report(arrival + MAX_SKEW_US, 9000);
        assert_eq!(session.on_rtcp(arrival, 0, &within), Ok(()));
        assert_eq!(session.wallclock_us(0, 9000), Some(arrival + MAX_SKEW_US));
        assert_eq!(
            session.on_rtcp(arrival, 3, &within),
            Err(Ignored::UnknownTrack)
        );
    }
}
