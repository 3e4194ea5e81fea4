//! DTS from picture order count, shared by H.264 and H.265.
//!
//! The idea follows MediaMTX's `DTSExtractor` (bluenviron/mediacommon): the encoder's reorder
//! depth is learned from how far a picture's POC runs ahead of the POC expected in decode
//! order; while it is being learned, DTS creeps forward by one tick; afterwards DTS is
//! interpolated between the previous DTS and the current PTS so that it ends `reordered`
//! frames behind. Whatever the heuristic says, the result is clamped to `dts <= pts` and
//! strictly increasing, or an error is returned.
//!
//! [`PocDtsExtractor`] is the part of `h264::DtsExtractor` and `h265::DtsExtractor` that does
//! not depend on the codec: it keeps the latest parameter sets, finds the slice whose header
//! carries the POC and drives [`PocDts`]. Each codec says the rest through [`PocSyntax`].

use std::fmt::Debug;

use bytes::Bytes;

use super::CodecError;

/// Reorder depth beyond which a stream is rejected (H.264 allows at most 16 reference frames).
const MAX_REORDERED: i64 = 16;

/// What a NAL unit is to [`PocDtsExtractor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NalRole {
    /// A sequence parameter set.
    Sps,
    /// A picture parameter set the slice header reader needs (H.265 only).
    Pps,
    /// A slice whose header carries the picture's POC (the first such in an access unit counts).
    PocSlice,
    /// Anything else: ignored.
    Other,
}

/// What differs between H.264 and H.265 when deriving DTS from POC.
pub(crate) trait PocSyntax {
    /// A parsed SPS.
    type Sps: Clone + Debug;
    /// A parsed PPS (`()` where slice headers need none).
    type Pps: Clone + Debug;
    /// The POC step per frame expected at first (see [`PocDts::new`]).
    const POC_INCREMENT: u32;

    /// What `nal` is.
    fn role(nal: &[u8]) -> NalRole;

    /// Parses an SPS NAL unit.
    fn parse_sps(nal: &[u8]) -> Result<Self::Sps, CodecError>;

    /// Parses a PPS NAL unit.
    fn parse_pps(nal: &[u8]) -> Result<Self::Pps, CodecError>;

    /// The picture of an access unit whose first POC slice is `slice`, or `None` when the
    /// stream has no reordering and DTS is PTS.
    fn picture(
        sps: &Self::Sps,
        pps: Option<&Self::Pps>,
        slice: Option<&[u8]>,
    ) -> Result<Option<Picture>, CodecError>;
}

/// The error for an access unit with no slice to read a POC from.
pub(crate) const NO_SLICE: CodecError = CodecError::Invalid {
    what: "access unit without slice",
};

/// DTS from POC for the codec `C`: the latest parameter sets and the [`PocDts`] state.
#[derive(Clone, Debug)]
pub(crate) struct PocDtsExtractor<C: PocSyntax> {
    sps: Option<(Bytes, C::Sps)>,
    pps: Option<(Bytes, C::Pps)>,
    poc: PocDts,
}

impl<C: PocSyntax> PocDtsExtractor<C> {
    /// An extractor that waits for in-band parameter sets.
    pub(crate) fn new() -> Self {
        Self {
            sps: None,
            pps: None,
            poc: PocDts::new(C::POC_INCREMENT),
        }
    }

    /// The DTS of the access unit `nalus` (NAL units without start codes) presented at `pts`.
    pub(crate) fn extract(&mut self, nalus: &[Bytes], pts: i64) -> Result<i64, CodecError> {
        let mut slice = None;
        for nal in nalus {
            match C::role(nal) {
                NalRole::Sps => self.set_sps(nal)?,
                NalRole::Pps => self.set_pps(nal)?,
                NalRole::PocSlice if slice.is_none() => slice = Some(&nal[..]),
                _ => {}
            }
        }
        let Some((_, sps)) = &self.sps else {
            return Err(CodecError::Incomplete {
                what: "SPS not received yet",
            });
        };
        let pps = self.pps.as_ref().map(|(_, pps)| pps);
        match C::picture(sps, pps, slice)? {
            Some(pic) => self.poc.next(pic, pts),
            None => self.poc.passthrough(pts),
        }
    }

    /// Takes `nal` as the SPS; a new one forgets what was learned about reordering.
    pub(crate) fn set_sps(&mut self, nal: &Bytes) -> Result<(), CodecError> {
        if replace(&mut self.sps, nal, C::parse_sps)? {
            self.poc.reset();
        }
        Ok(())
    }

