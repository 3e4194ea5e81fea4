//! H.265 bitstream helpers: NAL unit types, SPS parsing, ISO 14496-15 codec strings, IRAP
//! keyframes and DTS from picture order count (ITU-T H.265).

use bytes::Bytes;

use super::CodecError;
use super::bits::{BitReader, remove_emulation_prevention};
use super::nal::{self, Boundary, NalSyntax};
use super::params::VideoCodec;
use super::poc::{NO_SLICE, NalRole, Picture, PocDtsExtractor, PocSyntax};

/// An H.265 `nal_unit_type` (H.265 Table 7-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NalType(pub u8);

impl NalType {
    /// Trailing picture, non-reference.
    pub const TRAIL_N: NalType = NalType(0);
    /// Trailing picture, reference.
    pub const TRAIL_R: NalType = NalType(1);
    /// First of the IRAP range: broken link access with leading pictures.
    pub const BLA_W_LP: NalType = NalType(16);
    /// IDR with decodable leading pictures.
    pub const IDR_W_RADL: NalType = NalType(19);
    /// IDR without leading pictures.
    pub const IDR_N_LP: NalType = NalType(20);
    /// Clean random access.
    pub const CRA: NalType = NalType(21);
    /// Video parameter set.
    pub const VPS: NalType = NalType(32);
    /// Sequence parameter set.
    pub const SPS: NalType = NalType(33);
    /// Picture parameter set.
    pub const PPS: NalType = NalType(34);
    /// Access unit delimiter.
    pub const AUD: NalType = NalType(35);
    /// Prefix SEI.
    pub const PREFIX_SEI: NalType = NalType(39);
    /// Suffix SEI.
    pub const SUFFIX_SEI: NalType = NalType(40);

    /// The type of `nal` (bits 1..=6 of its first byte), `None` if `nal` is empty.
    pub fn of(nal: &[u8]) -> Option<NalType> {
        nal.first().map(|b| NalType((b >> 1) & 0x3F))
    }

    /// Whether this is a coded slice segment (types 0..=31).
    pub fn is_vcl(self) -> bool {
        self.0 < 32
    }

    /// Whether this is an intra random access point (types 16..=23, H.265 §3.73).
    pub fn is_irap(self) -> bool {
        (16..=23).contains(&self.0)
    }

    /// Whether this is an IDR picture (POC restarts at 0).
    pub fn is_idr(self) -> bool {
        self == Self::IDR_W_RADL || self == Self::IDR_N_LP
    }
}

