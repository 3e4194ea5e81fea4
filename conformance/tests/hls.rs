//! LL-HLS from the outside: ffprobe sees the right codecs and resolution, ffmpeg reads 60 s with
//! no error (the synthetic demo, an ffmpeg H.264+AAC publisher, an H.265 publisher), blocking
//! playlist reload answers the moment the part exists, bad requests get clear answers,
//! `hlsDirectory` keeps complete segments on disk, and an always-muxed stream nobody watches
//! keeps only three target durations until a viewer arrives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use vigia_conformance::clips::Clip;
use vigia_conformance::probe::ffprobe;
use vigia_conformance::{Background, Ports, Vigia, eventually, run_with_timeout};
use vigia_protocol::hls::check::{Naming, ParsedPlaylist, check_with};

const READ_SECONDS: &str = "60";

fn server() -> (Vigia, Ports) {
    Vigia::start_on_fresh_ports("paths:\n  demo:\n    source: synthetic\n  all_others:\n")
}

fn publish(clip: Clip, ports: &Ports, path: &str) -> Background {
    clip.publish(&ports.rtsp_url(path), "tcp")
}

/// A plain HTTP/1.1 GET; returns (status, headers, body).
fn http_get(port: u16, target: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to HLS");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, raw[split..].to_vec())
}

fn probe_and_read(ports: &Ports, path: &str, video_codec: &str, audio_codec: Option<&str>) {
    let url = ports.hls_url(path, "index.m3u8");
    let probe = eventually(Duration::from_secs(30), || {
        let p = ffprobe(&url, &[], None);
        p.stream("video").is_some().then_some(p)
    })
    .unwrap_or_else(|| panic!("ffprobe never read {url}"));
    let video = probe.stream("video").unwrap();
    assert_eq!(video.codec, video_codec);
    assert_eq!((video.width, video.height), (640, 360));
    assert_eq!(probe.stream("audio").map(|a| a.codec.as_str()), audio_codec);
    let args = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        &url,
        "-t",
        READ_SECONDS,
        "-f",
        "null",
        "-",
    ];
    let started = Instant::now();
    let out = run_with_timeout("ffmpeg", &args, Duration::from_secs(100));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg errors reading {url}: {stderr}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(55),
        "ffmpeg read live for 60 s"
    );
}

#[test]
fn demo_plays_over_hls_for_a_minute() {
    let (_vigia, ports) = server();
    probe_and_read(&ports, "demo", "h264", Some("aac"));
}

#[test]
fn ffmpeg_h264_aac_publisher_plays_over_hls_for_a_minute() {
    let (_vigia, ports) = server();
    let _publisher = publish(Clip::H264Aac, &ports, "cam1");
    probe_and_read(&ports, "cam1", "h264", Some("aac"));
}

#[test]
fn ffmpeg_h265_publisher_plays_over_hls_for_a_minute() {
    let (_vigia, ports) = server();
    let _publisher = publish(Clip::H265, &ports, "hevc");
    probe_and_read(&ports, "hevc", "hevc", None);
}

/// The next part from the preload hint of the current playlist: `(msn, part)`.
fn next_part(playlist: &str) -> (u64, u64) {
    let hint = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))
        .unwrap_or_else(|| panic!("no preload hint in:\n{playlist}"));
    let uri = hint
        .split("URI=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let numbers = uri.trim_start_matches("part").trim_end_matches(".mp4");
    let (msn, part) = numbers.split_once('.').unwrap();
    (msn.parse().unwrap(), part.parse().unwrap())
}

#[test]
fn blocking_reload_answers_within_50_ms_of_the_part() {
    let (_vigia, ports) = server();
    let (status, _, body) = eventually(Duration::from_secs(20), || {
        let r = http_get(ports.hls, "/demo/stream.m3u8");
        (r.0 == 200).then_some(r)
    })
    .expect("the media playlist becomes available");
    assert_eq!(status, 200);
    let playlist = String::from_utf8_lossy(&body).into_owned();
    let mut spreads = Vec::new();
    let (mut msn, mut part) = next_part(&playlist);
    for _ in 0..5 {
        let target = format!("/demo/stream.m3u8?_HLS_msn={msn}&_HLS_part={part}");
        let part_uri = format!("/demo/part{msn}.{part}.mp4");
        let port = ports.hls;
        let part_request = thread::spawn(move || {
            let (status, _, _) = http_get(port, &part_uri);
            (status, Instant::now())
        });
        let (status, _, body) = http_get(ports.hls, &target);
        let playlist_at = Instant::now();
        let (part_status, part_at) = part_request.join().unwrap();
        assert_eq!(
            (status, part_status),
            (200, 200),
            "blocked requests answered"
        );
        let playlist = String::from_utf8_lossy(&body).into_owned();
        assert!(
            playlist.contains(&format!("part{msn}.{part}.mp4")),
            "the part is listed:\n{playlist}"
        );
        spreads.push(if part_at > playlist_at {
            part_at - playlist_at
        } else {
            playlist_at - part_at
        });
        (msn, part) = next_part(&playlist);
    }
    println!("blocking reload vs part availability: {spreads:?}");
    assert!(
        spreads.iter().all(|d| *d < Duration::from_millis(50)),
        "{spreads:?}"
    );
}

