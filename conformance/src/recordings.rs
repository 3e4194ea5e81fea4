//! Reading recorded segments back in tests: what ffprobe says of each one.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::run_with_timeout;

/// What ffprobe reads from one recorded segment file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SegmentProbe {
    /// `format.duration` in seconds (0 when ffprobe could not tell).
    pub duration: f64,
    /// Video packets read from the file.
    pub video_frames: u64,
    /// Audio packets read from the file.
    pub audio_packets: u64,
    /// The audio codec ffprobe names (`aac`, `pcm_mulaw`…), empty without audio.
    pub audio_codec: String,
    /// ffprobe's stderr: empty for a clean file.
    pub errors: String,
}

/// Probes the file at `file` by reading every packet.
pub fn probe_segment(file: &Path) -> SegmentProbe {
    let path = file.display().to_string();
    let args = [
        "-v",
        "error",
        "-count_packets",
        "-show_entries",
        "stream=codec_type,codec_name,nb_read_packets:format=duration",
        "-of",
        "json",
        &path,
    ];
    let out = run_with_timeout("ffprobe", &args, Duration::from_secs(30));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let count = |kind: &str| -> u64 {
        json["streams"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["codec_type"] == kind)
            .filter_map(|s| s["nb_read_packets"].as_str()?.parse::<u64>().ok())
            .sum()
    };
    SegmentProbe {
        duration: json["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
        video_frames: count("video"),
        audio_packets: count("audio"),
        audio_codec: json["streams"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["codec_type"] == "audio")
            .and_then(|s| s["codec_name"].as_str())
            .unwrap_or_default()
            .to_owned(),
        errors: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Probes `bytes` (a segment downloaded from a store) through a temporary file.
pub fn probe_bytes(bytes: &[u8]) -> SegmentProbe {
    let dir = crate::TempDir::new("vigia-segment");
    let file = dir.path().join("segment.mp4");
    std::fs::write(&file, bytes).expect("write segment for ffprobe");
    probe_segment(&file)
}
