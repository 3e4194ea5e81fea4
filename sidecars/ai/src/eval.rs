//! Recorded footage through the live path, for the accuracy test and measurements: a clip's
//! H.264 (Annex B) is cut into keyframes in-process ([`annexb_keyframes`]), dated by their frame
//! numbers, and each clip, as one camera, goes through the same [`camera_worker`] (sampler,
//! decode) and [`ocr_worker`] (detection, recognition, [`crate::plate::read_plate`]) as
//! `vigia-ai run`, then through a [`Pipeline`] of its own (one per camera, no watch list) whose
//! `lpr.detected` payloads are returned ([`run`]).
//!
//! What differs from `vigia-ai run` is only what comes before the keyframes and after the
//! events: no RTSP reader (so no keyframe is dropped for a busy OCR thread: the figures are
//! those of a process that keeps up), no publisher, and passes closed by the frames' times
//! rather than a wall-clock sleep. Cameras are read one after another (the OCR thread stays up
//! for all of them); each camera's reads still overlap its decoding as they do live.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::mpsc;
use vigia_events::{EventData, LprDetected};

use crate::Error;
use crate::accuracy::Detection;
use crate::live::{CameraStats, OcrStats, camera_worker, ocr_worker};
use crate::ocr::Ocr;
use crate::pass::PassConfig;
use crate::pipeline::{Pipeline, PipelineStats};
use crate::sampler::SamplerConfig;
use crate::stream::Keyframe;
use crate::stream::clock::ClockSource;
use crate::watchlist::Watchlist;

/// One camera's recorded keyframes.
#[derive(Debug, Clone)]
pub struct CameraClip {
    /// The camera's path (the `cameraId` of its detections).
    pub path: String,
    /// Its keyframes in order, as [`annexb_keyframes`] gives them.
    pub keyframes: Vec<Keyframe>,
}

/// What one camera gave.
#[derive(Debug, Clone)]
pub struct CameraResult {
    /// The camera's path.
    pub path: String,
    /// Its worker's counters (keyframes decoded, decoding time).
    pub worker: CameraStats,
    /// Its pipeline's counters (reads, rejected texts, detections).
    pub pipeline: PipelineStats,
    /// The `lpr.detected` payloads, in order.
    pub detections: Vec<LprDetected>,
}

/// What a [`run`] gave.
#[derive(Debug, Clone)]
pub struct EvalResult {
    /// Per camera, in the order given.
    pub cameras: Vec<CameraResult>,
    /// The OCR worker's counters over all cameras (pictures read, detection and recognition
    /// time).
    pub ocr: OcrStats,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
}

/// The keyframes of an H.264 Annex B elementary stream (what `ffmpeg -f h264` writes), each
/// with the parameter sets and SEI before it, as the stream reader hands them out. A keyframe's
/// `index` is its frame number in the stream (0-based, every picture counted) and its time
/// `start + index / fps`. Access units are told apart by their first slice (`first_mb_in_slice`
/// 0) and by the non-slice units that come before a picture; a stream whose pictures have
/// several slices still counts one frame per picture. Bytes that are not H.264 give no
/// keyframes, never a panic.
pub fn annexb_keyframes(
    path: &str,
    stream: &[u8],
    start: DateTime<Utc>,
    fps: u32,
) -> Vec<Keyframe> {
    let mut keyframes = Vec::new();
    let mut unit: Vec<&[u8]> = Vec::new();
    let (mut has_slice, mut frame) = (false, 0u64);
    let mut finish = |unit: &mut Vec<&[u8]>, frame: u64| {
        if unit.iter().any(|n| nal_type(n) == Some(5)) {
            let ms = (frame * 1000).checked_div(u64::from(fps)).unwrap_or(0);
            let mut data = Vec::with_capacity(unit.iter().map(|n| n.len() + 4).sum());
            for n in unit.iter() {
                data.extend_from_slice(&[0, 0, 0, 1]);
                data.extend_from_slice(n);
            }
            keyframes.push(Keyframe {
                path: path.to_owned(),
                index: frame,
                at: start + TimeDelta::milliseconds(ms as i64),
                clock: ClockSource::SenderReport,
                data,
            });
        }
        unit.clear();
    };
    for nal in nal_units(stream) {
        let Some(kind) = nal_type(nal) else { continue };
        let slice = kind == 1 || kind == 5;
        let first_slice = slice && nal.get(1).is_some_and(|b| b & 0x80 != 0);
        if has_slice && (!slice || first_slice) {
            finish(&mut unit, frame);
            frame += 1;
            has_slice = false;
        }
        has_slice |= slice;
        unit.push(nal);
    }
    if has_slice {
        finish(&mut unit, frame);
    }
    keyframes
}

