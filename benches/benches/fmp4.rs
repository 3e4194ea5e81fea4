//! fMP4 part muxing: the cost per access unit of turning the 360p synthetic clip (H.264 +
//! AAC) into 200 ms LL-HLS parts, and of G.711 → FLAC sample building.
//!
//! - `fmp4_part_mux`: 10 s of the built-in 360p clip (25 fps video, AAC 48 kHz ≈ 47 frames/s),
//!   pre-built as `Arc<AccessUnit>` (as the hub hands them out), cut into 200 ms parts by
//!   presentation time. Per part: every unit through its track's `SampleBuilder` (AVCC length
//!   prefixes, durations), then `fmp4::fragment` (moof + mdat header, payload chunks shared).
//!   Builders persist across parts, as in a live muxer.
//! - `fmp4_g711_flac`: 20 ms PCMA units (160 bytes) through `SampleBuilder` (G.711 decode and a
//!   VERBATIM FLAC frame, a real copy).
//!
//! Reports criterion time per access unit (throughput in elements), wall time and the
//! benchmarking thread's CPU time ([`ThreadCpuTime`](vigia_benches::ThreadCpuTime), groups suffixed `_cpu`), and prints heap
//! allocations per access unit counted by [`CountingAlloc`].

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput};
use vigia_benches::CountingAlloc;
use vigia_media::fmp4::{self, SampleBuilder, TrackRun};
use vigia_media::model::G711Params;
use vigia_media::synthetic::{Player, builtin_360p};
use vigia_media::{AccessUnit, CodecParams, Timestamp, Track};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Part duration (MediaMTX's `hlsPartDuration` default).
const PART_US: i64 = 200_000;
/// Length of clip muxed per measured iteration.
const CLIP_US: i64 = 10_000_000;

/// The clip's tracks and its units grouped into parts.
fn clip_parts() -> (Vec<Track>, Vec<Vec<Arc<AccessUnit>>>) {
    let mut player = Player::new(builtin_360p());
    let tracks = player.clip().tracks().to_vec();
    let mut parts: Vec<Vec<Arc<AccessUnit>>> = Vec::new();
    while player.next_due_us() < CLIP_US {
        let index = (player.next_due_us() / PART_US) as usize;
        let au = player.next_unit(1_767_225_600_000_000 + player.next_due_us());
        parts.resize_with(index + 1, Vec::new);
        parts[index].push(Arc::new(au));
    }
    (tracks, parts)
}

/// A live muxer's state: one builder per track and the part sequence number.
struct PartMuxer {
    builders: Vec<SampleBuilder>,
    sequence: u32,
}

impl PartMuxer {
    fn new(tracks: &[Track]) -> Self {
        Self {
            builders: tracks.iter().map(SampleBuilder::new).collect(),
            sequence: 0,
        }
    }

    /// Muxes one part; returns its chunk list (what an HTTP response would write).
    fn mux(&mut self, part: &[Arc<AccessUnit>]) -> Vec<Bytes> {
        let mut runs: Vec<TrackRun> = (1..=self.builders.len() as u32)
            .map(|track_id| TrackRun {
                track_id,
                base_decode_time: 0,
                samples: Vec::with_capacity(16),
            })
            .collect();
        for au in part {
            let (builder, run) = (&mut self.builders[au.track], &mut runs[au.track]);
            builder.push(au);
            while let Some((dts, sample)) = builder.pull() {
                if run.samples.is_empty() {
                    run.base_decode_time = dts.max(0) as u64;
                }
                run.samples.push(sample);
            }
        }
        self.sequence += 1;
        fmp4::fragment(self.sequence, &runs)
    }
}

fn bench_part_mux<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let (tracks, parts) = clip_parts();
    let units: usize = parts.iter().map(Vec::len).sum();
    let mut muxer = PartMuxer::new(&tracks);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(units as u64));
    group.bench_function("360p_h264_aac_200ms_parts", |b| {
        b.iter(|| {
            for part in &parts {
                black_box(muxer.mux(part));
            }
        });
    });
    group.finish();

    let before = ALLOC.counts();
    let mut bytes = 0;
    for part in &parts {
        bytes += fmp4::total_len(&muxer.mux(part));
    }
    let spent = ALLOC.counts().since(before);
    println!(
        "{name}: {units} units in {} parts ({bytes} bytes of fMP4): heap allocations per \
         access unit {:.2}, per part {:.1}, bytes allocated per unit {:.0}",
        parts.len(),
        spent.heap_allocations() as f64 / units as f64,
        spent.heap_allocations() as f64 / parts.len() as f64,
        spent.bytes as f64 / units as f64,
    );
}

fn g711_units(count: usize) -> (Track, Vec<AccessUnit>) {
    let track = Track {
        codec: CodecParams::G711(G711Params {
            mu_law: false,
            sample_rate: 8000,
            channels: 1,
        }),
        clock_rate: 8000,
    };
    let payload = Bytes::from(
        (0..160 * count)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>(),
    );
    let units = (0..count)
        .map(|i| AccessUnit {
            track: 0,
            pts: Timestamp::new(160 * i as i64, 8000),
            dts: Timestamp::new(160 * i as i64, 8000),
            keyframe: true,
            wallclock_us: None,
            data: vec![payload.slice(160 * i..160 * (i + 1))],
            nal_ends: Vec::new(),
            new_params: None,
        })
        .collect();
    (track, units)
}

fn bench_g711<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let (track, units) = g711_units(500);
    let mut builder = SampleBuilder::new(&track);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(units.len() as u64));
    group.bench_function("pcma_20ms_units", |b| {
        b.iter(|| {
            for au in &units {
                builder.push(au);
                while let Some(s) = builder.pull() {
                    black_box(s);
                }
            }
        });
    });
    group.finish();
    let before = ALLOC.counts();
    for au in &units {
        builder.push(au);
        while let Some(s) = builder.pull() {
            black_box(s);
        }
    }
    let spent = ALLOC.counts().since(before);
    println!(
        "{name}: heap allocations per G.711 unit {:.2}",
        spent.heap_allocations() as f64 / units.len() as f64
    );
}

fn main() {
    vigia_benches::run_wall_and_cpu(
        |c| {
            bench_part_mux(c, "fmp4_part_mux");
            bench_g711(c, "fmp4_g711_flac");
        },
        |c| {
            bench_part_mux(c, "fmp4_part_mux_cpu");
            bench_g711(c, "fmp4_g711_flac_cpu");
        },
    );
}
