//! Playback `/list` over a month of one-minute segments: 43,200 index entries of one path,
//! with a few outages so there are several spans.
//!
//! - `spans_month`: `RecordingIndex::spans` over the whole month (the range walk and the merge
//!   of consecutive segments).
//! - `spans_day`: the same for the last 24 hours (what the timeline page asks).
//! - `render_month`: the JSON of the month's spans, as MediaMTX writes it.
//! - `list_month`: both, which is what a `/list` costs the server beyond HTTP.
//!
//! The server must answer `/list` of such a path in under 200 ms. Runs with wall time and with
//! [`ThreadCpuTime`](vigia_benches::ThreadCpuTime) (groups suffixed `_cpu`); prints heap
//! allocations per call counted by [`CountingAlloc`].

use std::hint::black_box;

use criterion::Criterion;
use criterion::measurement::Measurement;
use vigia_benches::CountingAlloc;
use vigia_storage::index::{RecordingIndex, SegmentEntry};
use vigia_storage::playback::list;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// One month of one-minute segments.
const SEGMENTS: i64 = 43_200;
const MINUTE_US: i64 = 60_000_000;
/// 2025-11-01T00:00:00Z.
const START_US: i64 = 1_761_955_200_000_000;
/// Every this many segments the camera was off for ten minutes.
const OUTAGE_EVERY: i64 = 4_000;

fn month_index() -> RecordingIndex {
    let index = RecordingIndex::in_memory();
    let mut start = START_US;
    for n in 0..SEGMENTS {
        if n > 0 && n % OUTAGE_EVERY == 0 {
            start += 10 * MINUTE_US;
        }
        index.insert(
            "city/cam-0042",
            SegmentEntry {
                key: format!("city/cam-0042/{n:06}.mp4"),
                start_us: start,
                duration_us: MINUTE_US,
                size: 7_500_000,
            },
        );
        start += MINUTE_US;
    }
    index
}

fn bench_list<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let index = month_index();
    let path = "city/cam-0042";
    let spans = index.spans(path, i64::MIN, i64::MAX);
    let end = spans.last().map_or(0, |s| s.start_us + s.duration_us);
    let day_start = end - 24 * 60 * MINUTE_US;
    let base = "http://vigia.example:9996";
    let mut group = c.benchmark_group(name);
    group.bench_function("spans_month", |b| {
        b.iter(|| index.spans(black_box(path), i64::MIN, i64::MAX))
    });
    group.bench_function("spans_day", |b| {
        b.iter(|| index.spans(black_box(path), day_start, end))
    });
    group.bench_function("render_month", |b| {
        b.iter(|| list::render(black_box(&spans), path, base))
    });
    group.bench_function("list_month", |b| {
        b.iter(|| {
            list::render(
                &index.spans(black_box(path), i64::MIN, i64::MAX),
                path,
                base,
            )
        })
    });
    group.finish();
}

/// Prints heap allocations and bytes per call of `f`.
fn report(label: &str, f: impl Fn()) {
    const CALLS: u64 = 20;
    let before = ALLOC.counts();
    for _ in 0..CALLS {
        f();
    }
    let d = ALLOC.counts().since(before);
    println!(
        "{label}: {:.0} heap allocations, {} bytes allocated per call",
        d.heap_allocations() as f64 / CALLS as f64,
        d.bytes / CALLS
    );
}

fn print_sizes() {
    let index = month_index();
    let path = "city/cam-0042";
    let spans = index.spans(path, i64::MIN, i64::MAX);
    let json = list::render(&spans, path, "http://vigia.example:9996");
    println!(
        "{} segments, {} spans, /list JSON {} bytes",
        index.len(),
        spans.len(),
        json.len()
    );
    report("spans_month", || {
        drop(index.spans(path, i64::MIN, i64::MAX))
    });
    report("render_month", || {
        drop(list::render(&spans, path, "http://vigia.example:9996"))
    });
}

fn main() {
    vigia_benches::run_wall_and_cpu(
        |c| {
            print_sizes();
            bench_list(c, "playback_list");
        },
        |c| bench_list(c, "playback_list_cpu"),
    );
}
