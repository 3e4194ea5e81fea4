//! The last step of every ingest before the hub: DTS from picture order count, in-band
//! parameter-set changes, track alignment, and the wall-clock stamp.

use std::sync::Arc;

use vigia_media::codec::params::{ParamTracker, VideoCodec};
use vigia_media::codec::{h264, h265};
use vigia_media::model::VideoParams;
use vigia_media::{AccessUnit, CodecParams, Timestamp, Track};

use crate::sources::unix_micros;

/// Per-stream ingest state: one [`TrackIngest`] per track plus the wall-clock anchor.
pub(crate) struct Ingest {
    tracks: Vec<TrackIngest>,
    /// `(pts in µs, UNIX µs)` of the first unit: later units are stamped relative to it.
    anchor: Option<(i64, i64)>,
    /// Puts every track on one timeline, when the source's tracks start from unrelated origins.
    aligner: Option<Aligner>,
}

/// Aligns tracks whose timestamps start from unrelated origins (RTP tracks each begin at a
/// random timestamp): a track's first unit is placed on the stream timeline at its arrival time
/// relative to the stream's first unit, in the track's clock, as MediaMTX does before RTCP
/// sender reports are known. Later units keep their own spacing.
#[derive(Default)]
struct Aligner {
    first_arrival_us: Option<i64>,
    offsets: Vec<Option<i64>>,
}

impl Aligner {
    fn align(&mut self, unit: &mut AccessUnit, arrival_us: i64) {
        let base = *self.first_arrival_us.get_or_insert(arrival_us);
        if self.offsets.len() <= unit.track {
            self.offsets.resize(unit.track + 1, None);
        }
        let since_first = Timestamp::new(arrival_us - base, 1_000_000)
            .rescale(unit.pts.clock_rate)
            .ticks;
        let offset = *self.offsets[unit.track].get_or_insert(since_first - unit.pts.ticks);
        unit.pts.ticks += offset;
        unit.dts.ticks += offset;
    }
}

enum TrackIngest {
    H264 {
        dts: h264::DtsExtractor,
        params: ParamTracker,
    },
    H265 {
        dts: h265::DtsExtractor,
        params: ParamTracker,
    },
    Audio,
}

impl Ingest {
    /// Ingest state for a stream of `tracks` whose timestamps are already on one timeline
    /// (a source that aligned them, like retina with RTP-Info, or the synthetic clip).
    pub(crate) fn new(tracks: &[Track]) -> Self {
        let tracks = tracks.iter().map(TrackIngest::new).collect();
        Self {
            tracks,
            anchor: None,
            aligner: None,
        }
    }

    /// Ingest state for raw RTP tracks, each starting at its own random timestamp.
    pub(crate) fn aligning(tracks: &[Track]) -> Self {
        Self {
            aligner: Some(Aligner::default()),
            ..Self::new(tracks)
        }
    }

    /// Completes `unit` (DTS, new parameters, wall clock); `None` when it must be dropped (a
    /// picture whose DTS can't be derived yet, e.g. before the first parameter sets).
    pub(crate) fn finish(&mut self, mut unit: AccessUnit) -> Option<AccessUnit> {
        let track = self.tracks.get_mut(unit.track)?;
        if let Err(e) = track.complete(&mut unit) {
            tracing::debug!(track = unit.track, "dropping access unit: {e}");
            return None;
        }
        if let Some(aligner) = &mut self.aligner {
            aligner.align(&mut unit, unix_micros());
        }
        if unit.wallclock_us.is_none() {
            unit.wallclock_us = Some(self.wallclock(unit.pts.as_micros()));
        }
        Some(unit)
    }

    fn wallclock(&mut self, pts_us: i64) -> i64 {
        let (anchor_pts, anchor_wall) = *self.anchor.get_or_insert_with(|| (pts_us, unix_micros()));
        anchor_wall + (pts_us - anchor_pts)
    }
}

impl TrackIngest {
    fn new(track: &Track) -> Self {
        match &track.codec {
            CodecParams::H264(p) => Self::H264 {
                dts: h264_extractor(p),
                params: ParamTracker::new(VideoCodec::H264, p.clone()),
            },
            CodecParams::H265(p) => Self::H265 {
                dts: h265_extractor(p),
                params: ParamTracker::new(VideoCodec::H265, p.clone()),
            },
            _ => Self::Audio,
        }
    }

    fn complete(&mut self, unit: &mut AccessUnit) -> Result<(), String> {
        match self {
            Self::H264 { dts, params } => {
                mark_new_params(params, unit, CodecParams::H264);
                unit.dts.ticks = dts
                    .extract(&unit.data, unit.pts.ticks)
                    .map_err(|e| e.to_string())?;
            }
            Self::H265 { dts, params } => {
                mark_new_params(params, unit, CodecParams::H265);
                unit.dts.ticks = dts
                    .extract(&unit.data, unit.pts.ticks)
                    .map_err(|e| e.to_string())?;
            }
            Self::Audio => {}
        }
        Ok(())
    }
}

/// A DTS extractor primed with the out-of-band SPS (publishers like ffmpeg send it only in the
/// SDP), or an empty one that waits for in-band parameter sets.
fn h264_extractor(params: &VideoParams) -> h264::DtsExtractor {
    params
        .sps
        .clone()
        .and_then(|sps| h264::DtsExtractor::with_sps(sps).ok())
        .unwrap_or_default()
}

fn h265_extractor(params: &VideoParams) -> h265::DtsExtractor {
    match (params.sps.clone(), params.pps.clone()) {
        (Some(sps), Some(pps)) => h265::DtsExtractor::with_params(sps, pps).unwrap_or_default(),
        _ => h265::DtsExtractor::new(),
    }
}

fn mark_new_params(
    tracker: &mut ParamTracker,
    unit: &mut AccessUnit,
    wrap: fn(VideoParams) -> CodecParams,
) {
    if let Some(new) = tracker.observe(&unit.data) {
        unit.new_params = Some(Arc::new(wrap(new)));
    }
}
