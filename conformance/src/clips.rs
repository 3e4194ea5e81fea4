//! Test clips encoded by ffmpeg from lavfi sources, once per machine (cached in `target/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Background;

/// A clip to publish in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clip {
    /// 640x360 H.264 Main with B-frames, 25 fps, GOP 25, plus AAC-LC 48 kHz mono; 12 s.
    H264Aac,
    /// 640x360 H.265, 25 fps, GOP 25; 12 s.
    H265,
    /// 640x360 H.264 without B-frames plus G.711 µ-law 8 kHz mono; 12 s.
    H264G711,
    /// 320x240 H.264 plus AAC: another resolution, for parameter-set changes; 12 s.
    H264Small,
}

impl Clip {
    /// Number of video frames in the clip.
    pub const VIDEO_FRAMES: usize = 300;

    fn file_name(self) -> &'static str {
        match self {
            Clip::H264Aac => "h264-aac.mkv",
            Clip::H265 => "h265.mkv",
            Clip::H264G711 => "h264-pcmu.mkv",
            Clip::H264Small => "h264-small.mkv",
        }
    }

    fn encode_args(self) -> Vec<&'static str> {
        let video = [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-t",
            "12",
        ];
        let audio = [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "12",
        ];
        let mut args: Vec<&'static str> = video.to_vec();
        match self {
            Clip::H264Aac => {
                args.extend(audio);
                args.extend([
                    "-c:v",
                    "libx264",
                    "-profile:v",
                    "main",
                    "-bf",
                    "2",
                    "-g",
                    "25",
                    "-sc_threshold",
                    "0",
                    "-b:v",
                    "800k",
                    "-c:a",
                    "aac",
                    "-ac",
                    "1",
                    "-b:a",
                    "64k",
                ]);
            }
            Clip::H265 => {
                args.extend([
                    "-c:v",
                    "libx265",
                    "-g",
                    "25",
                    "-b:v",
                    "800k",
                    "-x265-params",
                    "keyint=25:min-keyint=25:scenecut=0:bframes=0:log-level=error",
                ]);
            }
            Clip::H264Small => {
                args.extend(audio);
                args.extend([
                    "-c:v", "libx264", "-bf", "0", "-g", "25", "-b:v", "300k", "-c:a", "aac",
                    "-ac", "1", "-b:a", "64k",
                ]);
            }
            Clip::H264G711 => {
                args.extend(audio);
                args.extend([
                    "-c:v",
                    "libx264",
                    "-bf",
                    "0",
                    "-g",
                    "25",
                    "-b:v",
                    "800k",
                    "-c:a",
                    "pcm_mulaw",
                    "-ar",
                    "8000",
                    "-ac",
                    "1",
                ]);
            }
        }
        args
    }

    /// The clip's path, encoding it first if it is not cached yet.
    pub fn path(self) -> PathBuf {
        // Tests of one binary run in parallel threads: one encodes, the others wait for it.
        static ENCODING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = ENCODING.lock().unwrap_or_else(|e| e.into_inner());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/conformance-clips");
        std::fs::create_dir_all(&dir).expect("create clip cache dir");
        let path = dir.join(self.file_name());
        if path.exists() {
            return path;
        }
        let tmp = dir.join(format!(
            "{}.{}.tmp.mkv",
            self.file_name(),
            std::process::id()
        ));
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(self.encode_args())
            .arg(&tmp)
            .status()
            .expect("run ffmpeg to encode a test clip");
        assert!(status.success(), "ffmpeg failed to encode {self:?}");
        std::fs::rename(&tmp, &path).expect("move clip into cache");
        path
    }

    /// Starts ffmpeg publishing this clip in real time to `url` over RTSP with `transport`, with
    /// the arguments of [`Clip::publish_args`]; killed on drop.
    pub fn publish(self, url: &str, transport: &str) -> Background {
        let args = self.publish_args(url, transport);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        Background::start("ffmpeg", &argv)
    }

    /// ffmpeg arguments that publish this clip in real time to `url` over RTSP with `transport`
    /// (`tcp` or `udp`), copying the encoded streams.
    pub fn publish_args(self, url: &str, transport: &str) -> Vec<String> {
        let path = self.path();
        [
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([path.display().to_string()])
        .chain(
            [
                "-c",
                "copy",
                "-f",
                "rtsp",
                "-rtsp_transport",
                transport,
                url,
            ]
            .iter()
            .map(|s| s.to_string()),
        )
        .collect()
    }
}
