//! The test-footage generator (`clips/make_clips.py`) makes a tiny clip for real: H.264 that
//! ffprobe reads with the promised frame rate, keyframe interval and no B-frames, and a ground
//! truth whose plates are valid, in the format it says, and inside the picture.

mod python;

use std::path::Path;
use std::process::Command;

use python::python;
use serde_json::Value;
use vigia_ai::plate::{PlateFormat, read_plate};

/// The generator, writing into `out`, with `args`.
fn generator(out: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(python());
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("clips/make_clips.py"))
        .args(["--out", out.to_str().unwrap()])
        .args(args);
    command
}

/// Runs the generator into `out` with `extra` arguments; returns the first clip's ground truth.
fn make_clip(out: &Path, extra: &[&str]) -> Value {
    let status = generator(out, &["--clips", "1", "--seconds", "1.2"])
        .args(["--cross-seconds", "1", "--size", "640x360"])
        .args(extra)
        .status()
        .expect("python runs");
    assert!(status.success(), "make_clips.py failed: {status}");
    let text = std::fs::read_to_string(out.join("clip-000.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// ffprobe's answer for the clip's video stream, as `key=value` lines.
fn probe(clip: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            entries,
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(clip)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check_video(clip: &Path) {
    let stream = probe(
        clip,
        "stream=codec_name,width,height,r_frame_rate,nb_frames,has_b_frames",
    );
    for want in [
        "codec_name=h264",
        "width=640",
        "height=360",
        "r_frame_rate=25/1",
        "nb_frames=30",
        "has_b_frames=0",
    ] {
        assert!(stream.lines().any(|l| l == want), "{want} not in\n{stream}");
    }
    let frames = probe(clip, "frame=key_frame");
    let keys: Vec<usize> = frames
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "key_frame=1")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keys, vec![0, 25], "a keyframe every 25 frames");
}

fn check_plate(truth: &Value, plate: &Value) {
    let printed = plate["printed"].as_str().unwrap();
    let read = read_plate(printed).unwrap();
    assert_eq!(read.plate.as_str(), plate["plate"].as_str().unwrap());
    assert_eq!(read.fixes, 0, "{printed} is printed as a valid plate");
    let format = match read.format {
        PlateFormat::Mercosul => "mercosul",
        PlateFormat::Old => "old",
    };
    assert_eq!(plate["format"], format);
    assert_eq!(
        printed.contains('-'),
        format == "old",
        "old plates print a dash"
    );
    let (first, last) = (
        plate["firstFrame"].as_u64().unwrap(),
        plate["lastFrame"].as_u64().unwrap(),
    );
    assert!(first <= last && last < truth["frames"].as_u64().unwrap());
    for k in plate["keyframeBoxes"].as_array().unwrap() {
        let frame = k["frame"].as_u64().unwrap();
        assert!(frame % 25 == 0 && (first..=last).contains(&frame), "{k}");
        let b: Vec<u64> = k["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(
            b[0] < b[2] && b[2] <= 640 && b[1] < b[3] && b[3] <= 360,
            "{k}"
        );
    }
}

#[test]
fn generator_makes_camera_like_h264_with_ground_truth() {
    let dir = std::env::temp_dir().join(format!("vigia-ai-clips-{}", std::process::id()));
    let truth = make_clip(&dir.join("plates"), &["--seed", "5", "--night", "1"]);
    assert_eq!(
        (truth["frames"].as_u64(), truth["fps"].as_u64()),
        (Some(30), Some(25))
    );
    assert_eq!(truth["night"], true);
    let plates = truth["plates"].as_array().unwrap();
    assert_eq!(plates.len(), 1, "{truth:#}");
    check_plate(&truth, &plates[0]);
    // The scorer reads the same file.
    let scored: vigia_ai::accuracy::ClipTruth = serde_json::from_value(truth.clone()).unwrap();
    assert_eq!(scored.plates[0].plate.as_str(), plates[0]["plate"]);
    check_video(&dir.join("plates/clip-000.mp4"));

    let empty = make_clip(&dir.join("none"), &["--seed", "5", "--no-plates"]);
    assert_eq!(empty["plates"], Value::Array(vec![]));
    assert_eq!(empty["noPlates"], true);
    check_video(&dir.join("none/clip-000.mp4"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn same_seed_same_plates_other_seed_other_plates() {
    let dir = std::env::temp_dir().join(format!("vigia-ai-clips-seed-{}", std::process::id()));
    let plate = |sub: &str, seed: &str| {
        let t = make_clip(&dir.join(sub), &["--seed", seed, "--night", "0"]);
        t["plates"][0]["plate"].as_str().map(str::to_owned)
    };
    let a = plate("a", "11");
    assert!(a.is_some());
    assert_eq!(plate("b", "11"), a);
    assert_ne!(plate("c", "12"), a);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exposure_sets_the_blur_and_leaves_the_plates_alone() {
    let dir = std::env::temp_dir().join(format!("vigia-ai-clips-exp-{}", std::process::id()));
    let first = |sub: &str, exposure: &str| {
        let t = make_clip(
            &dir.join(sub),
            &["--seed", "11", "--night", "0", "--exposure", exposure],
        );
        let plate = &t["plates"][0];
        (plate["plate"].clone(), plate["blurPx"].as_u64().unwrap())
    };
    // A car crosses 640 px plus its own width in 25 frames: ~35 px a frame.
    let (short_plate, short_blur) = first("short", "0.025,0.025");
    let (long_plate, long_blur) = first("long", "0.5,0.5");
    assert_eq!(short_plate, long_plate, "the shutter changes no other draw");
    assert_eq!(short_blur, 1, "1/1000 s at 25 fps blurs by under a pixel");
    assert!(
        (15..=20).contains(&long_blur),
        "half a frame: {long_blur} px"
    );

    for bad in ["0.6,0.2", "0.3", "a,b", "0.5,1.5"] {
        let out = generator(&dir.join("bad"), &["--exposure", bad])
            .output()
            .expect("python runs");
        assert!(!out.status.success(), "--exposure {bad} was taken");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--exposure needs MIN,MAX"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
