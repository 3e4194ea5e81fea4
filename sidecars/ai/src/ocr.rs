//! Text in a decoded frame: PP-OCRv4 detection and recognition on ONNX Runtime (`ort`,
//! `load-dynamic`).
//!
//! The runtime library (`libonnxruntime.so.*` from the `onnxruntime` PyPI wheel) and the two
//! models (`ch_PP-OCRv4_det_infer.onnx`, `ch_PP-OCRv4_rec_infer.onnx` from the
//! `rapidocr-onnxruntime` wheel, Apache-2.0, as `sidecars/ai/fold_models.py` rewrites them into
//! fewer operators: [`DET_MODEL`], [`REC_MODEL`]) are read from one directory that
//! `sidecars/ai/setup-models.sh` fills; nothing is downloaded at run time, and a missing file is
//! an error naming it and that command.
//!
//! [`Ocr::read`] runs detection on the frame (or, [`Ocr::read_region_timed`], the part of it
//! that changed) scaled to a long side of at most 960 pixels and then by [`DET_SCALE`], turns
//! the probability map into axis-aligned boxes (`ocr/det.rs`), crops each box from the full-size
//! frame and recognises it at height 48 with greedy CTC decoding (`ocr/rec.rs`) and with
//! decoding constrained to a plate's seven characters (`ocr/plate_ctc.rs`), held to the format
//! the plate's colours say (`ocr/colour.rs`). [`Ocr::read_region_deblurring_timed`] then looks
//! again, deblurred along the motion (`ocr/deblur.rs`): at each plate read (a second read to
//! vote with), or, when no line is a plate, at the faint boxes of the same detection and the
//! lower band of the region. The pre- and
//! post-processing are pure functions tested without the models; `tests/ocr.rs` runs the models
//! on rendered plates. Unlike the rest of the crate this module reads the clock, only to report
//! how long each stage took ([`OcrTimings`]).
//!
//! One ONNX Runtime environment serves the process (ONNX Runtime allows one): the first
//! [`Ocr::load`] loads the library from its directory and later ones reuse it. Sessions are
//! behind a mutex each (`ort` runs a session through `&mut`), so one `Ocr` shared by several
//! cameras' tasks runs one frame at a time per stage.

mod colour;
mod deblur;
mod det;
mod plate_ctc;
mod rec;
mod resize;

pub use plate_ctc::PlatePath;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use vigia_events::PlateFormat;

use crate::pass::{MAX_GROUP_DISTANCE, distance};
use crate::plate::read_plate;

/// The ONNX Runtime library `setup-models.sh` extracts; its version matches `ort`'s `api-31`.
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";
/// The PP-OCRv4 detection model as the wheel ships it.
pub const DET_SOURCE_MODEL: &str = "ch_PP-OCRv4_det_infer.onnx";
/// The PP-OCRv4 recognition model as the wheel ships it (its character list is in its
/// `character` metadata).
pub const REC_SOURCE_MODEL: &str = "ch_PP-OCRv4_rec_infer.onnx";
/// The detection model vigia-ai runs: [`DET_SOURCE_MODEL`] folded by `fold_models.py` (the same
/// function in fewer operators: ~20 % less time a run, outputs equal to ~1e-6).
pub const DET_MODEL: &str = "ch_PP-OCRv4_det_infer.folded.onnx";
/// The recognition model vigia-ai runs: [`REC_SOURCE_MODEL`] folded likewise (~25 % less time a
/// run), its metadata kept.
pub const REC_MODEL: &str = "ch_PP-OCRv4_rec_infer.folded.onnx";
/// The command that fetches the three files and writes the folded models.
pub const SETUP_COMMAND: &str = "sidecars/ai/setup-models.sh";
/// Detection input's long side limit, in pixels.
pub const DET_LIMIT: usize = 960;
/// Detection looks at the picture (or region) at half its resolution (after [`DET_LIMIT`]): a
/// plate's characters are 20–40 pixels tall in a 720p street camera, 10–20 at half, which the
/// model still finds; a quarter of the pixels costs a quarter of the time (tuning seed 1, 20
/// clips: detection 84 → 22 ms a picture, recognition 42 → 14 ms as fewer specks are boxed,
/// passes right 14 → 13 of 40).
pub const DET_SCALE: f64 = 0.5;
/// Detection's picture is squeezed sideways by this much more than [`DET_SCALE`]. A car's
/// motion blurs its plate along the road, 5–14 px at 720p for a car crossing in 3 s; squeezed,
/// the smear is shorter in the model's pixels while the characters stay tall enough, and the
/// model finds more blurred plates (tuning seeds 1 and 5, 100 passes: 37 → 41 passes right;
/// passes with no box at all on any keyframe were mostly 10–14 px of blur). Recognition's crop
/// is not squeezed: condensed, sharp plates' `I`, `J` and `T` ran together (`tests/ocr.rs`'s
/// stills: 6 of 10 read with the crop at 0.8 of its width).
pub const DET_SQUEEZE: f64 = 0.7;

