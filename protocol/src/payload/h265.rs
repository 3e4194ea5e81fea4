//! H.265 RTP payload format (RFC 7798) without DONL (`sprop-max-don-diff` = 0): single NAL
//! unit packets (§4.4.1), aggregation packets (§4.4.2) and fragmentation units (§4.4.3).
//! PACI packets (§4.4.4) are rejected.

use bytes::Bytes;
use vigia_media::model::{CodecParams, VideoParams};

use super::video::{Fail, FuSyntax, NalAssembler, NalPacketizer, NalSyntax};
use super::{Case, PacketizerConfig, fixture, forward_depacketizer, forward_packetizer, rtp};

const AP: u8 = 48;
const FU: u8 = 49;
const PACI: u8 = 50;

#[derive(Clone, Copy, Debug)]
struct H265;

impl NalSyntax for H265 {
    const HEADER_LEN: usize = 2;

    fn add_payload(asm: &mut NalAssembler<Self>, p: &Bytes) -> Result<(), Fail> {
        let Some(&[h0, h1]) = p.get(..2).and_then(|s| <&[u8; 2]>::try_from(s).ok()) else {
            return Err(asm.fail(Fail::Invalid("payload shorter than 2 bytes")));
        };
        match H265::nal_type(h0) {
            0..=47 => asm.add_nal(p.clone()),
            AP => asm.aggregation(p, "empty aggregation packet", "bad AP NAL unit size"),
            FU => fragmentation_unit(asm, p, h0, h1),
            PACI => Err(asm.fail(Fail::Unsupported("PACI packet"))),
            _ => Err(asm.fail(Fail::Unsupported("unspecified NAL type"))),
        }
    }

    fn nal_type(first: u8) -> u8 {
        (first >> 1) & 0x3F
    }

    fn is_keyframe(nal_type: u8) -> bool {
        (16..=21).contains(&nal_type) // IRAP: BLA, IDR, CRA
    }

    fn starts_access_unit(p: &[u8]) -> bool {
        // first_slice_segment_in_pic_flag is the first bit after a VCL NAL header.
        let nal_starts = |nal_type: u8, next: Option<&u8>| match nal_type {
            0..=31 => next.is_some_and(|b| b & 0x80 != 0),
            32..=35 | 39 => true, // VPS, SPS, PPS, AUD, prefix SEI
            _ => false,
        };
        match p {
            [h, _, rest @ ..] if H265::nal_type(*h) <= 47 => {
                nal_starts(H265::nal_type(*h), rest.first())
            }
            [h, _, _, _, first, _, rest @ ..] if H265::nal_type(*h) == AP => {
                nal_starts(H265::nal_type(*first), rest.first())
            }
            [h, _, fu, rest @ ..] if H265::nal_type(*h) == FU && fu & 0x80 != 0 => {
                nal_starts(fu & 0x3F, rest.first())
            }
            _ => false,
        }
    }

    fn is_vcl(nal_type: u8) -> bool {
        nal_type <= 31
    }

    fn is_media_type(nal_type: u8) -> bool {
        nal_type <= 47 // RFC 7798 §4.4: 48..=63 are packet types or unspecified
    }

    fn param_slot(nal_type: u8) -> Option<usize> {
        match nal_type {
            32 => Some(0),
            33 => Some(1),
            34 => Some(2),
            _ => None,
        }
    }

    fn wrap(params: VideoParams) -> CodecParams {
        CodecParams::H265(params)
    }
}

impl FuSyntax for H265 {
    const HEADER_LEN: usize = 2;
    const PREFIX_LEN: usize = 3;

    /// Payload header (type 49, layer and TID kept) and FU header (S, E, type) — RFC 7798 §4.4.3.
    /// AP header: F is the OR, LayerId and TID the lowest of the aggregated NALs' (RFC 7798
    /// §4.4.2).
    fn aggregation_header(nals: &[Bytes]) -> [u8; 2] {
        let word = |n: &Bytes| n.get(..2).map_or(0, |h| u16::from_be_bytes([h[0], h[1]]));
        let f = nals.iter().fold(0, |acc, n| acc | (word(n) & 0x8000));
        let layer = nals.iter().map(|n| word(n) & 0x01F8).min().unwrap_or(0);
        let tid = nals
            .iter()
            .map(|n| word(n) & 0x0007)
            .min()
            .unwrap_or(1)
            .max(1);
        (f | (u16::from(AP) << 9) | layer | tid).to_be_bytes()
    }

    fn fu_prefix(nal_header: &[u8], start: bool, end: bool) -> [u8; 3] {
        let (h0, h1) = match nal_header {
            [a, b, ..] => (*a, *b),
            _ => (0, 1),
        };
        let fu_header = (u8::from(start) << 7) | (u8::from(end) << 6) | ((h0 >> 1) & 0x3F);
        [(h0 & 0x81) | (FU << 1), h1, fu_header]
    }
}

/// Fragmentation unit (RFC 7798 §4.4.3): NAL header rebuilt from payload and FU headers.
fn fragmentation_unit(asm: &mut NalAssembler<H265>, p: &Bytes, h0: u8, h1: u8) -> Result<(), Fail> {
    let Some(&fu) = p.get(2) else {
        return Err(asm.fail(Fail::Invalid("FU shorter than 3 bytes")));
    };
    let header = [(h0 & 0x81) | ((fu & 0x3F) << 1), h1];
    asm.fragment(&header, fu, p.slice(3..))
}