    /// Takes `nal` as the PPS.
    pub(crate) fn set_pps(&mut self, nal: &Bytes) -> Result<(), CodecError> {
        replace(&mut self.pps, nal, C::parse_pps).map(drop)
    }
}

impl<C: PocSyntax> Default for PocDtsExtractor<C> {
    fn default() -> Self {
        Self::new()
    }
}

/// Decode-order facts about one picture.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Picture {
    /// An IDR picture: POC restarts at 0.
    Idr,
    /// Any other picture, with its `pic_order_cnt_lsb` and `log2(MaxPicOrderCntLsb)`.
    Other { poc_lsb: u32, log2_max_lsb: u32 },
}

/// State of the POC → DTS derivation.
#[derive(Clone, Debug)]
pub(crate) struct PocDts {
    prev_dts: Option<i64>,
    expected_poc: u32,
    reordered: i64,
    pause: i64,
    poc_increment: u32,
    initial_increment: u32,
    synced: bool,
}

impl PocDts {
    /// A new derivation; `poc_increment` is the POC step per frame expected at first
    /// (2 for H.264, where it drops to 1 if an odd POC shows up; 1 for H.265).
    pub(crate) fn new(poc_increment: u32) -> Self {
        Self {
            prev_dts: None,
            expected_poc: 0,
            reordered: 0,
            pause: 0,
            poc_increment,
            initial_increment: poc_increment,
            synced: false,
        }
    }

    /// Forgets what was learned about reordering (new SPS); keeps the last DTS.
    pub(crate) fn reset(&mut self) {
        self.expected_poc = 0;
        self.reordered = 0;
        self.pause = 0;
        self.poc_increment = self.initial_increment;
        self.synced = false;
    }

    /// DTS for a stream without reordering: `pts`, checked.
    pub(crate) fn passthrough(&mut self, pts: i64) -> Result<i64, CodecError> {
        self.commit(pts, pts)
    }

    /// DTS of `pic`, presented at `pts`.
    pub(crate) fn next(&mut self, pic: Picture, pts: i64) -> Result<i64, CodecError> {
        let dts = match pic {
            Picture::Idr => self.idr(pts),
            Picture::Other {
                poc_lsb,
                log2_max_lsb,
            } => self.other(poc_lsb, log2_max_lsb, pts)?,
        };
        self.commit(dts, pts)
    }

    fn idr(&mut self, pts: i64) -> i64 {
        self.expected_poc = 0;
        self.pause = 0;
        self.synced = true;
        match self.prev_dts {
            Some(prev) if self.reordered > 0 => prev + (pts - prev) / (self.reordered + 1),
            _ => pts,
        }
    }

    fn other(&mut self, poc: u32, log2_max_lsb: u32, pts: i64) -> Result<i64, CodecError> {
        let mask = (1u32 << log2_max_lsb.min(16)) - 1;
        let prev = self.prev_dts.unwrap_or(pts);
        if !self.synced {
            // Stream starts on a recovery point / CRA: take its POC as the reference.
            self.synced = true;
            self.expected_poc = poc & mask;
            return Ok(pts);
        }
        self.expected_poc = self.expected_poc.wrapping_add(self.poc_increment) & mask;
        if self.pause > 0 {
            self.pause -= 1;
            return Ok(prev + 1);
        }
        if self.poc_increment == 2 && !poc.is_multiple_of(2) {
            self.poc_increment = 1;
            self.expected_poc /= 2;
        }
        let diff = poc_diff(poc, self.expected_poc, mask) / i64::from(self.poc_increment);
        self.dts_for_diff(diff, prev, pts)
    }

    fn dts_for_diff(&mut self, diff: i64, prev: i64, pts: i64) -> Result<i64, CodecError> {
        let limit = -(self.reordered + 1);
        if diff < limit {
            // B-frames right after an IDR: the reorder depth was underestimated.
            self.grow(limit - diff, limit - diff)?;
            return Ok(prev + 1);
        }
        if diff == limit {
            return Ok(pts);
        }
        if diff > self.reordered {
            let increase = diff - self.reordered;
            self.grow(increase, increase - 1)?;
            return Ok(prev + 1);
        }
        Ok(prev + (pts - prev) / (diff + self.reordered + 1))
    }

