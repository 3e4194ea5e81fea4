//! The case table of [`super::fuzz::cases`] through both formats, checked with the fMP4 reader
//! and a small reader of the MP4 sample tables written here.

use std::collections::HashMap;

use bytes::Bytes;
use vigia_media::fmp4::read_fragment;

use super::fuzz::{Case, Recording, cases, plan_mp4, play_fmp4, read_mp4, record, window};
use super::moov::{children, find, path};
use super::reader::{Piece, SegmentReader};
use crate::index::{RecordingIndex, SegmentEntry};
use crate::segment::SegmentScan;

/// One frame of the clip (25 fps), the tolerance on every duration.
const FRAME_MS: i64 = 40;

type Segments = Vec<(SegmentEntry, Bytes)>;

/// Each recording of the table, made once.
fn recordings() -> HashMap<String, Segments> {
    let mut made = HashMap::new();
    for case in cases() {
        made.entry(format!("{:?}", case.recording))
            .or_insert_with(|| record(case.recording));
    }
    made
}

fn segments_of<'a>(made: &'a HashMap<String, Segments>, r: &Recording) -> &'a Segments {
    &made[&format!("{r:?}")]
}

/// The segments the index gives for the case's window, as the server asks for them.
fn overlapping(case: &Case, segments: &Segments) -> Segments {
    let index = RecordingIndex::in_memory();
    for (entry, _) in segments {
        index.insert("cam", entry.clone());
    }
    let w = window(case);
    index
        .segments("cam", w.start_us, w.end_us())
        .into_iter()
        .filter_map(|e| segments.iter().find(|(s, _)| *s == e).cloned())
        .collect()
}

fn assert_near(case: &Case, what: &str, got_ms: i64, expected_ms: i64) {
    assert!(
        (got_ms - expected_ms).abs() <= FRAME_MS,
        "{}: {what} {got_ms} ms, expected {expected_ms} ms",
        case.name
    );
}

#[test]
fn fmp4_output_starts_at_the_window_and_lasts_its_duration() {
    let made = recordings();
    for case in cases() {
        let segments = overlapping(&case, segments_of(&made, &case.recording));
        let out = play_fmp4(window(&case), &segments, case.chunk);
        let Some((first_ms, end_ms)) = case.expect_ms else {
            assert!(out.is_empty(), "{}: {} bytes", case.name, out.len());
            continue;
        };
        let scan = SegmentScan::scan(&out);
        assert_eq!(scan.valid_len, out.len(), "{}: whole boxes", case.name);
        let first = scan.fragments.first().expect("a fragment");
        let last = scan.fragments.last().expect("a fragment");
        assert!(first.independent, "{}: starts with a keyframe", case.name);
        let ms = |ticks: u64| ticks as i64 * 1000 / i64::from(scan.timescale);
        assert_near(&case, "first presented frame", ms(first.start), first_ms);
        assert_near(&case, "end", ms(last.end), end_ms);
        check_continuity(&case, &out, scan.leading_track_id);
    }
}

/// Every track's fragments follow each other exactly; only the leading track's first samples
/// (the pre-roll before the window's start) last 0.
fn check_continuity(case: &Case, out: &[u8], leading_track_id: u32) {
    let mut ends: HashMap<u32, u64> = HashMap::new();
    let mut seen_visible = false;
    let mut reader = SegmentReader::default();
    reader.push(out);
    while let Some(piece) = reader.next().unwrap() {
        let Piece::Fragment { bytes, .. } = piece else {
            continue;
        };
        let info = read_fragment(&bytes).unwrap();
        for traf in &info.tracks {
            if let Some(end) = ends.get(&traf.track_id) {
                assert_eq!(
                    traf.base_decode_time, *end,
                    "{}: hole or overlap",
                    case.name
                );
            }
            let total: u64 = traf.samples.iter().map(|s| u64::from(s.duration)).sum();
            ends.insert(traf.track_id, traf.base_decode_time + total);
            if traf.track_id != leading_track_id {
                assert!(traf.samples.iter().all(|s| s.duration > 0), "{}", case.name);
                continue;
            }
            for s in &traf.samples {
                assert!(
                    s.duration > 0 || !seen_visible,
                    "{}: 0 after start",
                    case.name
                );
                seen_visible |= s.duration > 0;
            }
        }
    }
}