/// Depacketizer for H.265 (RFC 7798, no DONL).
#[derive(Clone, Debug)]
pub struct H265Depacketizer {
    asm: NalAssembler<H265>,
}

impl H265Depacketizer {
    /// A depacketizer for track `track` with RTP clock `clock_rate` (90 kHz) and the parameter
    /// sets known from the SDP (in-band changes set `new_params`).
    pub fn new(track: usize, clock_rate: u32, params: VideoParams) -> Self {
        Self {
            asm: NalAssembler::new(track, clock_rate, params),
        }
    }
}

forward_depacketizer!(H265Depacketizer, asm);

/// Packetizer for H.265: single NAL unit packets, FUs above the MTU; marker on the last packet
/// of each access unit (RFC 7798 §4.1).
#[derive(Clone, Debug)]
pub struct H265Packetizer {
    inner: NalPacketizer<H265>,
}

impl H265Packetizer {
    /// A packetizer stamping packets per `cfg`, with RTP clock `clock_rate`.
    pub fn new(cfg: PacketizerConfig, clock_rate: u32) -> Self {
        Self {
            inner: NalPacketizer::new(cfg, clock_rate),
        }
    }
}

forward_packetizer!(H265Packetizer, inner);

/// Case table: decode tests and fuzz seeds.
pub(super) fn cases() -> Vec<Case> {
    let vps = [0x40, 0x01, 0x0C];
    let sps = [0x42, 0x01, 0x01, 0x60];
    let mut ap = vec![AP << 1, 1];
    for n in [&vps[..], &sps[..]] {
        ap.extend_from_slice(&(n.len() as u16).to_be_bytes());
        ap.extend_from_slice(n);
    }
    vec![
        Case {
            name: "ap_then_idr",
            packets: vec![rtp(1, 0, false, &ap), rtp(2, 0, true, &[0x26, 0x01, 0xAF])],
            want: vec![(0, true, vec![3, 4, 3])],
            errors: 0,
        },
        Case {
            name: "fu_three_fragments",
            packets: vec![
                rtp(7, 500, false, &[0x62, 0x01, 0x93, 1, 2]),
                rtp(8, 500, false, &[0x62, 0x01, 0x13, 3]),
                rtp(9, 500, true, &[0x62, 0x01, 0x53, 4]),
            ],
            want: vec![(500, true, vec![6])],
            errors: 0,
        },
        Case {
            name: "loss_mid_fu_drops_au",
            packets: vec![
                rtp(7, 0, false, &[0x62, 0x01, 0x81, 1]),
                rtp(9, 0, true, &[0x62, 0x01, 0x41, 3]),
                rtp(10, 3000, true, &[0x02, 0x01, 9]),
            ],
            want: vec![(3000, false, vec![3])],
            errors: 0,
        },
        Case {
            name: "loss_then_picture_start_resumes",
            packets: vec![
                rtp(1, 0, false, &[0x02, 0x01, 0x80]),
                rtp(3, 3000, true, &[0x02, 0x01, 0x80, 5]),
            ],
            want: vec![(3000, false, vec![4])],
            errors: 0,
        },
        Case {
            name: "paci_unsupported",
            packets: vec![rtp(1, 0, true, &[PACI << 1, 1, 0, 0])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "fu_too_short",
            packets: vec![rtp(1, 0, true, &[0x62, 0x01])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "ap_size_past_end",
            packets: vec![rtp(1, 0, true, &[AP << 1, 1, 0, 5, 0x40])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "ffmpeg_x265_capture",
            packets: fixture(include_bytes!("testdata/h265.bin")),
            // VPS, SPS, PPS, SEI, IDR; then a P picture and a B picture (timestamp goes back).
            want: vec![
                (2_468_940_355, true, vec![24, 41, 7, 2289, 1910]),
                (2_468_976_355, false, vec![1163]),
                (2_468_958_355, false, vec![545]),
            ],
            errors: 0,
        },
    ]
}

#[cfg(test)]
mod tests {
    use vigia_media::model::AccessUnit;
    use vigia_media::time::Timestamp;

    use super::*;
    use crate::payload::{FuzzCodec, round_trip, run_cases};

    #[test]
    fn case_table() {
        run_cases(&cases(), || {
            Box::new(H265Depacketizer::new(0, 90_000, VideoParams::default()))
        });
    }

    #[test]
    fn round_trip_single_and_fu() {
        let big: Vec<u8> = [0x26, 0x01]
            .into_iter()
            .chain((0..4000u32).map(|i| i as u8))
            .collect();
        let nals = vec![Bytes::from_static(&[0x40, 0x01, 7]), Bytes::from(big)];
        let au = AccessUnit::new(1, Timestamp::new(42, 90_000), true, nals);
        let track = FuzzCodec::H265.track(); // default parameters, 90 kHz
        let out = round_trip(&track, &au, 1000);
        assert_eq!(out.len(), 1 + 5);
        assert_eq!(out[1].chunks[0][12..], [0x62, 0x01, 0x93]);
        assert_eq!(out[5].chunks[0][12..], [0x62, 0x01, 0x53]);
        // Small NALs share an aggregation packet.
        let small = vec![
            Bytes::from_static(&[0x40, 0x01, 7]),
            Bytes::from_static(&[0x26, 0x01, 8, 9]),
        ];
        let out = round_trip(&track, &AccessUnit { data: small, ..au }, 1000);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].chunks[0][12..], [0x60, 0x01, 0, 3]);
    }
}
