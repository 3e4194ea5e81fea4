//! ffmpeg publishes over RTSP (TCP and UDP); ffmpeg, ffprobe and GStreamer read back over TCP and
//! UDP with every frame, the right codec parameters and monotonic timestamps. H.264+AAC (with
//! B-frames), H.265, and H.264+G.711.

use std::time::Duration;

use vigia_conformance::clips::Clip;
use vigia_conformance::probe::{Probe, ffprobe};
use vigia_conformance::{Background, Ports, Vigia, eventually, run_with_timeout};

const READ_SECONDS: u32 = 5;

/// Starts a server, publishes `clip` to `path` over `transport`, and waits until ffprobe sees
/// `streams` streams there. Keep all three alive for the test.
fn published(
    clip: Clip,
    path: &str,
    transport: &str,
    streams: usize,
) -> (Vigia, Ports, Background) {
    let (vigia, ports) = Vigia::start_on_fresh_ports("paths:\n  all_others:\n");
    let url = ports.rtsp_url(path);
    let publisher = clip.publish(&url, transport);
    let seen = eventually(Duration::from_secs(20), || {
        let p = ffprobe(&url, &["-rtsp_transport", "tcp"], None);
        (p.streams.len() == streams).then_some(())
    });
    assert!(seen.is_some(), "{url} never showed {streams} streams");
    (vigia, ports, publisher)
}

/// Checks the video packets: count close to real time, every frame present (pts steps of one
/// frame once sorted), monotonic DTS.
fn check_video(probe: &Probe, codec: &str) {
    let video = probe
        .stream("video")
        .unwrap_or_else(|| panic!("no video stream: {probe:?}"));
    assert_eq!(video.codec, codec);
    assert_eq!((video.width, video.height), (640, 360));
    let index = probe
        .streams
        .iter()
        .position(|s| s.kind == "video")
        .unwrap() as u64;
    let packets = probe.packets_of(index);
    let expected = (READ_SECONDS * 25) as usize;
    assert!(
        packets.len() + 15 >= expected,
        "only {} video packets in {READ_SECONDS} s (expected ~{expected}); stderr: {}",
        packets.len(),
        probe.stderr
    );
    let dts: Vec<f64> = packets.iter().filter_map(|p| p.dts).collect();
    assert!(
        dts.windows(2).all(|w| w[1] > w[0]),
        "DTS not strictly increasing: {dts:?}"
    );
    let mut pts: Vec<f64> = packets.iter().filter_map(|p| p.pts).collect();
    pts.sort_by(f64::total_cmp);
    // The first and last few may be cut by the read window; every step in between is one frame
    // (40 ms; up to ~12 ms more where the publisher's looped clip restarts, since its audio is
    // slightly longer than its video). A lost frame would show as an 80 ms step, a duplicate as 0.
    let steps: Vec<f64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    let inner = &steps[2..steps.len().saturating_sub(3).max(2)];
    assert!(
        inner.iter().all(|s| (0.035..0.065).contains(s)),
        "a frame is missing or duplicated: steps {inner:?}"
    );
}

fn check_audio(probe: &Probe, codec: &str, sample_rate: u64) {
    let audio = probe
        .stream("audio")
        .unwrap_or_else(|| panic!("no audio stream: {probe:?}"));
    assert_eq!(audio.codec, codec);
    assert_eq!(audio.sample_rate, sample_rate);
    let index = probe
        .streams
        .iter()
        .position(|s| s.kind == "audio")
        .unwrap() as u64;
    let pts: Vec<f64> = probe
        .packets_of(index)
        .iter()
        .filter_map(|p| p.pts)
        .collect();
    assert!(pts.len() > 10, "too few audio packets: {}", pts.len());
    assert!(
        pts.windows(2).all(|w| w[1] > w[0]),
        "audio PTS not increasing"
    );
}

/// The checks for [`Clip::H264Aac`]: H.264 video and 48 kHz AAC audio.
fn check_h264_aac(probe: &Probe) {
    check_video(probe, "h264");
    check_audio(probe, "aac", 48_000);
}

fn read_back(ports: &Ports, path: &str, check: impl Fn(&Probe)) {
    let url = ports.rtsp_url(path);
    for transport in ["tcp", "udp"] {
        let probe = ffprobe(&url, &["-rtsp_transport", transport], Some(READ_SECONDS));
        check(&probe);
    }
}

fn gstreamer_reads(url: &str, protocols: &str, depay: &str) {
    let pipeline = format!(
        "rtspsrc location={url} protocols={protocols} latency=100 ! application/x-rtp,media=video ! {depay} ! fakesink num-buffers=50"
    );
    let args: Vec<&str> = std::iter::once("-q")
        .chain(pipeline.split_whitespace())
        .collect();
    let out = run_with_timeout("gst-launch-1.0", &args, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "GStreamer failed over {protocols}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ffmpeg_reads(url: &str) {
    let args = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-rtsp_transport",
        "tcp",
        "-i",
        url,
        "-t",
        "3",
        "-f",
        "null",
        "-",
    ];
    let out = run_with_timeout("ffmpeg", &args, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg decode errors: {stderr}"
    );
}

#[test]
fn h264_aac_published_over_tcp_reads_back_every_way() {
    let (_vigia, ports, _publisher) = published(Clip::H264Aac, "cam1", "tcp", 2);
    read_back(&ports, "cam1", check_h264_aac);
    ffmpeg_reads(&ports.rtsp_url("cam1"));
    gstreamer_reads(&ports.rtsp_url("cam1"), "tcp", "rtph264depay ! h264parse");
    gstreamer_reads(&ports.rtsp_url("cam1"), "udp", "rtph264depay ! h264parse");
}

#[test]
fn h264_aac_published_over_udp_reads_back() {
    let (_vigia, ports, _publisher) = published(Clip::H264Aac, "cam1", "udp", 2);
    read_back(&ports, "cam1", check_h264_aac);
}

#[test]
fn h265_reads_back_over_tcp_and_udp() {
    let (_vigia, ports, _publisher) = published(Clip::H265, "cam-hevc", "tcp", 1);
    read_back(&ports, "cam-hevc", |p| check_video(p, "hevc"));
    gstreamer_reads(
        &ports.rtsp_url("cam-hevc"),
        "tcp",
        "rtph265depay ! h265parse",
    );
}

#[test]
fn g711_audio_reads_back_over_tcp_and_udp() {
    let (_vigia, ports, _publisher) = published(Clip::H264G711, "cam-g711", "udp", 2);
    read_back(&ports, "cam-g711", |p| {
        check_video(p, "h264");
        check_audio(p, "pcm_mulaw", 8_000);
    });
}
