//! fMP4 output checked against committed digests and against outside tools (ffprobe/ffmpeg).
//!
//! - Golden: the init segment and the first three 1 s fragments of the built-in 360p clip,
//!   played with a fixed wall clock, must hash to the digests in `golden/fmp4_360p.sha256`.
//!   On purpose brittle: any change of format fails here and must update that file on purpose
//!   (`VIGIA_BLESS=1 cargo test -p vigia-media --test fmp4_golden` rewrites it).
//! - ffprobe/ffmpeg read 3 s of the clip (H.264 + AAC) with no error and the right codecs,
//!   resolution and frame counts.
//! - G.711 as FLAC: the FLAC encoder's frames and an fMP4 with a FLAC track decode in ffmpeg to
//!   exactly the PCM our G.711 tables give, and those tables equal ffmpeg's for all 256 codes.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use vigia_media::codec::{flac, g711};
use vigia_media::fmp4::{self, Sample, SampleBuilder, TrackRun};
use vigia_media::model::G711Params;
use vigia_media::synthetic::{Player, builtin_360p};
use vigia_media::{AccessUnit, CodecParams, Timestamp, Track};

/// Fixed wall clock of the first unit (2026-01-01T00:00:00Z), so SEI stamps are reproducible.
const EPOCH_US: i64 = 1_767_225_600_000_000;

/// The init segment and fragments of `seconds` of the 360p clip, cut every `fragment_ms` of
/// decode time (each fragment has a video and an audio `traf`).
fn mux_clip(seconds: i64, fragment_ms: i64) -> (Vec<Track>, Bytes, Vec<Vec<u8>>) {
    let mut player = Player::new(builtin_360p());
    let tracks = player.clip().tracks().to_vec();
    let init = fmp4::init_segment(&tracks).expect("clip tracks have parameters");
    let mut units: Vec<Vec<AccessUnit>> = vec![Vec::new(); tracks.len()];
    while player.next_due_us() < seconds * 1_000_000 {
        let au = player.next_unit(EPOCH_US + player.next_due_us());
        units[au.track].push(au);
    }
    let samples: Vec<Vec<(i64, Sample)>> = tracks
        .iter()
        .zip(units)
        .map(|(t, u)| samples_of(t, u))
        .collect();
    let count = seconds * 1000 / fragment_ms;
    let fragments = (0..count)
        .map(|k| {
            let runs: Vec<TrackRun> = tracks
                .iter()
                .zip(&samples)
                .enumerate()
                .map(|(i, (t, s))| run(i, fmp4::timescale(t), s, k, fragment_ms))
                .collect();
            concat(&fmp4::fragment(k as u32 + 1, &runs))
        })
        .collect();
    (tracks, init, fragments)
}

/// The samples of track `index` whose decode time falls in fragment `k`.
fn run(index: usize, timescale: u32, samples: &[(i64, Sample)], k: i64, ms: i64) -> TrackRun {
    let window = |dts: i64| dts * 1000 / i64::from(timescale) / ms;
    let mine: Vec<&(i64, Sample)> = samples.iter().filter(|(d, _)| window(*d) == k).collect();
    TrackRun {
        track_id: index as u32 + 1,
        base_decode_time: mine.first().map_or(0, |(d, _)| *d as u64),
        samples: mine.into_iter().map(|(_, s)| s.clone()).collect(),
    }
}

/// Pushes `units` through a [`SampleBuilder`] for `track` and returns every sample it makes.
fn samples_of(track: &Track, units: impl IntoIterator<Item = AccessUnit>) -> Vec<(i64, Sample)> {
    let mut builder = SampleBuilder::new(track);
    let mut samples = Vec::new();
    for au in units {
        builder.push(&au);
        samples.extend(std::iter::from_fn(|| builder.pull()));
    }
    builder.flush();
    samples.extend(std::iter::from_fn(|| builder.pull()));
    samples
}

/// An fMP4 file of `track` alone: its init segment and one fragment holding `samples`.
fn single_fragment_file(track: &Track, samples: Vec<(i64, Sample)>) -> Vec<u8> {
    let run = TrackRun {
        track_id: 1,
        base_decode_time: 0,
        samples: samples.into_iter().map(|(_, s)| s).collect(),
    };
    let mut file = fmp4::init_segment(std::slice::from_ref(track))
        .unwrap()
        .to_vec();
    file.extend(concat(&fmp4::fragment(1, &[run])));
    file
}

