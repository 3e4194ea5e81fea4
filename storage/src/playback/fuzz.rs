//! The playback case table, the recordings it plays, and the fuzz entry
//! ([`fuzz_playback_segment`]) that feeds arbitrary bytes as segments to both assemblers. The
//! unit tests, the seed corpus (`fuzz/corpus/playback_segment/`) and the fuzz target all come
//! from here.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use vigia_media::fmp4::{read_fragment, read_init};
use vigia_media::synthetic::{Player, builtin_360p};

use super::{Fmp4Playback, Mp4File, Mp4Playback, Piece, Window};
use crate::index::SegmentEntry;
use crate::recorder::{RecordEvent, Recorder, RecorderConfig};

/// Wall clock of the first recorded frame: 2025-12-02T14:04:05Z.
pub const WALL0: i64 = 1_764_684_245_000_000;

/// A recording made from the built-in 360p clip (25 fps, GOP 1 s, AAC).
#[derive(Clone, Copy, Debug)]
pub struct Recording {
    /// Seconds of clip recorded.
    pub seconds: i64,
    /// `recordSegmentDuration`, seconds.
    pub segment_s: u64,
    /// An outage: (when, how long), seconds; media and wall time jump by its length.
    pub gap_s: Option<(i64, i64)>,
}

/// One playback case: a recording, a window, how the bytes arrive, what comes out.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// Name, for messages and seed files.
    pub name: &'static str,
    /// What is recorded.
    pub recording: Recording,
    /// Window start, ms after [`WALL0`] (negative: before the recording).
    pub start_ms: i64,
    /// Window length, ms.
    pub duration_ms: i64,
    /// Bytes per pushed chunk.
    pub chunk: usize,
    /// Expected `(first presented, end)` of the leading track on the output timeline, ms
    /// (within one frame), or `None` for no output at all.
    pub expect_ms: Option<(i64, i64)>,
}

const fn rec(seconds: i64, segment_s: u64) -> Recording {
    Recording {
        seconds,
        segment_s,
        gap_s: None,
    }
}

/// The case table.
pub fn cases() -> Vec<Case> {
    let c = |name, recording, start_ms, duration_ms, chunk, expect_ms| Case {
        name,
        recording,
        start_ms,
        duration_ms,
        chunk,
        expect_ms,
    };
    vec![
        c(
            "mid_segment_20s",
            rec(45, 10),
            12_500,
            20_000,
            64 << 10,
            Some((0, 20_000)),
        ),
        c(
            "tiny_chunks",
            rec(45, 10),
            12_500,
            20_000,
            7,
            Some((0, 20_000)),
        ),
        c(
            "on_a_keyframe",
            rec(30, 10),
            10_000,
            5_000,
            4096,
            Some((0, 5_000)),
        ),
        c(
            "within_one_segment",
            rec(30, 10),
            3_300,
            2_000,
            4096,
            Some((0, 2_000)),
        ),
        c(
            "past_the_end",
            rec(30, 10),
            25_000,
            20_000,
            4096,
            Some((0, 5_000)),
        ),
        c(
            "before_the_start",
            rec(20, 10),
            -5_000,
            10_000,
            4096,
            Some((5_000, 10_000)),
        ),
        c("after_the_end", rec(20, 10), 25_000, 5_000, 4096, None),
        c(
            "short_segments",
            rec(3, 1),
            1_200,
            1_000,
            1000,
            Some((0, 1_000)),
        ),
        c("short_window", rec(3, 1), 500, 250, 1, Some((0, 250))),
        c(
            "gap_ends_output",
            Recording {
                seconds: 20,
                segment_s: 60,
                gap_s: Some((8, 10)),
            },
            2_000,
            20_000,
            4096,
            Some((0, 6_000)),
        ),
    ]
}

