//! Tracking of in-band parameter sets: notices when an H.264/H.265 stream changes its
//! VPS/SPS/PPS mid-stream (a camera changing resolution, an encoder restart).

use bytes::Bytes;

use super::{h264, h265};
use crate::model::VideoParams;

/// Which video codec a [`ParamTracker`] watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264: SPS (type 7) and PPS (type 8).
    H264,
    /// H.265: VPS (32), SPS (33) and PPS (34).
    H265,
}

/// Which parameter set a NAL unit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Vps,
    Sps,
    Pps,
}

/// Watches the NAL units of one video track and keeps its current [`VideoParams`].
///
/// Stored parameter sets are `Bytes` clones of the NAL units seen (no copy).
#[derive(Clone, Debug)]
pub struct ParamTracker {
    codec: VideoCodec,
    params: VideoParams,
}

impl ParamTracker {
    /// A tracker for `codec` starting from the out-of-band parameters `initial` (may be empty).
    pub fn new(codec: VideoCodec, initial: VideoParams) -> Self {
        Self {
            codec,
            params: initial,
        }
    }

    /// The parameter sets known now.
    pub fn params(&self) -> &VideoParams {
        &self.params
    }

    /// Looks at one access unit's NAL units; returns the new parameters if any in-band
    /// parameter set differs from the known one (or was unknown).
    pub fn observe(&mut self, nalus: &[Bytes]) -> Option<VideoParams> {
        let mut changed = false;
        for nal in nalus {
            let Some(slot) = self.slot(nal) else { continue };
            let current = match slot {
                Slot::Vps => &mut self.params.vps,
                Slot::Sps => &mut self.params.sps,
                Slot::Pps => &mut self.params.pps,
            };
            if current.as_ref() != Some(nal) {
                // A copy: `nal` may be a slice of a receive buffer (see `poc::replace`).
                *current = Some(Bytes::copy_from_slice(nal));
                changed = true;
            }
        }
        changed.then(|| self.params.clone())
    }

    fn slot(&self, nal: &[u8]) -> Option<Slot> {
        match self.codec {
            VideoCodec::H264 => match h264::NalType::of(nal)? {
                h264::NalType::SPS => Some(Slot::Sps),
                h264::NalType::PPS => Some(Slot::Pps),
                _ => None,
            },
            VideoCodec::H265 => match h265::NalType::of(nal)? {
                h265::NalType::VPS => Some(Slot::Vps),
                h265::NalType::SPS => Some(Slot::Sps),
                h265::NalType::PPS => Some(Slot::Pps),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_only_changes() {
        let sps = Bytes::from_static(&[0x67, 0x42, 0xC0, 0x1E]);
        let pps = Bytes::from_static(&[0x68, 0xCE, 0x3C, 0x80]);
        let slice = Bytes::from_static(&[0x65, 0x88]);
        let mut t = ParamTracker::new(VideoCodec::H264, VideoParams::default());
        let first = t
            .observe(&[sps.clone(), pps.clone(), slice.clone()])
            .unwrap();
        assert_eq!(first.sps.as_ref(), Some(&sps));
        assert_eq!(first.pps.as_ref(), Some(&pps));
        assert_eq!(t.observe(&[sps.clone(), pps.clone(), slice.clone()]), None);
        assert_eq!(t.observe(std::slice::from_ref(&slice)), None);
        let sps2 = Bytes::from_static(&[0x67, 0x4D, 0x00, 0x28]);
        let changed = t.observe(&[sps2.clone(), slice]).unwrap();
        assert_eq!(changed.sps, Some(sps2));
        assert_eq!(changed.pps, Some(pps));
    }

    #[test]
    fn h265_tracks_vps() {
        let vps = Bytes::from_static(&[0x40, 0x01, 0x0C]);
        let mut t = ParamTracker::new(VideoCodec::H265, VideoParams::default());
        let p = t.observe(std::slice::from_ref(&vps)).unwrap();
        assert_eq!(p.vps, Some(vps));
        assert_eq!(t.observe(&[Bytes::from_static(&[0x26, 0x01, 0xAF])]), None);
    }
}
