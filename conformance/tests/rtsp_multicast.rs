//! Reading over UDP multicast. Multicast must never leave the machine, so the whole exchange
//! (vigia, the ffmpeg publisher, the ffprobe reader) runs inside a private network namespace
//! whose only interface is a loopback with multicast enabled.

use std::time::Duration;

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
ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$CLIP" -c copy -f rtsp -rtsp_transport tcp rtsp://127.0.0.1:8554/cam1 &
PUB_PID=$!
sleep 3
timeout 30 ffprobe -v error -of json -show_streams -show_packets -read_intervals %+4 \
  -rtsp_transport udp_multicast -i rtsp://127.0.0.1:8554/cam1 || true
kill $PUB_PID $VIGIA_PID 2>/dev/null || true
wait 2>/dev/null || true
"#;

#[test]
fn h264_reads_back_over_multicast() {
    let clip = Clip::H264Aac.path();
    let work = TempDir::new("vigia-mcast");
    std::fs::write(work.path().join("vigia.yml"), "paths:\n  all_others:\n").unwrap();
    let work_dir = work.path().display().to_string();
    let script = format!(
        "WORK='{work_dir}' VIGIA='{}' CLIP='{}'\n{SCRIPT}",
        vigia_bin().display(),
        clip.display()
    );
    let out = run_with_timeout(
        "unshare",
        &["-n", "bash", "-c", &script],
        Duration::from_secs(60),
    );
    let log = std::fs::read_to_string(work.path().join("vigia.log")).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no ffprobe output; stderr: {}\nvigia log:\n{log}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["width"], 640);
    let video_index = video["index"].as_u64().unwrap();
    let packets: Vec<&serde_json::Value> = json["packets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["stream_index"].as_u64() == Some(video_index))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        packets.len() >= 80,
        "only {} video packets over multicast in 4 s\n{log}",
        packets.len()
    );
    let dts: Vec<f64> = packets
        .iter()
        .filter_map(|p| p["dts_time"].as_str()?.parse().ok())
        .collect();
    assert!(
        dts.windows(2).all(|w| w[1] > w[0]),
        "DTS not increasing over multicast"
    );
}