    fn grow(&mut self, increase: i64, pause: i64) -> Result<(), CodecError> {
        if self.reordered + increase > MAX_REORDERED {
            return Err(CodecError::Invalid {
                what: "reorder depth (POC jump)",
            });
        }
        self.reordered += increase;
        self.pause = pause;
        Ok(())
    }

    /// Clamps `dts` to `<= pts` and strictly after the previous DTS, then records it.
    fn commit(&mut self, dts: i64, pts: i64) -> Result<i64, CodecError> {
        let mut dts = dts.min(pts);
        if let Some(prev) = self.prev_dts {
            if dts <= prev {
                dts = prev.checked_add(1).ok_or(CodecError::Invalid {
                    what: "DTS overflow",
                })?;
            }
            if dts > pts {
                return Err(CodecError::Invalid {
                    what: "PTS behind previous DTS",
                });
            }
        }
        self.prev_dts = Some(dts);
        Ok(dts)
    }
}

/// Puts `nal` and what `parse` makes of it in `slot` unless `slot` holds the same bytes;
/// whether it did.
fn replace<T>(
    slot: &mut Option<(Bytes, T)>,
    nal: &Bytes,
    parse: fn(&[u8]) -> Result<T, CodecError>,
) -> Result<bool, CodecError> {
    if slot.as_ref().is_some_and(|(b, _)| b == nal) {
        return Ok(false);
    }
    // A copy: `nal` may be a slice of a connection's receive buffer, which a stored slice
    // would keep alive for as long as the parameter set stays current.
    *slot = Some((Bytes::copy_from_slice(nal), parse(nal)?));
    Ok(true)
}

/// `a - b` modulo `mask + 1`, as the signed value nearest to zero.
fn poc_diff(a: u32, b: u32, mask: u32) -> i64 {
    let max = i64::from(mask) + 1;
    let d = i64::from(a.wrapping_sub(b) & mask);
    if d > max / 2 { d - max } else { d }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs `extract` over `units` (decode order), the unit at display index `display[i]`
    /// presented at `offset + display[i] × 3600`, and checks each DTS is after the previous one
    /// and not after its PTS. Returns `(dts, pts)` per unit.
    pub(crate) fn checked_dts(
        units: &[Vec<Bytes>],
        display: &[i64],
        offset: i64,
        mut extract: impl FnMut(&[Bytes], i64) -> Result<i64, CodecError>,
    ) -> Vec<(i64, i64)> {
        assert_eq!(units.len(), display.len());
        let mut prev = i64::MIN;
        let mut out = Vec::new();
        for (i, (au, frame)) in units.iter().zip(display).enumerate() {
            let pts = offset + frame * 3600;
            let dts = extract(au, pts).unwrap_or_else(|e| panic!("unit {i}: {e}"));
            assert!(
                dts > prev && dts <= pts,
                "unit {i}: dts {dts} prev {prev} pts {pts}"
            );
            prev = dts;
            out.push((dts, pts));
        }
        let reordered = out.iter().filter(|(dts, pts)| dts < pts).count();
        assert!(reordered > 25, "most units have dts < pts, got {reordered}");
        out
    }

    #[test]
    fn poc_diff_wraps() {
        assert_eq!(poc_diff(2, 0, 255), 2);
        assert_eq!(poc_diff(0, 2, 255), -2);
        assert_eq!(poc_diff(1, 254, 255), 3);
    }

    #[test]
    fn ipbb_pattern_gives_increasing_dts_not_after_pts() {
        // Display order I0 B1 B2 P3 ...; decode order I0 P3 B1 B2 P6 B4 B5; POC = 2 × index.
        let order = [0u32, 3, 1, 2, 6, 4, 5, 9, 7, 8];
        let mut d = PocDts::new(2);
        let mut prev = i64::MIN;
        for (i, &f) in order.iter().enumerate() {
            let pts = i64::from(f) * 3600;
            let pic = if i == 0 {
                Picture::Idr
            } else {
                Picture::Other {
                    poc_lsb: f * 2,
                    log2_max_lsb: 8,
                }
            };
            let dts = d.next(pic, pts).unwrap();
            assert!(dts > prev && dts <= pts, "frame {f}: dts {dts} pts {pts}");
            prev = dts;
        }
        // Steady state: DTS advances one frame per frame, two frames behind decode index.
        assert_eq!(prev, 7 * 3600);
    }
}