#[test]
fn fmp4_output_does_not_depend_on_chunking() {
    let made = recordings();
    let case = cases()[0];
    let segments = segments_of(&made, &case.recording);
    let whole = play_fmp4(window(&case), segments, usize::MAX);
    for chunk in [1000, 65_536] {
        assert!(
            play_fmp4(window(&case), segments, chunk) == whole,
            "chunk {chunk}"
        );
    }
}

#[test]
fn mp4_output_has_every_sample_and_the_window_duration() {
    let made = recordings();
    for case in cases() {
        let segments = &overlapping(&case, segments_of(&made, &case.recording));
        let file = plan_mp4(window(&case), segments, case.chunk);
        let Some((first_ms, end_ms)) = case.expect_ms else {
            assert!(file.is_none(), "{}", case.name);
            continue;
        };
        let file = file.expect("an mp4");
        let bytes = read_mp4(&file, segments, 0..file.len());
        assert_eq!(bytes.len() as u64, file.len(), "{}", case.name);
        let video = tracks(&bytes).remove(0);
        assert_eq!(&video.handler, b"vide");
        assert!(
            video.sync.first() == Some(&1),
            "{}: starts with a keyframe",
            case.name
        );
        let ms = |ticks: i64| ticks * 1000 / i64::from(video.timescale);
        let media: i64 = video.durations.iter().map(|&d| i64::from(d)).sum();
        let (pause_ms, media_time) = match video.edits.as_slice() {
            [(pause, -1), (_, 0)] => (*pause as i64, 0),
            [(_, media_time)] => (0, *media_time),
            other => panic!("{}: edit list {other:?}", case.name),
        };
        assert_near(&case, "first presented frame", pause_ms, first_ms);
        assert_near(&case, "end", pause_ms + ms(media - media_time), end_ms);
        let payload: u64 = tracks(&bytes)
            .iter()
            .flat_map(|t| &t.sizes)
            .map(|&s| u64::from(s))
            .sum();
        assert_eq!(
            file.len() - file.header().len() as u64,
            payload,
            "{}",
            case.name
        );
        for range in [0..100, 10..file.len() / 2, file.len() - 7..file.len()] {
            let part = read_mp4(&file, segments, range.clone());
            assert!(
                part == bytes[range.start as usize..range.end as usize],
                "{}",
                case.name
            );
        }
        dump(
            &case,
            "fmp4",
            &play_fmp4(window(&case), segments, case.chunk),
        );
        dump(&case, "mp4", &bytes);
    }
}

#[test]
fn mp4_chunks_point_at_the_recorded_samples() {
    let made = recordings();
    let case = cases()[0];
    let segments = segments_of(&made, &case.recording);
    let file = plan_mp4(window(&case), segments, case.chunk).unwrap();
    let bytes = read_mp4(&file, segments, 0..file.len());
    let video = tracks(&bytes).remove(0);
    // The first chunk starts with the keyframe at or before the window's start: an IDR slice
    // after its 4-byte length (H.264 NAL type 5, possibly after SEI/SPS/PPS).
    let at = video.chunk_offsets[0] as usize;
    let first = &bytes[at..at + video.sizes[0] as usize];
    let mut nal_types = Vec::new();
    let mut pos = 0;
    while pos + 4 < first.len() {
        let len = u32::from_be_bytes(first[pos..pos + 4].try_into().unwrap()) as usize;
        nal_types.push(first[pos + 4] & 0x1F);
        pos += 4 + len;
    }
    assert!(nal_types.contains(&5), "NAL types {nal_types:?}");
}

#[test]
fn a_changed_init_ends_the_output() {
    let made = recordings();
    let case = cases()[0];
    let mut segments = segments_of(&made, &case.recording).clone();
    // The window's second segment claims another level (a byte of its avcC changed).
    let (_, second) = &mut segments[2];
    let mut bytes = second.to_vec();
    let init = SegmentScan::scan(&bytes).init_len;
    let avcc = bytes[..init].windows(4).position(|w| w == b"avcC").unwrap();
    bytes[avcc + 7] ^= 1;
    *second = Bytes::from(bytes);
    let out = play_fmp4(window(&case), &overlapping(&case, &segments), usize::MAX);
    let scan = SegmentScan::scan(&out);
    let end_ms = scan.fragments.last().unwrap().end as i64 * 1000 / i64::from(scan.timescale);
    let first_segment_end = (segments[1].0.end_us() - window(&case).start_us) / 1000;
    assert!(
        (end_ms - first_segment_end).abs() <= FRAME_MS,
        "ends at {end_ms} ms"
    );
}

