//! NAL-unit stream structure shared by H.264 and H.265: grouping NAL units into access units
//! (H.264 §7.4.1.2.3, H.265 §7.4.2.4.4) and the fuzz walk over an Annex B stream.
//!
//! Both codecs use the same rule: an access unit ends when, after at least one slice, a NAL
//! unit arrives that may only open the next one. Only which NAL units those are differs, and
//! each codec says so through [`NalSyntax`].

use bytes::Bytes;

use super::annexb;
use super::params::{ParamTracker, VideoCodec};
use super::poc::{PocDtsExtractor, PocSyntax};
use crate::model::VideoParams;

/// What differs between H.264 and H.265 when grouping NAL units into access units.
pub(crate) trait NalSyntax {
    /// Where `nal` (not empty) stands with respect to access-unit boundaries.
    fn boundary(nal: &[u8]) -> Boundary;
}

/// Where a NAL unit stands with respect to access-unit boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// A coded slice; the first slice of a picture opens a new unit if one follows a slice.
    Slice {
        /// Whether it is the first slice of its picture.
        first_in_picture: bool,
    },
    /// A NAL unit that opens a new unit if it follows a slice (AUD, parameter sets, ...).
    Opens,
    /// A NAL unit that belongs to the current unit.
    Within,
}

/// Groups NAL units (in decode order) into access units: a new unit starts at a NAL unit that
/// opens one (see [`Boundary`]) following a slice. Empty NAL units are dropped; NAL units
/// before the first slice of the stream belong to the first unit.
pub(crate) fn split_access_units<C: NalSyntax>(nalus: &[Bytes]) -> Vec<Vec<Bytes>> {
    let mut units = Vec::new();
    let mut current: Vec<Bytes> = Vec::new();
    let mut has_vcl = false;
    for nal in nalus {
        if nal.is_empty() {
            continue;
        }
        let boundary = C::boundary(nal);
        let opens = matches!(
            boundary,
            Boundary::Opens
                | Boundary::Slice {
                    first_in_picture: true
                }
        );
        if has_vcl && opens {
            units.push(std::mem::take(&mut current));
            has_vcl = false;
        }
        has_vcl |= matches!(boundary, Boundary::Slice { .. });
        current.push(nal.clone());
    }
    if !current.is_empty() {
        units.push(current);
    }
    units
}

/// Fuzz walk shared by `fuzz_h264_sps` and `fuzz_h265_sps`: splits `data` as an Annex B stream
/// into access units and feeds each to a DTS extractor (asserting its promise: DTS `<= pts`
/// and increasing), a [`ParamTracker`] and `is_keyframe`. Must never panic otherwise.
pub(crate) fn fuzz_annexb_stream<C: NalSyntax + PocSyntax>(
    data: &[u8],
    codec: VideoCodec,
    is_keyframe: fn(&[Bytes]) -> bool,
) {
    let stream = Bytes::copy_from_slice(data);
    let units = split_access_units::<C>(&annexb::split(&stream));
    let mut dts = PocDtsExtractor::<C>::new();
    let mut tracker = ParamTracker::new(codec, VideoParams::default());
    let mut last = i64::MIN;
    for (i, au) in units.iter().enumerate() {
        // Display order of an I P B B pattern: 0 3 1 2, 4 7 5 6, ...
        let pts = (i as i64 + [0, 2, -1, -1][i % 4]) * 3600;
        if let Ok(d) = dts.extract(au, pts) {
            assert!(d <= pts && d > last, "DTS invariant broken");
            last = d;
        }
        let _ = tracker.observe(au);
        let _ = is_keyframe(au);
    }
}