/// The models directory from the environment: `VIGIA_AI_MODELS`, else `$VIGIA_TOOLS/ai`, else
/// `$HOME/.cache/vigia-tools/ai` (where `setup-models.sh` puts them by default).
pub fn models_dir(var: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = var("VIGIA_AI_MODELS").filter(|v| !v.is_empty()) {
        return dir.into();
    }
    let tools = var("VIGIA_TOOLS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&var("HOME").unwrap_or_default()).join(".cache/vigia-tools"));
    tools.join("ai")
}

/// Why the OCR stage cannot load or run. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcrError {
    /// A file the OCR stage needs is not there.
    #[error("{}: missing; run {SETUP_COMMAND} (or set VIGIA_AI_MODELS to where it put them)", path.display())]
    MissingFile {
        /// The file looked for.
        path: PathBuf,
    },
    /// ONNX Runtime failed: loading the library or a model, or running one.
    #[error("{what}: {cause}")]
    Runtime {
        /// What was being done, naming the file or the stage.
        what: String,
        /// ONNX Runtime's message.
        cause: String,
    },
    /// A frame whose buffer does not hold `width` x `height` pixels of its format.
    #[error("frame {width}x{height} {format:?} needs {needed} bytes, has {len}")]
    BadFrame {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Pixel format.
        format: PixelFormat,
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        len: usize,
    },
}

/// How a frame's pixels are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// One byte per pixel (luma: what a decoder's Y plane gives).
    Gray,
    /// Three bytes per pixel, R, G, B.
    Rgb,
}

/// A borrowed frame: `width` x `height` pixels, rows top down, no padding between rows.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    width: usize,
    height: usize,
    format: PixelFormat,
    data: &'a [u8],
}

impl<'a> Frame<'a> {
    /// A view of `data`, checked to hold exactly `width` x `height` pixels of `format`.
    pub fn new(
        width: usize,
        height: usize,
        format: PixelFormat,
        data: &'a [u8],
    ) -> Result<Frame<'a>, OcrError> {
        let per_pixel = match format {
            PixelFormat::Gray => 1,
            PixelFormat::Rgb => 3,
        };
        let needed = width * height * per_pixel;
        if data.len() != needed || width == 0 || height == 0 {
            let len = data.len();
            return Err(OcrError::BadFrame {
                width,
                height,
                format,
                needed,
                len,
            });
        }
        Ok(Frame {
            width,
            height,
            format,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The whole frame as a box.
    pub fn full(&self) -> BBox {
        BBox {
            x0: 0,
            y0: 0,
            x1: self.width as u32,
            y1: self.height as u32,
        }
    }

    /// `b` cut to the frame.
    pub fn clamp(&self, b: BBox) -> BBox {
        let (w, h) = (self.width as u32, self.height as u32);
        BBox {
            x0: b.x0.min(w),
            y0: b.y0.min(h),
            x1: b.x1.min(w),
            y1: b.y1.min(h),
        }
    }

    /// The pixel at (x, y) as B, G, R; callers keep x and y inside the frame.
    fn bgr(&self, x: usize, y: usize) -> [u8; 3] {
        let i = y * self.width + x;
        match self.format {
            PixelFormat::Gray => {
                let v = self.data.get(i).copied().unwrap_or(0);
                [v, v, v]
            }
            PixelFormat::Rgb => match self.data.get(3 * i..3 * i + 3) {
                Some(p) => [p[2], p[1], p[0]],
                None => [0; 3],
            },
        }
    }
}

/// An axis-aligned box in pixels: columns `x0..x1`, rows `y0..y1` (ends exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BBox {
    /// Left column.
    pub x0: u32,
    /// Top row.
    pub y0: u32,
    /// One past the right column.
    pub x1: u32,
    /// One past the bottom row.
    pub y1: u32,
}

impl BBox {
    /// The box as the contract's `boundingBox`; `None` when it is empty.
    pub fn to_contract(&self) -> Option<vigia_events::BoundingBox> {
        (self.width() > 0 && self.height() > 0).then(|| vigia_events::BoundingBox {
            x: self.x0,
            y: self.y0,
            width: self.width(),
            height: self.height(),
        })
    }