/// What an H.265 sequence parameter set says (H.265 §7.3.2.2, `profile_tier_level` §7.3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpsInfo {
    /// `general_profile_space` (0 in practice).
    pub profile_space: u8,
    /// `general_tier_flag`: false Main tier, true High tier.
    pub tier_flag: bool,
    /// `general_profile_idc` (1 Main, 2 Main 10, ...).
    pub profile_idc: u8,
    /// `general_profile_compatibility_flag[0..32]`, flag 0 in the most significant bit.
    pub profile_compatibility_flags: u32,
    /// The 48 bits of general constraint indicator flags, first flag in the most significant bit.
    pub constraint_flags: u64,
    /// `general_level_idc` (30 × level, e.g. 93 = level 3.1).
    pub level_idc: u8,
    /// `sps_max_sub_layers_minus1 + 1`.
    pub max_sub_layers: u8,
    /// `sps_seq_parameter_set_id`.
    pub sps_id: u32,
    /// `chroma_format_idc` (1 = 4:2:0).
    pub chroma_format_idc: u32,
    /// `separate_colour_plane_flag`.
    pub separate_colour_plane: bool,
    /// Displayed width in pixels, conformance window applied.
    pub width: u32,
    /// Displayed height in pixels, conformance window applied.
    pub height: u32,
    /// Luma bit depth.
    pub bit_depth_luma: u32,
    /// Chroma bit depth.
    pub bit_depth_chroma: u32,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4`.
    pub log2_max_pic_order_cnt_lsb: u32,
    /// `sps_max_num_reorder_pics` of the highest sub-layer.
    pub max_num_reorder_pics: u32,
}

impl SpsInfo {
    /// Parses an SPS NAL unit (2-byte header included, emulation prevention not yet removed).
    pub fn parse(nal: &[u8]) -> Result<SpsInfo, CodecError> {
        if nal.len() < 2 {
            return Err(CodecError::Incomplete { what: "SPS" });
        }
        if NalType::of(nal) != Some(NalType::SPS) || nal.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(CodecError::Invalid {
                what: "SPS NAL header",
            });
        }
        let rbsp = remove_emulation_prevention(nal.get(2..).unwrap_or_default());
        let mut r = BitReader::new(&rbsp);
        parse_sps(&mut r).map_err(|e| e.incomplete_in("SPS"))
    }

    /// The codec string of ISO 14496-15 Annex E.3, e.g. `hvc1.1.6.L93.B0`.
    pub fn codec_string(&self) -> String {
        let space = match self.profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let tier = if self.tier_flag { 'H' } else { 'L' };
        let mut s = format!(
            "hvc1.{space}{}.{:X}.{tier}{}",
            self.profile_idc,
            self.profile_compatibility_flags.reverse_bits(),
            self.level_idc
        );
        let bytes = self.constraint_flags.to_be_bytes();
        let used = bytes.get(2..).unwrap_or_default();
        let keep = used.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        for b in used.iter().take(keep) {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }
}

/// The fields of a picture parameter set needed to read slice headers (H.265 §7.3.2.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PpsInfo {
    /// `pps_pic_parameter_set_id`.
    pub pps_id: u32,
    /// `pps_seq_parameter_set_id`.
    pub sps_id: u32,
    /// `dependent_slice_segments_enabled_flag`.
    pub dependent_slice_segments_enabled: bool,
    /// `output_flag_present_flag`.
    pub output_flag_present: bool,
    /// `num_extra_slice_header_bits`.
    pub num_extra_slice_header_bits: u32,
}

impl PpsInfo {
    /// Parses the start of a PPS NAL unit (2-byte header included).
    pub fn parse(nal: &[u8]) -> Result<PpsInfo, CodecError> {
        if NalType::of(nal) != Some(NalType::PPS) {
            return Err(CodecError::Invalid {
                what: "PPS NAL header",
            });
        }
        let rbsp = remove_emulation_prevention(nal.get(2..nal.len().min(16)).unwrap_or_default());
        let mut r = BitReader::new(&rbsp);
        let mut read = || -> Result<PpsInfo, CodecError> {
            Ok(PpsInfo {
                pps_id: r.read_ue_max(63, "pps_pic_parameter_set_id")?,
                sps_id: r.read_ue_max(15, "pps_seq_parameter_set_id")?,
                dependent_slice_segments_enabled: r.read_bit()?,
                output_flag_present: r.read_bit()?,
                num_extra_slice_header_bits: r.read_u32(3)?,
            })
        };
        read().map_err(|e| e.incomplete_in("PPS"))
    }
}

/// Whether an access unit contains an IRAP picture (IDR, CRA or BLA: a decoder can start here).
pub fn is_keyframe(nalus: &[Bytes]) -> bool {
    nalus
        .iter()
        .any(|n| NalType::of(n).is_some_and(NalType::is_irap))
}

/// Groups NAL units (in decode order) into access units (H.265 §7.4.2.4.4): a new unit starts
/// at a VPS, SPS, PPS, AUD, prefix SEI or types 41..=44 / 48..=55 following a slice segment,
/// or at a slice segment with `first_slice_segment_in_pic_flag` set following a slice segment.
pub fn split_access_units(nalus: &[Bytes]) -> Vec<Vec<Bytes>> {
    nal::split_access_units::<Syntax>(nalus)
}

/// Derives decode timestamps from picture order count, so B-frame streams come out right.
///
/// Same contract as [`super::h264::DtsExtractor`]: access units in decode order with their
/// PTS; SPS and PPS in-band or given; `sps_max_num_reorder_pics` 0 gives `dts = pts`; every
/// returned DTS is `<= pts` and greater than the previous one.
#[derive(Clone, Debug, Default)]
pub struct DtsExtractor(PocDtsExtractor<Syntax>);

impl DtsExtractor {
    /// An extractor that waits for in-band SPS and PPS.
    pub fn new() -> Self {
        Self(PocDtsExtractor::new())
    }

    /// An extractor that starts with out-of-band parameter sets (e.g. from SDP).
    pub fn with_params(sps: Bytes, pps: Bytes) -> Result<Self, CodecError> {
        let mut d = Self::new();
        d.0.set_sps(&sps)?;
        d.0.set_pps(&pps)?;
        Ok(d)
    }

    /// The DTS of the access unit `nalus` (NAL units without start codes) presented at `pts`.
    pub fn extract(&mut self, nalus: &[Bytes], pts: i64) -> Result<i64, CodecError> {
        self.0.extract(nalus, pts)
    }
}

/// Fuzz entry: parses `data` as an SPS and a PPS, then as an Annex B stream through
/// [`DtsExtractor`] and [`super::params::ParamTracker`]. Must never panic.
#[doc(hidden)]
pub fn fuzz_h265_sps(data: &[u8]) {
    if let Ok(info) = SpsInfo::parse(data) {
        let _ = info.codec_string();
    }
    let _ = PpsInfo::parse(data);
    nal::fuzz_annexb_stream::<Syntax>(data, VideoCodec::H265, is_keyframe);
}

/// H.265's answers to the questions [`nal`] and [`super::poc`] share between codecs.
///
/// `role` and `picture` run per NAL unit and access unit on ingest and are `#[inline]`:
/// without it the generic extractor did not inline them and cost ~7% more per access unit.
#[derive(Clone, Debug)]
struct Syntax;

