//! Wall-clock time of a pulled source's frames, from its RTCP sender reports (RFC 3550 §6.4.1).
//!
//! A sender report pairs an NTP time (the camera's wall clock) with the RTP time of the same
//! instant. [`SourceClock`] keeps the latest report of each track and maps a frame's RTP
//! timestamp through it; before a track's first report it answers `None` and ingest stamps the
//! arrival time instead. Sans-IO: the driver passes reports, timestamps and its own clock.
//!
//! Policy for reports not to trust:
//! - an NTP time of zero says the camera has no wall clock: ignored;
//! - a report more than [`MAX_SKEW_US`] away from the arrival time comes from a camera whose
//!   clock is wrong (no NTP server, a local time zone sent as UTC): ignored, so recordings are
//!   not misdated by hours; the driver says so once per session.
//!
//! The distance from a report to a frame is the nearest 32-bit one, so RTP timestamp wraps
//! (every 13 h at 90 kHz) are crossed in both directions; it is valid within ±2^31 ticks
//! (6.6 h at 90 kHz) of the report, and cameras send one every few seconds.

use crate::rtcp::{NtpTimestamp, SenderReport, SenderReportState};

/// How far a sender report's wall clock may be from its arrival time: network delay and a
/// camera's buffering add a few seconds at most, and a clock further off would misdate recordings.
pub const MAX_SKEW_US: i64 = 30_000_000;

/// Per track, the mapping from RTP time to wall-clock time given by the latest usable SR.
#[derive(Clone, Debug)]
pub struct SourceClock {
    tracks: Vec<SenderReportState>,
}

/// Why a sender report was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// No such track.
    UnknownTrack,
    /// The NTP time is zero: the sender has no wall clock.
    NoWallClock,
    /// The report's wall clock is this many µs from its arrival time (beyond [`MAX_SKEW_US`]).
    Skewed(i64),
}

/// Whether a sender report's wall clock `ntp`, received at `arrival_us` (UNIX µs, the server's
/// clock), may date frames: not zero (no wall clock) and within [`MAX_SKEW_US`] of the arrival.
/// The one policy for pulled cameras and publishers alike.
pub(super) fn trust_sender_clock(ntp: NtpTimestamp, arrival_us: i64) -> Result<(), Ignored> {
    if ntp.0 == 0 {
        return Err(Ignored::NoWallClock);
    }
    let skew = ntp.to_unix_micros().saturating_sub(arrival_us);
    if skew.abs() > MAX_SKEW_US {
        return Err(Ignored::Skewed(skew));
    }
    Ok(())
}

impl SourceClock {
    /// A clock for tracks with these RTP clock rates (Hz), without reports yet.
    pub fn new(clock_rates: impl IntoIterator<Item = u32>) -> Self {
        Self {
            tracks: clock_rates
                .into_iter()
                .map(SenderReportState::new)
                .collect(),
        }
    }

    /// A sender report of `track` pairing NTP time `ntp` (64-bit NTP format) with RTP time
    /// `rtp_timestamp`, received at `arrival_us` (UNIX µs, the server's clock).
    pub fn on_sender_report(
        &mut self,
        track: usize,
        rtp_timestamp: u32,
        ntp: u64,
        arrival_us: i64,
    ) -> Result<(), Ignored> {
        let state = self.tracks.get_mut(track).ok_or(Ignored::UnknownTrack)?;
        let ntp = NtpTimestamp(ntp);
        trust_sender_clock(ntp, arrival_us)?;
        let report = SenderReport {
            ssrc: 0,
            ntp,
            rtp_timestamp,
            packet_count: 0,
            octet_count: 0,
            reports: Vec::new(),
        };
        state.on_sender_report(&report, arrival_us);
        Ok(())
    }

