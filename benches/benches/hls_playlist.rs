//! LL-HLS playlist rendering: the media playlist of a full window (7 segments of 1 s with 5
//! parts each, 3 of them with their parts listed, the in-progress segment's parts and a preload
//! hint), as the server renders it for every playlist request, plain and as a delta update;
//! also the cheap `NotYet` answer of a blocking request and the multivariant playlist.
//!
//! The muxer is filled with 12 s of the built-in synthetic clip (H.264 + AAC) through
//! `vigia_media::fmp4`, then frozen: only rendering is measured. Runs with wall time and with
//! [`ThreadCpuTime`](vigia_benches::ThreadCpuTime) (groups suffixed `_cpu`); prints heap allocations per render, counted by
//! [`CountingAlloc`].

use std::hint::black_box;
use std::sync::Arc;

use criterion::Criterion;
use criterion::measurement::Measurement;
use vigia_benches::CountingAlloc;
use vigia_media::synthetic::{Player, builtin_360p};
use vigia_protocol::hls::{
    BlockingRequest, HlsConfig, HlsMuxer, PlaylistAnswer, PlaylistRequest, SkipRequest,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Seconds of input: enough to fill the 7-segment window and leave segments beyond it.
const INPUT_SECONDS: i64 = 12;

/// A muxer with a full window, stopped 0.6 s into a segment (3 parts in progress).
fn full_muxer() -> HlsMuxer {
    let clip = builtin_360p();
    let mut muxer = HlsMuxer::with_fmp4(HlsConfig::default(), clip.tracks().to_vec());
    let mut player = Player::new(clip);
    while player.next_due_us() < INPUT_SECONDS * 1_000_000 + 650_000 {
        let due = player.next_due_us();
        let unit = player.next_unit(1_795_939_200_000_000 + due);
        muxer.push(Arc::new(unit)).expect("synthetic clip muxes");
    }
    muxer
}

/// The requests measured: name and request.
fn requests(muxer: &HlsMuxer) -> Vec<(&'static str, PlaylistRequest)> {
    let plain = PlaylistRequest::default();
    let PlaylistAnswer::Ready(text) = muxer.media_playlist(&plain) else {
        panic!("no playlist after {INPUT_SECONDS} s");
    };
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .and_then(|u| vigia_protocol::hls::naming::parse_part_uri(u.trim_end_matches('"')))
        .expect("preload hint");
    let blocked = BlockingRequest {
        msn: hint.0,
        part: Some(hint.1),
    };
    vec![
        ("media_full", plain),
        (
            "media_delta",
            PlaylistRequest {
                skip: SkipRequest::Yes,
                block: None,
            },
        ),
        (
            "blocking_not_yet",
            PlaylistRequest {
                block: Some(blocked),
                skip: SkipRequest::No,
            },
        ),
    ]
}

fn bench_render<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let muxer = full_muxer();
    let mut group = c.benchmark_group(name);
    for (label, request) in requests(&muxer) {
        group.bench_function(label, |b| {
            b.iter(|| muxer.media_playlist(black_box(&request)))
        });
        report(label, || drop(muxer.media_playlist(&request)));
    }
    group.bench_function("multivariant", |b| b.iter(|| muxer.multivariant_playlist()));
    report("multivariant", || drop(muxer.multivariant_playlist()));
    group.finish();
}

/// Prints heap allocations and bytes per call of `f`, and the rendered size once.
fn report(label: &str, f: impl Fn()) {
    const CALLS: u64 = 1_000;
    let before = ALLOC.counts();
    for _ in 0..CALLS {
        f();
    }
    let d = ALLOC.counts().since(before);
    println!(
        "{label}: {:.2} heap allocations, {} bytes allocated per render",
        d.heap_allocations() as f64 / CALLS as f64,
        d.bytes / CALLS
    );
}

fn print_sizes() {
    let muxer = full_muxer();
    for (label, request) in requests(&muxer) {
        if let PlaylistAnswer::Ready(text) = muxer.media_playlist(&request) {
            println!(
                "{label}: {} bytes, {} lines",
                text.len(),
                text.lines().count()
            );
        }
    }
}

fn main() {
    vigia_benches::run_wall_and_cpu(
        |c| {
            print_sizes();
            bench_render(c, "hls_playlist");
        },
        |c| bench_render(c, "hls_playlist_cpu"),
    );
}
