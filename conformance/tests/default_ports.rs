//! Tests that use the default listeners (:8554, :8000/:8001): `vigia` with no config serving the
//! synthetic `demo` stream and taking publishers on any other name, and `vigia mediamtx.yml` with
//! MediaMTX's own default file. They share the ports, so they run one at a time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use vigia_conformance::clips::Clip;
use vigia_conformance::probe::ffprobe;
use vigia_conformance::{TempDir, Vigia, eventually};

static DEFAULT_PORTS: Mutex<()> = Mutex::new(());

fn compat_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/testdata/mediamtx.yml")
}

#[test]
fn no_config_serves_the_synthetic_demo_stream_and_takes_publishers() {
    let _guard = DEFAULT_PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let vigia = Vigia::spawn(TempDir::new("vigia-noconf"), &[], &[], 8554);
    let probe = eventually(Duration::from_secs(10), || {
        let p = ffprobe(
            "rtsp://127.0.0.1:8554/demo",
            &["-rtsp_transport", "tcp"],
            Some(3),
        );
        p.stream("video").is_some().then_some(p)
    })
    .expect("ffprobe never saw the demo stream");
    let video = probe.stream("video").unwrap();
    assert_eq!(video.codec, "h264");
    assert_eq!((video.width, video.height), (640, 360));
    let audio = probe.stream("audio").expect("demo has an audio track");
    assert_eq!(audio.codec, "aac");
    let index = probe
        .streams
        .iter()
        .position(|s| s.kind == "video")
        .unwrap() as u64;
    assert!(
        probe.packets_of(index).len() >= 50,
        "demo plays in real time"
    );

    // The README's command: any other name takes a publisher (`all_others`).
    let url = "rtsp://127.0.0.1:8554/cam1";
    let _publisher = Clip::H264Aac.publish(url, "tcp");
    let probe = eventually(Duration::from_secs(20), || {
        let p = ffprobe(url, &["-rtsp_transport", "tcp"], Some(2));
        (p.streams.len() == 2 && !p.packets.is_empty()).then_some(p)
    });
    assert!(
        probe.is_some(),
        "cam1 published on built-in defaults reads back:\n{}",
        vigia.logs()
    );
}

#[test]
fn mediamtx_default_file_starts_warns_once_per_key_and_serves_rtsp() {
    let _guard = DEFAULT_PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let file = compat_file();
    assert!(file.exists(), "{} missing", file.display());
    let file_arg = file.display().to_string();
    let vigia = Vigia::spawn(TempDir::new("vigia-compat"), &[&file_arg], &[], 8554);
    let url = "rtsp://127.0.0.1:8554/compat-cam";
    let _publisher = Clip::H264Aac.publish(url, "tcp");
    let probe = eventually(Duration::from_secs(20), || {
        let p = ffprobe(url, &["-rtsp_transport", "udp"], Some(2));
        (p.streams.len() == 2 && !p.packets.is_empty()).then_some(p)
    })
    .expect("the MediaMTX config serves RTSP publish and read (UDP, as its rtspTransports allow)");
    assert_eq!(probe.stream("video").unwrap().codec, "h264");

    let logs = vigia.logs();
    let warned: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("not implemented"))
        .collect();
    assert!(
        !warned.is_empty(),
        "expected warnings for unimplemented keys:\n{logs}"
    );
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for line in &warned {
        let key = line.split('"').nth(1).unwrap_or(line).to_string();
        *per_key.entry(key).or_default() += 1;
    }
    let repeated: Vec<_> = per_key.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "keys warned more than once: {repeated:?}"
    );
    for implemented in [
        "rtspAddress",
        "rtspTransports",
        "authInternalUsers",
        "readTimeout",
    ] {
        assert!(
            !per_key.contains_key(implemented),
            "{implemented} is implemented, yet warned"
        );
    }
}
