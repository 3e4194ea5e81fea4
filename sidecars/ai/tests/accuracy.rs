//! The accuracy goals on held-out generated clips: at least 95 % of passes give exactly
//! the right plate, and fewer than 1 false plate per camera-hour on clips without plates.
//!
//! `clips/make_clips.py` renders clips at its defaults (1280x720, 25 fps, a keyframe every 25
//! frames, 8 s with two cars crossing in 3 s each, both plate formats, seven fonts, rotation,
//! perspective, motion blur, 30 % night) and a plate-free street. Each clip's H.264 is taken out
//! of its MP4 by ffmpeg (`-f h264`, Annex B) and cut into keyframes in-process
//! (`eval::annexb_keyframes`, dated by frame number); `eval::run` puts them through the same
//! camera worker (sampler, decode), OCR worker (detection, recognition, `read_plate`) and
//! pipeline (voting, one event per pass) as `vigia-ai run`, and `accuracy::Score` scores the
//! detections against the generator's ground truth.
//!
//! Held-out seeds: 2000 (plates) and 2001 (no plates); nothing was tuned on them (the OCR and
//! plate rules were developed on seeds 1–99 and checked on 1000). The normal run renders
//! [`CLIPS`] clips and [`EMPTY_SECONDS`] s without plates (~75 s in a debug build, most of it
//! rendering and ONNX Runtime), asserts the plate-free goal and prints the pass figure; the
//! pass goal is not met yet (README, "Accuracy and cost"), so only
//! `full_held_out_set_meets_the_goals` asserts it (ignored, ~7 min: `cargo test -p vigia-ai
//! --release --test accuracy -- --ignored --nocapture`), on [`FULL_CLIPS`] clips and
//! [`FULL_EMPTY_SECONDS`] s, the README's figures. `RUST_LOG=vigia_ai::live=debug` shows the
//! text read on each picture.
//!
//! Needs ffmpeg with libx264, the clip generator's Python (scripts/install-deps.sh) and the OCR
//! models (`sidecars/ai/setup-models.sh`).

mod python;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use python::python;
use vigia_ai::accuracy::{ClipTruth, Score};
use vigia_ai::eval::{self, CameraClip, EvalResult};
use vigia_ai::ocr::{DET_SCALE, Ocr, models_dir};
use vigia_ai::pass::PassConfig;
use vigia_ai::sampler::SamplerConfig;

/// Clips with plates in the normal run (two passes each).
const CLIPS: usize = 4;
/// Seconds of plate-free street in the normal run.
const EMPTY_SECONDS: u32 = 40;
/// Clips with plates in the full held-out run.
const FULL_CLIPS: usize = 30;
/// Seconds of plate-free street in the full held-out run.
const FULL_EMPTY_SECONDS: u32 = 180;
/// Held-out seed of the clips with plates.
const SEED_PLATES: u32 = 2000;
/// Held-out seed of the plate-free clip.
const SEED_EMPTY: u32 = 2001;

/// The normal run: the plate-free goal is asserted; the pass figure is printed, and checked
/// against the goal only by [`full_held_out_set_meets_the_goals`] (it is not met yet).
#[test]
fn held_out_clips_run_through_the_live_path_and_give_no_false_plates() {
    let (plates, empty) = check(CLIPS, EMPTY_SECONDS, "accuracy");
    assert_eq!(plates.passes, 2 * CLIPS as u64, "every clip has two passes");
    assert_false_plate_goal(empty);
}

#[test]
#[ignore = "~5 min, and fails today: 62 % of passes right (goal 95 %); see the README"]
fn full_held_out_set_meets_the_goals() {
    let (plates, empty) = check(FULL_CLIPS, FULL_EMPTY_SECONDS, "accuracy-full");
    assert_goals(plates, empty);
}

/// A tool, not a check: the same run on a tuning seed (`VIGIA_AI_TUNE_SEED`, default 1, with
/// `VIGIA_AI_TUNE_CLIPS` clips, default 30), printing every pass and the figures, so work on
/// the OCR never looks at the held-out seeds.
#[test]
#[ignore = "a tuning tool: prints the figures of a tuning seed, asserts nothing"]
fn tuning_seed_figures() {
    let var = |k: &str, default: u32| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seed = var("VIGIA_AI_TUNE_SEED", 1);
    assert_ne!(seed, SEED_PLATES, "the held-out seed is not for tuning");
    let clips = var("VIGIA_AI_TUNE_CLIPS", 30) as usize;
    let det_percent = var("VIGIA_AI_TUNE_DET_PERCENT", (DET_SCALE * 100.0) as u32);
    let det_scale = f64::from(det_percent) / 100.0;
    run_seeds(clips, 20, "accuracy-tune", seed, seed + 1, det_scale, &[]);
}