fn concat(chunks: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fmp4::total_len(chunks));
    for c in chunks {
        out.extend_from_slice(c);
    }
    out
}

#[test]
fn golden_digests_of_the_360p_clip() {
    let (_, init, fragments) = mux_clip(3, 1000);
    let mut lines = vec![format!("{}  init.mp4", hex(&Sha256::digest(&init)))];
    for (i, f) in fragments.iter().enumerate() {
        lines.push(format!(
            "{}  fragment-{}.m4s",
            hex(&Sha256::digest(f)),
            i + 1
        ));
    }
    let got = lines.join("\n") + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/fmp4_360p.sha256");
    if std::env::var_os("VIGIA_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "fMP4 output changed. If on purpose, put this in {} (or run with VIGIA_BLESS=1):\n{got}",
        path.display()
    );
}

#[test]
fn own_reader_agrees_with_the_clip() {
    let (tracks, init, fragments) = mux_clip(3, 1000);
    let info = fmp4::read_init(&init).unwrap();
    assert_eq!(info.tracks.len(), 2);
    assert_eq!((info.tracks[0].width, info.tracks[0].height), (640, 360));
    assert_eq!(&info.tracks[1].codec, b"mp4a");
    assert_eq!(
        fmp4::codec_string(&tracks[0]).as_deref(),
        Some("avc1.4D401E")
    );
    assert_eq!(fmp4::codec_string(&tracks[1]).as_deref(), Some("mp4a.40.2"));
    for (i, f) in fragments.iter().enumerate() {
        let frag = fmp4::read_fragment(f).unwrap();
        assert_eq!(frag.sequence_number, i as u32 + 1);
        let video = &frag.tracks[0];
        assert_eq!(video.samples.len(), 25, "1 s of 25 fps");
        assert!(
            video.samples[0].is_sync(),
            "fragments start on a keyframe (GOP 1 s)"
        );
        assert!(video.samples[1..].iter().all(|s| !s.is_sync()));
        assert_eq!(video.base_decode_time, i as u64 * 90_000);
    }
}

#[test]
fn ffprobe_and_ffmpeg_read_three_seconds() {
    let (_, init, fragments) = mux_clip(3, 1000);
    let mut file = init.to_vec();
    let mut audio_frames = 0;
    for f in &fragments {
        file.extend_from_slice(f);
        audio_frames += fmp4::read_fragment(f).unwrap().tracks[1].samples.len();
    }
    let path = temp_file("clip.mp4", &file);
    let probe = ffprobe(
        &path,
        "stream=codec_name,width,height,sample_rate,channels,nb_read_frames",
        true,
    );
    assert_eq!(probe.stderr, "", "ffprobe complained");
    let lines: Vec<&str> = probe.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "h264,640,360,75",
            &format!("aac,48000,1,{audio_frames}")[..]
        ]
    );
    let decode = ffmpeg_decode(&path, "null");
    assert_eq!(decode.stderr, "", "ffmpeg decode errors");
}

/// (name, sample rate, channels, block sizes): rates with a fixed code, in 16-bit Hz, and the
/// 8- and 16-bit block size forms.
const FLAC_CASES: &[(&str, u32, u16, &[usize])] = &[
    ("8 kHz mono", 8000, 1, &[160, 4096, 17, 300, 5]),
    ("44.1 kHz stereo", 44_100, 2, &[1152, 256, 257]),
    ("11025 Hz mono (rate in Hz)", 11_025, 1, &[512, 100]),
];

#[test]
fn flac_frames_decode_exactly_in_ffmpeg() {
    for &(name, rate, channels, blocks) in FLAC_CASES {
        let total: usize = blocks.iter().sum::<usize>() * usize::from(channels);
        let pcm = test_pcm(total);
        let mut file = flac::STREAM_MARKER.to_vec();
        let info = flac::streaminfo(16, u16::MAX, rate, channels);
        file.extend(flac::metadata_block(true, flac::BLOCK_STREAMINFO, &info));
        let mut at = 0;
        for &b in blocks {
            let n = b * usize::from(channels);
            let frame = flac::encode_frame(
                &pcm[at..at + n],
                channels,
                rate,
                (at / usize::from(channels)) as u64,
            );
            file.extend_from_slice(&frame.unwrap());
            at += n;
        }
        let path = temp_file("block.flac", &file);
        let out = ffmpeg_decode(&path, "s16le");
        assert_eq!(out.stderr, "", "{name}");
        assert_eq!(out.samples(), pcm, "{name}: decoded samples differ");
    }
}