    /// Wall-clock UNIX µs of RTP time `rtp_timestamp` on `track`, or `None` before the track's
    /// first usable report.
    pub fn wallclock_us(&self, track: usize, rtp_timestamp: u32) -> Option<i64> {
        self.tracks
            .get(track)?
            .wallclock_us(i64::from(rtp_timestamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z in UNIX µs.
    const T0: i64 = 1_704_067_200_000_000;

    fn ntp(unix_us: i64) -> u64 {
        NtpTimestamp::from_unix_micros(unix_us).0
    }

    /// A report of track 0 (90 kHz) or 1 (8 kHz): `(track, rtp, NTP as µs after T0, arrival
    /// as µs after T0)`.
    type Report = (usize, u32, i64, i64);
    /// A case: its name, the reports in order, then a track, an RTP time and its wall clock
    /// (µs after T0).
    type Case = (&'static str, Vec<Report>, usize, u32, Option<i64>);

    #[rustfmt::skip]
    fn mapping_cases() -> Vec<Case> {
        vec![
            ("before any report: unknown", vec![], 0, 1000, None),
            ("at the report's RTP time", vec![(0, 9000, 0, 0)], 0, 9000, Some(0)),
            ("one second later", vec![(0, 9000, 0, 0)], 0, 99_000, Some(1_000_000)),
            ("before the report (B-frames, reordering)", vec![(0, 9000, 0, 0)], 0, 0, Some(-100_000)),
            ("the latest report wins",
             vec![(0, 0, 0, 0), (0, 90_000, 2_000_000, 1_000_000)], 0, 90_000, Some(2_000_000)),
            ("each track its own report and clock",
             vec![(0, 0, 0, 0), (1, 500, 5_000_000, 0)], 1, 8500, Some(6_000_000)),
            ("a frame after the RTP timestamp wrapped",
             vec![(0, u32::MAX - 44_999, 0, 0)], 0, 45_000, Some(1_000_000)),
            ("a frame before the wrap, report after it",
             vec![(0, 45_000, 0, 0)], 0, u32::MAX - 44_999, Some(-1_000_000)),
            ("a report at 2^31: both halves map",
             vec![(0, 1 << 31, 0, 0)], 0, (1 << 31) - 90_000, Some(-1_000_000)),
            ("a clock 3 h off: ignored", vec![(0, 0, 3 * 3_600_000_000, 0)], 0, 0, None),
            ("a clock 30 s behind: kept", vec![(0, 0, -30_000_000, 0)], 0, 0, Some(-30_000_000)),
            ("a clock 30 s ahead: kept", vec![(0, 0, 30_000_000, 0)], 0, 0, Some(30_000_000)),
            ("a clock 1 µs more ahead: ignored", vec![(0, 0, 30_000_001, 0)], 0, 0, None),
            ("a skewed report leaves the previous one",
             vec![(0, 0, 0, 0), (0, 90_000, 3_600_000_000, 1_000_000)], 0, 90_000, Some(1_000_000)),
            ("unknown track", vec![(5, 0, 0, 0)], 5, 0, None),
        ]
    }

    #[test]
    fn maps_rtp_time_through_the_latest_usable_report() {
        for (name, reports, track, rtp, expected) in mapping_cases() {
            let mut clock = SourceClock::new([90_000, 8000]);
            for (t, rtp_timestamp, ntp_after, arrival_after) in reports {
                let _ = clock.on_sender_report(
                    t,
                    rtp_timestamp,
                    ntp(T0 + ntp_after),
                    T0 + arrival_after,
                );
            }
            let got = clock.wallclock_us(track, rtp).map(|w| w - T0);
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn says_why_a_report_is_ignored() {
        let mut clock = SourceClock::new([90_000]);
        assert_eq!(
            clock.on_sender_report(0, 0, 0, T0),
            Err(Ignored::NoWallClock)
        );
        assert_eq!(
            clock.on_sender_report(0, 0, ntp(T0 - 60_000_000), T0),
            Err(Ignored::Skewed(-60_000_000))
        );
        assert_eq!(
            clock.on_sender_report(1, 0, ntp(T0), T0),
            Err(Ignored::UnknownTrack)
        );
        assert_eq!(clock.on_sender_report(0, 0, ntp(T0), T0), Ok(()));
        assert_eq!(
            clock.on_sender_report(0, 90_000, 0, T0),
            Err(Ignored::NoWallClock)
        );
        assert_eq!(clock.wallclock_us(0, 90_000), Some(T0 + 1_000_000), "kept");
    }
}