/// The goals on the held-out cars as a licence-plate camera sees them: every car's shutter
/// 1/1000 s (`make_clips.py --exposure 0.025,0.025`, 1 px of motion blur) instead of the
/// generator's 0.2–0.6 of a frame (5–14 px). The same cars, plates, fonts and nights as the
/// held-out set (the shutter changes no other draw), so this and
/// [`full_held_out_set_meets_the_goals`] differ only in the blur. Met (59 of 60, README).
#[test]
#[ignore = "~4 min in release: the full held-out set, rendered at another shutter"]
fn full_held_out_set_at_an_lpr_shutter_meets_the_goals() {
    let (plates, empty) = held_out_set_at_shutter("0.025,0.025");
    assert_goals(plates, empty);
}

/// A tool, not a check: the full held-out set with every car's shutter drawn from
/// `VIGIA_AI_EXPOSURE` (`make_clips.py --exposure MIN,MAX`, default `0.1,0.1`: 1/250 s),
/// printing the figures. It tunes nothing: it says how much of the pass goal the blur accounts
/// for (README, "The motion blur is the whole gap").
#[test]
#[ignore = "a measuring tool (~4 min): prints the held-out figures at another shutter"]
fn held_out_set_at_another_shutter() {
    let exposure = std::env::var("VIGIA_AI_EXPOSURE").unwrap_or_else(|_| "0.1,0.1".into());
    held_out_set_at_shutter(&exposure);
}

/// The full held-out set rendered with `make_clips.py --exposure exposure`, run and printed.
fn held_out_set_at_shutter(exposure: &str) -> (Score, Score) {
    let name = format!("accuracy-shutter-{}", exposure.replace(',', "-"));
    run_seeds(
        FULL_CLIPS,
        FULL_EMPTY_SECONDS,
        &name,
        SEED_PLATES,
        SEED_EMPTY,
        DET_SCALE,
        &["--exposure", exposure],
    )
}

/// Both goals: fewer than 1 false plate per camera-hour without plates, and at least 95 % of
/// passes exactly right.
fn assert_goals(plates: Score, empty: Score) {
    assert_false_plate_goal(empty);
    assert!(
        plates.pass_accuracy() >= 0.95,
        "{} of {} passes gave exactly the right plate ({:.1} %, want >= 95 %): misread {}, \
         missed {}, duplicated {}",
        plates.correct,
        plates.passes,
        plates.pass_accuracy() * 100.0,
        plates.misread,
        plates.missed,
        plates.duplicated
    );
}

/// Fewer than 1 false plate per camera-hour of plate-free street.
fn assert_false_plate_goal(empty: Score) {
    assert!(
        empty.seconds > 0.0 && empty.false_plates_per_camera_hour() < 1.0,
        "{} false plates in {:.0} s of plate-free street",
        empty.false_plates,
        empty.seconds
    );
}

/// Renders `clips` clips and `empty_seconds` of plate-free street under `name`, runs them and
/// prints every pass and the figures; returns the scores of the clips with plates and of the
/// plate-free one.
fn check(clips: usize, empty_seconds: u32, name: &str) -> (Score, Score) {
    run_seeds(
        clips,
        empty_seconds,
        name,
        SEED_PLATES,
        SEED_EMPTY,
        DET_SCALE,
        &[],
    )
}

