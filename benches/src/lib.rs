//! Shared helpers for the benches (counting allocator, thread CPU clock, fixtures).
//!
//! A bench binary installs [`CountingAlloc`] as its `#[global_allocator]` and reads
//! [`CountingAlloc::counts`] before and after the code it measures, to report heap allocations
//! per unit of work next to criterion's timings. [`ThreadCpuTime`] is a criterion measurement
//! that counts only the CPU time of the benchmarking thread, so figures taken on a busy shared
//! machine are less disturbed by other processes than wall time; [`run_wall_and_cpu`] is the
//! `main` of every bench, running its benches with both measurements.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use bytes::Bytes;
use criterion::Criterion;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use vigia_media::{AccessUnit, Timestamp};

/// A global allocator that forwards to [`System`] and counts calls and bytes.
///
/// Counting costs one relaxed atomic add per call, small next to the allocation itself.
#[derive(Debug, Default)]
pub struct CountingAlloc {
    allocs: AtomicU64,
    deallocs: AtomicU64,
    reallocs: AtomicU64,
    bytes: AtomicU64,
}

/// A snapshot of a [`CountingAlloc`]'s counters; subtract two to measure a span of code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocCounts {
    /// Calls to `alloc` and `alloc_zeroed`.
    pub allocs: u64,
    /// Calls to `dealloc`.
    pub deallocs: u64,
    /// Calls to `realloc` (each may move the block: counted apart from `allocs`).
    pub reallocs: u64,
    /// Bytes requested by `alloc`, `alloc_zeroed` and the growth of `realloc`.
    pub bytes: u64,
}