    /// Width in pixels (0 for an empty box).
    pub fn width(&self) -> u32 {
        self.x1.saturating_sub(self.x0)
    }

    /// Height in pixels (0 for an empty box).
    pub fn height(&self) -> u32 {
        self.y1.saturating_sub(self.y0)
    }
}

/// One line of text found in a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRead {
    /// The recognised text as the model spells it (`plate::read_plate` makes a plate of it).
    pub text: String,
    /// Mean probability of the decoded characters, 0..1.
    pub confidence: f32,
    /// Where in the frame, in the frame's pixels.
    pub bbox: BBox,
    /// The plate format the colours around the line say (`ocr/colour.rs`: a Mercosul plate's
    /// blue band above its characters), None when they say neither.
    pub format: Option<PlateFormat>,
    /// The most probable plate the recogniser's output can spell (`ocr/plate_ctc.rs`), of
    /// [`TextRead::format`] when that is known; None when it cannot spell one.
    pub plate: Option<PlatePath>,
}

/// Time spent on one frame, per stage, for metrics and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OcrTimings {
    /// Detection: resize, normalise, model, boxes.
    pub det_ms: f64,
    /// Recognition of every box: crop, resize, model, decoding.
    pub rec_ms: f64,
    /// Boxes detected (and recognised).
    pub boxes: usize,
}

/// The OCR stage: ONNX Runtime with both models loaded. See the module documentation.
pub struct Ocr {
    det: Mutex<Session>,
    rec: Mutex<Session>,
    charset: Vec<String>,
    plate_classes: plate_ctc::PlateClasses,
    params: det::DbParams,
    det_scale: f64,
}

/// The process's ONNX Runtime environment (ONNX Runtime allows one per process), or why it
/// could not be made.
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, OcrError>> = OnceLock::new();

impl Ocr {
    /// Loads ONNX Runtime and both models ([`DET_MODEL`], [`REC_MODEL`]) from `dir`, each
    /// model's operators on `threads` threads. Every file is checked first, so a missing one is
    /// named with the setup command.
    pub fn load(dir: &Path, threads: usize) -> Result<Ocr, OcrError> {
        Ocr::load_models(dir, (DET_MODEL, REC_MODEL), threads)
    }