/// [`check`] on the seeds given, with `render_args` passed to the generator for both sets.
fn run_seeds(
    clips: usize,
    empty_seconds: u32,
    name: &str,
    seed_plates: u32,
    seed_empty: u32,
    det_scale: f64,
    render_args: &[&str],
) -> (Score, Score) {
    // RUST_LOG=vigia_ai::live=debug shows what the OCR read on each picture.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let ocr =
        Ocr::load(&models_dir(|k| std::env::var(k).ok()), 1).unwrap_or_else(|e| panic!("{e}"));
    let ocr = ocr.with_detection_scale(det_scale);
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{seed_plates}-{clips}"));
    let rendered = std::time::Instant::now();
    // The clips are a function of the seed and count: kept, and rendered when missing.
    if !out.join("done").exists() {
        let _ = std::fs::remove_dir_all(&out);
        render(&out.join("plates"), clips, seed_plates, render_args);
        let empty_secs = empty_seconds.to_string();
        let mut empty_args = vec!["--no-plates", "--seconds", &empty_secs];
        empty_args.extend_from_slice(render_args);
        render(&out.join("empty"), 1, seed_empty, &empty_args);
        std::fs::write(out.join("done"), b"").expect("marker written");
    }
    let render_s = rendered.elapsed().as_secs_f64();

    let start = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
    let mut truths = Vec::new();
    let mut cameras = Vec::new();
    for (dir, n) in [("plates", clips), ("empty", 1)] {
        for i in 0..n {
            let base = out.join(dir).join(format!("clip-{i:03}"));
            let truth: ClipTruth = serde_json::from_str(
                &std::fs::read_to_string(base.with_extension("json")).unwrap(),
            )
            .unwrap();
            let path = format!("{dir}-{i:03}");
            let keyframes = eval::annexb_keyframes(
                &path,
                &annexb(&base.with_extension("mp4")),
                start,
                truth.fps,
            );
            let want = truth.frames.div_ceil(25);
            assert_eq!(keyframes.len() as u64, want, "{path}: keyframes");
            cameras.push(CameraClip { path, keyframes });
            truths.push(truth);
        }
    }
    let result = eval::run(
        ocr,
        cameras,
        SamplerConfig::default(),
        PassConfig::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let (plates, empty) = score(&result, &truths, start);
    report(&result, plates, empty, render_s);
    (plates, empty)
}

/// `make_clips.py` into `out`.
fn render(out: &Path, clips: usize, seed: u32, extra: &[&str]) {
    let status = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("clips/make_clips.py"))
        .args(["--out", out.to_str().expect("utf-8 path")])
        .args(["--clips", &clips.to_string(), "--seed", &seed.to_string()])
        .args(extra)
        .status()
        .expect("python runs");
    assert!(status.success(), "make_clips.py failed: {status}");
}

/// The clip's H.264 as an Annex B elementary stream.
fn annexb(mp4: &PathBuf) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(mp4)
        .args([
            "-c:v",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The scores of the clips with plates and of the plate-free ones; prints every pass.
fn score(result: &EvalResult, truths: &[ClipTruth], start: DateTime<Utc>) -> (Score, Score) {
    let (mut plates, mut empty) = (Score::default(), Score::default());
    for (camera, truth) in result.cameras.iter().zip(truths) {
        let detections = eval::clip_detections(&camera.detections, start, truth.fps);
        let s = Score::clip(truth, &detections);
        let want: Vec<&str> = truth.plates.iter().map(|p| p.plate.as_str()).collect();
        let got: Vec<String> = detections
            .iter()
            .map(|d| format!("{}@{}", d.plate, d.frame))
            .collect();
        eprintln!(
            "{} want {want:?} got {got:?}: correct {} misread {} missed {} duplicated {} false {}",
            camera.path, s.correct, s.misread, s.missed, s.duplicated, s.false_plates
        );
        if truth.plates.is_empty() {
            empty = empty + s;
        } else {
            plates = plates + s;
        }
    }
    (plates, empty)
}

/// Prints the figures.
fn report(result: &EvalResult, plates: Score, empty: Score, render_s: f64) {
    let decoded: u64 = result.cameras.iter().map(|c| c.worker.decoded).sum();
    let decode_ms: f64 = result.cameras.iter().map(|c| c.worker.decode_ms).sum();
    let n = result.ocr.pictures.max(1) as f64;
    eprintln!(
        "passes {}: correct {} ({:.1} %), misread {}, missed {}, duplicated {}; false plates on \
         plate clips {} in {:.0} s; plate-free: {} false plates in {:.0} s ({:.1} per camera-hour)",
        plates.passes,
        plates.correct,
        plates.pass_accuracy() * 100.0,
        plates.misread,
        plates.missed,
        plates.duplicated,
        plates.false_plates,
        plates.seconds,
        empty.false_plates,
        empty.seconds,
        empty.false_plates_per_camera_hour()
    );
    eprintln!(
        "keyframes decoded {decoded} (mean {:.1} ms), pictures read {} (mean detection {:.0} ms, \
         recognition {:.0} ms); rendering {render_s:.0} s, run {:.0} s",
        decode_ms / decoded.max(1) as f64,
        result.ocr.pictures,
        result.ocr.det_ms / n,
        result.ocr.rec_ms / n,
        result.seconds
    );
}