#[test]
fn g711_tables_match_ffmpeg() {
    let codes: Vec<u8> = (0..=255).collect();
    let path = temp_file("codes.g711", &codes);
    for (format, mu_law) in [("alaw", false), ("mulaw", true)] {
        let out = run_tool(
            "ffmpeg",
            &["-v", "error", "-f", format, "-ar", "8000", "-ac", "1", "-i"],
            &["-f", "s16le", "-"],
            &path,
        );
        let mut ours = Vec::new();
        g711::decode(mu_law, &codes, &mut ours);
        assert_eq!(out.samples(), ours, "{format}");
    }
}

/// G.711 from an RTP-like source (20 ms units, one with two chunks), as FLAC in fMP4: ffprobe
/// sees FLAC at the G.711 rate and ffmpeg decodes exactly the G.711-decoded PCM.
#[test]
fn g711_as_flac_in_fmp4_plays_losslessly() {
    for (mu_law, channels) in [(true, 1u16), (false, 2)] {
        let track = Track {
            codec: CodecParams::G711(G711Params {
                mu_law,
                sample_rate: 8000,
                channels,
            }),
            clock_rate: 8000,
        };
        let codes: Vec<u8> = (0..50 * 160 * usize::from(channels))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let codes = Bytes::from(codes);
        let unit_len = 160 * usize::from(channels);
        let units = (0..codes.len())
            .step_by(unit_len)
            .enumerate()
            .map(|(i, start)| {
                let data = if i == 3 {
                    vec![
                        codes.slice(start..start + 6),
                        codes.slice(start + 6..start + unit_len),
                    ]
                } else {
                    vec![codes.slice(start..start + unit_len)]
                };
                g711_unit(i as i64 * 160, data)
            });
        let file = single_fragment_file(&track, samples_of(&track, units));
        let path = temp_file("g711.mp4", &file);
        let probe = ffprobe(&path, "stream=codec_name,sample_rate,channels", false);
        assert_eq!(probe.stdout.trim(), format!("flac,8000,{channels}"));
        let out = ffmpeg_decode(&path, "s16le");
        assert_eq!(out.stderr, "");
        let mut want = Vec::new();
        g711::decode(mu_law, &codes, &mut want);
        assert_eq!(out.samples(), want, "µ-law {mu_law}, {channels} channels");
    }
}

fn g711_unit(ticks: i64, data: Vec<Bytes>) -> AccessUnit {
    AccessUnit {
        track: 0,
        pts: Timestamp::new(ticks, 8000),
        dts: Timestamp::new(ticks, 8000),
        keyframe: true,
        wallclock_us: None,
        data,
        nal_ends: Vec::new(),
        new_params: None,
    }
}