    /// [`Ocr::load`] with other model files of `dir` (detection, recognition): the wheel's own
    /// ([`DET_SOURCE_MODEL`], [`REC_SOURCE_MODEL`]), to check the folded ones against them.
    pub fn load_models(
        dir: &Path,
        (det_file, rec_file): (&str, &str),
        threads: usize,
    ) -> Result<Ocr, OcrError> {
        for file in [ORT_LIBRARY, det_file, rec_file] {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(OcrError::MissingFile { path });
            }
        }
        let env = environment(&dir.join(ORT_LIBRARY))?;
        let det = session(&env, &dir.join(det_file), threads)?;
        let rec = session(&env, &dir.join(rec_file), threads)?;
        let character = rec
            .metadata()
            .ok()
            .and_then(|m| m.custom("character"))
            .ok_or_else(|| OcrError::Runtime {
                what: format!("{}", dir.join(rec_file).display()),
                cause: "no `character` metadata (not the PP-OCRv4 recognition model?)".to_owned(),
            })?;
        let charset = rec::charset(&character);
        Ok(Ocr {
            det: Mutex::new(det),
            rec: Mutex::new(rec),
            plate_classes: plate_ctc::PlateClasses::new(&charset),
            charset,
            params: det::DbParams::default(),
            det_scale: DET_SCALE,
        })
    }

    /// [`Ocr::load`] from [`models_dir`] of the process environment.
    pub fn from_env(threads: usize) -> Result<Ocr, OcrError> {
        Ocr::load(&models_dir(|k| std::env::var(k).ok()), threads)
    }

    /// Detection on the picture (or region) scaled by `scale` instead of [`DET_SCALE`]
    /// (0.05–1): fewer pixels, less time, smaller text missed.
    pub fn with_detection_scale(mut self, scale: f64) -> Ocr {
        self.det_scale = scale.clamp(0.05, 1.0);
        self
    }

    /// The recognition model's classes (blank first, space last): 6625 for PP-OCRv4.
    pub fn classes(&self) -> usize {
        self.charset.len()
    }

    /// Every line of text in `frame`, top to bottom; lines recognised as empty are left out.
    pub fn read(&self, frame: &Frame<'_>) -> Result<Vec<TextRead>, OcrError> {
        self.read_timed(frame).map(|(reads, _)| reads)
    }

    /// [`Ocr::read`] with the time each stage took.
    pub fn read_timed(&self, frame: &Frame<'_>) -> Result<(Vec<TextRead>, OcrTimings), OcrError> {
        self.read_region_timed(frame, frame.full())
    }

    /// [`Ocr::read_timed`] on `region` of `frame` only (clamped to the frame); boxes are still
    /// in frame pixels. Detection costs in proportion to the region's pixels (looked at scaled
    /// by [`DET_SCALE`]); recognition crops the boxes from the full-resolution frame.
    pub fn read_region_timed(
        &self,
        frame: &Frame<'_>,
        region: BBox,
    ) -> Result<(Vec<TextRead>, OcrTimings), OcrError> {
        let (reads, timings, _) = self.first_look(frame, region)?;
        Ok((reads, timings))
    }

    /// [`Ocr::read_region_timed`]'s lines and timings, and the faint boxes of the same
    /// detection ([`WEAK_PARAMS`]) for a second look.
    fn first_look(
        &self,
        frame: &Frame<'_>,
        region: BBox,
    ) -> Result<(Vec<TextRead>, OcrTimings, Vec<BBox>), OcrError> {
        let started = Instant::now();
        let (boxes, weak) = self.detect_both(frame, frame.clamp(region))?;
        let boxes: Vec<BBox> = boxes.into_iter().map(|b| b.0).collect();
        let detected = Instant::now();
        let reads = self.recognise_all(frame, &boxes, (0, 0))?;
        let timings = OcrTimings {
            det_ms: ms(detected - started),
            rec_ms: ms(detected.elapsed()),
            boxes: boxes.len(),
        };
        Ok((reads, timings, weak))
    }

    /// [`Ocr::read_region_timed`], then a second look deblurred along the motion with each of
    /// [`DEBLUR_LENGTHS`] (`ocr/deblur.rs`): `plate` gives a line's plate confidence, None when
    /// it is not one.
    ///
    /// - Each line that is a plate is read again deblurred, and that read is added to the
    ///   lines: a plate read can be wrong where blur changed a letter's shape (a smeared `M`
    ///   reads as `W`), and the pass votes over both reads.
    /// - When no line is a plate, the faint, plate-shaped boxes of the same detection
    ///   ([`WEAK_PARAMS`]) are looked at deblurred, and so is the lower part of the region
    ///   ([`plate_band`], with [`BAND_LENGTHS`]) unless the region is the whole picture (the
    ///   first picture, a static scene's refresh: nothing moved, so nothing is blurred); the
    ///   most confident plate found in any of them is added.
    ///
    /// Its time counts as detection and recognition.
    pub fn read_region_deblurring_timed(
        &self,
        frame: &Frame<'_>,
        region: BBox,
        plate: impl Fn(&TextRead) -> Option<(String, f32)>,
    ) -> Result<(Vec<TextRead>, OcrTimings), OcrError> {
        let (mut reads, mut timings, weak) = self.first_look(frame, region)?;
        let plates: Vec<(BBox, String)> = reads
            .iter()
            .filter_map(|r| plate(r).map(|(text, _)| (r.bbox, text)))
            .collect();
        if !plates.is_empty() {
            for (b, text) in plates {
                let crop = frame.clamp(around(&b));
                let again = self.second_look(frame, crop, DEBLUR_LENGTHS, &plate, &mut timings)?;
                let Some((_, r, again)) = again else {
                    continue;
                };
                if same_vehicle(&text, &again) {
                    reads.push(r);
                }
            }
            return Ok((reads, timings));
        }
        let mut crops: Vec<(BBox, &[usize])> = crops_around(frame, &weak)
            .into_iter()
            .map(|c| (c, DEBLUR_LENGTHS))
            .collect();
        let region = frame.clamp(region);
        if region != frame.full() {
            crops.push((frame.clamp(plate_band(region)), BAND_LENGTHS));
        }
        reads.extend(self.best_second_look(frame, crops, &plate, &mut timings)?);
        Ok((reads, timings))
    }

    /// The most confident plate [`Ocr::second_look`] finds in any of `crops`, each deblurred
    /// with the lengths it comes with.
    fn best_second_look(
        &self,
        frame: &Frame<'_>,
        crops: Vec<(BBox, &[usize])>,
        plate: &impl Fn(&TextRead) -> Option<(String, f32)>,
        timings: &mut OcrTimings,
    ) -> Result<Option<TextRead>, OcrError> {
        let mut best: Option<(f32, TextRead)> = None;
        for (crop, lengths) in crops {
            let Some((c, r, _)) = self.second_look(frame, crop, lengths, plate, timings)? else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _)| c > *b) {
                best = Some((c, r));
            }
        }
        Ok(best.map(|(_, r)| r))
    }

    /// The plate (its confidence, line and text) in `crop` of `frame` deblurred: each of
    /// `lengths` is tried and detected (cheap on a small crop); only the plate-shaped box the
    /// detector is surest of, over all lengths, is recognised. Adds its time to `timings`.
    fn second_look(
        &self,
        frame: &Frame<'_>,
        crop: BBox,
        lengths: &[usize],
        plate: &impl Fn(&TextRead) -> Option<(String, f32)>,
        timings: &mut OcrTimings,
    ) -> Result<Option<(f32, TextRead, String)>, OcrError> {
        let started = Instant::now();
        let mut sharpest: Option<(f32, deblur::Deblurred, BBox)> = None;
        let Some(blurred) = deblur::Blurred::of(frame, crop) else {
            return Ok(None);
        };
        for &length in lengths {
            let d = blurred.undo(length);
            let sharp = Frame::new(d.width, d.height, PixelFormat::Rgb, &d.rgb)?;
            let found = self.detect_both(&sharp, sharp.full())?.0;
            let Some((b, score)) = found
                .into_iter()
                .filter(|(b, _)| b.width() >= 2 * b.height() && could_be_a_line(b))
                .max_by(|x, y| x.1.total_cmp(&y.1))
            else {
                continue;
            };
            if sharpest.as_ref().is_none_or(|(s, _, _)| score > *s) {
                sharpest = Some((score, d, b));
            }
        }
        let detected = Instant::now();
        timings.det_ms += ms(detected - started);
        let Some((_, d, b)) = sharpest else {
            return Ok(None);
        };
        let sharp = Frame::new(d.width, d.height, PixelFormat::Rgb, &d.rgb)?;
        let found = self.recognise_all(&sharp, &[b], (crop.x0, crop.y0))?;
        timings.rec_ms += ms(detected.elapsed());
        Ok(found
            .into_iter()
            .find_map(|r| plate(&r).map(|(text, c)| (c, r, text))))
    }

    /// The lines of text in `boxes` of `frame` (those that could be a line), boxes moved by
    /// (`dx`, `dy`).
    fn recognise_all(
        &self,
        frame: &Frame<'_>,
        boxes: &[BBox],
        (dx, dy): (u32, u32),
    ) -> Result<Vec<TextRead>, OcrError> {
        let mut reads = Vec::with_capacity(boxes.len());
        for bbox in boxes.iter().filter(|b| could_be_a_line(b)) {
            let format = colour::format_by_colour(frame, *bbox);
            let (text, confidence, plate) = self.recognise(frame, *bbox, format)?;
            if !text.trim().is_empty() {
                let bbox = BBox {
                    x0: bbox.x0 + dx,
                    y0: bbox.y0 + dy,
                    x1: bbox.x1 + dx,
                    y1: bbox.y1 + dy,
                };
                reads.push(TextRead {
                    text,
                    confidence,
                    bbox,
                    format,
                    plate,
                });
            }
        }
        Ok(reads)
    }

    /// Text boxes in `region` of `frame`, and the fainter boxes of the same probability map
    /// ([`WEAK_PARAMS`]: where a blurred plate may be), both in frame pixels.
    fn detect_both(
        &self,
        frame: &Frame<'_>,
        region: BBox,
    ) -> Result<(Vec<ScoredBox>, Vec<BBox>), OcrError> {
        let (rw, rh) = (region.width() as usize, region.height() as usize);
        if rw == 0 || rh == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let scale = (self.det_scale * DET_SQUEEZE, self.det_scale);
        let (w, h) = det::input_size(rw, rh, DET_LIMIT, scale);
        let mut input = vec![0.0f32; 3 * w * h];
        resize::resize_into(frame, region, w, h, resize::DET_NORMALISE, &mut input, w);
        let mut session = lock(&self.det);
        let tensor = TensorRef::from_array_view(([1usize, 3, h, w], &*input))
            .map_err(run_error("detection input"))?;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(run_error("detection"))?;
        let (shape, prob) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(run_error("detection output"))?;
        let (mh, mw) = match **shape {
            [.., mh, mw] => (mh as usize, mw as usize),
            _ => return Ok((Vec::new(), Vec::new())),
        };
        let (sx, sy) = (rw as f64 / mw as f64, rh as f64 / mh as f64);
        let scale = |v: u32, s: f64, origin: u32, max: usize| {
            (origin as usize + (v as f64 * s).round() as usize).min(max) as u32
        };
        let to_frame = |params: &det::DbParams| -> Vec<ScoredBox> {
            det::find_boxes(prob, mw, mh, params)
                .into_iter()
                .map(|b| {
                    let bbox = BBox {
                        x0: scale(b.bbox.x0, sx, region.x0, frame.width),
                        y0: scale(b.bbox.y0, sy, region.y0, frame.height),
                        x1: scale(b.bbox.x1, sx, region.x0, frame.width),
                        y1: scale(b.bbox.y1, sy, region.y0, frame.height),
                    };
                    (bbox, b.score)
                })
                .filter(|(b, _)| b.width() > 0 && b.height() > 0)
                .collect()
        };
        let weak = to_frame(&WEAK_PARAMS).into_iter().map(|b| b.0).collect();
        Ok((to_frame(&self.params), weak))
    }

    /// The text in `bbox` of `frame`, its confidence, and the best plate of `format` (None:
    /// either) it can spell.
    fn recognise(
        &self,
        frame: &Frame<'_>,
        bbox: BBox,
        format: Option<PlateFormat>,
    ) -> Result<(String, f32, Option<PlatePath>), OcrError> {
        let (content, w) = rec::input_width(bbox.width() as usize, bbox.height() as usize);
        let mut input = vec![0.0f32; 3 * rec::HEIGHT * w];
        resize::resize_into(
            frame,
            bbox,
            content,
            rec::HEIGHT,
            resize::REC_NORMALISE,
            &mut input,
            w,
        );
        let mut session = lock(&self.rec);
        let tensor = TensorRef::from_array_view(([1usize, 3, rec::HEIGHT, w], &*input))
            .map_err(run_error("recognition input"))?;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(run_error("recognition"))?;
        let (shape, probs) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(run_error("recognition output"))?;
        let (steps, classes) = match **shape {
            [_, steps, classes] => (steps as usize, classes as usize),
            _ => return Ok((String::new(), 0.0, None)),
        };
        let (text, confidence) = rec::ctc_greedy(probs, steps, classes, &self.charset);
        let plate = plate_ctc::ctc_plate(probs, steps, classes, &self.plate_classes, format);
        Ok((text, confidence, plate))
    }
}

