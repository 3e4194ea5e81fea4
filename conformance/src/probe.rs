//! ffprobe's JSON output as plain structs.

use std::time::Duration;

use serde_json::Value;

use crate::run_with_timeout;

/// One elementary stream as ffprobe sees it.
#[derive(Clone, Debug, Default)]
pub struct StreamInfo {
    /// `codec_name` (`h264`, `hevc`, `aac`, `pcm_mulaw`…).
    pub codec: String,
    /// `codec_type` (`video` or `audio`).
    pub kind: String,
    /// Picture width (video).
    pub width: u64,
    /// Picture height (video).
    pub height: u64,
    /// Sample rate (audio).
    pub sample_rate: u64,
}

/// One packet as ffprobe sees it.
#[derive(Clone, Debug, Default)]
pub struct PacketInfo {
    /// Index of the packet's stream.
    pub stream: u64,
    /// Presentation time in seconds, if any.
    pub pts: Option<f64>,
    /// Decode time in seconds, if any.
    pub dts: Option<f64>,
    /// Whether ffprobe flags it as a keyframe.
    pub key: bool,
}

/// What ffprobe reported about a URL.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// The streams.
    pub streams: Vec<StreamInfo>,
    /// The packets read (empty unless packets were asked for).
    pub packets: Vec<PacketInfo>,
    /// ffprobe's stderr (warnings and errors).
    pub stderr: String,
}

impl Probe {
    /// The first stream of `kind` (`video`/`audio`).
    pub fn stream(&self, kind: &str) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == kind)
    }

    /// Packets of stream `index`.
    pub fn packets_of(&self, index: u64) -> Vec<&PacketInfo> {
        self.packets.iter().filter(|p| p.stream == index).collect()
    }
}

/// Runs ffprobe on `url`. `extra` goes before `-i` (e.g. `-rtsp_transport tcp`); when
/// `read_seconds` is set, packets of that many seconds are read too.
pub fn ffprobe(url: &str, extra: &[&str], read_seconds: Option<u32>) -> Probe {
    let mut args: Vec<String> = ["-v", "error", "-of", "json", "-show_streams"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(secs) = read_seconds {
        args.extend([
            "-show_packets".into(),
            "-read_intervals".into(),
            format!("%+{secs}"),
        ]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-i".to_string(), url.to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let limit = Duration::from_secs(u64::from(read_seconds.unwrap_or(0)) + 20);
    let out = run_with_timeout("ffprobe", &argv, limit);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Probe {
        streams: list(&json, "streams").map(stream_info).collect(),
        packets: list(&json, "packets").map(packet_info).collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn list<'a>(json: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    json.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn stream_info(v: &Value) -> StreamInfo {
    StreamInfo {
        codec: text(v, "codec_name"),
        kind: text(v, "codec_type"),
        width: v.get("width").and_then(Value::as_u64).unwrap_or(0),
        height: v.get("height").and_then(Value::as_u64).unwrap_or(0),
        sample_rate: text(v, "sample_rate").parse().unwrap_or(0),
    }
}

fn packet_info(v: &Value) -> PacketInfo {
    PacketInfo {
        stream: v.get("stream_index").and_then(Value::as_u64).unwrap_or(0),
        pts: text(v, "pts_time").parse().ok(),
        dts: text(v, "dts_time").parse().ok(),
        key: text(v, "flags").starts_with('K'),
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
