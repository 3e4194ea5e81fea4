//! The sending end towards one reader: RTCP sender reports (RFC 3550 §6.4.1).

use std::time::Instant;

use bytes::Bytes;

use super::{REPORT_INTERVAL, compound};
use crate::payload::OutPacket;
use crate::rtcp::SenderReportGenerator;
use crate::rtp::FIXED_HEADER_LEN;

/// Sender reports for one reader (RFC 3550 §6.4.1): per track, an SR before the first packets sent
/// and then before the first packets sent [`REPORT_INTERVAL`] or more after the previous one. Each
/// maps the track's RTP clock to wall-clock time (NTP), which players and VMSs use to synchronise
/// audio with video and to stamp frames with the camera's time; its packet and octet counts are
/// what this reader was sent before it. Tracks keep their own schedules.
///
/// A report goes *before* the packets it is due with so that a reader knows each track's mapping
/// from that track's first packet on. Players time the packets that come before a track's first
/// SR some other way and re-time them when it arrives: ffmpeg counts from `RTP-Info` or from the
/// first packet, and when the first audio packet was older than the instant `RTP-Info` names
/// (audio is interleaved a little behind video), its audio timestamps stepped back there.
#[derive(Clone, Debug)]
pub struct SenderReports {
    tracks: Vec<TrackReports>,
}

#[derive(Clone, Debug)]
struct TrackReports {
    generator: SenderReportGenerator,
    ssrc: u32,
    next_due: Option<Instant>,
}

impl SenderReports {
    /// Reports for a reader of tracks sent as `(SSRC, RTP clock rate in Hz)`, in track order.
    pub fn new(tracks: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let tracks = tracks
            .into_iter()
            .map(|(ssrc, clock_rate)| TrackReports {
                generator: SenderReportGenerator::new(ssrc, clock_rate),
                ssrc,
                next_due: None,
            })
            .collect();
        Self { tracks }
    }

    /// Counts `packets` of `track`, whose RTP timestamp stands for wall-clock `wallclock_us`, as
    /// sent to this reader at `now` (wall clock `now_us`, UNIX µs). Returns the compound RTCP
    /// packet (SR + SDES) to send on that track *before* these packets when one is due; `None`
    /// for an unknown track or an empty batch.
    pub fn on_sent(
        &mut self,
        now: Instant,
        now_us: i64,
        track: usize,
        packets: &[OutPacket],
        wallclock_us: i64,
    ) -> Option<Bytes> {
        let track = self.tracks.get_mut(track)?;
        let report = track.report_before(now, now_us, packets.first()?, wallclock_us);
        for packet in packets {
            // Packets made here carry the fixed header only (no CSRC, extension or padding).
            let payload_len = packet.len().saturating_sub(FIXED_HEADER_LEN);
            track
                .generator
                .on_packet_sent(packet.timestamp, payload_len, wallclock_us);
        }
        report
    }
}

impl TrackReports {
    /// The report to send before `first` (whose RTP time stands for `wallclock_us`) when one is
    /// due at `now`: mapped by `first`, counting what was sent before it.
    fn report_before(
        &mut self,
        now: Instant,
        now_us: i64,
        first: &OutPacket,
        wallclock_us: i64,
    ) -> Option<Bytes> {
        if self.next_due.is_some_and(|at| now < at) {
            return None;
        }
        self.next_due = Some(now + REPORT_INTERVAL);
        self.generator.on_timing(first.timestamp, wallclock_us);
        let report = self.generator.report(now_us)?;
        Some(compound(self.ssrc, |out| report.write(out)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rtcp::{NtpTimestamp, RtcpPacket, SenderReport};
    use crate::rtp_session::report_in;

    /// 2024-01-01T00:00:00Z in UNIX µs.
    const T0: i64 = 1_704_067_200_000_000;

    fn packets(timestamp: u32, payloads: &[usize]) -> Vec<OutPacket> {
        payloads
            .iter()
            .map(|&len| OutPacket {
                sequence_number: 0,
                timestamp,
                marker: false,
                chunks: vec![Bytes::from(vec![0u8; 12]), Bytes::from(vec![1u8; len])],
            })
            .collect()
    }

    fn sender_report(rtcp: &Bytes) -> SenderReport {
        match report_in(rtcp) {
            RtcpPacket::SenderReport(sr) => sr,
            other => panic!("an SR, got {other:?}"),
        }
    }

    #[test]
    fn reports_go_before_the_first_batch_then_every_interval_counting_what_went_before() {
        let mut reports = SenderReports::new([(7, 90_000), (9, 48_000)]);
        let start = Instant::now();
        let mut send = |at: Instant, at_us: i64, track: usize, ts: u32, payloads: &[usize]| {
            reports.on_sent(at, at_us, track, &packets(ts, payloads), T0)
        };
        // Before the first packets: mapped by them, nothing sent yet.
        let sr = sender_report(&send(start, T0, 0, 1000, &[100, 50]).unwrap());
        assert_eq!((sr.ssrc, sr.packet_count, sr.octet_count), (7, 0, 0));
        assert_eq!(
            (sr.ntp, sr.rtp_timestamp),
            (NtpTimestamp::from_unix_micros(T0), 1000)
        );
        assert!(send(start, T0, 0, 1000, &[10]).is_none());
        let later = start + REPORT_INTERVAL;
        let sr = sender_report(&send(later, T0 + 5_000_000, 0, 1000, &[20]).unwrap());
        assert_eq!((sr.packet_count, sr.octet_count), (3, 160));
        // The batch's RTP time stands for T0: 5 s later is 5 × 90 000 ticks on.
        let expected = (
            NtpTimestamp::from_unix_micros(T0 + 5_000_000),
            1000 + 450_000,
        );
        assert_eq!((sr.ntp, sr.rtp_timestamp), expected);
        let audio = sender_report(&send(later, T0, 1, 0, &[30]).unwrap());
        assert_eq!(
            (audio.ssrc, audio.packet_count, audio.octet_count),
            (9, 0, 0)
        );
    }

    #[test]
    fn each_track_keeps_its_own_schedule() {
        let mut reports = SenderReports::new([(7, 90_000), (9, 8000)]);
        let start = Instant::now();
        let mut due = |after_ms: u64, track: usize| {
            let at = start + Duration::from_millis(after_ms);
            let at_us = T0 + 1000 * after_ms as i64;
            reports
                .on_sent(at, at_us, track, &packets(0, &[1]), T0)
                .is_some()
        };
        let sent: Vec<bool> = [
            (0, 0),
            (3000, 1),
            (4999, 0),
            (5000, 0),
            (5000, 1),
            (7999, 1),
            (8000, 1),
            (9999, 0),
            (10_000, 0),
        ]
        .into_iter()
        .map(|(after_ms, track)| due(after_ms, track))
        .collect();
        let expected = [true, true, false, true, false, false, true, false, true];
        assert_eq!(sent, expected);
    }

    #[test]
    fn the_first_report_waits_for_a_batch_with_packets() {
        let mut reports = SenderReports::new([(7, 90_000)]);
        let start = Instant::now();
        assert!(reports.on_sent(start, T0, 0, &[], T0).is_none());
        let sr = reports.on_sent(start, T0, 0, &packets(1000, &[10]), T0);
        assert_eq!(sender_report(&sr.unwrap()).rtp_timestamp, 1000);
    }

    #[test]
    fn unknown_track_is_ignored() {
        let mut reports = SenderReports::new([]);
        let sent = reports.on_sent(Instant::now(), T0, 3, &packets(0, &[1]), T0);
        assert!(sent.is_none());
    }
}
