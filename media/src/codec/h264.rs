//! H.264 bitstream helpers: NAL unit types, SPS parsing, RFC 6381 codec strings, keyframes
//! and DTS from picture order count (ITU-T H.264).

use bytes::Bytes;

use super::CodecError;
use super::bits::{BitReader, remove_emulation_prevention};
use super::nal::{self, Boundary, NalSyntax};
use super::params::VideoCodec;
use super::poc::{NO_SLICE, NalRole, Picture, PocDtsExtractor, PocSyntax};

/// An H.264 `nal_unit_type` (H.264 Table 7-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NalType(pub u8);

impl NalType {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: NalType = NalType(1);
    /// Coded slice data partition A.
    pub const SLICE_DPA: NalType = NalType(2);
    /// Coded slice of an IDR picture.
    pub const IDR: NalType = NalType(5);
    /// Supplemental enhancement information.
    pub const SEI: NalType = NalType(6);
    /// Sequence parameter set.
    pub const SPS: NalType = NalType(7);
    /// Picture parameter set.
    pub const PPS: NalType = NalType(8);
    /// Access unit delimiter.
    pub const AUD: NalType = NalType(9);
    /// Filler data.
    pub const FILLER: NalType = NalType(12);

    /// The type of `nal` (its first byte's low five bits), `None` if `nal` is empty.
    pub fn of(nal: &[u8]) -> Option<NalType> {
        nal.first().map(|b| NalType(b & 0x1F))
    }

    /// Whether this type carries slice data of a primary coded picture (types 1..=5).
    pub fn is_vcl(self) -> bool {
        (1..=5).contains(&self.0)
    }
}

