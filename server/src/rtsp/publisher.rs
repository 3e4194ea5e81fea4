//! A publishing session's ingest: RTP in (interleaved or UDP), access units out to the stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use vigia_protocol::payload::{Depacketizer, depacketizer_for};
use vigia_protocol::rtcp::{RtcpPacket, SenderReportState, parse_compound};
use vigia_protocol::rtp::RtpPacket;
use vigia_protocol::sdp::SdpTrack;

use crate::ingest::Ingest;
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
}

struct TrackIn {
    depacketizer: Box<dyn Depacketizer>,
    reports: SenderReportState,
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
        }
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