/// A text box in frame pixels and the detector's mean probability over it.
type ScoredBox = (BBox, f32);

/// Whether two plate texts are read as one vehicle by a pass's voting: both plates, at most
/// [`MAX_GROUP_DISTANCE`] positions apart. A plate read again deblurred is kept only then: a
/// deblurring of the wrong length can spell another plate, which would be reported as a
/// vehicle of its own.
fn same_vehicle(a: &str, b: &str) -> bool {
    match (read_plate(a), read_plate(b)) {
        (Ok(a), Ok(b)) => distance(&a.plate, &b.plate) <= MAX_GROUP_DISTANCE,
        _ => false,
    }
}

/// The faint boxes looked at again deblurred: a plate smeared by 10–14 px leaves a probability
/// map too weak for [`det::DbParams::default`].
const WEAK_PARAMS: det::DbParams = det::DbParams {
    thresh: 0.1,
    box_thresh: 0.15,
    unclip_ratio: 1.6,
    min_size: 2,
};

/// At most this many faint boxes are looked at again per picture.
pub const MAX_CANDIDATES: usize = 3;

/// The blur lengths tried, in pixels (720p, a car crossing in 3 s: 5–14 px).
pub const DEBLUR_LENGTHS: &[usize] = &[8, 11, 14];

/// The blur lengths tried on the region's band: two, as its detections cost most (tuning seeds
/// 1 and 5, 120 passes: 8/11/14 px 96 right, detection 51 ms a picture; 9/13 px 97, 30 ms; 11
/// px 93, 23 ms).
pub const BAND_LENGTHS: &[usize] = &[9, 13];

