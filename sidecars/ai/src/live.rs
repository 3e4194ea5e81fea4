//! The live path's workers, between the stream readers ([`crate::stream`]) and the pipeline
//! ([`crate::pipeline`]), which the binary's `run` command drives:
//!
//! ```text
//! per camera: stream::run ──keyframes (bounded 2)──▶ camera_worker ──sampled pictures──▶ ┐
//!   (tokio task, drops when full)            (thread: sampler, decode)  (rendezvous)    │
//!                                                                                        ▼
//!                 pipeline (the binary's loop) ◀──plate reads── ocr_worker (one thread per process)
//! ```
//!
//! - **Camera worker** (a thread per camera): asks the camera's [`KeyframeSampler`] whether a
//!   keyframe is due (at most 2 a second) before decoding it, decodes it ([`KeyframeDecoder`]),
//!   and offers its luma thumbnail; a picture worth reading waits for the OCR thread. While it
//!   waits its keyframe channel fills and the reader drops keyframes (counted), so what is read
//!   is at most a keyframe or two old.
//! - **OCR worker** (one thread): ONNX Runtime already uses the cores for one frame, so frames
//!   are read one at a time in the process; cameras queue for it in turn. Each line of text
//!   that [`read_plate`] accepts becomes an [`OcrRead`] (camera, text, confidence, the frame's
//!   wall-clock time and keyframe index); the pipeline applies the plate rules again, votes and
//!   reports.
//!
//! Each worker has an `*_observed` form that tells an [`Observer`] about every keyframe (read,
//! skipped, dropped by the reader: the gaps in its keyframe numbers, corrupt) and every stage's
//! time, for the binary's metrics.
//!
//! Decode errors (a corrupt keyframe) are logged and the keyframe skipped; the first and every
//! hundredth are logged, not each. Both workers log their mean stage times every
//! [`FIGURES_EVERY`] pictures at `info`, and each picture's at `debug`.

use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::decode::{KeyframeDecoder, Picture};
use crate::ocr::{BBox, Ocr, TextRead};
use crate::pipeline::OcrRead;
use crate::plate::read_plate;
use crate::sampler::{Decision, KeyframeSampler, SamplerConfig};
use crate::snapshot::{Jpeg, plate_snapshot};
use crate::stream::Keyframe;

/// Pictures between two figure lines of a worker.
pub const FIGURES_EVERY: u64 = 20;

/// A decoded keyframe the sampler chose to read.
#[derive(Debug)]
pub struct Sampled {
    /// The Vigia path.
    pub path: String,
    /// The keyframe's index.
    pub index: u64,
    /// The frame's wall-clock time.
    pub at: DateTime<Utc>,
    /// The picture.
    pub picture: Picture,
    /// The part of it to read (where the scene changed), or None for all of it.
    pub region: Option<BBox>,
}

/// What became of a keyframe, for an [`Observer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeOutcome {
    /// Decoded and sent to the OCR thread.
    Sampled,
    /// Not read: too soon after the last one, or a static scene.
    Skipped,
    /// Not decodable.
    Corrupt,
    /// This many keyframes the reader dropped before this one (its channel was full).
    Dropped(u64),
}

/// A timed stage of the live path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// H.264 keyframe to picture.
    Decode,
    /// OCR text detection.
    Detect,
    /// OCR text recognition.
    Recognize,
}

impl Stage {
    /// The stage's name in metrics: `decode`, `detect`, `recognize`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Detect => "detect",
            Stage::Recognize => "recognize",
        }
    }
}

/// Told about each keyframe and stage by the workers (called on their threads; keep it cheap).
pub trait Observer: Send + Sync {
    /// A keyframe of `path` came to its worker (every outcome but `Dropped` means the camera
    /// is sending).
    fn keyframe(&self, path: &str, outcome: KeyframeOutcome);
    /// A stage of a picture of `path` took `seconds`.
    fn stage(&self, path: &str, stage: Stage, seconds: f64);
}

/// An [`Observer`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn keyframe(&self, _: &str, _: KeyframeOutcome) {}
    fn stage(&self, _: &str, _: Stage, _: f64) {}
}

/// Counters of a camera worker.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CameraStats {
    /// Keyframes decoded.
    pub decoded: u64,
    /// Keyframes that did not decode.
    pub decode_errors: u64,
    /// Total decoding time, ms.
    pub decode_ms: f64,
}

/// A camera's worker loop (run it on a thread of its own): keyframes from `keyframes` are
/// sampled and decoded, and the pictures worth reading sent to `ocr` (waiting while the OCR
/// thread is busy). Returns when either channel closes.
pub fn camera_worker(
    path: String,
    keyframes: mpsc::Receiver<Keyframe>,
    sampler: SamplerConfig,
    ocr: std_mpsc::SyncSender<Sampled>,
) -> CameraStats {
    camera_worker_observed(path, keyframes, sampler, ocr, &NoObserver)
}