impl NalSyntax for Syntax {
    fn boundary(nal: &[u8]) -> Boundary {
        match NalType::of(nal) {
            Some(t) if t.is_vcl() => Boundary::Slice {
                first_in_picture: first_slice_segment(nal),
            },
            Some(NalType(32..=35 | 39 | 41..=44 | 48..=55)) => Boundary::Opens,
            _ => Boundary::Within,
        }
    }
}

impl PocSyntax for Syntax {
    type Sps = SpsInfo;
    type Pps = PpsInfo;
    const POC_INCREMENT: u32 = 1;

    #[inline]
    fn role(nal: &[u8]) -> NalRole {
        match NalType::of(nal) {
            Some(NalType::SPS) => NalRole::Sps,
            Some(NalType::PPS) => NalRole::Pps,
            Some(t) if t.is_vcl() && first_slice_segment(nal) => NalRole::PocSlice,
            _ => NalRole::Other,
        }
    }

    fn parse_sps(nal: &[u8]) -> Result<SpsInfo, CodecError> {
        SpsInfo::parse(nal)
    }

    fn parse_pps(nal: &[u8]) -> Result<PpsInfo, CodecError> {
        PpsInfo::parse(nal)
    }

    #[inline]
    fn picture(
        sps: &SpsInfo,
        pps: Option<&PpsInfo>,
        slice: Option<&[u8]>,
    ) -> Result<Option<Picture>, CodecError> {
        if sps.max_num_reorder_pics == 0 {
            return Ok(None);
        }
        let slice = slice.ok_or(NO_SLICE)?;
        if NalType::of(slice).is_some_and(NalType::is_idr) {
            return Ok(Some(Picture::Idr));
        }
        let pps = pps.ok_or(CodecError::Incomplete {
            what: "PPS not received yet",
        })?;
        Ok(Some(Picture::Other {
            poc_lsb: slice_poc_lsb(slice, sps, pps)?,
            log2_max_lsb: sps.log2_max_pic_order_cnt_lsb,
        }))
    }
}

