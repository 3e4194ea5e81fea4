//! Recording: one stream-minute of the built-in 360p clip (H.264 Main 640x360 25 fps + AAC-LC
//! 48 kHz, 4 313 access units) through `vigia_storage::recorder::Recorder` with MediaMTX's
//! defaults (1 s parts, 1 h segments, 50 MB parts at most), every event pulled: what a
//! recording camera costs before the spool write (segmenting, sample tables, `moof` boxes; the
//! payload is shared, never copied).
//!
//! - `recorder_minute`: a new recorder per iteration (the timestamps of the pre-built units
//!   start at 0 each time), so each iteration also writes one init segment; in a live
//!   recording that happens once per segment (hourly).
//!
//! Reports criterion time per stream-minute (one iteration; throughput in access units), wall
//! time and the benchmarking thread's CPU time
//! ([`ThreadCpuTime`](vigia_benches::ThreadCpuTime), groups suffixed `_cpu`); prints heap
//! allocations per access unit counted by [`CountingAlloc`], and the memory one recorder holds
//! at its fullest point (just before a part closes), measured as the growth of the process's
//! resident set over [`RECORDERS`] recorders fed the same units.

use std::hint::black_box;
use std::mem::size_of;
use std::sync::Arc;

use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput};
use vigia_benches::CountingAlloc;
use vigia_media::fmp4::PartSample;
use vigia_media::synthetic::{Player, builtin_360p};
use vigia_media::{AccessUnit, Track};
use vigia_storage::recorder::{RecordEvent, Recorder, RecorderConfig};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// One stream-minute.
const MINUTE_US: i64 = 60_000_000;
/// Recorders kept alive at once to measure the memory of one.
const RECORDERS: usize = 1000;
/// Where the memory is measured: 30.96 s in, the last video frame before the part that ends at
/// 31 s, so the open part holds a whole second of samples.
const STEADY_US: i64 = 30_960_000;

/// The clip's tracks and one minute of its units, as the hub hands them out.
fn minute() -> (Vec<Track>, Vec<Arc<AccessUnit>>) {
    let mut player = Player::new(builtin_360p());
    let tracks = player.clip().tracks().to_vec();
    let mut units = Vec::new();
    while player.next_due_us() < MINUTE_US {
        let due = player.next_due_us();
        units.push(Arc::new(player.next_unit(1_767_225_600_000_000 + due)));
    }
    (tracks, units)
}

/// What a recording produced: (parts, bytes of fMP4).
#[derive(Default)]
struct Output {
    parts: usize,
    bytes: usize,
}

impl Output {
    fn take(&mut self, recorder: &mut Recorder) {
        while let Some(event) = recorder.pull() {
            match &event {
                RecordEvent::SegmentStart { init, .. } => self.bytes += init.len(),
                RecordEvent::Part { chunks, .. } => {
                    self.parts += 1;
                    self.bytes += chunks.iter().map(|c| c.len()).sum::<usize>();
                }
                RecordEvent::SegmentEnd { .. } => {}
            }
            black_box(event);
        }
    }
}

/// Records `units` from the start with MediaMTX's defaults, pulling every event.
fn record(tracks: &[Track], units: &[Arc<AccessUnit>]) -> Output {
    let mut recorder = Recorder::new(tracks.to_vec(), RecorderConfig::default());
    let mut out = Output::default();
    for unit in units {
        recorder.push(unit.clone());
        out.take(&mut recorder);
    }
    recorder.finish();
    out.take(&mut recorder);
    out
}

fn bench_minute<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let (tracks, units) = minute();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(units.len() as u64));
    group.bench_function("360p_h264_aac_1s_parts", |b| {
        b.iter(|| record(&tracks, &units));
    });
    group.finish();

    let before = ALLOC.counts();
    let out = record(&tracks, &units);
    let spent = ALLOC.counts().since(before);
    println!(
        "{name}: {} units in {} parts ({} bytes of fMP4) per stream-minute: heap allocations \
         per access unit {:.2}, per part {:.1}, bytes allocated per unit {:.0}",
        units.len(),
        out.parts,
        out.bytes,
        spent.heap_allocations() as f64 / units.len() as f64,
        spent.heap_allocations() as f64 / out.parts.max(1) as f64,
        spent.bytes as f64 / units.len() as f64,
    );
}

/// The process's resident set in bytes (`/proc/self/statm`, 4 KiB pages).
fn resident_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Prints the memory one recorder holds at its fullest point: the resident-set growth over
/// [`RECORDERS`] recorders fed the same (shared) units, divided by their number. The counting
/// allocator does not track freed bytes, so next to it only the live heap blocks (allocations
/// minus frees) per recorder are printed.
fn report_memory(tracks: &[Track], units: &[Arc<AccessUnit>]) {
    let steady = units
        .iter()
        .take_while(|u| u.dts.as_micros() <= STEADY_US)
        .count();
    let mut recorders: Vec<Recorder> = Vec::with_capacity(RECORDERS);
    let mut out = Output::default();
    let (rss_before, allocs_before) = (resident_bytes(), ALLOC.counts());
    for _ in 0..RECORDERS {
        let mut recorder = Recorder::new(tracks.to_vec(), RecorderConfig::default());
        for unit in &units[..steady] {
            recorder.push(unit.clone());
            out.take(&mut recorder);
        }
        recorders.push(recorder);
    }
    let spent = ALLOC.counts().since(allocs_before);
    let rss = resident_bytes() - rss_before;
    println!(
        "recorder memory at {:.2} s ({steady} units pushed, {} parts each): resident set \
         +{} KiB for {RECORDERS} recorders = {} bytes per recorder; live heap blocks per \
         recorder {:.1}; size_of Recorder {} B, PartSample {} B",
        STEADY_US as f64 / 1e6,
        out.parts / RECORDERS,
        rss / 1024,
        rss / RECORDERS as i64,
        (spent.allocs as f64 - spent.deallocs as f64) / RECORDERS as f64,
        size_of::<Recorder>(),
        size_of::<PartSample>(),
    );
    black_box(recorders);
}

fn main() {
    let (tracks, units) = minute();
    report_memory(&tracks, &units);
    vigia_benches::run_wall_and_cpu(
        |c| bench_minute(c, "recorder_minute"),
        |c| bench_minute(c, "recorder_minute_cpu"),
    );
}