/// Deterministic PCM with the extremes and a fast-changing pattern.
fn test_pcm(n: usize) -> Vec<i16> {
    let mut x = 0x1234_5678u32;
    (0..n)
        .map(|i| match i % 97 {
            0 => i16::MIN,
            1 => i16::MAX,
            _ => {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 16) as i16
            }
        })
        .collect()
}

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl std::ops::Deref for TempFile {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

fn temp_file(name: &str, data: &[u8]) -> TempFile {
    let dir = std::env::temp_dir();
    let thread = format!("{:?}", std::thread::current().id()).replace(['(', ')'], "");
    let path = dir.join(format!("vigia-fmp4-{}-{thread}-{name}", std::process::id()));
    std::fs::write(&path, data).unwrap();
    TempFile(path)
}

struct ToolOutput {
    stdout: String,
    stdout_raw: Vec<u8>,
    stderr: String,
}

impl ToolOutput {
    fn samples(&self) -> Vec<i16> {
        self.stdout_raw
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    }
}

/// ffprobe's listing of `entries` (`-show_entries`) for the file at `path`, one CSV line per
/// stream; with `count_frames`, frames are decoded and counted (`nb_read_frames`).
fn ffprobe(path: &Path, entries: &str, count_frames: bool) -> ToolOutput {
    let mut args = vec!["-v", "error"];
    if count_frames {
        args.push("-count_frames");
    }
    args.extend(["-show_entries", entries, "-of", "csv=p=0"]);
    run_tool("ffprobe", &args, &[], path)
}

/// ffmpeg decoding the file at `path` into `format` (`null`, `s16le`) on its stdout.
fn ffmpeg_decode(path: &Path, format: &str) -> ToolOutput {
    run_tool("ffmpeg", &["-v", "error", "-i"], &["-f", format, "-"], path)
}

/// Runs an outside tool on `path` with a 60 s bound; the tools are installed by the project's
/// test script (Debian `ffmpeg`).
fn run_tool(tool: &str, before: &[&str], after: &[&str], path: &Path) -> ToolOutput {
    let mut child = Command::new(tool)
        .args(before)
        .arg(path)
        .args(after)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} must be installed (Debian package ffmpeg): {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).map(|_| v).unwrap_or_default()
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = String::new();
        err.read_to_string(&mut v).map(|_| v).unwrap_or_default()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{tool} timed out on {}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout_raw = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(
        status.success(),
        "{tool} failed on {}: {stderr}",
        path.display()
    );
    ToolOutput {
        stdout: String::from_utf8_lossy(&stdout_raw).into_owned(),
        stdout_raw,
        stderr,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Display index of each access unit of `codec/testdata/bframes-320x240.h265` (x265, B-pyramid),
/// in decode order, from `ffprobe -show_packets` (the same table as the H.265 DTS test).
const H265_DISPLAY_INDEX: [i64; 50] = [
    0, 3, 2, 1, 6, 5, 4, 10, 8, 7, 9, 13, 12, 11, 17, 15, 14, 16, 21, 19, 18, 20, 25, 23, 22, 24,
    26, 30, 28, 27, 29, 34, 32, 31, 33, 38, 36, 35, 37, 41, 40, 39, 45, 43, 42, 44, 49, 47, 46, 48,
];

/// H.265 with B-frames (`hvc1` + `hvcC`, composition offsets) read by ffprobe/ffmpeg: the
/// 320×240 test stream, PTS from its display order, DTS from POC as the ingest derives it
/// (`h265::DtsExtractor`), shifted so the first `tfdt` is 0.
#[test]
fn ffmpeg_decodes_h265_as_hvc1() {
    use vigia_media::codec::{annexb, h265};
    use vigia_media::model::VideoParams;

    let stream = Bytes::from_static(include_bytes!("../src/codec/testdata/bframes-320x240.h265"));
    let units = h265::split_access_units(&annexb::split(&stream));
    let find = |t: u8| {
        units
            .iter()
            .flatten()
            .find(|n| n.first().is_some_and(|h| (h >> 1) & 0x3F == t))
            .cloned()
    };
    let track = Track {
        codec: CodecParams::H265(VideoParams {
            vps: find(32),
            sps: find(33),
            pps: find(34),
        }),
        clock_rate: 90_000,
    };
    let mut dts_of = h265::DtsExtractor::new();
    let mut shift = None;
    let aus = units.iter().zip(H265_DISPLAY_INDEX).map(|(nalus, index)| {
        let pts = index * 3600;
        let dts = dts_of.extract(nalus, pts).unwrap();
        let shift = *shift.get_or_insert(-dts.min(0));
        AccessUnit {
            track: 0,
            pts: Timestamp::new(pts + shift, 90_000),
            dts: Timestamp::new(dts + shift, 90_000),
            keyframe: h265::is_keyframe(nalus),
            wallclock_us: None,
            data: nalus.clone(),
            nal_ends: Vec::new(),
            new_params: None,
        }
    });
    let samples = samples_of(&track, aus);
    let count = samples.len();
    assert_eq!(count, H265_DISPLAY_INDEX.len());
    assert!(
        samples
            .iter()
            .filter(|(_, s)| s.composition_offset > 0)
            .count()
            > 25
    );
    let file = single_fragment_file(&track, samples);
    let path = temp_file("h265.mp4", &file);
    let probe = ffprobe(
        &path,
        "stream=codec_name,codec_tag_string,width,height,nb_read_frames",
        true,
    );
    assert_eq!(probe.stderr, "");
    assert_eq!(probe.stdout.trim(), format!("hevc,hvc1,320,240,{count}"));
    let decode = ffmpeg_decode(&path, "null");
    assert_eq!(decode.stderr, "");
    let codec = fmp4::codec_string(&track).unwrap();
    assert!(codec.starts_with("hvc1."), "{codec}");
    println!("H.265 test stream: {count} frames, CODECS {codec}");
}
