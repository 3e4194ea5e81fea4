//! A publishing session's ingest: RTP in (interleaved or UDP), access units out to the stream,
//! and RTCP receiver reports back to the publisher. The RTP session itself (statistics, report
//! schedule, sender-report clock mapping) is [`ReceiverSession`]; this module feeds it packets
//! and the clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use vigia_protocol::payload::{Depacketizer, depacketizer_for};
use vigia_protocol::rtp::RtpPacket;
use vigia_protocol::rtp_session::ReceiverSession;
use vigia_protocol::sdp::SdpTrack;

use crate::ingest::Ingest;
use crate::sources::{SkewWarning, unix_micros};
use crate::stream::PathStream;

/// Ingest state of one publisher: a depacketizer per announced media and the RTP session.
pub(crate) struct Publisher {
    path: String,
    stream: Arc<PathStream>,
    /// Indexed by announced media index; `None` for media Vigia doesn't carry.
    depacketizers: Vec<Option<Box<dyn Depacketizer>>>,
    session: ReceiverSession,
    ingest: Ingest,
    bad_packets: WarnSummary,
    skew_warning: SkewWarning,
    last_packet: Instant,
    /// Where RTP datagrams read from the shared UDP socket are copied ([`Self::on_udp_rtp`]).
    own_buffer: BytesMut,
}

/// Size of a publisher's own buffer for UDP datagrams: jemalloc's largest small size class,
/// served from slabs. A 64 KiB buffer is a large allocation whose pages fault in afresh: it cost
/// 10 % more CPU at 100 UDP cameras (0.056 against 0.051 CPU-s per stream-minute, twice the page
/// faults), where 14 KiB costs what copying each unit did (0.0504 against 0.0504).
const OWN_BUFFER: usize = 14 * 1024;

impl Publisher {
    /// A publisher of `announced` media into `stream` (whose tracks are the supported ones, in
    /// announced order).
    pub(crate) fn new(path: &str, stream: Arc<PathStream>, announced: &[SdpTrack]) -> Self {
        let now = Instant::now();
        let supported = announced.iter().map(SdpTrack::track);
        let mut next = 0;
        let depacketizers = supported
            .clone()
            .map(|track| {
                let index = next;
                next += 1;
                Some(depacketizer_for(track?, index))
            })
            .collect();
        let clock_rates = supported.map(|track| track.map(|t| t.clock_rate));
        let session = ReceiverSession::new(now, rand::random(), clock_rates);
        let ingest = Ingest::aligning(stream.tracks());
        Self {
            path: path.to_string(),
            stream,
            depacketizers,
            session,
            ingest,
            bad_packets: WarnSummary::default(),
            skew_warning: SkewWarning::default(),
            last_packet: now,
            own_buffer: BytesMut::new(),
        }
    }

    /// When the next receiver reports are due.
    pub(crate) fn next_report(&self) -> Instant {
        self.session.poll_timeout()
    }

    /// The receiver reports due at `now` (none before [`Self::next_report`]): per announced
    /// media that has sent packets, its index and an RR + SDES compound packet.
    pub(crate) fn receiver_reports(&mut self, now: Instant) -> Vec<(usize, Bytes)> {
        self.session.receiver_reports(now, unix_micros())
    }

    /// When the publisher last sent anything.
    pub(crate) fn last_packet(&self) -> Instant {
        self.last_packet
    }

    /// One RTP packet of announced media `media`, received at `now` (read once per batch of
    /// packets by the caller: a clock read per packet was ~2 % of ingest CPU).
    pub(crate) fn on_rtp(&mut self, media: usize, raw: Bytes, now: Instant) {
        self.last_packet = now;
        let Some(Some(depacketizer)) = self.depacketizers.get_mut(media) else {
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
        self.session.on_rtp(now, media, &packet);
        if let Err(e) = depacketizer.push(&packet) {
            self.bad_packets
                .warn(&self.path, format_args!("bad RTP payload: {e}"));
        }
        while let Some(mut unit) = depacketizer.pull() {
            unit.wallclock_us = self.session.wallclock_us(media, unit.pts.ticks);
            if let Some(unit) = self.ingest.finish(unit) {
                self.stream.publish(unit);
            }
        }
    }

    /// One RTP datagram of announced media `media` read from the server's shared UDP socket.
    /// Its bytes are copied into this publisher's own buffer first: the stream's units are
    /// slices of the buffer their packets are in and live as long as its ring holds them, and
    /// the shared receive buffer also holds every other UDP publisher's packets, which one
    /// stream's ring would then keep alive with its own. (Over TCP each connection reads into a
    /// buffer of its own, so nothing is copied.)
    pub(crate) fn on_udp_rtp(&mut self, media: usize, datagram: &[u8], now: Instant) {
        if self.own_buffer.capacity() - self.own_buffer.len() < datagram.len() {
            self.own_buffer = BytesMut::with_capacity(OWN_BUFFER.max(datagram.len()));
        }
        self.own_buffer.extend_from_slice(datagram);
        let packet = self.own_buffer.split().freeze();
        self.on_rtp(media, packet, now);
    }

    /// One RTCP compound packet of announced media `media`: sender reports map RTP time to
    /// wall-clock time, unless the publisher's clock is too far off (said once in the log).
    /// `now` is when it was received.
    pub(crate) fn on_rtcp(&mut self, media: usize, raw: Bytes, now: Instant) {
        self.last_packet = now;
        let result = self.session.on_rtcp(unix_micros(), media, &raw);
        self.skew_warning.on_report(&self.path, result);
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