/// Whether a faint box could be a blurred plate: wider than tall and at least half a line tall.
fn could_be_a_plate(b: &BBox) -> bool {
    b.height() >= MIN_LINE_HEIGHT / 2 && b.width() > b.height()
}

/// The parts of `frame` looked at again: around each of the first [`MAX_CANDIDATES`] faint,
/// plate-shaped boxes whose centre is not in one already taken.
fn crops_around(frame: &Frame<'_>, weak: &[BBox]) -> Vec<BBox> {
    let mut crops: Vec<BBox> = Vec::new();
    for b in weak.iter().filter(|b| could_be_a_plate(b)) {
        let (cx, cy) = ((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2);
        let taken = |c: &BBox| (c.x0..c.x1).contains(&cx) && (c.y0..c.y1).contains(&cy);
        if crops.len() < MAX_CANDIDATES && !crops.iter().any(taken) {
            crops.push(frame.clamp(around(b)));
        }
    }
    crops
}

/// The part of the picture looked at again around a faint box: a line's height above and below,
/// two to each side (the box may be part of the plate only).
fn around(b: &BBox) -> BBox {
    let h = b.height().max(MIN_LINE_HEIGHT);
    BBox {
        x0: b.x0.saturating_sub(2 * h + 16),
        y0: b.y0.saturating_sub(h),
        x1: b.x1.saturating_add(2 * h + 16),
        y1: b.y1.saturating_add(h),
    }
}

/// The part of a changed region a plate can be in: its lower three fifths, where a vehicle's
/// bumpers are (the region covers the vehicle where it was and where it is).
fn plate_band(region: BBox) -> BBox {
    BBox {
        y0: region.y0 + region.height() * 2 / 5,
        ..region
    }
}

/// Boxes shorter than this (in frame pixels) are not recognised: no plate's line of text is, in
/// the pictures this reads (720p: 20–40 px), and the detector's specks are.
pub const MIN_LINE_HEIGHT: u32 = 10;

/// Whether `b` is worth recognising: at least [`MIN_LINE_HEIGHT`] tall and wider than tall (a
/// plate's seven characters are about three heights wide; a lone character or a speck is not a
/// plate).
fn could_be_a_line(b: &BBox) -> bool {
    b.height() >= MIN_LINE_HEIGHT && b.width() > b.height()
}

/// Fuzzing the decoders: the first byte picks how many classes (1–40) of a small character
/// list (blank, `A`–`Z`, `0`–`9`, `-`, a space) the rest has per step, as probabilities
/// byte / 255, and the format the plate search is held to (none, Mercosul, old). Both
/// decodings run; the plate path's text and that format are returned for the caller to check.
#[doc(hidden)]
pub(crate) fn fuzz_decoding(data: &[u8]) -> Option<(String, Option<PlateFormat>)> {
    let (&first, rest) = data.split_first()?;
    let mut charset = vec![String::new()];
    charset.extend(
        (b'A'..=b'Z')
            .chain(b'0'..=b'9')
            .map(|b| (b as char).to_string()),
    );
    charset.extend(["-".to_owned(), " ".to_owned()]);
    let classes = 1 + usize::from(first) % charset.len().min(40);
    let steps = rest.len() / classes;
    let probs: Vec<f32> = rest[..steps * classes]
        .iter()
        .map(|&b| f32::from(b) / 255.0)
        .collect();
    let _ = rec::ctc_greedy(&probs, steps, classes, &charset);
    let plate_classes = plate_ctc::PlateClasses::new(&charset[..classes]);
    let format =
        [None, Some(PlateFormat::Mercosul), Some(PlateFormat::Old)][usize::from(first) / 40 % 3];
    plate_ctc::ctc_plate(&probs, steps, classes, &plate_classes, format).map(|p| (p.text, format))
}

/// The process's environment, made on first use with the library at `library`.
fn environment(library: &Path) -> Result<ort::environment::Environment, OcrError> {
    ENVIRONMENT
        .get_or_init(|| {
            let what = || format!("loading ONNX Runtime from {}", library.display());
            ort::init_from(library)
                .map_err(|e| OcrError::Runtime {
                    what: what(),
                    cause: e.to_string(),
                })?
                .with_name("vigia-ai")
                .build()
                .map_err(|e| OcrError::Runtime {
                    what: what(),
                    cause: e.to_string(),
                })
        })
        .clone()
}

/// A session on the model at `path`, fully optimised, on `threads` intra-op threads.
fn session(
    env: &ort::environment::Environment,
    path: &Path,
    threads: usize,
) -> Result<Session, OcrError> {
    let err = |e: ort::Error<ort::session::builder::SessionBuilder>| OcrError::Runtime {
        what: format!("loading {}", path.display()),
        cause: e.to_string(),
    };
    Session::builder(env)
        .map_err(|e| OcrError::Runtime {
            what: format!("loading {}", path.display()),
            cause: e.to_string(),
        })?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(err)?
        .with_intra_threads(threads.max(1))
        .map_err(err)?
        // Idle intra-op threads would spin-wait for the next run: CPU burnt between pictures,
        // which come a few a second at most.
        .with_intra_op_spinning(false)
        .map_err(err)?
        .commit_from_file(path)
        .map_err(|e| OcrError::Runtime {
            what: format!("loading {}", path.display()),
            cause: e.to_string(),
        })
}

/// Maps an `ort` error of `stage` to [`OcrError::Runtime`].
fn run_error(stage: &'static str) -> impl Fn(ort::Error) -> OcrError {
    move |e| OcrError::Runtime {
        what: stage.to_owned(),
        cause: e.to_string(),
    }
}

/// The session, even if a panic poisoned its lock (a session holds no state between runs).
fn lock(m: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A duration in milliseconds.
fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named_with_the_setup_command() {
        let dir = std::env::temp_dir().join(format!("vigia-ai-no-models-{}", std::process::id()));
        let err = Ocr::load(&dir, 1).err().expect("no models there");
        assert_eq!(
            err,
            OcrError::MissingFile {
                path: dir.join(ORT_LIBRARY)
            }
        );
        let message = err.to_string();
        assert!(
            message.contains(ORT_LIBRARY) && message.contains(SETUP_COMMAND),
            "{message}"
        );
    }

    #[test]
    fn models_dir_prefers_the_variable_then_the_tools_cache() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            models_dir(env(&[("VIGIA_AI_MODELS", "/m"), ("HOME", "/h")])),
            PathBuf::from("/m")
        );
        assert_eq!(
            models_dir(env(&[("VIGIA_TOOLS", "/t"), ("HOME", "/h")])),
            PathBuf::from("/t/ai")
        );
        assert_eq!(
            models_dir(env(&[("HOME", "/h")])),
            PathBuf::from("/h/.cache/vigia-tools/ai")
        );
    }

    #[test]
    fn specks_and_lone_characters_are_not_recognised() {
        let b = |w: u32, h: u32| BBox {
            x0: 10,
            y0: 10,
            x1: 10 + w,
            y1: 10 + h,
        };
        assert!(could_be_a_line(&b(130, 35)), "a plate's line");
        assert!(could_be_a_line(&b(124, 48)), "a sign's word");
        assert!(!could_be_a_line(&b(7, 6)), "a speck");
        assert!(!could_be_a_line(&b(60, 9)), "too thin");
        assert!(!could_be_a_line(&b(10, 11)), "one character");
    }

    #[test]
    fn the_plate_band_is_the_lower_three_fifths_of_the_region() {
        let region = BBox {
            x0: 100,
            y0: 300,
            x1: 900,
            y1: 700,
        };
        let band = plate_band(region);
        assert_eq!((band.x0, band.y0, band.x1, band.y1), (100, 460, 900, 700));
    }

    #[test]
    fn a_read_again_is_the_same_vehicle_within_two_positions() {
        assert!(same_vehicle("ABC-1234", "ABC1234"));
        assert!(same_vehicle("CMR8Z54", "CWR8Z54"));
        assert!(!same_vehicle("AMB4P60", "AYB4R80"));
        assert!(!same_vehicle("ABC1234", "PARE"));
    }

    #[test]
    fn frames_must_hold_exactly_their_pixels() {
        assert!(Frame::new(4, 2, PixelFormat::Rgb, &[0; 24]).is_ok());
        let err = Frame::new(4, 2, PixelFormat::Rgb, &[0; 8]).expect_err("too short");
        assert_eq!(
            err,
            OcrError::BadFrame {
                width: 4,
                height: 2,
                format: PixelFormat::Rgb,
                needed: 24,
                len: 8
            }
        );
        assert!(Frame::new(0, 0, PixelFormat::Gray, &[]).is_err());
    }
}