/// Runs `cameras` through the live path's workers and a pipeline per camera (see the module
/// doc) with `sampler` and `pass`; each camera's passes are closed after its last keyframe.
pub fn run(
    ocr: Ocr,
    cameras: Vec<CameraClip>,
    sampler: SamplerConfig,
    pass: PassConfig,
) -> Result<EvalResult, Error> {
    let started = Instant::now();
    let (reads_tx, mut reads) = mpsc::unbounded_channel();
    let (pictures_tx, pictures) = std_mpsc::sync_channel(1);
    let ocr_thread = std::thread::Builder::new()
        .name("vigia-ai-eval-ocr".into())
        .spawn(move || ocr_worker(ocr, pictures, reads_tx))
        .map_err(|_| Error::WorkerStopped("thread start"))?;
    let mut results = Vec::with_capacity(cameras.len());
    let mut ends = Vec::with_capacity(cameras.len());
    for clip in cameras {
        ends.push(clip.keyframes.last().map(|k| k.at));
        let (tx, rx) = mpsc::channel(clip.keyframes.len().max(1));
        for k in clip.keyframes {
            // The channel holds them all; the worker takes them after.
            tx.try_send(k)
                .map_err(|_| Error::WorkerStopped("keyframe queue"))?;
        }
        drop(tx);
        let (path, pictures) = (clip.path.clone(), pictures_tx.clone());
        let worker = std::thread::Builder::new()
            .name(format!("vigia-ai-eval-{path}"))
            .spawn(move || camera_worker(path, rx, sampler, pictures))
            .map_err(|_| Error::WorkerStopped("thread start"))?;
        let worker = worker
            .join()
            .map_err(|_| Error::WorkerStopped("camera worker"))?;
        results.push(CameraResult {
            path: clip.path,
            worker,
            pipeline: PipelineStats::default(),
            detections: Vec::new(),
        });
    }
    drop(pictures_tx);
    let ocr = ocr_thread
        .join()
        .map_err(|_| Error::WorkerStopped("OCR worker"))?;
    let mut pipelines: HashMap<String, Pipeline> = HashMap::new();
    while let Ok(read) = reads.try_recv() {
        pipelines
            .entry(read.camera_id.clone())
            .or_insert_with(|| Pipeline::new(pass, Watchlist::default()))
            .handle_ocr(read);
    }
    for (result, end) in results.iter_mut().zip(ends) {
        let Some(mut pipeline) = pipelines.remove(&result.path) else {
            continue;
        };
        if let Some(end) = end {
            pipeline.handle_timeout(end + pass.window);
        }
        while let Some(event) = pipeline.poll_event() {
            if let EventData::LprDetected(d) = event.data {
                result.detections.push(d);
            }
        }
        result.pipeline = pipeline.stats();
    }
    Ok(EvalResult {
        cameras: results,
        ocr,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `detections` as [`Detection`]s for [`crate::accuracy::Score`]: each one's frame is that of
/// its time, the clip starting at frame 0 at `start`, `fps` frames a second.
pub fn clip_detections(
    detections: &[LprDetected],
    start: DateTime<Utc>,
    fps: u32,
) -> Vec<Detection> {
    detections
        .iter()
        .map(|d| {
            let ms = (d.detected_at - start).num_milliseconds().max(0) as u64;
            Detection {
                plate: d.plate.clone(),
                frame: (ms * u64::from(fps) + 500) / 1000,
            }
        })
        .collect()
}

/// The NAL units of an Annex B stream (start codes `00 00 01`, the leading zero of a 4-byte
/// one and trailing zeros dropped), empty ones skipped.
fn nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| s - 3)
        .chain(std::iter::once(stream.len()))
        .collect();
    starts.into_iter().zip(ends).filter_map(move |(s, e)| {
        let mut nal = &stream[s..e];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        (!nal.is_empty()).then_some(nal)
    })
}

/// The type of a NAL unit (its header's low 5 bits), None for an empty one.
fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NAL unit of `kind` whose first payload byte is `first` (0x80: first_mb_in_slice 0).
    fn nal(kind: u8, first: u8) -> Vec<u8> {
        let mut n = vec![0, 0, 0, 1, 0x60 | kind, first, 0x11, 0x22];
        n.push(0);
        n
    }

    #[test]
    fn keyframes_are_cut_with_their_parameter_sets_and_numbered_by_frame() {
        let t0 = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
        // (SPS PPS SEI IDR) P P (SPS PPS IDR IDR-second-slice) P, at 25 fps.
        let units = [
            nal(7, 0x42),
            nal(8, 0xce),
            nal(6, 0x05),
            nal(5, 0x88),
            nal(1, 0x9a),
            nal(1, 0x9a),
            nal(7, 0x42),
            nal(8, 0xce),
            nal(5, 0x88),
            nal(5, 0x40), // first_mb_in_slice != 0: the same picture
            nal(1, 0x9a),
        ];
        let stream: Vec<u8> = units.concat();
        let ks = annexb_keyframes("cam1", &stream, t0, 25);
        let got: Vec<(u64, i64)> = ks
            .iter()
            .map(|k| (k.index, (k.at - t0).num_milliseconds()))
            .collect();
        assert_eq!(got, [(0, 0), (3, 120)]);
        // Each keyframe is its units with 4-byte start codes, trailing zeros dropped.
        let strip = |n: &Vec<u8>| [&[0, 0, 0, 1][..], &n[4..n.len() - 1]].concat();
        assert_eq!(
            ks[0].data,
            units[..4].iter().map(strip).collect::<Vec<_>>().concat()
        );
        assert_eq!(
            ks[1].data,
            units[6..10].iter().map(strip).collect::<Vec<_>>().concat()
        );
    }

    #[test]
    fn bytes_that_are_not_h264_give_no_keyframes() {
        let t0 = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
        for junk in [&b""[..], b"\0\0\x01", b"\0\0\x01\0\0\x01\x05", b"junk"] {
            let ks = annexb_keyframes("cam1", junk, t0, 0);
            assert!(ks.len() <= 1, "{junk:?}");
        }
    }

    #[test]
    fn detections_are_dated_back_to_frames() {
        let t0 = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
        let d = LprDetected {
            camera_id: "cam1".into(),
            plate: vigia_events::Plate::parse("ABC1D23").unwrap(),
            confidence: 0.9,
            detected_at: t0 + TimeDelta::milliseconds(1960),
            snapshot_key: None,
            format: None,
            bounding_box: None,
        };
        assert_eq!(clip_detections(&[d], t0, 25)[0].frame, 49);
    }
}
