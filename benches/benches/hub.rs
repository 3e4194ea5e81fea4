//! Hub fan-out: one writer publishing access units, 1/10/100 cursors draining after each publish.
//!
//! Two shapes:
//! - `hub_fan_out`: one thread; after each publish every cursor reads with `try_next` until
//!   `Pending`. Measures the hub itself (lock, ring, `Arc` clone).
//! - `hub_fan_out_async`: a tokio current-thread runtime; each reader is a task awaiting
//!   `Cursor::next`, the writer yields after each publish. Adds the `Notify` wake-ups and task
//!   scheduling a server driver pays. Includes spawning the reader tasks (once per 1 000 units).
//!
//! Each shape runs twice: with wall time (criterion's default) and with [`ThreadCpuTime`](vigia_benches::ThreadCpuTime), the
//! benchmarking thread's CPU time (groups suffixed `_cpu`), which other processes on a busy
//! machine disturb less. Both shapes are single-threaded, so CPU time covers all their work.
//!
//! Reports criterion time per access unit (throughput in elements) and prints heap allocations
//! per access unit, counted by [`CountingAlloc`], for the hub alone (pre-built units) and for a
//! realistic ingest that builds each unit's `Arc` and NAL list as it publishes.

use std::hint::black_box;
use std::sync::Arc;

use criterion::measurement::Measurement;
use criterion::{BenchmarkId, Criterion, Throughput};
use vigia_benches::{CountingAlloc, access_units};
use vigia_media::AccessUnit;
use vigia_media::hub::{Cursor, Hub, Next};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Access units published per measured iteration.
const UNITS: usize = 1_000;
/// Keyframe interval (2 s at 30 fps, a common camera setting).
const GOP: usize = 60;
/// Reader counts measured.
const READERS: [usize; 3] = [1, 10, 100];

fn bench_fan_out<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let units = access_units(UNITS, GOP);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(UNITS as u64));
    for readers in READERS {
        let (hub, mut cursors) = hub_with_readers(readers);
        group.bench_with_input(BenchmarkId::from_parameter(readers), &units, |b, units| {
            b.iter(|| publish_and_drain(&hub, &mut cursors, units));
        });
        report_allocations(name, readers);
    }
    group.finish();
}

fn hub_with_readers(readers: usize) -> (Arc<Hub<AccessUnit>>, Vec<Cursor<AccessUnit>>) {
    let hub = Hub::new(2 * GOP, 8 * GOP);
    let cursors = (0..readers).map(|_| hub.subscribe()).collect();
    (hub, cursors)
}

/// Publishes every unit; after each, every cursor reads until `Pending`.
fn publish_and_drain(
    hub: &Hub<AccessUnit>,
    cursors: &mut [Cursor<AccessUnit>],
    units: &[Arc<AccessUnit>],
) {
    for unit in units {
        hub.publish(Arc::clone(unit), unit.keyframe);
        drain(cursors);
    }
}

fn drain(cursors: &mut [Cursor<AccessUnit>]) {
    for cursor in cursors {
        while let Next::Item(unit) = cursor.try_next() {
            black_box(unit);
        }
    }
}

/// Prints allocations per access unit: hub only, then building each unit while publishing.
fn report_allocations(name: &str, readers: usize) {
    let units = access_units(UNITS, GOP);
    let (hub, mut cursors) = hub_with_readers(readers);
    publish_and_drain(&hub, &mut cursors, &units); // warm: ring at its steady size
    let before = ALLOC.counts();
    publish_and_drain(&hub, &mut cursors, &units);
    let hub_only = ALLOC.counts().since(before);

    let before = ALLOC.counts();
    for _ in 0..UNITS / GOP {
        publish_and_drain(&hub, &mut cursors, &access_units(GOP, GOP));
    }
    let built = ALLOC.counts().since(before);
    let built_units = (UNITS / GOP * GOP) as f64;
    println!(
        "{name}/{readers}: heap allocations per access unit: hub only {:.3}, \
         building units while publishing {:.3} (lagged: {})",
        hub_only.heap_allocations() as f64 / UNITS as f64,
        built.heap_allocations() as f64 / built_units,
        hub.stats().lagged_items,
    );
}

fn bench_fan_out_async<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let units = access_units(UNITS, GOP);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(UNITS as u64));
    for readers in READERS {
        group.bench_with_input(BenchmarkId::from_parameter(readers), &units, |b, units| {
            b.iter(|| runtime.block_on(publish_to_tasks(readers, units)));
        });
        let before = ALLOC.counts();
        runtime.block_on(publish_to_tasks(readers, &units));
        let spent = ALLOC.counts().since(before);
        println!(
            "{name}/{readers}: heap allocations per access unit (incl. spawning \
             {readers} tasks per {UNITS} units): {:.3}",
            spent.heap_allocations() as f64 / UNITS as f64,
        );
    }
    group.finish();
}

/// Spawns `readers` tasks awaiting `Cursor::next`, publishes `units` (yielding after each so
/// readers keep up), closes the hub and checks every reader got every unit.
async fn publish_to_tasks(readers: usize, units: &[Arc<AccessUnit>]) {
    let hub: Arc<Hub<AccessUnit>> = Hub::new(2 * GOP, 8 * GOP);
    let tasks: Vec<_> = (0..readers)
        .map(|_| tokio::spawn(read_until_closed(hub.subscribe())))
        .collect();
    for unit in units {
        hub.publish(Arc::clone(unit), unit.keyframe);
        tokio::task::yield_now().await;
    }
    hub.close();
    for task in tasks {
        let read = task.await.expect("reader task completes");
        assert_eq!(read, units.len(), "a reader lagged");
    }
}

async fn read_until_closed(mut cursor: Cursor<AccessUnit>) -> usize {
    let mut read = 0;
    loop {
        match cursor.next().await {
            Next::Item(unit) => {
                black_box(unit);
                read += 1;
            }
            Next::Lagged { .. } | Next::Pending => {}
            Next::Closed => return read,
        }
    }
}

fn main() {
    vigia_benches::run_wall_and_cpu(
        |c| {
            bench_fan_out(c, "hub_fan_out");
            bench_fan_out_async(c, "hub_fan_out_async");
        },
        |c| {
            bench_fan_out(c, "hub_fan_out_cpu");
            bench_fan_out_async(c, "hub_fan_out_async_cpu");
        },
    );
}