/// What an H.264 sequence parameter set says (H.264 §7.3.2.1.1, §7.4.2.1.1, VUI Annex E).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High, ...).
    pub profile_idc: u8,
    /// The byte of `constraint_set0..5_flag` and reserved bits, as in the codec string.
    pub constraint_flags: u8,
    /// `level_idc` (31 = level 3.1).
    pub level_idc: u8,
    /// `seq_parameter_set_id`.
    pub sps_id: u32,
    /// `chroma_format_idc` (1 = 4:2:0).
    pub chroma_format_idc: u32,
    /// `separate_colour_plane_flag`.
    pub separate_colour_plane: bool,
    /// Luma bit depth.
    pub bit_depth_luma: u32,
    /// Chroma bit depth.
    pub bit_depth_chroma: u32,
    /// `log2_max_frame_num_minus4 + 4`.
    pub log2_max_frame_num: u32,
    /// `pic_order_cnt_type` (0, 1 or 2).
    pub pic_order_cnt_type: u32,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4` (0 unless `pic_order_cnt_type` is 0).
    pub log2_max_pic_order_cnt_lsb: u32,
    /// `max_num_ref_frames`.
    pub max_num_ref_frames: u32,
    /// `frame_mbs_only_flag`: false for interlaced (field/MBAFF) coding.
    pub frame_mbs_only: bool,
    /// Displayed width in pixels, cropping applied.
    pub width: u32,
    /// Displayed height in pixels, cropping applied.
    pub height: u32,
    /// Frame rate from VUI timing info, as (`time_scale`, `2 × num_units_in_tick`).
    pub frame_rate: Option<(u32, u32)>,
    /// VUI `max_num_reorder_frames` (0 means no B-frame reordering).
    pub max_num_reorder_frames: Option<u32>,
}

impl SpsInfo {
    /// Parses an SPS NAL unit (header byte included, emulation prevention not yet removed).
    pub fn parse(nal: &[u8]) -> Result<SpsInfo, CodecError> {
        let header = nal.first().ok_or(CodecError::Incomplete { what: "SPS" })?;
        if header & 0x80 != 0 || header & 0x1F != NalType::SPS.0 {
            return Err(CodecError::Invalid {
                what: "SPS NAL header",
            });
        }
        let rbsp = remove_emulation_prevention(nal.get(1..).unwrap_or_default());
        let mut r = BitReader::new(&rbsp);
        parse_sps(&mut r).map_err(|e| e.incomplete_in("SPS"))
    }

    /// The RFC 6381 codec string, `avc1.PPCCLL` in hex (e.g. `avc1.64001F`).
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02X}{:02X}{:02X}",
            self.profile_idc, self.constraint_flags, self.level_idc
        )
    }

    /// Frames per second from VUI timing, if the SPS carries it.
    pub fn fps(&self) -> Option<f64> {
        self.frame_rate.map(|(n, d)| f64::from(n) / f64::from(d))
    }
}

/// Whether an access unit is an IDR picture (a decoder can start here).
pub fn is_keyframe(nalus: &[Bytes]) -> bool {
    nalus.iter().any(|n| NalType::of(n) == Some(NalType::IDR))
}

/// Groups NAL units (in decode order, e.g. from [`super::annexb::split`]) into access units
/// (H.264 §7.4.1.2.3): a new unit starts at an AUD, SEI, SPS, PPS or types 14..=18 following a
/// slice, or at a slice with `first_mb_in_slice` 0 following a slice. NAL units before the
/// first slice of the stream belong to the first unit.
pub fn split_access_units(nalus: &[Bytes]) -> Vec<Vec<Bytes>> {
    nal::split_access_units::<Syntax>(nalus)
}

/// Derives decode timestamps from picture order count, so B-frame streams come out right.
///
/// Feed access units in decode order with their PTS (any clock, usually 90 kHz). The SPS is
/// taken from the access units (in-band) or from [`DtsExtractor::with_sps`]. Streams with
/// `pic_order_cnt_type` 2, with VUI `max_num_reorder_frames` 0, or with field coding get
/// `dts = pts`. Every returned DTS is `<= pts` and greater than the previous one.
#[derive(Clone, Debug, Default)]
pub struct DtsExtractor(PocDtsExtractor<Syntax>);

impl DtsExtractor {
    /// An extractor that waits for an in-band SPS.
    pub fn new() -> Self {
        Self(PocDtsExtractor::new())
    }

    /// An extractor that starts with an out-of-band SPS (e.g. from SDP `sprop-parameter-sets`).
    pub fn with_sps(sps: Bytes) -> Result<Self, CodecError> {
        let mut d = Self::new();
        d.0.set_sps(&sps)?;
        Ok(d)
    }

    /// The DTS of the access unit `nalus` (NAL units without start codes) presented at `pts`.
    pub fn extract(&mut self, nalus: &[Bytes], pts: i64) -> Result<i64, CodecError> {
        self.0.extract(nalus, pts)
    }
}

/// Fuzz entry: parses `data` as an SPS, then as an Annex B stream through [`DtsExtractor`] and
/// [`super::params::ParamTracker`]. Must never panic.
#[doc(hidden)]
pub fn fuzz_h264_sps(data: &[u8]) {
    if let Ok(info) = SpsInfo::parse(data) {
        let _ = info.codec_string();
    }
    nal::fuzz_annexb_stream::<Syntax>(data, VideoCodec::H264, is_keyframe);
}

/// H.264's answers to the questions [`nal`] and [`super::poc`] share between codecs.
///
/// `role` and `picture` run per NAL unit and access unit on ingest and are `#[inline]`:
/// without it the generic extractor did not inline them and cost ~7% more per access unit.
#[derive(Clone, Debug)]
struct Syntax;

impl NalSyntax for Syntax {
    fn boundary(nal: &[u8]) -> Boundary {
        match NalType::of(nal) {
            Some(t) if t.is_vcl() => Boundary::Slice {
                first_in_picture: nal.get(1).is_some_and(|b| b & 0x80 != 0),
            },
            Some(NalType(6..=9 | 14..=18)) => Boundary::Opens,
            _ => Boundary::Within,
        }
    }
}

impl PocSyntax for Syntax {
    type Sps = SpsInfo;
    type Pps = ();
    const POC_INCREMENT: u32 = 2;

    #[inline]
    fn role(nal: &[u8]) -> NalRole {
        match NalType::of(nal) {
            Some(NalType::SPS) => NalRole::Sps,
            Some(t) if t.is_vcl() => NalRole::PocSlice,
            _ => NalRole::Other,
        }
    }

    fn parse_sps(nal: &[u8]) -> Result<SpsInfo, CodecError> {
        SpsInfo::parse(nal)
    }

    fn parse_pps(_nal: &[u8]) -> Result<(), CodecError> {
        Ok(()) // never asked: `role` names no NAL unit a PPS
    }

