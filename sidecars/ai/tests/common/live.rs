//! Helpers of the tests that run `vigia-ai run` on a real `vigia`: a rendered street clip
//! published into it by ffmpeg, log searches. Include it with
//! `#[path = "common/live.rs"] mod live_setup;` (it needs no other test module).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process killed on drop (ffmpeg publishers, vigia-ai).
pub(crate) struct Killed(pub(crate) Child);

impl Killed {
    /// Sends SIGTERM and waits (40 s at most, else panics) for the process to exit.
    pub(crate) async fn terminate(&mut self) -> ExitStatus {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().expect("wait for the child") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "pid {pid} ignores SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Renders, with the clip generator's `python`, one 10 s daytime clip with a car crossing in
/// 8 s and a keyframe every 12 frames; returns the clip and its plate.
pub(crate) fn render(python: &Path, out: &Path) -> (PathBuf, String) {
    let _ = std::fs::remove_dir_all(out);
    let status = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("clips/make_clips.py"))
        .args(["--out", out.to_str().expect("utf-8 path")])
        .args(["--clips", "1", "--seed", "1000", "--night", "0"])
        .args(["--seconds", "10", "--cross-seconds", "8", "--gop", "12"])
        .status()
        .expect("python runs");
    assert!(status.success(), "make_clips.py failed: {status}");
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("clip-000.json")).unwrap()).unwrap();
    let plate = truth["plates"][0]["plate"].as_str().unwrap().to_owned();
    (out.join("clip-000.mp4"), plate)
}

/// ffmpeg publishing `input` (arguments before the output) to `rtsp://127.0.0.1:<port>/<path>`.
pub(crate) fn publish(input: &[&str], port: u16, path: &str) -> Killed {
    let child = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(input)
        .args(["-f", "rtsp", "-rtsp_transport", "tcp"])
        .arg(format!("rtsp://127.0.0.1:{port}/{path}"))
        .stdin(Stdio::null())
        .spawn()
        .expect("ffmpeg runs");
    Killed(child)
}

/// ffmpeg publishing the clip looped, as it is (`-re`, copied).
pub(crate) fn publish_looped(clip: &Path, port: u16, path: &str) -> Killed {
    let clip = clip.to_str().expect("utf-8 path");
    publish(
        &["-re", "-stream_loop", "-1", "-i", clip, "-c", "copy"],
        port,
        path,
    )
}

/// How many lines of `log` contain every one of `needles`.
pub(crate) fn lines_with(log: &str, needles: &[&str]) -> usize {
    log.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}
