//! Timestamps as types: ticks in a track's clock, and RTP time unwrapping.

/// A point in a track's timeline: `ticks` of `1 / clock_rate` seconds.
///
/// Ticks are signed 64-bit, so unwrapped RTP time never overflows in practice
/// (at 90 kHz, i64 lasts about three million years).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Count of clock ticks since the track's origin.
    pub ticks: i64,
    /// Ticks per second (90 000 for video, the sample rate for most audio).
    pub clock_rate: u32,
}

impl Timestamp {
    /// A timestamp of `ticks` in a clock of `clock_rate` Hz.
    pub const fn new(ticks: i64, clock_rate: u32) -> Self {
        Self { ticks, clock_rate }
    }

    /// The same instant expressed in another clock rate (rounded toward negative infinity).
    pub fn rescale(self, clock_rate: u32) -> Self {
        if clock_rate == self.clock_rate || self.clock_rate == 0 {
            return Self {
                ticks: self.ticks,
                clock_rate,
            };
        }
        let ticks = (i128::from(self.ticks) * i128::from(clock_rate))
            .div_euclid(i128::from(self.clock_rate));
        Self {
            ticks: ticks as i64,
            clock_rate,
        }
    }

    /// Microseconds since the track's origin.
    pub fn as_micros(self) -> i64 {
        self.rescale(1_000_000).ticks
    }
}

/// Extends 32-bit RTP timestamps into a monotonic-ish i64 timeline.
///
/// Each new value is interpreted as the 32-bit value nearest to the previous one, so forward
/// wraps add 2^32 and small backward steps (B-frames, reordering) stay small. The first value
/// seen becomes tick 0 unless constructed with [`Unwrapper::starting_at`].
#[derive(Clone, Debug, Default)]
pub struct Unwrapper {
    last: Option<(u32, i64)>,
}

impl Unwrapper {
    /// An unwrapper that maps the first value it sees to 0.
    pub const fn new() -> Self {
        Self { last: None }
    }

    /// An unwrapper that maps `first` to `base`.
    pub const fn starting_at(first: u32, base: i64) -> Self {
        Self {
            last: Some((first, base)),
        }
    }

    /// The unwrapped value of `raw`.
    pub fn unwrap(&mut self, raw: u32) -> i64 {
        let value = match self.last {
            None => 0,
            Some((prev_raw, prev)) => prev + i64::from(raw.wrapping_sub(prev_raw) as i32),
        };
        self.last = Some((raw, value));
        value
    }
}

/// Extends 16-bit RTP sequence numbers into 64-bit ones, the same way as [`Unwrapper`].
#[derive(Clone, Debug, Default)]
pub struct SeqUnwrapper {
    last: Option<(u16, i64)>,
}

impl SeqUnwrapper {
    /// An unwrapper whose first value keeps its 16-bit number.
    pub const fn new() -> Self {
        Self { last: None }
    }

    /// The unwrapped value of `raw`.
    pub fn unwrap(&mut self, raw: u16) -> i64 {
        let value = match self.last {
            None => i64::from(raw),
            Some((prev_raw, prev)) => prev + i64::from(raw.wrapping_sub(prev_raw) as i16),
        };
        self.last = Some((raw, value));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_time_unwraps_across_u32_boundary() {
        let mut u = Unwrapper::new();
        assert_eq!(u.unwrap(u32::MAX - 1), 0);
        assert_eq!(u.unwrap(u32::MAX), 1);
        assert_eq!(u.unwrap(0), 2);
        assert_eq!(u.unwrap(3000), 3002);
    }

    #[test]
    fn rtp_time_steps_back_for_reordering() {
        let mut u = Unwrapper::starting_at(5, 100);
        assert_eq!(u.unwrap(2), 97);
        assert_eq!(u.unwrap(u32::MAX), 94);
    }

    #[test]
    fn rtp_time_unwraps_at_i32_midpoint() {
        let mut u = Unwrapper::new();
        assert_eq!(u.unwrap(0x7FFF_FFF0), 0);
        assert_eq!(u.unwrap(0x8000_0010), 0x20);
    }

    #[test]
    fn seq_unwraps_across_u16_boundary() {
        let mut s = SeqUnwrapper::new();
        assert_eq!(s.unwrap(65534), 65534);
        assert_eq!(s.unwrap(65535), 65535);
        assert_eq!(s.unwrap(0), 65536);
        assert_eq!(s.unwrap(65535), 65535);
        assert_eq!(s.unwrap(1), 65537);
    }

    #[test]
    fn rescale_converts_clock_rates() {
        let t = Timestamp::new(90_000, 90_000);
        assert_eq!(t.rescale(1000).ticks, 1000);
        assert_eq!(Timestamp::new(-1, 90_000).rescale(1000).ticks, -1);
        assert_eq!(Timestamp::new(48_000, 48_000).as_micros(), 1_000_000);
    }
}
