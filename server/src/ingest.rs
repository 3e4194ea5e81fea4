//! The last step of every ingest before the hub: DTS from picture order count, in-band
//! parameter-set changes, and the wall-clock stamp.

use std::sync::Arc;

use vigia_media::codec::params::{ParamTracker, VideoCodec};
use vigia_media::codec::{h264, h265};
use vigia_media::model::VideoParams;
use vigia_media::{AccessUnit, CodecParams, Track};

use crate::sources::unix_micros;

/// Per-stream ingest state: one [`TrackIngest`] per track plus the wall-clock anchor.
pub(crate) struct Ingest {
    tracks: Vec<TrackIngest>,
    /// `(pts in µs, UNIX µs)` of the first unit: later units are stamped relative to it.
    anchor: Option<(i64, i64)>,
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
    /// Ingest state for a stream of `tracks`.
    pub(crate) fn new(tracks: &[Track]) -> Self {
        let tracks = tracks.iter().map(TrackIngest::new).collect();
        Self {
            tracks,
            anchor: None,
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