/// Whether a slice segment starts its picture (`first_slice_segment_in_pic_flag`).
fn first_slice_segment(nal: &[u8]) -> bool {
    nal.get(2).is_some_and(|b| b & 0x80 != 0)
}

/// Reads `slice_pic_order_cnt_lsb` from the first slice segment of a non-IDR picture
/// (H.265 §7.3.6.1).
fn slice_poc_lsb(nal: &[u8], sps: &SpsInfo, pps: &PpsInfo) -> Result<u32, CodecError> {
    let is_irap = NalType::of(nal).is_some_and(NalType::is_irap);
    let head = nal.get(2..nal.len().min(64)).unwrap_or_default();
    let rbsp = remove_emulation_prevention(head);
    let mut r = BitReader::new(&rbsp);
    let mut read = || -> Result<u32, CodecError> {
        r.skip(1)?; // first_slice_segment_in_pic_flag (set: checked by the caller)
        if is_irap {
            r.skip(1)?; // no_output_of_prior_pics_flag
        }
        r.read_ue()?; // slice_pic_parameter_set_id
        r.skip(pps.num_extra_slice_header_bits as usize)?;
        r.read_ue()?; // slice_type
        if pps.output_flag_present {
            r.skip(1)?; // pic_output_flag
        }
        if sps.separate_colour_plane {
            r.skip(2)?; // colour_plane_id
        }
        r.read_u32(sps.log2_max_pic_order_cnt_lsb)
    };
    read().map_err(|e| e.incomplete_in("slice header"))
}

fn parse_sps(r: &mut BitReader<'_>) -> Result<SpsInfo, CodecError> {
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.read_u8(3)?;
    if max_sub_layers_minus1 > 6 {
        return Err(CodecError::Invalid {
            what: "sps_max_sub_layers_minus1",
        });
    }
    r.skip(1)?; // sps_temporal_id_nesting_flag
    let ptl = parse_profile_tier_level(r, max_sub_layers_minus1)?;
    let sps_id = r.read_ue_max(15, "sps_seq_parameter_set_id")?;
    let chroma_format_idc = r.read_ue_max(3, "chroma_format_idc")?;
    let separate_colour_plane = chroma_format_idc == 3 && r.read_bit()?;
    let width = r.read_ue_max(16888, "pic_width_in_luma_samples")?;
    let height = r.read_ue_max(16888, "pic_height_in_luma_samples")?;
    let (width, height) = conformance_window(r, width, height, chroma_format_idc)?;
    let bit_depth_luma = 8 + r.read_ue_max(8, "bit_depth_luma_minus8")?;
    let bit_depth_chroma = 8 + r.read_ue_max(8, "bit_depth_chroma_minus8")?;
    let log2_max_pic_order_cnt_lsb = 4 + r.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")?;
    let all_layers = r.read_bit()?; // sps_sub_layer_ordering_info_present_flag
    let first = if all_layers { 0 } else { max_sub_layers_minus1 };
    let mut max_num_reorder_pics = 0;
    for _ in first..=max_sub_layers_minus1 {
        r.read_ue()?; // sps_max_dec_pic_buffering_minus1
        max_num_reorder_pics = r.read_ue_max(16, "sps_max_num_reorder_pics")?;
        r.read_ue()?; // sps_max_latency_increase_plus1
    }
    Ok(SpsInfo {
        profile_space: ptl.profile_space,
        tier_flag: ptl.tier_flag,
        profile_idc: ptl.profile_idc,
        profile_compatibility_flags: ptl.compatibility,
        constraint_flags: ptl.constraints,
        level_idc: ptl.level_idc,
        max_sub_layers: max_sub_layers_minus1 + 1,
        sps_id,
        chroma_format_idc,
        separate_colour_plane,
        width,
        height,
        bit_depth_luma,
        bit_depth_chroma,
        log2_max_pic_order_cnt_lsb,
        max_num_reorder_pics,
    })
}

