//! Reading over UDP multicast with ffprobe and GStreamer, for H.264+AAC, H.265 and H.264+G.711.
//! Multicast must never leave the machine, so the whole exchange (vigia, the ffmpeg publishers,
//! the readers) runs inside a private network namespace whose only interface is a loopback with
//! multicast enabled.

use std::time::Duration;

use serde_json::Value;
use vigia_conformance::clips::Clip;
use vigia_conformance::{TempDir, run_with_timeout, vigia_bin};

const SCRIPT: &str = r#"
set -e
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
cd "$WORK"
"$VIGIA" vigia.yml > vigia.log 2>&1 &
VIGIA_PID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/8554) 2>/dev/null && break; sleep 0.1; done
publish() { ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$1" -c copy -f rtsp -rtsp_transport tcp "rtsp://127.0.0.1:8554/$2" & }
publish "$CLIP_AAC" cam1
publish "$CLIP_HEVC" hevc
publish "$CLIP_G711" g711
sleep 3
for path in cam1 hevc g711; do
  echo "=== ffprobe $path"
  timeout 30 ffprobe -v error -of json -show_streams -show_packets -read_intervals %+4 \
    -rtsp_transport udp_multicast -i "rtsp://127.0.0.1:8554/$path" || true
done
echo "=== gstreamer cam1"
timeout 30 gst-launch-1.0 -q rtspsrc location=rtsp://127.0.0.1:8554/cam1 protocols=udp-mcast latency=100 \
  ! application/x-rtp,media=video ! rtph264depay ! h264parse ! fakesink num-buffers=50 \
  && echo '{"gstreamer":"ok"}' || echo '{"gstreamer":"failed"}'
kill $(jobs -p) 2>/dev/null || true
wait 2>/dev/null || true
"#;

/// Splits the script's output into `(label, JSON)` sections.
fn sections(stdout: &str) -> Vec<(String, Value)> {
    stdout
        .split("=== ")
        .skip(1)
        .map(|section| {
            let (label, body) = section.split_once('\n').unwrap_or((section, ""));
            (
                label.trim().to_string(),
                serde_json::from_str(body.trim()).unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn check_probe(label: &str, json: &Value, video_codec: &str, audio_codec: Option<&str>, log: &str) {
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap_or_else(|| panic!("{label}: no video stream over multicast\n{log}"));
    assert_eq!(video["codec_name"], video_codec, "{label}");
    assert_eq!(video["width"], 640, "{label}");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .map(|s| s["codec_name"].clone());
    assert_eq!(
        audio.as_ref().and_then(Value::as_str),
        audio_codec,
        "{label}"
    );
    let index = video["index"].as_u64().unwrap();
    let packets: Vec<&Value> = json["packets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["stream_index"].as_u64() == Some(index))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        packets.len() >= 80,
        "{label}: only {} video packets over multicast in 4 s\n{log}",
        packets.len()
    );
    let dts: Vec<f64> = packets
        .iter()
        .filter_map(|p| p["dts_time"].as_str()?.parse().ok())
        .collect();
    assert!(
        dts.windows(2).all(|w| w[1] > w[0]),
        "{label}: DTS not increasing over multicast"
    );
}

#[test]
fn ffprobe_and_gstreamer_read_over_multicast() {
    let work = TempDir::new("vigia-mcast");
    std::fs::write(work.path().join("vigia.yml"), "paths:\n  all_others:\n").unwrap();
    let script = format!(
        "WORK='{}' VIGIA='{}' CLIP_AAC='{}' CLIP_HEVC='{}' CLIP_G711='{}'\n{SCRIPT}",
        work.path().display(),
        vigia_bin().display(),
        Clip::H264Aac.path().display(),
        Clip::H265.path().display(),
        Clip::H264G711.path().display(),
    );
    let out = run_with_timeout(
        "unshare",
        &["-n", "bash", "-c", &script],
        Duration::from_secs(150),
    );
    let log = std::fs::read_to_string(work.path().join("vigia.log")).unwrap_or_default();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found = sections(&stdout);
    let get = |label: &str| {
        found
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                panic!(
                    "no '{label}' output; stderr: {}\nvigia log:\n{log}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    };
    check_probe(
        "ffprobe cam1",
        &get("ffprobe cam1"),
        "h264",
        Some("aac"),
        &log,
    );
    check_probe("ffprobe hevc", &get("ffprobe hevc"), "hevc", None, &log);
    check_probe(
        "ffprobe g711",
        &get("ffprobe g711"),
        "h264",
        Some("pcm_mulaw"),
        &log,
    );
    assert_eq!(
        get("gstreamer cam1")["gstreamer"],
        "ok",
        "GStreamer over multicast\n{log}"
    );
}