/// What these tests read from an MP4 `trak`.
#[derive(Debug)]
struct Mp4Track {
    handler: [u8; 4],
    timescale: u32,
    durations: Vec<u32>,
    sizes: Vec<u32>,
    sync: Vec<u32>,
    edits: Vec<(u64, i64)>,
    chunk_offsets: Vec<u64>,
}

fn tracks(file: &[u8]) -> Vec<Mp4Track> {
    let (_, moov) = find(file, b"moov").expect("moov");
    children(moov)
        .filter(|(f, _, _)| f == b"trak")
        .map(|(_, _, trak)| read_trak(trak))
        .collect()
}

fn read_trak(trak: &[u8]) -> Mp4Track {
    let mdia = path(trak, &[b"mdia"]).unwrap();
    let stbl = path(mdia, &[b"minf", b"stbl"]).unwrap();
    let body = |parent: &[u8], name: &[u8; 4]| find(parent, name).map(|(_, b)| b.to_vec());
    let words = |b: Vec<u8>| -> Vec<u32> {
        b.chunks(4)
            .map(|w| u32::from_be_bytes(w.try_into().unwrap()))
            .collect()
    };
    let stts = words(body(stbl, b"stts").unwrap());
    let durations = stts[2..]
        .chunks(2)
        .flat_map(|e| std::iter::repeat_n(e[1], e[0] as usize))
        .collect();
    let stsz = words(body(stbl, b"stsz").unwrap());
    let sizes = if stsz[1] != 0 {
        vec![stsz[1]; stsz[2] as usize]
    } else {
        stsz[3..].to_vec()
    };
    let sync = body(stbl, b"stss").map_or_else(|| vec![1], |b| words(b)[2..].to_vec());
    let elst = words(body(path(trak, &[b"edts"]).unwrap(), b"elst").unwrap());
    let edits = elst[2..]
        .chunks(3)
        .map(|e| (u64::from(e[0]), i64::from(e[1] as i32)))
        .collect();
    let chunk_offsets = words(body(stbl, b"stco").unwrap())[2..]
        .iter()
        .map(|&o| u64::from(o))
        .collect();
    let mdhd = words(body(mdia, b"mdhd").unwrap());
    let hdlr = body(mdia, b"hdlr").unwrap();
    Mp4Track {
        handler: hdlr[8..12].try_into().unwrap(),
        timescale: mdhd[3],
        durations,
        sizes,
        sync,
        edits,
        chunk_offsets,
    }
}

/// With `VIGIA_PLAYBACK_DUMP=<dir>`, writes a case's outputs there (to try them with ffprobe
/// or a browser).
fn dump(case: &Case, ext: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("VIGIA_PLAYBACK_DUMP") {
        let file = std::path::Path::new(&dir).join(format!("{}.{ext}", case.name));
        std::fs::write(file, bytes).unwrap();
    }
}

#[test]
fn edit_lists_go_into_the_init_and_keep_it_readable() {
    let made = recordings();
    let (_, first) = &segments_of(&made, &cases()[0].recording)[0];
    let init = first.slice(..SegmentScan::scan(first).init_len);
    let edited = super::moov::with_edit_lists(&init, &[(1, 3600)]);
    let before = vigia_media::fmp4::read_init(&init).unwrap();
    assert_eq!(vigia_media::fmp4::read_init(&edited).unwrap(), before);
    let (_, moov) = find(&edited, b"moov").unwrap();
    let traks: Vec<&[u8]> = children(moov)
        .filter(|(f, _, _)| f == b"trak")
        .map(|(_, _, body)| body)
        .collect();
    let elst = path(traks[0], &[b"edts", b"elst"]).expect("an edit list in track 1");
    assert_eq!(
        elst,
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 14, 16, 0, 1, 0, 0]
    );
    assert!(path(traks[1], &[b"edts"]).is_none());
    assert_eq!(edited.len(), init.len() + 8 + 8 + 20);
    // An init it cannot take apart comes back as it was.
    let torn = init.slice(..init.len() - 3);
    assert_eq!(super::moov::with_edit_lists(&torn, &[(1, 3600)]), torn);
}
