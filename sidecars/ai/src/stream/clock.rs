//! Wall-clock time of a stream's frames from its RTCP sender reports (RFC 3550 §6.4.1).
//!
//! A sender report pairs an NTP time (the sender's wall clock) with the RTP time of the same
//! instant; a frame's time is the latest report's NTP time plus the RTP distance from the report
//! to the frame. Before the first report, or when the reports cannot be trusted, a frame is dated
//! by its arrival. Sans-IO: arrival times are passed in.
//!
//! Reports not to trust (the same policy as the server's puller):
//! - an NTP time of zero: the sender has no wall clock;
//! - a report more than [`MAX_SKEW`] from its arrival: the sender's clock is wrong (no NTP, local
//!   time sent as UTC), and plates would be dated hours off.
//!
//! The distance from a report to a frame is the nearest 32-bit one, so an RTP timestamp wrap
//! (every 13 h at 90 kHz) is crossed either way; senders report every few seconds.

use chrono::{DateTime, TimeDelta, Utc};

/// How far a sender report's wall clock may be from its arrival time.
pub const MAX_SKEW: TimeDelta = TimeDelta::seconds(30);

/// Seconds from the NTP epoch (1900) to the UNIX epoch (1970).
const NTP_UNIX_OFFSET_S: i64 = 2_208_988_800;

/// Where a frame's wall-clock time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// The sender's RTCP sender reports (its NTP clock).
    SenderReport,
    /// The time the frame arrived here.
    Arrival,
}

/// Why a sender report was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// The NTP time is zero.
    NoWallClock,
    /// The report's wall clock is this far from its arrival (beyond [`MAX_SKEW`]).
    Skewed(TimeDelta),
}

/// One stream's mapping from RTP time to wall-clock time; see the module doc.
#[derive(Debug, Clone)]
pub struct FrameClock {
    clock_rate: u32,
    /// The latest usable report: (RTP time, wall-clock time).
    report: Option<(u32, DateTime<Utc>)>,
}

impl FrameClock {
    /// A clock for a stream of RTP clock rate `clock_rate` Hz (90,000 for video), without reports.
    pub fn new(clock_rate: u32) -> FrameClock {
        FrameClock {
            clock_rate: clock_rate.max(1),
            report: None,
        }
    }

    /// A sender report pairing RTP time `rtp` with NTP time `ntp` (64-bit NTP format),
    /// received at `arrival`.
    pub fn on_sender_report(
        &mut self,
        rtp: u32,
        ntp: u64,
        arrival: DateTime<Utc>,
    ) -> Result<(), Ignored> {
        if ntp == 0 {
            return Err(Ignored::NoWallClock);
        }
        let wall = ntp_to_utc(ntp);
        let skew = wall - arrival;
        if skew.abs() > MAX_SKEW {
            return Err(Ignored::Skewed(skew));
        }
        self.report = Some((rtp, wall));
        Ok(())
    }

    /// Whether a usable sender report has come.
    pub fn has_report(&self) -> bool {
        self.report.is_some()
    }

    /// The wall-clock time of a frame of RTP time `rtp` that arrived at `arrival`.
    pub fn frame_time(&self, rtp: u32, arrival: DateTime<Utc>) -> (DateTime<Utc>, ClockSource) {
        let Some((report_rtp, wall)) = self.report else {
            return (arrival, ClockSource::Arrival);
        };
        let ticks = i64::from(rtp.wrapping_sub(report_rtp) as i32);
        let micros = ticks * 1_000_000 / i64::from(self.clock_rate);
        (
            wall + TimeDelta::microseconds(micros),
            ClockSource::SenderReport,
        )
    }
}

/// A 64-bit NTP timestamp (seconds since 1900 in the high half, fraction in the low half).
fn ntp_to_utc(ntp: u64) -> DateTime<Utc> {
    let secs = (ntp >> 32) as i64 - NTP_UNIX_OFFSET_S;
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    DateTime::from_timestamp(secs, nanos as u32).unwrap_or(DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    /// The NTP form of a UNIX time in milliseconds.
    fn ntp(ms: i64) -> u64 {
        let secs = (ms.div_euclid(1000) + NTP_UNIX_OFFSET_S) as u64;
        let frac = ((ms.rem_euclid(1000) as u64) << 32) / 1000;
        (secs << 32) | frac
    }

    const T0: i64 = 1_796_000_000_000;

    #[test]
    fn arrival_until_the_first_report() {
        let c = FrameClock::new(90_000);
        assert!(!c.has_report());
        assert_eq!(c.frame_time(1234, utc(T0)), (utc(T0), ClockSource::Arrival));
    }

    #[test]
    fn frames_are_dated_from_the_report_across_rtp_wraps() {
        // (report RTP time, frame RTP time, frame's offset from the report in ms)
        let cases = [
            ("after", 1_000, 91_000, 1_000),
            ("before", 91_000, 1_000, -1_000),
            ("wrap forward", u32::MAX - 44_999, 45_000, 1_000),
            ("wrap backward", 45_000, u32::MAX - 44_999, -1_000),
        ];
        for (name, report_rtp, frame_rtp, offset_ms) in cases {
            let mut c = FrameClock::new(90_000);
            // The report arrives 200 ms after its NTP time (network delay): used as is.
            c.on_sender_report(report_rtp, ntp(T0), utc(T0 + 200))
                .unwrap();
            assert!(c.has_report());
            let (at, source) = c.frame_time(frame_rtp, utc(T0 + 5_000));
            assert_eq!(source, ClockSource::SenderReport, "{name}");
            assert_eq!(at, utc(T0 + offset_ms), "{name}");
        }
    }

    #[test]
    fn untrusted_reports_are_ignored() {
        let mut c = FrameClock::new(90_000);
        assert_eq!(c.on_sender_report(0, 0, utc(T0)), Err(Ignored::NoWallClock));
        // Three hours off: a camera sending local time as UTC.
        let err = c
            .on_sender_report(0, ntp(T0 - 3 * 3_600_000), utc(T0))
            .unwrap_err();
        assert_eq!(err, Ignored::Skewed(TimeDelta::hours(-3)));
        assert_eq!(c.frame_time(0, utc(T0)).1, ClockSource::Arrival);
    }
}