/// [`camera_worker`], telling `observer` about each keyframe and decode.
pub fn camera_worker_observed(
    path: String,
    mut keyframes: mpsc::Receiver<Keyframe>,
    sampler: SamplerConfig,
    ocr: std_mpsc::SyncSender<Sampled>,
    observer: &dyn Observer,
) -> CameraStats {
    let mut sampler = KeyframeSampler::new(sampler);
    let mut decoder = KeyframeDecoder::new();
    let mut stats = CameraStats::default();
    let mut last_index: Option<u64> = None;
    while let Some(k) = keyframes.blocking_recv() {
        if let Some(gap) = last_index.and_then(|l| k.index.checked_sub(l + 1))
            && gap > 0
        {
            observer.keyframe(&path, KeyframeOutcome::Dropped(gap));
        }
        last_index = Some(k.index);
        if !sampler.due(k.at) {
            observer.keyframe(&path, KeyframeOutcome::Skipped);
            continue;
        }
        let started = Instant::now();
        let picture = match decoder.decode(&k.path, k.index, &k.data) {
            Ok(p) => p,
            Err(e) => {
                observer.keyframe(&path, KeyframeOutcome::Corrupt);
                stats.decode_errors += 1;
                if stats.decode_errors % 100 == 1 {
                    tracing::warn!(path = %path, errors = stats.decode_errors, error = %e, "keyframe not decoded; skipped");
                }
                continue;
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1e3;
        observer.stage(&path, Stage::Decode, ms / 1e3);
        stats.decoded += 1;
        stats.decode_ms += ms;
        let Ok(thumb) = picture.thumbnail() else {
            continue;
        };
        let decision = sampler.offer(k.at, thumb);
        tracing::debug!(path = %path, index = k.index, decode_ms = ms, ?decision, "keyframe decoded");
        if stats.decoded.is_multiple_of(FIGURES_EVERY) {
            let s = sampler.stats();
            tracing::info!(
                path = %path,
                decoded = stats.decoded,
                mean_decode_ms = stats.decode_ms / stats.decoded as f64,
                too_soon = s.too_soon,
                static_skipped = s.static_skipped,
                processed = s.processed,
                "camera figures"
            );
        }
        let Decision::Process(cells) = decision else {
            observer.keyframe(&path, KeyframeOutcome::Skipped);
            continue;
        };
        observer.keyframe(&path, KeyframeOutcome::Sampled);
        let region = cells.map(|c| {
            let (x0, y0, x1, y1) = c.pixels(picture.width, picture.height);
            let px = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
            BBox {
                x0: px(x0),
                y0: px(y0),
                x1: px(x1),
                y1: px(y1),
            }
        });
        let sampled = Sampled {
            path: k.path,
            index: k.index,
            at: k.at,
            picture,
            region,
        };
        if ocr.send(sampled).is_err() {
            break;
        }
    }
    stats
}

/// Counters of the OCR worker.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OcrStats {
    /// Pictures read.
    pub pictures: u64,
    /// Pictures the OCR stage failed on.
    pub errors: u64,
    /// Plate reads sent on.
    pub plates: u64,
    /// Total detection time, ms.
    pub det_ms: f64,
    /// Total recognition time, ms.
    pub rec_ms: f64,
    /// Total time making the plate reads' JPEG crops, ms.
    pub snapshot_ms: f64,
    /// Plate reads sent without a JPEG crop (the encoder failed).
    pub snapshot_errors: u64,
}

/// The OCR worker loop (run it on a thread of its own): reads each picture from `pictures`
/// with `ocr` and sends its plate reads to `reads`. Returns when either channel closes.
pub fn ocr_worker(
    ocr: Ocr,
    pictures: std_mpsc::Receiver<Sampled>,
    reads: mpsc::UnboundedSender<OcrRead>,
) -> OcrStats {
    ocr_worker_observed(ocr, pictures, reads, &NoObserver)
}

/// [`ocr_worker`], telling `observer` each picture's detection and recognition times.
pub fn ocr_worker_observed(
    ocr: Ocr,
    pictures: std_mpsc::Receiver<Sampled>,
    reads: mpsc::UnboundedSender<OcrRead>,
    observer: &dyn Observer,
) -> OcrStats {
    let mut stats = OcrStats::default();
    for s in pictures {
        let result = s.picture.rgb_frame().and_then(|frame| {
            let region = s.region.unwrap_or(frame.full());
            ocr.read_region_deblurring_timed(&frame, region, plate_text)
        });
        let (lines, t) = match result {
            Ok(r) => r,
            Err(e) => {
                stats.errors += 1;
                tracing::warn!(path = %s.path, index = s.index, error = %e, "OCR failed on a picture");
                continue;
            }
        };
        stats.pictures += 1;
        observer.stage(&s.path, Stage::Detect, t.det_ms / 1e3);
        observer.stage(&s.path, Stage::Recognize, t.rec_ms / 1e3);
        stats.det_ms += t.det_ms;
        stats.rec_ms += t.rec_ms;
        // The lines are described only when debug is on (tracing evaluates fields lazily).
        tracing::debug!(path = %s.path, index = s.index, det_ms = t.det_ms, rec_ms = t.rec_ms, boxes = t.boxes, region = ?s.region, texts = ?lines.iter().map(describe_line).collect::<Vec<_>>(), "picture read");
        for line in &lines {
            let Some((text, confidence)) = plate_text(line) else {
                continue;
            };
            stats.plates += 1;
            let snapshot = snapshot_of(&s, line.bbox, &mut stats);
            let read = OcrRead {
                camera_id: s.path.clone(),
                text,
                confidence: f64::from(confidence),
                at: s.at,
                frame: s.index,
                snapshot,
                bounding_box: line.bbox.to_contract(),
            };
            if reads.send(read).is_err() {
                return stats;
            }
        }
        if stats.pictures.is_multiple_of(FIGURES_EVERY) {
            let n = stats.pictures as f64;
            tracing::info!(
                pictures = stats.pictures,
                plates = stats.plates,
                mean_det_ms = stats.det_ms / n,
                mean_rec_ms = stats.rec_ms / n,
                mean_snapshot_ms = stats.snapshot_ms / stats.plates.max(1) as f64,
                "OCR figures"
            );
        }
    }
    stats
}

/// The least probability every character of a plate spelt by the constrained decoding
/// ([`TextRead::plate`]) must have for it to count as a read, when the greedy text is not a
/// plate.
pub const PLATE_PATH_MIN: f32 = 0.3;

/// A line's plate text and confidence: the text as read when [`read_plate`] takes it, else the
/// plate its recognition can spell when no character of that is below [`PLATE_PATH_MIN`].
fn plate_text(line: &TextRead) -> Option<(String, f32)> {
    if let Ok(read) = read_plate(&line.text) {
        if line.format.is_none_or(|f| f == read.format) {
            return Some((line.text.clone(), line.confidence));
        }
        // A plate as read, but its colours say the other format: the recogniser's best plate
        // of that format (it differs in the 5th character).
        return line.plate.as_ref().map(|p| (p.text.clone(), p.mean));
    }
    let plate = line.plate.as_ref().filter(|p| p.min >= PLATE_PATH_MIN)?;
    Some((plate.text.clone(), plate.mean))
}

/// A line for the debug log: its text, box size, and the constrained plate with its weakest
/// character's probability.
fn describe_line(l: &TextRead) -> String {
    let plate = l
        .plate
        .as_ref()
        .map(|p| format!(" ~{} min {:.2}", p.text, p.min))
        .unwrap_or_default();
    format!(
        "{:?} {:.2} {}x{}{plate}",
        l.text,
        l.confidence,
        l.bbox.width(),
        l.bbox.height()
    )
}

/// The JPEG crop around `text` in `s`'s picture, counted and timed in `stats`; a failure is
/// logged (the first and every hundredth) and the read goes on without one.
fn snapshot_of(s: &Sampled, text: BBox, stats: &mut OcrStats) -> Option<Jpeg> {
    let started = Instant::now();
    let jpeg = plate_snapshot(&s.picture, text);
    stats.snapshot_ms += started.elapsed().as_secs_f64() * 1e3;
    match jpeg {
        Ok(jpeg) => Some(jpeg),
        Err(e) => {
            stats.snapshot_errors += 1;
            if stats.snapshot_errors % 100 == 1 {
                tracing::warn!(path = %s.path, index = s.index, errors = stats.snapshot_errors, error = %e, "no snapshot for a plate read");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::decode::tests::lavfi_keyframe;
    use crate::plate::PlateFormat;
    use crate::stream::clock::ClockSource;

    fn line(text: &str, plate: Option<(&str, f32)>) -> TextRead {
        TextRead {
            text: text.into(),
            confidence: 0.8,
            bbox: BBox {
                x0: 0,
                y0: 0,
                x1: 150,
                y1: 50,
            },
            format: None,
            plate: plate.map(|(t, min)| crate::ocr::PlatePath {
                text: t.into(),
                mean: 0.7,
                min,
            }),
        }
    }

    #[test]
    fn a_line_is_a_plate_as_read_or_as_spelt_when_every_character_is_likely() {
        // Read as a plate: taken as read, the constrained spelling is not needed.
        let plate = plate_text(&line("ABC-1D23", Some(("ABC1D23", 0.1))));
        assert_eq!(plate, Some(("ABC-1D23".into(), 0.8)));
        // Not a plate as read ("AB1234": two As ran together), spelt with confidence.
        let plate = plate_text(&line("AB1234", Some(("AAB1234", 0.45))));
        assert_eq!(plate, Some(("AAB1234".into(), 0.7)));
        // A sign forced into the grammar: a character below the gate.
        assert_eq!(plate_text(&line("DEVAGAR", Some(("DEV4G4R", 0.01)))), None);
        assert_eq!(plate_text(&line("PARE", None)), None);
    }

    #[test]
    fn a_plate_read_in_the_format_its_colours_deny_is_spelt_in_theirs() {
        let mercosul = |text, spelt| TextRead {
            format: Some(PlateFormat::Mercosul),
            ..line(text, Some((spelt, 0.1)))
        };
        // Read as an old plate (`0` in the 5th position) on a blue-banded plate.
        let plate = plate_text(&mercosul("VMO4013", "VMO4Q13"));
        assert_eq!(plate, Some(("VMO4Q13".into(), 0.7)));
        // Read as a Mercosul plate: taken as read.
        let plate = plate_text(&mercosul("VMO4Q13", "VMO4Q13"));
        assert_eq!(plate, Some(("VMO4Q13".into(), 0.8)));
    }

    #[test]
    fn the_camera_worker_samples_decodes_and_skips_bad_keyframes() {
        let pattern = lavfi_keyframe("testsrc2=size=640x360:rate=25");
        let grey = lavfi_keyframe("color=c=gray:size=640x360:rate=25");
        let t0 = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
        // (ms after t0, data): what becomes of each is in `want` below.
        let input = [
            (0, &pattern[..]),
            (200, &grey[..]),     // too soon: not decoded
            (600, &pattern[..]),  // the same scene: static
            (1200, &b"junk"[..]), // corrupt: skipped
            (1800, &grey[..]),    // changed: read
        ];
        let (tx, rx) = mpsc::channel(input.len());
        for (i, (ms, data)) in input.iter().enumerate() {
            tx.try_send(Keyframe {
                path: "cam1".into(),
                index: i as u64,
                at: t0 + TimeDelta::milliseconds(*ms),
                clock: ClockSource::Arrival,
                data: data.to_vec(),
            })
            .unwrap();
        }
        drop(tx);
        let (ocr_tx, ocr_rx) = std_mpsc::sync_channel(input.len());
        let stats = camera_worker("cam1".into(), rx, SamplerConfig::default(), ocr_tx);
        let read: Vec<(u64, usize)> = ocr_rx.iter().map(|s| (s.index, s.picture.width)).collect();
        assert_eq!(read, [(0, 640), (4, 640)]);
        assert_eq!((stats.decoded, stats.decode_errors), (3, 1));
    }

    /// Records what it is told.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<String>>);

    impl Observer for Recorder {
        fn keyframe(&self, path: &str, outcome: KeyframeOutcome) {
            self.0.lock().unwrap().push(format!("{path} {outcome:?}"));
        }
        fn stage(&self, path: &str, stage: Stage, seconds: f64) {
            assert!(seconds >= 0.0);
            self.0
                .lock()
                .unwrap()
                .push(format!("{path} {}", stage.as_str()));
        }
    }

    #[test]
    fn the_observer_hears_of_each_keyframe_and_the_gaps_the_reader_dropped() {
        let pattern = lavfi_keyframe("testsrc2=size=640x360:rate=25");
        let t0 = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
        // Keyframes 0, 3 (1 and 2 dropped by the reader) and 4 (too soon after 3).
        let input = [(0, 0), (3, 1000), (4, 1100)];
        let (tx, rx) = mpsc::channel(input.len());
        for (index, ms) in input {
            tx.try_send(Keyframe {
                path: "cam1".into(),
                index,
                at: t0 + TimeDelta::milliseconds(ms),
                clock: ClockSource::Arrival,
                data: pattern.clone(),
            })
            .unwrap();
        }
        drop(tx);
        let (ocr_tx, _ocr_rx) = std_mpsc::sync_channel(input.len());
        let recorder = Recorder::default();
        camera_worker_observed(
            "cam1".into(),
            rx,
            SamplerConfig::default(),
            ocr_tx,
            &recorder,
        );
        let heard = recorder.0.into_inner().unwrap();
        let want = [
            "cam1 decode",
            "cam1 Sampled",
            "cam1 Dropped(2)",
            "cam1 decode",
            "cam1 Skipped", // the same picture: a static scene
            "cam1 Skipped", // too soon
        ];
        assert_eq!(heard, want);
    }
}
