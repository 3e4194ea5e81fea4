//! The last step of every ingest before the hub: DTS from picture order count, in-band
//! parameter-set changes, track alignment, and the wall-clock stamp.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use vigia_media::codec::params::{ParamTracker, VideoCodec};
use vigia_media::codec::{h264, h265};
use vigia_media::model::{VideoParams, join_chunks};
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
        heads: NalHeads,
    },
    H265 {
        dts: h265::DtsExtractor,
        params: ParamTracker,
        heads: NalHeads,
    },
    Audio,
}

/// How much of a slice in several chunks the DTS extractor gets: the slice header fields it
/// reads (up to the picture order count) lie well within the first 256 bytes.
const SLICE_HEAD: usize = 256;

/// A unit's NAL units as the DTS extractor and the parameter tracker read them: whole, except
/// a slice in several chunks (reassembled from fragmentation units), of which only the first
/// [`SLICE_HEAD`] bytes are copied, into a reused buffer.
#[derive(Default)]
struct NalHeads {
    scratch: BytesMut,
    list: Vec<Bytes>,
}

impl NalHeads {
    /// `unit`'s NAL units (slices in chunks shortened to their heads); `is_vcl` tells a slice
    /// from its header chunk.
    fn of<'a>(&'a mut self, unit: &'a AccessUnit, is_vcl: fn(&[u8]) -> bool) -> &'a [Bytes] {
        if unit.nal_ends.is_empty() {
            return &unit.data;
        }
        self.list.clear();
        for chunks in unit.nals() {
            let nal = match chunks {
                [one] => one.clone(),
                [header, ..] if is_vcl(header) => self.head(chunks),
                _ => join_chunks(chunks),
            };
            self.list.push(nal);
        }
        &self.list
    }

    fn head(&mut self, chunks: &[Bytes]) -> Bytes {
        if self.scratch.capacity() - self.scratch.len() < SLICE_HEAD {
            self.scratch.reserve(16 * SLICE_HEAD);
        }
        let mut left = SLICE_HEAD;
        for chunk in chunks {
            let take = chunk.len().min(left);
            self.scratch.extend_from_slice(&chunk[..take]);
            left -= take;
            if left == 0 {
                break;
            }
        }
        self.scratch.split().freeze()
    }
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
                heads: NalHeads::default(),
            },
            CodecParams::H265(p) => Self::H265 {
                dts: h265_extractor(p),
                params: ParamTracker::new(VideoCodec::H265, p.clone()),
                heads: NalHeads::default(),
            },
            _ => Self::Audio,
        }
    }

    fn complete(&mut self, unit: &mut AccessUnit) -> Result<(), String> {
        let (new, dts) = match self {
            Self::H264 { dts, params, heads } => {
                let nals = heads.of(unit, |h| h264::NalType::of(h).is_some_and(|t| t.is_vcl()));
                let new = params.observe(nals).map(CodecParams::H264);
                (new, dts.extract(nals, unit.pts.ticks))
            }
            Self::H265 { dts, params, heads } => {
                let nals = heads.of(unit, |h| h265::NalType::of(h).is_some_and(|t| t.is_vcl()));
                let new = params.observe(nals).map(CodecParams::H265);
                (new, dts.extract(nals, unit.pts.ticks))
            }
            Self::Audio => return Ok(()),
        };
        if let Some(new) = new {
            unit.new_params = Some(Arc::new(new));
        }
        unit.dts.ticks = dts.map_err(|e| e.to_string())?;
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
