use std::sync::Arc;
use std::time::Duration;

use vigia_media::fmp4::{read_fragment, read_init};
use vigia_media::synthetic::{Player, builtin_360p};

use super::*;

const WALL0: i64 = 1_764_684_245_000_000;

fn config(segment_s: u64) -> RecorderConfig {
    RecorderConfig {
        part_duration: Duration::from_secs(1),
        segment_duration: Duration::from_secs(segment_s),
        max_part_size: 50_000_000,
    }
}

/// Plays the built-in clip for `seconds`, shifting media and wall time by `gap_us` from
/// `gap_at_us` on (an outage), and returns every event.
fn record(seconds: i64, gap_at_us: i64, gap_us: i64, cfg: RecorderConfig) -> Vec<RecordEvent> {
    let mut player = Player::new(builtin_360p());
    let mut recorder = Recorder::new(player.clip().tracks().to_vec(), cfg);
    let mut events = Vec::new();
    while player.next_due_us() < seconds * 1_000_000 {
        let due = player.next_due_us();
        let shift = if due >= gap_at_us { gap_us } else { 0 };
        let mut unit = player.next_unit(WALL0 + due + shift);
        let ticks = |us: i64, clock: u32| us * i64::from(clock) / 1_000_000;
        unit.pts.ticks += ticks(shift, unit.pts.clock_rate);
        unit.dts.ticks += ticks(shift, unit.dts.clock_rate);
        recorder.push(Arc::new(unit));
        events.extend(std::iter::from_fn(|| recorder.pull()));
    }
    recorder.finish();
    events.extend(std::iter::from_fn(|| recorder.pull()));
    events
}

/// (start, duration, bytes) of each segment, checking each file parses as fMP4 with decode
/// times starting at 0 and a keyframe first.
fn segments(events: &[RecordEvent]) -> Vec<(i64, i64, Vec<u8>)> {
    let mut out: Vec<(i64, i64, Vec<u8>)> = Vec::new();
    let mut parts_in_segment = 0;
    for e in events {
        match e {
            RecordEvent::SegmentStart { start_us, init } => {
                out.push((*start_us, -1, init.to_vec()));
                parts_in_segment = 0;
            }
            RecordEvent::Part { chunks, .. } => {
                let seg = out.last_mut().expect("part before segment start");
                assert_eq!(seg.1, -1, "part after segment end");
                assert!(read_init(&seg.2).is_ok());
                let fragment: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
                let info = read_fragment(&fragment).unwrap();
                if parts_in_segment == 0 {
                    // The file starts at its earliest sample: the keyframe, or audio captured
                    // just before it (then the video starts a little later, never clamped).
                    let earliest = info.tracks.iter().map(|t| t.base_decode_time).min();
                    assert_eq!(earliest, Some(0), "{info:?}");
                    assert!(
                        info.tracks[0].base_decode_time < 9_000,
                        "video within 100 ms"
                    );
                    assert!(info.tracks[0].samples[0].is_sync());
                }
                seg.2.extend(fragment);
                parts_in_segment += 1;
            }
            RecordEvent::SegmentEnd { duration_us } => out.last_mut().unwrap().1 = *duration_us,
        }
    }
    out
}

#[test]
fn segments_are_cut_on_keyframes_after_the_segment_duration() {
    let events = record(20, i64::MAX, 0, config(5));
    let segs = segments(&events);
    assert!((3..=5).contains(&segs.len()), "{} segments", segs.len());
    let mut expected_start = WALL0;
    for (start, duration, bytes) in &segs {
        // Consecutive segments meet, or overlap by the next one's lead-in (< 100 ms).
        assert!(
            (expected_start - 100_000..=expected_start).contains(start),
            "segment at {start}, previous ended at {expected_start}"
        );
        assert!(*duration >= 5_000_000 || *start + *duration >= WALL0 + 19_000_000);
        assert_eq!(&bytes[4..8], b"ftyp");
        expected_start = start + duration;
    }
    let total: i64 = segs.iter().map(|s| s.1).sum();
    assert!((total - 20_000_000).abs() <= 100_000, "total {total}");
}

#[test]
fn an_outage_ends_the_segment_and_the_next_starts_after_the_gap() {
    let events = record(20, 8_000_000, 10_000_000, config(60));
    let segs = segments(&events);
    assert_eq!(segs.len(), 2, "{segs:?}");
    let (a, b) = (&segs[0], &segs[1]);
    let gap = b.0 - (a.0 + a.1);
    assert!((9_000_000..=11_000_000).contains(&gap), "gap {gap}");
}

#[test]
fn parts_respect_the_size_cap() {
    let mut cfg = config(60);
    cfg.max_part_size = 20_000;
    let events = record(6, i64::MAX, 0, cfg);
    let parts = events
        .iter()
        .filter(|e| matches!(e, RecordEvent::Part { .. }))
        .count();
    assert!(parts > 12, "{parts} parts");
}

/// No payload copy before the spool write: a part's chunks are the pushed units' own NAL-unit
/// and audio-frame `Bytes` (same address, same length), between the box headers.
#[test]
fn parts_share_the_units_payload_bytes() {
    let mut player = Player::new(builtin_360p());
    let mut recorder = Recorder::new(player.clip().tracks().to_vec(), config(60));
    let mut pushed = Vec::new();
    let mut parts = Vec::new();
    while player.next_due_us() < 3_000_000 {
        let due = player.next_due_us();
        let unit = Arc::new(player.next_unit(WALL0 + due));
        pushed.extend(unit.data.iter().map(|d| (d.as_ptr(), d.len())));
        recorder.push(unit);
        parts.extend(std::iter::from_fn(|| recorder.pull()));
    }
    recorder.finish();
    parts.extend(std::iter::from_fn(|| recorder.pull()));
    let chunks: std::collections::HashSet<(*const u8, usize)> = parts
        .iter()
        .filter_map(|e| match e {
            RecordEvent::Part { chunks, .. } => Some(chunks),
            _ => None,
        })
        .flatten()
        .map(|c| (c.as_ptr(), c.len()))
        .collect();
    assert!(pushed.len() > 200, "{} payload chunks pushed", pushed.len());
    let missing: Vec<_> = pushed.iter().filter(|p| !chunks.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} copied",
        missing.len(),
        pushed.len()
    );
}

#[test]
fn audio_captured_before_a_keyframe_leads_the_segment_in() {
    let events = record(20, i64::MAX, 0, config(5));
    let mut lead_ins = 0;
    let mut first_part = false;
    for e in &events {
        match e {
            RecordEvent::SegmentStart { .. } => first_part = true,
            RecordEvent::Part { chunks, .. } if first_part => {
                let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
                let info = read_fragment(&bytes).unwrap();
                lead_ins += usize::from(info.tracks[0].base_decode_time > 0);
                first_part = false;
            }
            _ => {}
        }
    }
    assert!(
        lead_ins > 0,
        "the built-in clip has audio just before some keyframes"
    );
}