/// Records `r`: each segment's index entry (keys `seg0`, `seg1`…) and bytes.
pub fn record(r: Recording) -> Vec<(SegmentEntry, Bytes)> {
    let config = RecorderConfig {
        part_duration: Duration::from_secs(1),
        segment_duration: Duration::from_secs(r.segment_s),
        max_part_size: 50_000_000,
    };
    let mut player = Player::new(builtin_360p());
    let mut recorder = Recorder::new(player.clip().tracks().to_vec(), config);
    let mut segments = Vec::new();
    let mut open: Option<(i64, Vec<u8>)> = None;
    while player.next_due_us() < r.seconds * 1_000_000 {
        let due = player.next_due_us();
        let shift = r
            .gap_s
            .filter(|&(at, _)| due >= at * 1_000_000)
            .map_or(0, |(_, len)| len * 1_000_000);
        let mut unit = player.next_unit(WALL0 + due + shift);
        let ticks = |us: i64, clock: u32| us * i64::from(clock) / 1_000_000;
        unit.pts.ticks += ticks(shift, unit.pts.clock_rate);
        unit.dts.ticks += ticks(shift, unit.dts.clock_rate);
        recorder.push(Arc::new(unit));
        collect(&mut recorder, &mut open, &mut segments);
    }
    recorder.finish();
    collect(&mut recorder, &mut open, &mut segments);
    segments
}

fn collect(
    recorder: &mut Recorder,
    open: &mut Option<(i64, Vec<u8>)>,
    segments: &mut Vec<(SegmentEntry, Bytes)>,
) {
    while let Some(event) = recorder.pull() {
        match event {
            RecordEvent::SegmentStart { start_us, init } => *open = Some((start_us, init.to_vec())),
            RecordEvent::Part { chunks, .. } => {
                if let Some((_, bytes)) = open.as_mut() {
                    chunks.iter().for_each(|c| bytes.extend_from_slice(c));
                }
            }
            RecordEvent::SegmentEnd { duration_us } => {
                if let Some((start_us, bytes)) = open.take() {
                    let entry = SegmentEntry {
                        key: format!("seg{}", segments.len()),
                        start_us,
                        duration_us,
                        size: bytes.len() as u64,
                    };
                    segments.push((entry, Bytes::from(bytes)));
                }
            }
        }
    }
}

/// The window of a case.
pub fn window(case: &Case) -> Window {
    Window {
        start_us: WALL0 + case.start_ms * 1000,
        duration_us: case.duration_ms * 1000,
    }
}

/// Plays `segments` as fMP4, pushing `chunk` bytes at a time, as the server does; the output.
pub fn play_fmp4(window: Window, segments: &[(SegmentEntry, Bytes)], chunk: usize) -> Vec<u8> {
    let mut playback = Fmp4Playback::new(window, Default::default());
    let mut out = Vec::new();
    for (entry, bytes) in segments {
        if !playback.begin_segment(entry) {
            break;
        }
        for piece in bytes.chunks(chunk.max(1)) {
            if playback.push(piece).is_err() || playback.is_done() {
                break;
            }
            while let Some(c) = playback.pull() {
                out.extend_from_slice(&c);
            }
        }
        playback.end_segment();
    }
    playback.finish();
    while let Some(c) = playback.pull() {
        out.extend_from_slice(&c);
    }
    out
}

/// Plans `segments` as MP4 (the first pass of the server).
pub fn plan_mp4(
    window: Window,
    segments: &[(SegmentEntry, Bytes)],
    chunk: usize,
) -> Option<Mp4File> {
    let mut playback = Mp4Playback::new(window, Default::default());
    for (entry, bytes) in segments {
        if !playback.begin_segment(entry) {
            break;
        }
        for piece in bytes.chunks(chunk.max(1)) {
            if playback.push(piece).is_err() || playback.is_done() {
                break;
            }
        }
        playback.end_segment();
    }
    playback.finish();
    playback.into_file()
}