    #[inline]
    fn picture(
        sps: &SpsInfo,
        _pps: Option<&()>,
        slice: Option<&[u8]>,
    ) -> Result<Option<Picture>, CodecError> {
        let slice = slice.ok_or(NO_SLICE)?;
        if sps.pic_order_cnt_type == 2
            || !sps.frame_mbs_only
            || sps.max_num_reorder_frames == Some(0)
        {
            return Ok(None);
        }
        if sps.pic_order_cnt_type == 1 {
            return Err(CodecError::Unsupported {
                what: "pic_order_cnt_type 1",
            });
        }
        if NalType::of(slice) == Some(NalType::IDR) {
            return Ok(Some(Picture::Idr));
        }
        Ok(Some(Picture::Other {
            poc_lsb: slice_poc_lsb(slice, sps)?,
            log2_max_lsb: sps.log2_max_pic_order_cnt_lsb,
        }))
    }
}

/// Reads `pic_order_cnt_lsb` from a slice header (H.264 §7.3.3).
fn slice_poc_lsb(nal: &[u8], sps: &SpsInfo) -> Result<u32, CodecError> {
    let is_idr = NalType::of(nal) == Some(NalType::IDR);
    // The fields before pic_order_cnt_lsb fit in 36 bytes (4 ue(v) of ≤ 63 bits + ≤ 36 bits).
    let head = nal.get(1..nal.len().min(64)).unwrap_or_default();
    let rbsp = remove_emulation_prevention(head);
    let mut r = BitReader::new(&rbsp);
    let mut read = || -> Result<u32, CodecError> {
        r.read_ue()?; // first_mb_in_slice
        r.read_ue()?; // slice_type
        r.read_ue()?; // pic_parameter_set_id
        if sps.separate_colour_plane {
            r.skip(2)?; // colour_plane_id
        }
        r.skip(sps.log2_max_frame_num as usize)?; // frame_num
        if !sps.frame_mbs_only && r.read_bit()? {
            r.skip(1)?; // bottom_field_flag
        }
        if is_idr {
            r.read_ue()?; // idr_pic_id
        }
        r.read_u32(sps.log2_max_pic_order_cnt_lsb)
    };
    read().map_err(|e| e.incomplete_in("slice header"))
}

