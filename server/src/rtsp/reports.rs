//! RTCP sender reports for RTSP readers: the driver's side of
//! [`SenderReports`](vigia_protocol::rtp_session::SenderReports), which holds the schedule and the
//! counts. Here a reader's reports are made for its stream's tracks, and each batch sent is
//! passed in with the clock.

use std::time::Instant;

use bytes::Bytes;
use vigia_protocol::rtp_session::SenderReports;

use crate::sources::unix_micros;
use crate::stream::{RtpBatch, RtpSource};

/// Sender reports for a reader of a stream whose tracks are sent as `sources` say.
pub(crate) fn for_reader(sources: &[RtpSource]) -> SenderReports {
    SenderReports::new(sources.iter().map(|s| (s.ssrc, s.clock_rate)))
}

/// Counts `batch` as sent to the reader at `now`; the compound RTCP packet (SR + SDES) to send
/// on the batch's track, before the batch, when one is due.
pub(crate) fn on_sent(
    reports: &mut SenderReports,
    batch: &RtpBatch,
    now: Instant,
) -> Option<Bytes> {
    let wallclock_us = batch.wallclock_us;
    reports.on_sent(
        now,
        unix_micros(),
        batch.track,
        &batch.packets,
        wallclock_us,
    )
}
