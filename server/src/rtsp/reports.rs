//! RTCP sender reports for RTSP readers (RFC 3550 §6.4.1): every reader gets, per track, an SR
//! soon after its first packets and then every [`REPORT_INTERVAL`], mapping the track's RTP clock
//! to wall-clock time (NTP). Players and VMSs use it to synchronise audio with video and to stamp
//! frames with the camera's time; the packet and octet counts are what this reader was sent.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;
use vigia_protocol::rtcp::{SenderReportGenerator, write_sdes_cname};
use vigia_protocol::rtp::FIXED_HEADER_LEN;

use crate::sources::unix_micros;
use crate::stream::{RtpBatch, RtpSource};

/// Time between two sender reports of a track (RFC 3550's minimum interval is 5 s).
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// CNAME in the SDES item that RFC 3550 §6.1 requires in every compound RTCP packet.
pub(crate) const CNAME: &[u8] = b"vigia";

/// Sender-report state of one reader: a generator and a due time per track.
pub(crate) struct SenderReports {
    tracks: Vec<TrackReports>,
}

struct TrackReports {
    generator: SenderReportGenerator,
    ssrc: u32,
    next_due: Option<Instant>,
}

impl SenderReports {
    /// Reports for a reader of a stream whose tracks are sent as `sources` say.
    pub(crate) fn new(sources: &[RtpSource]) -> Self {
        let tracks = sources
            .iter()
            .map(|s| TrackReports {
                generator: SenderReportGenerator::new(s.ssrc, s.clock_rate),
                ssrc: s.ssrc,
                next_due: None,
            })
            .collect();
        Self { tracks }
    }

    /// Counts `batch` as sent to this reader. Returns the compound RTCP packet (SR + SDES) to
    /// send on the batch's track when one is due.
    pub(crate) fn on_sent(&mut self, batch: &RtpBatch, now: Instant) -> Option<Bytes> {
        let track = self.tracks.get_mut(batch.track)?;
        for packet in &batch.packets {
            // Packets made here carry the fixed header only (no CSRC, extension or padding).
            let payload_len = packet.len().saturating_sub(FIXED_HEADER_LEN);
            track
                .generator
                .on_packet_sent(packet.timestamp, payload_len, batch.wallclock_us);
        }
        let due = track.next_due.is_none_or(|at| now >= at);
        if !due {
            return None;
        }
        track.next_due = Some(now + REPORT_INTERVAL);
        let report = track.generator.report(unix_micros())?;
        let mut out = BytesMut::with_capacity(64);
        report.write(&mut out);
        write_sdes_cname(&mut out, track.ssrc, CNAME);
        Some(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_protocol::payload::OutPacket;
    use vigia_protocol::rtcp::{RtcpPacket, parse_compound};

    fn batch(track: usize, timestamp: u32, payloads: &[usize]) -> RtpBatch {
        let packets = payloads
            .iter()
            .map(|&len| OutPacket {
                sequence_number: 0,
                timestamp,
                marker: false,
                chunks: vec![Bytes::from(vec![0u8; 12]), Bytes::from(vec![1u8; len])],
            })
            .collect();
        RtpBatch {
            track,
            packets,
            wallclock_us: unix_micros(),
        }
    }

    fn sender_report(rtcp: &Bytes) -> vigia_protocol::rtcp::SenderReport {
        let packets = parse_compound(rtcp).expect("valid compound RTCP");
        assert!(
            matches!(packets.get(1), Some(RtcpPacket::SourceDescription(_))),
            "SDES follows"
        );
        match packets.into_iter().next() {
            Some(RtcpPacket::SenderReport(sr)) => sr,
            other => panic!("SR first, got {other:?}"),
        }
    }

    #[test]
    fn first_batch_reports_then_every_interval_with_this_readers_counts() {
        let sources = [
            RtpSource {
                ssrc: 7,
                clock_rate: 90_000,
            },
            RtpSource {
                ssrc: 9,
                clock_rate: 48_000,
            },
        ];
        let mut reports = SenderReports::new(&sources);
        let start = Instant::now();
        let sr = sender_report(&reports.on_sent(&batch(0, 1000, &[100, 50]), start).unwrap());
        assert_eq!((sr.ssrc, sr.packet_count, sr.octet_count), (7, 2, 150));
        assert!(reports.on_sent(&batch(0, 4600, &[10]), start).is_none());
        let later = start + REPORT_INTERVAL;
        let sr = sender_report(&reports.on_sent(&batch(0, 8200, &[20]), later).unwrap());
        assert_eq!((sr.packet_count, sr.octet_count), (4, 180));
        let ntp_age_us = unix_micros() - sr.ntp.to_unix_micros();
        assert!(
            (0..1_000_000).contains(&ntp_age_us),
            "NTP is now: {ntp_age_us}"
        );
        let audio = sender_report(&reports.on_sent(&batch(1, 0, &[30]), later).unwrap());
        assert_eq!((audio.ssrc, audio.packet_count), (9, 1));
    }

    #[test]
    fn unknown_track_is_ignored() {
        let mut reports = SenderReports::new(&[]);
        assert!(
            reports
                .on_sent(&batch(3, 0, &[1]), Instant::now())
                .is_none()
        );
    }
}