impl CountingAlloc {
    /// A counter at zero, usable in a `static`.
    pub const fn new() -> Self {
        Self {
            allocs: AtomicU64::new(0),
            deallocs: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// The counters now.
    pub fn counts(&self) -> AllocCounts {
        AllocCounts {
            allocs: self.allocs.load(Ordering::Relaxed),
            deallocs: self.deallocs.load(Ordering::Relaxed),
            reallocs: self.reallocs.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }

    fn count_alloc(&self, size: usize) {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size as u64, Ordering::Relaxed);
    }
}

impl AllocCounts {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: AllocCounts) -> AllocCounts {
        AllocCounts {
            allocs: self.allocs - earlier.allocs,
            deallocs: self.deallocs - earlier.deallocs,
            reallocs: self.reallocs - earlier.reallocs,
            bytes: self.bytes - earlier.bytes,
        }
    }

    /// Allocations of any kind (`alloc` plus `realloc`).
    pub fn heap_allocations(self) -> u64 {
        self.allocs + self.reallocs
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the only other work is relaxed atomic adds, which neither allocate nor
// touch the memory being managed.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count_alloc(layout.size());
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count_alloc(layout.size());
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.deallocs.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.reallocs.fetch_add(1, Ordering::Relaxed);
        let growth = new_size.saturating_sub(layout.size());
        self.bytes.fetch_add(growth as u64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A criterion [`Measurement`]: CPU time consumed by the calling thread
/// (`CLOCK_THREAD_CPUTIME_ID`), reported in the same units as wall time.
///
/// Only meaningful for single-threaded benches (all the work on the benchmarking thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadCpuTime;

/// Wall time's formatter, reused: both measure durations in nanoseconds.
static DURATION_FORMAT: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }

    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        DURATION_FORMAT.formatter()
    }
}

/// A bench binary's `main` (`harness = false`): runs `wall` with criterion's wall time, then
/// `cpu` with [`ThreadCpuTime`] (by convention the same benches, groups suffixed `_cpu`), each
/// configured from the command line, then prints criterion's summary — what
/// `criterion_main!` over two `criterion_group!`s would do.
pub fn run_wall_and_cpu(
    wall: impl FnOnce(&mut Criterion),
    cpu: impl FnOnce(&mut Criterion<ThreadCpuTime>),
) {
    wall(&mut Criterion::default().configure_from_args());
    cpu(&mut Criterion::default()
        .with_measurement(ThreadCpuTime)
        .configure_from_args());
    Criterion::default().configure_from_args().final_summary();
}

/// CPU time used so far by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` that outlives the call; the clock id is a
    // constant the kernel supports since Linux 2.6.12. On failure `ts` stays zero.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Builds `count` H.264-like access units whose NAL units are `Bytes` slices of one shared
/// buffer (as a depacketizer produces them), a keyframe every `gop` units, 30 fps at 90 kHz.
pub fn access_units(count: usize, gop: usize) -> Vec<Arc<AccessUnit>> {
    // SPS, PPS, a slice: sizes of a small 720p picture split in a few NAL units.
    const NAL_SIZES: [usize; 4] = [24, 8, 1400, 2800];
    let buffer = Bytes::from(vec![0x65u8; NAL_SIZES.iter().sum()]);
    (0..count)
        .map(|i| {
            let mut offset = 0;
            let data = NAL_SIZES
                .iter()
                .map(|&size| {
                    offset += size;
                    buffer.slice(offset - size..offset)
                })
                .collect();
            let pts = Timestamp::new(i as i64 * 3000, 90_000);
            Arc::new(AccessUnit {
                track: 0,
                pts,
                dts: pts,
                keyframe: i % gop.max(1) == 0,
                wallclock_us: None,
                data,
                nal_ends: Vec::new(),
                new_params: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn the_counting_allocator_counts_each_kind_of_call_and_the_bytes_asked() {
        let counter = CountingAlloc::new();
        let before = counter.counts();
        let layout = Layout::from_size_align(64, 8).expect("layout");
        // SAFETY: each block is allocated through `counter` with `layout`, grown with realloc
        // to 256 bytes, and freed once with the layout it then has.
        unsafe {
            let a = counter.alloc(layout);
            let z = counter.alloc_zeroed(layout);
            assert!(!a.is_null() && !z.is_null());
            assert!(std::slice::from_raw_parts(z, 64).iter().all(|&b| b == 0));
            let a = counter.realloc(a, layout, 256);
            assert!(!a.is_null());
            counter.dealloc(a, Layout::from_size_align(256, 8).expect("layout"));
            counter.dealloc(z, layout);
        }
        let spent = counter.counts().since(before);
        let expected = AllocCounts {
            allocs: 2,
            deallocs: 2,
            reallocs: 1,
            bytes: 64 + 64 + (256 - 64),
        };
        assert_eq!(spent, expected);
        assert_eq!(spent.heap_allocations(), 3);
    }

    #[test]
    fn thread_cpu_time_grows_with_work_on_this_thread_only() {
        let clock = ThreadCpuTime;
        let start = clock.start();
        let mut x = 0u64;
        while clock.end(start) < Duration::from_millis(5) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let busy = clock.end(start);
        assert!(busy >= Duration::from_millis(5), "{busy:?}");
        let idle = clock.start();
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            clock.end(idle) < Duration::from_millis(25),
            "sleeping is not CPU time"
        );
        assert_eq!(clock.add(&busy, &clock.zero()), busy);
        assert_eq!(clock.to_f64(&Duration::from_micros(2)), 2000.0);
    }

    #[test]
    fn access_units_share_one_buffer_with_a_keyframe_every_gop() {
        let units = access_units(7, 3);
        assert_eq!(units.len(), 7);
        let keyframes: Vec<bool> = units.iter().map(|u| u.keyframe).collect();
        assert_eq!(keyframes, [true, false, false, true, false, false, true]);
        assert_eq!(units[2].pts, Timestamp::new(6000, 90_000));
        let sizes: Vec<usize> = units[0].data.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [24, 8, 1400, 2800]);
        // Slices of one buffer: the NAL units follow each other in memory, in every unit.
        for unit in &units {
            for pair in unit.data.windows(2) {
                assert_eq!(
                    pair[0].as_ptr().wrapping_add(pair[0].len()),
                    pair[1].as_ptr()
                );
            }
            assert_eq!(unit.data[0].as_ptr(), units[0].data[0].as_ptr());
        }
        assert!(
            access_units(2, 0).iter().all(|u| u.keyframe),
            "gop 0 counts as 1"
        );
    }
}
