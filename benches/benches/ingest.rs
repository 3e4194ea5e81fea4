//! Ingest hot path: RTP packets of the synthetic clip (H.264 + AAC) depacketized into access
//! units, each published to a hub drained by 1/10/100 readers — what one RTSP publisher costs
//! per access unit before any output format.
//!
//! Reports criterion time per access unit (throughput in elements) and prints heap allocations
//! per access unit counted by [`CountingAlloc`].

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::measurement::Measurement;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use vigia_benches::CountingAlloc;
use vigia_media::hub::{Cursor, Hub, Next};
use vigia_media::synthetic::{Player, builtin_360p};
use vigia_media::{AccessUnit, Track};
use vigia_protocol::payload::{Depacketizer, PacketizerConfig, depacketizer_for, packetizer_for};
use vigia_protocol::rtp::RtpPacket;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Access units of the clip fed per measured iteration (~4 s of video and audio).
const UNITS: usize = 300;
/// Reader counts measured.
const READERS: [usize; 3] = [1, 10, 100];

/// The clip's tracks and, per access unit, its track and RTP packets as received bytes.
struct Capture {
    tracks: Vec<Track>,
    packets: Vec<(usize, Vec<Bytes>)>,
}

fn capture() -> Capture {
    let clip = builtin_360p();
    let tracks = clip.tracks().to_vec();
    let mut packetizers: Vec<_> = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let cfg = PacketizerConfig {
                payload_type: 96 + i as u8,
                ssrc: 1 + i as u32,
                initial_seq: 0,
                timestamp_offset: 0,
                mtu: 1400,
            };
            packetizer_for(t, cfg)
        })
        .collect();
    let mut player = Player::new(clip);
    let packets = (0..UNITS)
        .map(|_| {
            let unit = player.next_unit(1_700_000_000_000_000);
            let mut out = Vec::new();
            packetizers[unit.track]
                .packetize(&unit, &mut out)
                .expect("the clip packetizes");
            (unit.track, out.iter().map(|p| p.to_bytes()).collect())
        })
        .collect();
    Capture { tracks, packets }
}

fn depacketizers(tracks: &[Track]) -> Vec<Box<dyn Depacketizer>> {
    tracks
        .iter()
        .enumerate()
        .map(|(i, t)| depacketizer_for(t, i))
        .collect()
}

/// Parses, depacketizes and publishes every packet; readers drain after each unit.
fn ingest(
    capture: &Capture,
    depacketizers: &mut [Box<dyn Depacketizer>],
    hub: &Hub<AccessUnit>,
    cursors: &mut [Cursor<AccessUnit>],
) -> usize {
    let mut units = 0;
    for (track, packets) in &capture.packets {
        let depacketizer = &mut depacketizers[*track];
        for raw in packets {
            let packet = RtpPacket::parse(raw.clone()).expect("valid RTP");
            let _ = depacketizer.push(&packet);
            while let Some(unit) = depacketizer.pull() {
                let join = unit.keyframe && *track == 0;
                hub.publish(Arc::new(unit), join);
                units += 1;
                drain(cursors);
            }
        }
    }
    units
}

fn drain(cursors: &mut [Cursor<AccessUnit>]) {
    for cursor in cursors {
        while let Next::Item(unit) = cursor.try_next() {
            black_box(unit);
        }
    }
}

fn bench_ingest<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let capture = capture();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(UNITS as u64));
    for readers in READERS {
        let hub: Arc<Hub<AccessUnit>> = Hub::new(256, 4096);
        let mut cursors: Vec<_> = (0..readers).map(|_| hub.subscribe()).collect();
        group.bench_with_input(
            BenchmarkId::from_parameter(readers),
            &capture,
            |b, capture| {
                b.iter_batched(
                    || depacketizers(&capture.tracks),
                    |mut deps| ingest(capture, &mut deps, &hub, &mut cursors),
                    BatchSize::SmallInput,
                );
            },
        );
        report_allocations(name, &capture, readers);
    }
    group.finish();
}

fn report_allocations(name: &str, capture: &Capture, readers: usize) {
    let hub: Arc<Hub<AccessUnit>> = Hub::new(256, 4096);
    let mut cursors: Vec<_> = (0..readers).map(|_| hub.subscribe()).collect();
    let mut deps = depacketizers(&capture.tracks);
    ingest(capture, &mut deps, &hub, &mut cursors); // warm: ring at its steady size
    let mut deps = depacketizers(&capture.tracks);
    let before = ALLOC.counts();
    let units = ingest(capture, &mut deps, &hub, &mut cursors);
    let spent = ALLOC.counts().since(before);
    let copied: u64 = deps.iter().map(|d| d.stats().bytes_copied).sum();
    let payload: usize = capture
        .packets
        .iter()
        .flat_map(|(_, p)| p)
        .map(Bytes::len)
        .sum();
    println!(
        "{name}/{readers}: {units} units, heap allocations per access unit {:.2}, \
         bytes copied by FU-A reassembly {copied} of {payload} received",
        spent.heap_allocations() as f64 / units.max(1) as f64,
    );
}

fn main() {
    vigia_benches::run_wall_and_cpu(
        |c| bench_ingest(c, "depacketize_fan_out"),
        |c| bench_ingest(c, "depacketize_fan_out_cpu"),
    );
}
