//! Depacketizing shared by the audio formats that carry one access unit per RTP packet, the
//! payload as its only chunk: G.711 (RFC 3551 §4.5.14) and Opus (RFC 7587 §4.2).

use bytes::Bytes;
use vigia_media::model::AccessUnit;
use vigia_media::time::Timestamp;

use super::{DepacketizeError, DepacketizeErrorKind, DepacketizeStats, ReadyQueue, RtpTimeline};
use crate::rtp::RtpPacket;

/// One access unit per packet in sequence; late packets are discarded, loss is only counted
/// (every packet stands alone, so nothing is dropped with it).
#[derive(Clone, Debug)]
pub(super) struct UnitPerPacket {
    track: usize,
    clock_rate: u32,
    /// A payload must be a non-zero multiple of this many bytes (one sample of every channel).
    granule: usize,
    /// Error text for a payload that is not.
    invalid: &'static str,
    timeline: RtpTimeline,
    ready: ReadyQueue,
    stats: DepacketizeStats,
}

impl UnitPerPacket {
    /// Access units of track `track` at `clock_rate`; payloads that are empty or not a multiple
    /// of `granule` bytes are rejected with `invalid`.
    pub(super) fn new(
        track: usize,
        clock_rate: u32,
        granule: usize,
        invalid: &'static str,
    ) -> Self {
        Self {
            track,
            clock_rate,
            granule: granule.max(1),
            invalid,
            timeline: RtpTimeline::default(),
            ready: ReadyQueue::default(),
            stats: DepacketizeStats::default(),
        }
    }

    pub(super) fn push(&mut self, pkt: &RtpPacket) -> Result<(), DepacketizeError> {
        let Some((_, ts)) = self.timeline.admit(pkt, &mut self.stats) else {
            return Ok(());
        };
        let len = pkt.payload.len();
        if len == 0 || !len.is_multiple_of(self.granule) {
            return Err(DepacketizeErrorKind::Invalid(self.invalid).at(pkt));
        }
        let pts = Timestamp::new(ts, self.clock_rate);
        // A copy: a slice would keep the whole receive buffer alive (see the module doc).
        let au = AccessUnit::new(
            self.track,
            pts,
            true,
            vec![Bytes::copy_from_slice(&pkt.payload)],
        );
        self.stats.bytes_copied += len as u64;
        self.ready.push(au, &mut self.stats);
        Ok(())
    }

    pub(super) fn pull(&mut self) -> Option<AccessUnit> {
        self.ready.pop()
    }

    pub(super) fn stats(&self) -> DepacketizeStats {
        self.stats
    }

    pub(super) fn check_invariants(&self) {
        self.ready.check_invariants();
    }
}