struct ProfileTierLevel {
    profile_space: u8,
    tier_flag: bool,
    profile_idc: u8,
    compatibility: u32,
    constraints: u64,
    level_idc: u8,
}

/// `profile_tier_level(1, max_sub_layers_minus1)` (H.265 §7.3.3).
fn parse_profile_tier_level(
    r: &mut BitReader<'_>,
    max_sub_layers_minus1: u8,
) -> Result<ProfileTierLevel, CodecError> {
    let ptl = ProfileTierLevel {
        profile_space: r.read_u8(2)?,
        tier_flag: r.read_bit()?,
        profile_idc: r.read_u8(5)?,
        compatibility: r.read_u32(32)?,
        constraints: r.read_bits(48)?,
        level_idc: r.read_u8(8)?,
    };
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(usize::from(max_sub_layers_minus1)) {
        *p = (r.read_bit()?, r.read_bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - usize::from(max_sub_layers_minus1)))?; // reserved_zero_2bits
    }
    for &(profile, level) in present.iter().take(usize::from(max_sub_layers_minus1)) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    Ok(ptl)
}

/// Applies `conf_win_*_offset` (H.265 §7.4.3.2.1, in chroma units).
fn conformance_window(
    r: &mut BitReader<'_>,
    width: u32,
    height: u32,
    chroma_format_idc: u32,
) -> Result<(u32, u32), CodecError> {
    if !r.read_bit()? {
        return Ok((width, height));
    }
    let (sub_w, sub_h) = match chroma_format_idc {
        1 => (2u64, 2u64),
        2 => (2, 1),
        _ => (1, 1),
    };
    let mut off = [0u64; 4];
    for o in &mut off {
        *o = u64::from(r.read_ue()?);
    }
    let [left, right, top, bottom] = off;
    let crop_w = sub_w * (left + right);
    let crop_h = sub_h * (top + bottom);
    if crop_w >= u64::from(width) || crop_h >= u64::from(height) {
        return Err(CodecError::Invalid {
            what: "conformance window",
        });
    }
    Ok((
        (u64::from(width) - crop_w) as u32,
        (u64::from(height) - crop_h) as u32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::annexb;
    use crate::codec::h264::tests::{assert_cuts_incomplete, hex};
    use crate::codec::poc::tests::checked_dts;

    /// One SPS case: the NAL unit and what it decodes to. Also the fuzz seed corpus
    /// (`fuzz/corpus/h265_sps/`).
    pub(crate) struct SpsCase {
        pub(crate) name: &'static str,
        pub(crate) hex: &'static str,
        pub(crate) size: (u32, u32),
        pub(crate) chroma_format_idc: u32,
        pub(crate) bit_depth: u32,
        pub(crate) codec: &'static str,
    }

    pub(crate) const SPS_CASES: &[SpsCase] = &[
        SpsCase {
            name: "x265 main 1080p (conformance window)",
            hex: "420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000c84",
            size: (1920, 1080),
            chroma_format_idc: 1,
            bit_depth: 8,
            codec: "hvc1.1.6.L120.90",
        },
        SpsCase {
            name: "x265 main B-frames 320x240",
            hex: "42010101600000030090000003000003003ca00a080f16595964932bc05a020000030002000003003210",
            size: (320, 240),
            chroma_format_idc: 1,
            bit_depth: 8,
            codec: "hvc1.1.6.L60.90",
        },
        SpsCase {
            name: "x265 main10 720p",
            hex: "42010102200000030090000003000003005da00280802d1365959a4932bc05a020000003002000000303c1",
            size: (1280, 720),
            chroma_format_idc: 1,
            bit_depth: 10,
            codec: "hvc1.2.4.L93.90",
        },
        SpsCase {
            name: "x265 RExt 4:2:2 640x360",
            hex: "4201010408000003009d0800000300003fb00502016965959a4932bc05a02000000300200000030321",
            size: (640, 360),
            chroma_format_idc: 2,
            bit_depth: 8,
            codec: "hvc1.4.10.L63.9D.8",
        },
        SpsCase {
            name: "camera main 720p (published SDP)",
            hex: "420101016000000300b0000003000003005da00280802d1636b924cbf0080000030008000003019508",
            size: (1280, 720),
            chroma_format_idc: 1,
            bit_depth: 8,
            codec: "hvc1.1.6.L93.B0",
        },
        SpsCase {
            name: "camera main 1080p (published SDP)",
            hex: "420101016000000300b00000030000030078a003c08010e58dae4932f0",
            size: (1920, 1080),
            chroma_format_idc: 1,
            bit_depth: 8,
            codec: "hvc1.1.6.L120.B0",
        },
    ];

    #[test]
    fn sps_case_table() {
        assert_eq!(SPS_CASES.len(), 6);
        for c in SPS_CASES {
            let name = c.name;
            let sps = SpsInfo::parse(&hex(c.hex)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((sps.width, sps.height), c.size, "{name}");
            assert_eq!(sps.chroma_format_idc, c.chroma_format_idc, "{name}");
            assert_eq!(
                (sps.bit_depth_luma, sps.bit_depth_chroma),
                (c.bit_depth, c.bit_depth),
                "{name}"
            );
            assert_eq!(sps.codec_string(), c.codec, "{name}");
        }
    }

    #[test]
    fn truncated_or_wrong_sps_fails_cleanly() {
        for c in SPS_CASES {
            assert_cuts_incomplete(c.name, &hex(c.hex), SpsInfo::parse);
        }
        assert_eq!(
            SpsInfo::parse(&[0x40, 0x01, 0x0C]),
            Err(CodecError::Invalid {
                what: "SPS NAL header"
            })
        );
    }

    /// Display index of each access unit of `testdata/bframes-320x240.h265` (x265, 3
    /// B-frames with pyramid), in decode order, from `ffprobe -show_packets`.
    const BFRAMES_PTS: [i64; 50] = [
        0, 3, 2, 1, 6, 5, 4, 10, 8, 7, 9, 13, 12, 11, 17, 15, 14, 16, 21, 19, 18, 20, 25, 23, 22,
        24, 26, 30, 28, 27, 29, 34, 32, 31, 33, 38, 36, 35, 37, 41, 40, 39, 45, 43, 42, 44, 49, 47,
        46, 48,
    ];

    #[test]
    fn dts_of_bframe_stream_is_increasing_and_not_after_pts() {
        let stream = Bytes::from_static(include_bytes!("testdata/bframes-320x240.h265"));
        let units = split_access_units(&annexb::split(&stream));
        let mut d = DtsExtractor::new();
        let dts = checked_dts(&units, &BFRAMES_PTS, 0, |au, pts| d.extract(au, pts));
        for (i, &(dts, _)) in dts.iter().enumerate().skip(8) {
            // Steady state: one frame per frame, (decode index - 3) frames. ffmpeg muxed
            // (index - 2); the POC jump of the B-pyramid makes us learn depth 3, not 2.
            assert_eq!(dts, (i as i64 - 3) * 3600, "unit {i}");
        }
        let prev = dts.last().map_or(i64::MIN, |d| d.0);
        assert!(is_keyframe(&units[0]) && !is_keyframe(&units[1]));
        assert_eq!(units.iter().filter(|u| is_keyframe(u)).count(), 2);
        // DTS keeps pace: it ends within the reorder depth (3 frames) of the last PTS.
        assert!(prev >= 45 * 3600, "last dts {prev}");
    }

    #[test]
    fn pps_fields() {
        let pps = PpsInfo::parse(&[0x44, 0x01, 0xC1, 0x72, 0xB4, 0x62, 0x40]).unwrap();
        assert_eq!((pps.pps_id, pps.sps_id), (0, 0));
        assert!(!pps.dependent_slice_segments_enabled && !pps.output_flag_present);
        assert_eq!(pps.num_extra_slice_header_bits, 0);
    }
}