#[test]
fn bad_hls_requests_get_clear_answers() {
    let (_vigia, ports) = server();
    let _ = eventually(Duration::from_secs(20), || {
        (http_get(ports.hls, "/demo/stream.m3u8").0 == 200).then_some(())
    });
    let cases = [
        ("/nosuchpath/index.m3u8", 404),
        ("/demo/stream.m3u8?_HLS_msn=999999", 400),
        ("/demo/stream.m3u8?_HLS_part=1", 400),
        ("/demo/stream.m3u8?_HLS_msn=abc", 400),
        ("/demo/seg0.mp4x", 404),
    ];
    for (target, expected) in cases {
        let (status, _, body) = http_get(ports.hls, target);
        assert_eq!(
            status,
            expected,
            "{target}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(!body.is_empty(), "{target}: the answer says what was wrong");
    }
    let (status, head, _) = http_get(ports.hls, "/demo/stream.m3u8");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: no-cache"),
        "{head}"
    );
    let (_, head, _) = http_get(ports.hls, "/demo/init.mp4");
    assert!(
        head.to_ascii_lowercase().contains("cache-control: max-age"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{head}"
    );
}

/// The segment files of the demo's muxer under `hlsDirectory`, by MSN
/// (`<dir>/demo/vigia-hls-<n>/<msn>.mp4`).
fn stored_segments(dir: &std::path::Path) -> std::collections::BTreeMap<u64, std::path::PathBuf> {
    let muxers = std::fs::read_dir(dir.join("demo")).into_iter().flatten();
    let files = muxers
        .flatten()
        .flat_map(|m| std::fs::read_dir(m.path()).into_iter().flatten());
    files
        .flatten()
        .filter_map(|f| {
            let msn = f.file_name().to_str()?.strip_suffix(".mp4")?.parse().ok()?;
            Some((msn, f.path()))
        })
        .collect()
}

/// `(msn, part URIs)` of the first segment the playlist lists both whole and by parts.
fn segment_with_parts(playlist: &str) -> Option<(u64, Vec<String>)> {
    let mut parts: Vec<String> = Vec::new();
    for line in playlist.lines() {
        if let Some(uri) = line
            .strip_prefix("#EXT-X-PART:")
            .and_then(|l| l.split("URI=\"").nth(1))
        {
            parts.push(uri.split('"').next().unwrap_or_default().to_string());
        } else if let Some(msn) = line
            .strip_prefix("seg")
            .and_then(|l| l.strip_suffix(".mp4"))
            && !parts.is_empty()
        {
            return Some((msn.parse().ok()?, parts));
        }
    }
    None
}

/// `hlsDirectory`: complete segments are files, served byte for byte whole and by part, deleted
/// as they leave the window and with the muxer; a previous run's files are deleted at start.
#[test]
fn hls_directory_holds_complete_segments_and_goes_with_the_muxer() {
    let dir = vigia_conformance::TempDir::new("vigia-hls-dir");
    // What a killed run left: deleted at start.
    std::fs::create_dir_all(dir.path().join("demo/vigia-hls-77")).unwrap();
    std::fs::write(dir.path().join("demo/vigia-hls-77/1.mp4"), b"stale").unwrap();
    let config = format!(
        "hlsDirectory: {}\nhlsMuxerCloseAfter: 3s\npaths:\n  demo:\n    source: synthetic\n",
        dir.path().display()
    );
    let (_vigia, ports) = Vigia::start_on_fresh_ports(&config);
    // Wait until segments have left the window (7 listed + 2 kept): their files must be gone.
    let playlist = eventually(Duration::from_secs(40), || {
        let (status, _, body) = http_get(ports.hls, "/demo/stream.m3u8");
        let text = String::from_utf8_lossy(&body).into_owned();
        let first: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        (status == 200 && first >= 4).then_some((first, text))
    });
    let (first, playlist) = playlist.expect("the window moved past 4 segments within 40 s");
    let files = stored_segments(dir.path());
    assert!(
        (1..=9).contains(&files.len()) && files.keys().all(|&msn| msn + 2 >= first),
        "the window's files only (first listed {first}): {:?}",
        files.keys()
    );
    // A listed, complete segment: the file, the HTTP answer and its parts are the same bytes.
    let (msn, parts) = segment_with_parts(&playlist).expect("a segment listed with its parts");
    let file = std::fs::read(&files[&msn]).expect("the segment's file");
    assert_eq!(
        &file[4..8],
        b"moof",
        "segment {msn} starts with its first part"
    );
    let (status, _, whole) = http_get(ports.hls, &format!("/demo/seg{msn}.mp4"));
    assert_eq!((status, whole.len()), (200, file.len()), "seg{msn}.mp4");
    assert!(whole == file, "seg{msn}.mp4 is its file");
    let by_parts: Vec<u8> = parts
        .iter()
        .flat_map(|uri| {
            let (status, _, body) = http_get(ports.hls, &format!("/demo/{uri}"));
            assert_eq!(status, 200, "{uri}");
            body
        })
        .collect();
    assert!(by_parts == file, "the parts of segment {msn} are its file");
    let probe = ffprobe(&ports.hls_url("demo", "index.m3u8"), &[], None);
    assert!(
        probe.stream("video").is_some(),
        "ffprobe reads the stored window"
    );
    // No more requests: the muxer closes after 3 s and its directory goes with it.
    let gone = eventually(Duration::from_secs(20), || {
        stored_segments(dir.path()).is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "files left: {:?}",
        stored_segments(dir.path())
    );
    let muxer_dirs = std::fs::read_dir(dir.path().join("demo")).map_or(0, |d| d.count());
    assert_eq!(muxer_dirs, 0, "the muxer's directory is removed");
}

/// An `hlsDirectory` that cannot be made (a file is in the way): the error is logged and the
/// segments are served from memory.
#[test]
fn an_unusable_hls_directory_is_logged_and_segments_stay_in_memory() {
    let dir = vigia_conformance::TempDir::new("vigia-hls-blocked");
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"in the way").unwrap();
    let config = format!(
        "hlsDirectory: {}\npaths:\n  demo:\n    source: synthetic\n",
        blocker.display()
    );
    let (vigia, ports) = Vigia::start_on_fresh_ports(&config);
    let playlist = eventually(Duration::from_secs(30), || {
        let (status, _, body) = http_get(ports.hls, "/demo/stream.m3u8");
        let text = String::from_utf8_lossy(&body).into_owned();
        (status == 200 && text.contains("seg")).then_some(text)
    })
    .expect("a playlist within 30 s");
    let segment = playlist
        .lines()
        .find(|l| l.starts_with("seg"))
        .expect("a segment listed");
    let (status, _, body) = http_get(ports.hls, &format!("/demo/{segment}"));
    assert_eq!(status, 200, "{segment}");
    assert_eq!(&body[4..8], b"moof", "{segment} from memory");
    assert!(
        vigia.logs_soon_contain("cannot create", Duration::from_secs(5)),
        "the error is logged:\n{}",
        vigia.logs()
    );
}

/// A media playlist as the RFC checker parses it; it must find nothing wrong.
fn parsed(playlist: &str) -> ParsedPlaylist {
    let (parsed, violations) = check_with(playlist, &Naming::default());
    assert!(violations.is_empty(), "{violations:?}\n{playlist}");
    parsed.expect("a media playlist")
}

#[test]
fn an_always_muxed_stream_nobody_watches_lists_three_target_durations_and_grows_for_a_viewer() {
    let (_vigia, ports) =
        Vigia::start_on_fresh_ports("hlsAlwaysRemux: yes\npaths:\n  all_others:\n");
    let _camera = publish(Clip::H264Small, &ports, "cam");
    // Nobody asks for 12 s: the 1 s GOP makes ~11 segments, more than hlsSegmentCount (7).
    thread::sleep(Duration::from_secs(12));
    let (status, _, body) = http_get(ports.hls, "/cam/stream.m3u8");
    assert_eq!(status, 200);
    let playlist = String::from_utf8_lossy(&body).into_owned();
    let parsed = parsed(&playlist);
    let target = parsed.target_duration.expect("a target duration") as f64;
    let segments = parsed.segments;
    let total: f64 = segments.iter().map(|s| s.duration).sum();
    let without_oldest = total - segments.first().map_or(0.0, |s| s.duration);
    assert!(
        total >= 3.0 * target - 0.01 && without_oldest < 3.0 * target - 0.01,
        "the fewest segments covering three target durations ({target} s):\n{playlist}"
    );
    assert!(segments.len() < 7, "{playlist}");
    for segment in &segments {
        let (status, _, body) = http_get(ports.hls, &format!("/cam/{}", segment.uri));
        assert!(
            status == 200 && !body.is_empty(),
            "{}: {status}",
            segment.uri
        );
    }
    // A viewer keeps asking: the window grows back to hlsSegmentCount as segments complete.
    let grown = eventually(Duration::from_secs(15), || {
        let (_, _, body) = http_get(ports.hls, "/cam/stream.m3u8");
        let (playlist, _) = check_with(&String::from_utf8_lossy(&body), &Naming::default());
        thread::sleep(Duration::from_millis(500));
        (playlist?.segments.len() == 7).then_some(())
    });
    assert!(grown.is_some(), "the window never grew back to 7 segments");
}