fn parse_sps(r: &mut BitReader<'_>) -> Result<SpsInfo, CodecError> {
    let profile_idc = r.read_u8(8)?;
    let constraint_flags = r.read_u8(8)?;
    let level_idc = r.read_u8(8)?;
    let sps_id = r.read_ue_max(31, "seq_parameter_set_id")?;
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    let (mut bit_depth_luma, mut bit_depth_chroma) = (8, 8);
    if has_chroma_info(profile_idc) {
        chroma_format_idc = r.read_ue_max(3, "chroma_format_idc")?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_bit()?;
        }
        bit_depth_luma = 8 + r.read_ue_max(6, "bit_depth_luma_minus8")?;
        bit_depth_chroma = 8 + r.read_ue_max(6, "bit_depth_chroma_minus8")?;
        r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.read_bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.read_bit()? {
                    skip_scaling_list(r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    let log2_max_frame_num = 4 + r.read_ue_max(12, "log2_max_frame_num_minus4")?;
    let pic_order_cnt_type = r.read_ue_max(2, "pic_order_cnt_type")?;
    let mut log2_max_pic_order_cnt_lsb = 0;
    match pic_order_cnt_type {
        0 => log2_max_pic_order_cnt_lsb = 4 + r.read_ue_max(12, "log2_max_poc_lsb_minus4")?,
        1 => skip_poc_type1(r)?,
        _ => {}
    }
    let max_num_ref_frames = r.read_ue_max(16, "max_num_ref_frames")?;
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.read_ue_max(1023, "pic_width_in_mbs_minus1")?) + 1;
    let height_units = u64::from(r.read_ue_max(1023, "pic_height_in_map_units_minus1")?) + 1;
    let frame_mbs_only = r.read_bit()?;
    if !frame_mbs_only {
        r.skip(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1)?; // direct_8x8_inference_flag
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (width, height) = cropped_size(
        r,
        width_mbs,
        height_units,
        chroma_array_type,
        frame_mbs_only,
    )?;
    let vui = if r.read_bit()? {
        parse_vui(r).unwrap_or_default()
    } else {
        Vui::default()
    };
    Ok(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        sps_id,
        chroma_format_idc,
        separate_colour_plane,
        bit_depth_luma,
        bit_depth_chroma,
        log2_max_frame_num,
        pic_order_cnt_type,
        log2_max_pic_order_cnt_lsb,
        max_num_ref_frames,
        frame_mbs_only,
        width,
        height,
        frame_rate: vui.frame_rate,
        max_num_reorder_frames: vui.max_num_reorder_frames,
    })
}

fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// `scaling_list()` (H.264 §7.3.2.1.1.1), values discarded.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.read_se()?;
            if !(-128..=127).contains(&delta) {
                return Err(CodecError::Invalid {
                    what: "delta_scale",
                });
            }
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn skip_poc_type1(r: &mut BitReader<'_>) -> Result<(), CodecError> {
    r.skip(1)?; // delta_pic_order_always_zero_flag
    r.read_se()?; // offset_for_non_ref_pic
    r.read_se()?; // offset_for_top_to_bottom_field
    let n = r.read_ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")?;
    for _ in 0..n {
        r.read_se()?; // offset_for_ref_frame
    }
    Ok(())
}

/// Frame size with `frame_crop_*_offset` applied (H.264 §7.4.2.1.1, equations 7-19..7-22).
fn cropped_size(
    r: &mut BitReader<'_>,
    width_mbs: u64,
    height_units: u64,
    chroma_array_type: u32,
    frame_mbs_only: bool,
) -> Result<(u32, u32), CodecError> {
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let width = width_mbs * 16;
    let height = height_units * 16 * field_factor;
    if !r.read_bit()? {
        return Ok((width as u32, height as u32));
    }
    let (sub_w, sub_h) = match chroma_array_type {
        0 => (1, 1),
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let mut crop = [0u64; 4];
    for c in &mut crop {
        *c = u64::from(r.read_ue()?);
    }
    let [left, right, top, bottom] = crop;
    let crop_w = sub_w * (left + right);
    let crop_h = sub_h * field_factor * (top + bottom);
    if crop_w >= width || crop_h >= height {
        return Err(CodecError::Invalid {
            what: "frame cropping",
        });
    }
    Ok(((width - crop_w) as u32, (height - crop_h) as u32))
}

#[derive(Default)]
struct Vui {
    frame_rate: Option<(u32, u32)>,
    max_num_reorder_frames: Option<u32>,
}

/// `vui_parameters()` (H.264 §E.1.1), keeping timing and reordering.
fn parse_vui(r: &mut BitReader<'_>) -> Result<Vui, CodecError> {
    let mut vui = Vui::default();
    if r.read_bit()? && r.read_u8(8)? == 255 {
        r.skip(32)?; // sar_width, sar_height
    }
    if r.read_bit()? {
        r.skip(1)?; // overscan_appropriate_flag
    }
    if r.read_bit()? {
        r.skip(4)?; // video_format, video_full_range_flag
        if r.read_bit()? {
            r.skip(24)?; // colour_primaries, transfer_characteristics, matrix_coefficients
        }
    }
    if r.read_bit()? {
        r.read_ue()?;
        r.read_ue()?; // chroma_sample_loc_type_top/bottom_field
    }
    if r.read_bit()? {
        let num_units_in_tick = r.read_u32(32)?;
        let time_scale = r.read_u32(32)?;
        r.skip(1)?; // fixed_frame_rate_flag
        if num_units_in_tick > 0 && time_scale > 0 {
            vui.frame_rate = num_units_in_tick.checked_mul(2).map(|d| (time_scale, d));
        }
    }
    let nal_hrd = r.read_bit()?;
    if nal_hrd {
        skip_hrd(r)?;
    }
    let vcl_hrd = r.read_bit()?;
    if vcl_hrd {
        skip_hrd(r)?;
    }
    if nal_hrd || vcl_hrd {
        r.skip(1)?; // low_delay_hrd_flag
    }
    r.skip(1)?; // pic_struct_present_flag
    if r.read_bit()? {
        r.skip(1)?; // motion_vectors_over_pic_boundaries_flag
        for _ in 0..4 {
            r.read_ue()?; // max_bytes_per_pic_denom .. log2_max_mv_length_vertical
        }
        vui.max_num_reorder_frames = Some(r.read_ue()?);
        r.read_ue()?; // max_dec_frame_buffering
    }
    Ok(vui)
}

/// `hrd_parameters()` (H.264 §E.1.2), values discarded.
fn skip_hrd(r: &mut BitReader<'_>) -> Result<(), CodecError> {
    let cpb_cnt = r.read_ue_max(31, "cpb_cnt_minus1")? + 1;
    r.skip(8)?; // bit_rate_scale, cpb_size_scale
    for _ in 0..cpb_cnt {
        r.read_ue()?;
        r.read_ue()?;
        r.skip(1)?;
    }
    r.skip(20) // four 5-bit length fields
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::annexb;
    use crate::codec::poc::tests::checked_dts;

    /// One SPS case: the NAL unit and what it decodes to. Also the fuzz seed corpus
    /// (`fuzz/corpus/h264_sps/`).
    pub(crate) struct SpsCase {
        pub(crate) name: &'static str,
        pub(crate) hex: &'static str,
        pub(crate) size: (u32, u32),
        pub(crate) profile_level: (u8, u8),
        pub(crate) codec: &'static str,
        pub(crate) frame_mbs_only: bool,
        pub(crate) poc_type: u32,
    }

    pub(crate) const SPS_CASES: &[SpsCase] = &[
        SpsCase {
            name: "ffmpeg baseline 176x144",
            hex: "6742c00bd902c4ec0440000003004000000c83c50a92",
            size: (176, 144),
            profile_level: (66, 11),
            codec: "avc1.42C00B",
            frame_mbs_only: true,
            poc_type: 2,
        },
        SpsCase {
            name: "ffmpeg main 640x360 (synthetic)",
            hex: "674d401ed900a02ff97011000003000100000300320f162e48",
            size: (640, 360),
            profile_level: (77, 30),
            codec: "avc1.4D401E",
            frame_mbs_only: true,
            poc_type: 2,
        },
        SpsCase {
            name: "ffmpeg main 1080p crop (synthetic)",
            hex: "674d4028d900780227e5c044000003000400000300c83c60c920",
            size: (1920, 1080),
            profile_level: (77, 40),
            codec: "avc1.4D4028",
            frame_mbs_only: true,
            poc_type: 2,
        },
        SpsCase {
            name: "ffmpeg high 1080p",
            hex: "67640028acd940780227e5c044000003000400000300f03c60c658",
            size: (1920, 1080),
            profile_level: (100, 40),
            codec: "avc1.640028",
            frame_mbs_only: true,
            poc_type: 0,
        },
        SpsCase {
            name: "ffmpeg high B-frames 320x240",
            hex: "6764000dacd94141fb011000000300100000030320f1429960",
            size: (320, 240),
            profile_level: (100, 13),
            codec: "avc1.64000D",
            frame_mbs_only: true,
            poc_type: 0,
        },
        SpsCase {
            name: "ffmpeg high 4:4:4 640x480",
            hex: "67f4001e919b281407b60220000003002000000641e2c5b2c0",
            size: (640, 480),
            profile_level: (244, 30),
            codec: "avc1.F4001E",
            frame_mbs_only: true,
            poc_type: 0,
        },
        SpsCase {
            name: "ffmpeg high10 720p",
            hex: "676e0020a6cd9405005bb011000003000100000300640f183196",
            size: (1280, 720),
            profile_level: (110, 32),
            codec: "avc1.6E0020",
            frame_mbs_only: true,
            poc_type: 0,
        },
        SpsCase {
            name: "ffmpeg interlaced 576i",
            hex: "6764001eacd940b424d8088000000300800000190f8a14cb",
            size: (720, 576),
            profile_level: (100, 30),
            codec: "avc1.64001E",
            frame_mbs_only: false,
            poc_type: 0,
        },
        SpsCase {
            name: "camera main 1080p (retina test SDP)",
            hex: "674d002a9da81e0089f966e02020280000030008000003007c20",
            size: (1920, 1080),
            profile_level: (77, 42),
            codec: "avc1.4D002A",
            frame_mbs_only: true,
            poc_type: 2,
        },
        SpsCase {
            name: "camera main 1080p (published SDP)",
            hex: "674d002a963540f0044fcb37010101400001c2000057e401",
            size: (1920, 1080),
            profile_level: (77, 42),
            codec: "avc1.4D002A",
            frame_mbs_only: true,
            poc_type: 0,
        },
    ];

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    /// Checks that `parse` of every truncation of `full` (case `name`) succeeds or says
    /// `Incomplete`, never another error.
    pub(crate) fn assert_cuts_incomplete<T>(
        name: &str,
        full: &[u8],
        parse: fn(&[u8]) -> Result<T, CodecError>,
    ) {
        for cut in 0..full.len() {
            match parse(&full[..cut]) {
                Ok(_) | Err(CodecError::Incomplete { .. }) => {}
                Err(e) => panic!("{name} cut at {cut}: {e}"),
            }
        }
    }

    #[test]
    fn sps_case_table() {
        assert_eq!(SPS_CASES.len(), 10);
        for c in SPS_CASES {
            let name = c.name;
            let sps = SpsInfo::parse(&hex(c.hex)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((sps.width, sps.height), c.size, "{name}");
            assert_eq!((sps.profile_idc, sps.level_idc), c.profile_level, "{name}");
            assert_eq!(sps.codec_string(), c.codec, "{name}");
            assert_eq!(sps.frame_mbs_only, c.frame_mbs_only, "{name}");
            assert_eq!(sps.pic_order_cnt_type, c.poc_type, "{name}");
        }
    }

    #[test]
    fn sps_details() {
        let sps = SpsInfo::parse(&hex(SPS_CASES[1].hex)).unwrap();
        assert_eq!(sps.fps(), Some(25.0));
        assert_eq!(sps.max_num_reorder_frames, Some(0));
        assert_eq!(sps.constraint_flags, 0x40);
        let hi10 = SpsInfo::parse(&hex(SPS_CASES[6].hex)).unwrap();
        assert_eq!((hi10.bit_depth_luma, hi10.chroma_format_idc), (10, 1));
        let bf = SpsInfo::parse(&hex(SPS_CASES[4].hex)).unwrap();
        assert_eq!(bf.max_num_reorder_frames, Some(2));
    }

    #[test]
    fn truncated_or_wrong_sps_fails_cleanly() {
        for c in SPS_CASES {
            assert_cuts_incomplete(c.name, &hex(c.hex), SpsInfo::parse);
        }
        assert_eq!(
            SpsInfo::parse(&[0x68, 0xCE]),
            Err(CodecError::Invalid {
                what: "SPS NAL header"
            })
        );
        assert_eq!(
            SpsInfo::parse(&[0x67, 0x42]),
            Err(CodecError::Incomplete { what: "SPS" })
        );
    }

    /// Display index of each access unit of `testdata/bframes-320x240.h264`, in decode order
    /// (from `ffprobe -show_packets` on the MP4 it was cut from; one frame = 3600 ticks).
    const BFRAMES_PTS: [i64; 50] = [
        0, 3, 1, 2, 6, 4, 5, 8, 7, 11, 9, 10, 14, 12, 13, 17, 15, 16, 20, 18, 19, 23, 21, 22, 24,
        25, 28, 26, 27, 31, 29, 30, 34, 32, 33, 37, 35, 36, 39, 38, 42, 40, 41, 45, 43, 44, 46, 47,
        49, 48,
    ];

    #[test]
    fn dts_of_bframe_stream_is_increasing_and_not_after_pts() {
        let stream = Bytes::from_static(include_bytes!("testdata/bframes-320x240.h264"));
        let units = split_access_units(&annexb::split(&stream));
        let mut d = DtsExtractor::new();
        let dts = checked_dts(&units, &BFRAMES_PTS, 1000, |au, pts| d.extract(au, pts));
        for (i, &(dts, _)) in dts.iter().enumerate().skip(8) {
            // Steady state: exactly what ffmpeg muxed, dts = (decode index - 2) frames.
            assert_eq!(dts, 1000 + (i as i64 - 2) * 3600, "unit {i}");
        }
        // After the start-up, DTS advances one frame per frame.
        assert_eq!(dts.last().map(|d| d.0), Some(1000 + 47 * 3600));
        assert!(is_keyframe(&units[0]) && !is_keyframe(&units[1]));
    }

    #[test]
    fn dts_equals_pts_without_reordering() {
        let sps = Bytes::from(hex(SPS_CASES[1].hex));
        let mut d = DtsExtractor::with_sps(sps).unwrap();
        let idr = Bytes::from_static(&[0x65, 0x88, 0x84]);
        let p = Bytes::from_static(&[0x41, 0x9A, 0x02]);
        assert_eq!(d.extract(std::slice::from_ref(&idr), 0), Ok(0));
        assert_eq!(d.extract(std::slice::from_ref(&p), 3600), Ok(3600));
        // A repeated PTS cannot get a DTS that is both increasing and not after it.
        assert_eq!(
            d.extract(std::slice::from_ref(&p), 3600),
            Err(CodecError::Invalid {
                what: "PTS behind previous DTS"
            })
        );
        assert_eq!(
            DtsExtractor::new().extract(&[idr], 0),
            Err(CodecError::Incomplete {
                what: "SPS not received yet"
            })
        );
    }
}
