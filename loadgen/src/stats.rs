//! Counters every connection task adds to, and the latency math.
//!
//! Tasks add to atomics and push latency samples (µs) into one mutex-guarded vector; once a
//! second the runner takes a [`Snapshot`] (which drains the samples). The mutex is held only to
//! push a number, never across an await.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A stall: a reader that got no frame for this long.
pub const STALL_AFTER_US: i64 = 1_000_000;

/// Shared counters of one run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Cameras that completed their RECORD handshake and are sending.
    pub cameras_up: AtomicU64,
    /// Readers that are receiving.
    pub readers_up: AtomicU64,
    /// Connection failures (camera or reader), each also logged once.
    pub errors: AtomicU64,
    /// Bytes cameras wrote.
    pub bytes_sent: AtomicU64,
    /// Frames cameras sent.
    pub frames_sent: AtomicU64,
    /// Bytes readers received.
    pub bytes_received: AtomicU64,
    /// Frames (access units) readers received.
    pub frames_received: AtomicU64,
    /// Gaps: lost RTP packets (RTSP) or skipped parts (LL-HLS) seen by readers.
    pub gaps: AtomicU64,
    /// Stalls: times a reader got nothing for [`STALL_AFTER_US`] or more.
    pub stalls: AtomicU64,
    /// Frames received without a wall-clock SEI.
    pub unstamped: AtomicU64,
    /// Frames stamped before their reader joined (the server's buffered GOP a new reader
    /// starts with): not live, so not latency samples.
    pub catchup: AtomicU64,
    latencies_us: Mutex<Vec<i64>>,
}

/// Counter values at one instant plus the latency samples since the previous snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// See [`Stats::cameras_up`].
    pub cameras_up: u64,
    /// See [`Stats::readers_up`].
    pub readers_up: u64,
    /// See [`Stats::errors`].
    pub errors: u64,
    /// See [`Stats::bytes_sent`].
    pub bytes_sent: u64,
    /// See [`Stats::frames_sent`].
    pub frames_sent: u64,
    /// See [`Stats::bytes_received`].
    pub bytes_received: u64,
    /// See [`Stats::frames_received`].
    pub frames_received: u64,
    /// See [`Stats::gaps`].
    pub gaps: u64,
    /// See [`Stats::stalls`].
    pub stalls: u64,
    /// See [`Stats::unstamped`].
    pub unstamped: u64,
    /// See [`Stats::catchup`].
    pub catchup: u64,
    /// Latency samples (µs) since the previous snapshot.
    pub latencies_us: Vec<i64>,
}

impl Stats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records the latency of a frame stamped `stamp_us` received at `now_us` by a reader that
    /// joined at `joined_us`: a sample `now_us - stamp_us`, or a catch-up frame if it was sent
    /// before the reader joined.
    pub fn frame_stamp(&self, stamp_us: i64, now_us: i64, joined_us: i64) {
        if stamp_us < joined_us {
            Self::add(&self.catchup, 1);
        } else {
            self.latency(stamp_us, now_us);
        }
    }

    /// Records one latency sample: `now_us - stamp_us`.
    pub fn latency(&self, stamp_us: i64, now_us: i64) {
        let mut v = self.latencies_us.lock().unwrap_or_else(|e| e.into_inner());
        v.push(now_us - stamp_us);
    }

    /// The counters now, draining the latency samples.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let latencies_us =
            std::mem::take(&mut *self.latencies_us.lock().unwrap_or_else(|e| e.into_inner()));
        Snapshot {
            cameras_up: get(&self.cameras_up),
            readers_up: get(&self.readers_up),
            errors: get(&self.errors),
            bytes_sent: get(&self.bytes_sent),
            frames_sent: get(&self.frames_sent),
            bytes_received: get(&self.bytes_received),
            frames_received: get(&self.frames_received),
            gaps: get(&self.gaps),
            stalls: get(&self.stalls),
            unstamped: get(&self.unstamped),
            catchup: get(&self.catchup),
            latencies_us,
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Number of samples.
    pub samples: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile (absent from reports written before it existed: 0).
    #[serde(default)]
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Percentiles {
    /// Percentiles of `samples_us` (sorted in place); all zero when empty.
    pub fn of(samples_us: &mut [i64]) -> Self {
        samples_us.sort_unstable();
        let ms = |q: f64| percentile(samples_us, q) as f64 / 1000.0;
        Self {
            samples: samples_us.len() as u64,
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: ms(1.0),
        }
    }
}

/// The nearest-rank percentile `q` (0..=1) of sorted `sorted`: the smallest sample such that at
/// least `q` of the samples are ≤ it; 0 when empty.
pub fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        let cases = [
            (0.0, 1),
            (0.01, 1),
            (0.5, 50),
            (0.9, 90),
            (0.99, 99),
            (0.991, 100),
            (1.0, 100),
        ];
        for (q, want) in cases {
            assert_eq!(percentile(&v, q), want, "q={q}");
        }
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.99), 7);
    }

    #[test]
    fn percentiles_in_ms_from_unsorted_us() {
        let mut v = vec![3_000, 1_000, 2_000, 250_000];
        let p = Percentiles::of(&mut v);
        assert_eq!(p.samples, 4);
        assert_eq!(
            (p.p50_ms, p.p90_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (2.0, 250.0, 250.0, 250.0, 250.0)
        );
        let mut hundred: Vec<i64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(Percentiles::of(&mut hundred).p95_ms, 95.0);
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn latency_is_now_minus_stamp_and_snapshots_drain() {
        let s = Stats::default();
        s.latency(1_000_000, 1_120_000);
        s.latency(1_000_000, 999_000); // a clock step backwards shows as negative, not hidden
        Stats::add(&s.gaps, 2);
        let snap = s.snapshot();
        assert_eq!(snap.latencies_us, vec![120_000, -1_000]);
        assert_eq!(snap.gaps, 2);
        assert!(s.snapshot().latencies_us.is_empty());
    }

    #[test]
    fn frames_sent_before_the_reader_joined_are_catch_up() {
        let s = Stats::default();
        s.frame_stamp(900, 2_000, 1_000);
        s.frame_stamp(1_000, 2_000, 1_000);
        let snap = s.snapshot();
        assert_eq!((snap.catchup, snap.latencies_us), (1, vec![1_000]));
    }
}
