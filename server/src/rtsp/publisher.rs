//! A publishing session's ingest: RTP in (interleaved or UDP), access units out to the stream,
//! and RTCP receiver reports back to the publisher (RFC 3550 §6.4.2).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use vigia_protocol::payload::{Depacketizer, depacketizer_for};
use vigia_protocol::rtcp::{
    ReceiverReport, RtcpPacket, SenderReportState, parse_compound, write_sdes_cname,
};
use vigia_protocol::rtp::{ReceiverStats, RtpPacket};
use vigia_protocol::sdp::SdpTrack;

use super::reports::{CNAME, REPORT_INTERVAL};
use crate::ingest::Ingest;
use crate::sources::unix_micros;
use crate::stream::PathStream;

/// Ingest state of one publisher: a depacketizer and RTCP state per announced media.
pub(crate) struct Publisher {
    path: String,
    stream: Arc<PathStream>,
    /// Indexed by announced media index; `None` for media Vigia doesn't carry.
    tracks: Vec<Option<TrackIn>>,
    ingest: Ingest,
    bad_packets: WarnSummary,
    last_packet: Instant,
    /// Vigia's SSRC as the receiver in its reports.
    ssrc: u32,
    next_report: Instant,
    /// Origin of packet arrival times (for the jitter estimate).
    created: Instant,
}

struct TrackIn {
    depacketizer: Box<dyn Depacketizer>,
    reports: SenderReportState,
    /// The publisher's SSRC for this media, once a packet came.
    source: Option<u32>,
    stats: ReceiverStats,
    clock_rate: u32,
}

impl Publisher {
    /// A publisher of `announced` media into `stream` (whose tracks are the supported ones, in
    /// announced order).
    pub(crate) fn new(path: &str, stream: Arc<PathStream>, announced: &[SdpTrack]) -> Self {
        let mut next = 0;
        let tracks = announced
            .iter()
            .map(|a| {
                let track = a.track()?;
                let index = next;
                next += 1;
                Some(TrackIn {
                    depacketizer: depacketizer_for(track, index),
                    reports: SenderReportState::new(track.clock_rate),
                    source: None,
                    stats: ReceiverStats::new(),
                    clock_rate: track.clock_rate,
                })
            })
            .collect();
        let ingest = Ingest::aligning(stream.tracks());
        Self {
            path: path.to_string(),
            stream,
            tracks,
            ingest,
            bad_packets: WarnSummary::default(),
            last_packet: Instant::now(),
            ssrc: rand::random(),
            created: Instant::now(),
            // RFC 3550 §6.2: the first report after half the interval.
            next_report: Instant::now() + REPORT_INTERVAL / 2,
        }
    }

    /// When the next receiver reports are due.
    pub(crate) fn next_report(&self) -> Instant {
        self.next_report
    }

    /// The receiver reports due at `now` (none before [`Self::next_report`]): per announced
    /// media that has sent packets, its index and an RR + SDES compound packet.
    pub(crate) fn receiver_reports(&mut self, now: Instant) -> Vec<(usize, Bytes)> {
        if now < self.next_report {
            return Vec::new();
        }
        self.next_report = now + REPORT_INTERVAL;
        let now_us = unix_micros();
        let ssrc = self.ssrc;
        let reports = self.tracks.iter_mut().enumerate();
        reports
            .filter_map(|(media, track)| {
                let track = track.as_mut()?;
                let block = track
                    .reports
                    .report_block(track.source?, track.stats.report(), now_us);
                let mut out = BytesMut::with_capacity(64);
                ReceiverReport {
                    ssrc,
                    reports: vec![block],
                }
                .write(&mut out);
                write_sdes_cname(&mut out, ssrc, CNAME);
                Some((media, out.freeze()))
            })
            .collect()
    }

    /// When the publisher last sent anything.
    pub(crate) fn last_packet(&self) -> Instant {
        self.last_packet
    }

    /// One RTP packet of announced media `media`.
    pub(crate) fn on_rtp(&mut self, media: usize, raw: Bytes) {
        self.last_packet = Instant::now();
        let Some(Some(track)) = self.tracks.get_mut(media) else {
            return;
        };
        let packet = match RtpPacket::parse(raw) {
            Ok(p) => p,
            Err(e) => {
                return self
                    .bad_packets
                    .warn(&self.path, format_args!("invalid RTP packet: {e}"));
            }
        };
        track.count(&packet, self.last_packet.duration_since(self.created));
        if let Err(e) = track.depacketizer.push(&packet) {
            self.bad_packets
                .warn(&self.path, format_args!("bad RTP payload: {e}"));
        }
        while let Some(mut unit) = track.depacketizer.pull() {
            unit.wallclock_us = track.reports.wallclock_us(unit.pts.ticks);
            if let Some(unit) = self.ingest.finish(unit) {
                self.stream.publish(unit);
            }
        }
    }

    /// One RTCP compound packet of announced media `media`: sender reports map RTP time to
    /// wall-clock time.
    pub(crate) fn on_rtcp(&mut self, media: usize, raw: Bytes) {
        self.last_packet = Instant::now();
        let Some(Some(track)) = self.tracks.get_mut(media) else {
            return;
        };
        let Ok(packets) = parse_compound(&raw) else {
            return;
        };
        for packet in packets {
            if let RtcpPacket::SenderReport(sr) = packet {
                track
                    .reports
                    .on_sender_report(&sr, crate::sources::unix_micros());
            }
        }
    }
}

impl TrackIn {
    /// Counts a packet that arrived `arrival` after the publisher started, for the receiver
    /// reports (a new SSRC starts the statistics again).
    fn count(&mut self, packet: &RtpPacket, arrival: Duration) {
        if self.source != Some(packet.ssrc) {
            self.source = Some(packet.ssrc);
            self.stats = ReceiverStats::new();
        }
        let arrival = arrival.as_micros() * u128::from(self.clock_rate) / 1_000_000;
        self.stats
            .on_packet(packet.sequence_number, packet.timestamp, arrival as i64);
    }
}

/// A warning repeated per packet, logged at most once a second with the count in between.
#[derive(Default)]
pub(crate) struct WarnSummary {
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnSummary {
    /// Logs `message` now, or counts it if one was logged less than a second ago.
    pub(crate) fn warn(&mut self, path: &str, message: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                path,
                "{message} ({} more since the last warning)",
                self.suppressed
            );
        } else {
            tracing::warn!(path, "{message}");
        }
        self.last = Some(now);
        self.suppressed = 0;
    }
}