/// The bytes `range` of `file`, read from `segments` as the server reads them. Panics if a
/// read falls outside its segment.
pub fn read_mp4(
    file: &Mp4File,
    segments: &[(SegmentEntry, Bytes)],
    range: std::ops::Range<u64>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in file.pieces(range) {
        match piece {
            Piece::Bytes(b) => out.extend_from_slice(&b),
            Piece::Fetch { key, src, keep } => {
                let (_, bytes) = segments
                    .iter()
                    .find(|(e, _)| e.key == key)
                    .expect("fetch of a known segment");
                let read = bytes
                    .get(src.start as usize..src.end as usize)
                    .expect("fetch inside its segment");
                for k in keep {
                    out.extend_from_slice(read.get(k).expect("keep inside the read"));
                }
            }
        }
    }
    out
}

/// Fuzz entry: `data[0..3]` choose the window and the chunk size, the rest is a segment's
/// bytes, played as two consecutive segments through the fMP4 assembler and the MP4 planner.
/// Panics only on a broken invariant: output that does not parse, an fMP4 output not starting
/// with a sync sample, an MP4 read outside its segment or of the wrong length.
pub fn fuzz_playback_segment(data: &[u8]) {
    let [start, length, chunk, rest @ ..] = data else {
        return;
    };
    let window = Window {
        start_us: WALL0 + (i64::from(*start % 16) - 4) * 250_000,
        duration_us: (i64::from(*length % 16) + 1) * 250_000,
    };
    let chunk = [1, 7, 64, 4096, usize::MAX][usize::from(*chunk % 5)];
    let bytes = Bytes::copy_from_slice(rest);
    let segments: Vec<(SegmentEntry, Bytes)> = (0..2)
        .map(|i| {
            let entry = SegmentEntry {
                key: format!("seg{i}"),
                start_us: WALL0 + i * 1_000_000,
                duration_us: 1_000_000,
                size: bytes.len() as u64,
            };
            (entry, bytes.clone())
        })
        .collect();
    check_fmp4(&play_fmp4(window, &segments, chunk));
    if let Some(file) = plan_mp4(window, &segments, chunk) {
        let whole = read_mp4(&file, &segments, 0..file.len());
        assert_eq!(whole.len() as u64, file.len());
        let mid = file.len() / 3..file.len() / 2;
        let part = read_mp4(&file, &segments, mid.clone());
        assert_eq!(part, whole[mid.start as usize..mid.end as usize]);
    }
}

/// The fMP4 output parses: an init, then fragments, the first sample of each track sync.
fn check_fmp4(out: &[u8]) {
    if out.is_empty() {
        return;
    }
    let pieces = crate::segment::SegmentScan::scan(out);
    assert!(pieces.init_len > 0, "output starts with an init");
    assert!(read_init(&out[..pieces.init_len]).is_ok());
    assert_eq!(pieces.valid_len, out.len(), "output is whole boxes");
    let mut started = std::collections::HashSet::new();
    for f in &pieces.fragments {
        let info = read_fragment(&out[f.range.clone()]).expect("output fragment parses");
        for traf in &info.tracks {
            if started.insert(traf.track_id) {
                assert!(traf.samples.first().is_none_or(|s| s.is_sync()));
            }
        }
    }
}

/// Seeds for the `playback_segment` corpus: the first segment of each short-segment case,
/// behind its window and chunk bytes.
pub fn fuzz_playback_seeds() -> Vec<(String, Vec<u8>)> {
    cases()
        .iter()
        .filter(|c| c.recording.segment_s <= 1)
        .filter_map(|c| {
            let (_, first) = record(c.recording).into_iter().next()?;
            let start = ((c.start_ms % 1000) / 250 + 4) as u8;
            let length = (c.duration_ms / 250 - 1).clamp(0, 15) as u8;
            let mut data = vec![start, length, 3];
            data.extend_from_slice(&first);
            Some((c.name.to_owned(), data))
        })
        .collect()
}
