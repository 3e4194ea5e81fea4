//! H.264 RTP payload format (RFC 6184), non-interleaved mode: single NAL unit packets (§5.6),
//! STAP-A (§5.7.1) and FU-A (§5.8). STAP-B, MTAP16/24 and FU-B (interleaved mode) are rejected.

use bytes::Bytes;
use vigia_media::model::{CodecParams, VideoParams};

use super::video::{Fail, FuSyntax, NalAssembler, NalPacketizer, NalSyntax};
use super::{Case, PacketizerConfig, fixture, forward_depacketizer, forward_packetizer, rtp};

const STAP_A: u8 = 24;
const FU_A: u8 = 28;

#[derive(Clone, Copy, Debug)]
struct H264;

impl NalSyntax for H264 {
    const HEADER_LEN: usize = 1;

    fn add_payload(asm: &mut NalAssembler<Self>, p: &Bytes) -> Result<(), Fail> {
        let Some(&first) = p.first() else {
            return Err(asm.fail(Fail::Invalid("empty payload")));
        };
        match first & 0x1F {
            1..=23 => asm.add_nal(p.clone()),
            STAP_A => asm.aggregation(p, "empty STAP-A", "bad STAP-A NAL unit size"),
            FU_A => fu_a(asm, p),
            25..=27 | 29 => {
                let what = "STAP-B/MTAP/FU-B (interleaved mode)";
                Err(asm.fail(Fail::Unsupported(what)))
            }
            _ => Err(asm.fail(Fail::Invalid("reserved NAL unit type"))),
        }
    }

    fn nal_type(first: u8) -> u8 {
        first & 0x1F
    }

    fn is_keyframe(nal_type: u8) -> bool {
        nal_type == 5 // IDR slice
    }

    fn starts_access_unit(p: &[u8]) -> bool {
        let nal_starts = |header: u8, next: Option<&u8>| match header & 0x1F {
            // first_mb_in_slice is ue(v): a leading 1 bit means 0, the picture's first slice.
            1 | 5 => next.is_some_and(|b| b & 0x80 != 0),
            6..=9 => true, // SEI, SPS, PPS, AUD
            _ => false,
        };
        match p {
            [h, rest @ ..] if (1..=23).contains(&(h & 0x1F)) => nal_starts(*h, rest.first()),
            [h, _, _, first, rest @ ..] if h & 0x1F == STAP_A => nal_starts(*first, rest.first()),
            [h, fu, rest @ ..] if h & 0x1F == FU_A && fu & 0x80 != 0 => {
                nal_starts(*fu, rest.first())
            }
            _ => false,
        }
    }

    fn is_vcl(nal_type: u8) -> bool {
        (1..=5).contains(&nal_type)
    }

    fn is_media_type(nal_type: u8) -> bool {
        (1..=23).contains(&nal_type) // RFC 6184 §5.2: 0 and 24..=31 are packet types
    }

    fn param_slot(nal_type: u8) -> Option<usize> {
        match nal_type {
            7 => Some(1),
            8 => Some(2),
            _ => None,
        }
    }

    fn wrap(params: VideoParams) -> CodecParams {
        CodecParams::H264(params)
    }
}

impl FuSyntax for H264 {
    const HEADER_LEN: usize = 1;
    const PREFIX_LEN: usize = 2;

    /// FU indicator (F, NRI, type 28) and FU header (S, E, R=0, type) — RFC 6184 §5.8.
    /// STAP-A header: F is the OR and NRI the maximum of the aggregated NALs' (RFC 6184 §5.7).
    fn aggregation_header(nals: &[Bytes]) -> [u8; 2] {
        let f = nals
            .iter()
            .fold(0, |acc, n| acc | n.first().map_or(0, |h| h & 0x80));
        let nri = nals
            .iter()
            .map(|n| n.first().map_or(0, |h| h & 0x60))
            .max()
            .unwrap_or(0);
        [f | nri | STAP_A, 0]
    }

    fn fu_prefix(nal_header: &[u8], start: bool, end: bool) -> [u8; 3] {
        let h = nal_header.first().copied().unwrap_or(0);
        let fu_header = (u8::from(start) << 7) | (u8::from(end) << 6) | (h & 0x1F);
        [(h & 0xE0) | FU_A, fu_header, 0]
    }
}

/// FU-A (RFC 6184 §5.8): reconstruct the NAL header from the FU indicator and FU header.
fn fu_a(asm: &mut NalAssembler<H264>, p: &Bytes) -> Result<(), Fail> {
    let Some(&[indicator, fu]) = p.get(..2).and_then(|s| <&[u8; 2]>::try_from(s).ok()) else {
        return Err(asm.fail(Fail::Invalid("FU-A shorter than 2 bytes")));
    };
    let header = [(indicator & 0xE0) | (fu & 0x1F)];
    asm.fragment(&header, fu, p.slice(2..))
}

/// Depacketizer for H.264 (RFC 6184 packetization modes 0 and 1).
#[derive(Clone, Debug)]
pub struct H264Depacketizer {
    asm: NalAssembler<H264>,
}

impl H264Depacketizer {
    /// A depacketizer for track `track` with the RTP clock `clock_rate` (90 kHz) and the
    /// parameter sets known from the SDP (in-band changes set `new_params`).
    pub fn new(track: usize, clock_rate: u32, params: VideoParams) -> Self {
        Self {
            asm: NalAssembler::new(track, clock_rate, params),
        }
    }
}

forward_depacketizer!(H264Depacketizer, asm);

/// Packetizer for H.264: single NAL unit packets, FU-A above the MTU (RFC 6184 §5.6, §5.8);
/// marker on the last packet of each access unit.
#[derive(Clone, Debug)]
pub struct H264Packetizer {
    inner: NalPacketizer<H264>,
}

impl H264Packetizer {
    /// A packetizer stamping packets per `cfg`, with RTP clock `clock_rate`.
    pub fn new(cfg: PacketizerConfig, clock_rate: u32) -> Self {
        Self {
            inner: NalPacketizer::new(cfg, clock_rate),
        }
    }
}

forward_packetizer!(H264Packetizer, inner);

/// Case table: decode tests and fuzz seeds.
pub(super) fn cases() -> Vec<Case> {
    let sps = [0x67, 0x42, 0x00, 0x1E, 0xAB];
    let pps = [0x68, 0xCE, 0x3C, 0x80];
    let mut stap = vec![STAP_A];
    for n in [&sps[..], &pps[..]] {
        stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
        stap.extend_from_slice(n);
    }
    vec![
        Case {
            name: "stap_a_then_idr",
            packets: vec![rtp(1, 0, false, &stap), rtp(2, 0, true, &[0x65, 1, 2, 3])],
            want: vec![(0, true, vec![5, 4, 4])],
            errors: 0,
        },
        Case {
            name: "fu_a_three_fragments",
            packets: vec![
                rtp(65535, 9000, false, &[0x7C, 0x85, 1, 2]),
                rtp(0, 9000, false, &[0x7C, 0x05, 3]),
                rtp(1, 9000, true, &[0x7C, 0x45, 4, 5]),
            ],
            want: vec![(9000, true, vec![6])],
            errors: 0,
        },
        Case {
            name: "no_marker_boundary_by_timestamp",
            packets: vec![
                rtp(1, 100, false, &[0x41, 1]),
                rtp(2, 3100, false, &[0x41, 2]),
                rtp(3, 6100, false, &[0x41, 3]),
            ],
            want: vec![(100, false, vec![2]), (3100, false, vec![2])],
            errors: 0,
        },
        Case {
            name: "loss_mid_fu_drops_au",
            packets: vec![
                rtp(10, 0, false, &[0x7C, 0x85, 1]),
                rtp(12, 0, true, &[0x7C, 0x45, 3]),
                rtp(13, 3000, true, &[0x41, 9]),
            ],
            want: vec![(3000, false, vec![2])],
            errors: 0,
        },
        Case {
            name: "joined_mid_fu",
            packets: vec![
                rtp(5, 0, true, &[0x7C, 0x45, 3]),
                rtp(6, 3000, true, &[0x41, 9]),
            ],
            want: vec![(3000, false, vec![2])],
            errors: 0,
        },
        Case {
            name: "marker_after_parameter_sets_is_merged",
            packets: vec![
                rtp(1, 0, true, &[0x67, 1]),
                rtp(2, 0, true, &[0x68, 2]),
                rtp(3, 0, true, &[0x65, 3]),
            ],
            want: vec![(0, true, vec![2, 2, 2])],
            errors: 0,
        },
        Case {
            name: "rtp_time_and_seq_wrap",
            packets: vec![
                rtp(65535, u32::MAX - 1499, true, &[0x41, 1]),
                rtp(0, 1500, true, &[0x41, 2]),
            ],
            want: vec![
                (4_294_965_796, false, vec![2]),
                (4_294_968_796, false, vec![2]),
            ],
            errors: 0,
        },
        Case {
            name: "loss_between_single_nals_skips_au",
            packets: vec![
                rtp(1, 0, false, &[0x65, 1]),
                rtp(3, 0, true, &[0x65, 3]),
                rtp(4, 3000, true, &[0x41, 4]),
            ],
            want: vec![(3000, false, vec![2])],
            errors: 0,
        },
        Case {
            name: "loss_then_picture_start_resumes",
            packets: vec![
                rtp(1, 0, false, &[0x41, 0x80]),
                rtp(3, 3000, false, &[0x7C, 0x81, 0x80]),
                rtp(4, 3000, true, &[0x7C, 0x41, 7]),
            ],
            want: vec![(3000, false, vec![3])],
            errors: 0,
        },
        Case {
            name: "late_packet_discarded",
            packets: vec![
                rtp(10, 0, true, &[0x65, 1]),
                rtp(9, 0, true, &[0x65, 0]),
                rtp(11, 3000, true, &[0x41, 2]),
            ],
            want: vec![(0, true, vec![2]), (3000, false, vec![2])],
            errors: 0,
        },
        Case {
            name: "timestamp_change_inside_fu",
            packets: vec![
                rtp(1, 0, false, &[0x7C, 0x85, 1]),
                rtp(2, 3000, false, &[0x41, 0x80]),
                rtp(3, 3000, true, &[0x41, 0x01]),
                rtp(4, 6000, true, &[0x41, 0x80]),
            ],
            want: vec![(6000, false, vec![2])],
            errors: 1,
        },
        Case {
            name: "stap_b_unsupported",
            packets: vec![rtp(1, 0, true, &[0x19, 0, 0, 0, 1, 0x41])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "fu_start_and_end",
            packets: vec![rtp(1, 0, true, &[0x7C, 0xC5, 1])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "stap_a_size_past_end",
            packets: vec![rtp(1, 0, true, &[STAP_A, 0, 9, 0x67])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "marker_inside_fu",
            packets: vec![
                rtp(1, 0, true, &[0x7C, 0x85, 1]),
                rtp(2, 90, true, &[0x41, 1]),
            ],
            want: vec![(90, false, vec![2])],
            errors: 1,
        },
        Case {
            name: "empty_payload",
            packets: vec![rtp(1, 0, true, &[])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "ffmpeg_x264_capture",
            packets: fixture(include_bytes!("testdata/h264.bin")),
            want: vec![
                (3_070_475_884, true, vec![24, 6, 621, 2332]),
                (3_070_493_884, false, vec![1060]),
                (3_070_511_884, false, vec![962]),
            ],
            errors: 0,
        },
    ]
}

#[cfg(test)]
mod tests {
    use vigia_media::model::{AccessUnit, Track};
    use vigia_media::time::Timestamp;

    use super::*;
    use crate::payload::{Depacketizer, FuzzCodec, Packetizer, round_trip, run_cases};
    use crate::rtp::RtpPacket;

    fn dep() -> Box<dyn Depacketizer> {
        Box::new(H264Depacketizer::new(0, 90_000, VideoParams::default()))
    }

    #[test]
    fn case_table() {
        run_cases(&cases(), dep);
    }

    #[test]
    fn in_band_parameter_sets_are_reported_once() {
        let mut d = H264Depacketizer::new(0, 90_000, VideoParams::default());
        let case = &cases()[0];
        for p in &case.packets {
            d.push(&RtpPacket::parse(Bytes::from(p.clone())).unwrap())
                .unwrap();
        }
        let au = d.pull().unwrap();
        let Some(CodecParams::H264(params)) = au.new_params.as_deref() else {
            panic!()
        };
        assert_eq!(
            params.sps.as_deref(),
            Some(&[0x67, 0x42, 0x00, 0x1E, 0xAB][..])
        );
        for p in &case.packets {
            let mut raw = p.clone();
            raw[3] += 2; // seq 3, 4: no gap
            raw[7] = 9; // new timestamp
            d.push(&RtpPacket::parse(Bytes::from(raw)).unwrap())
                .unwrap();
        }
        assert!(d.pull().unwrap().new_params.is_none());
    }

    #[test]
    fn units_are_slices_of_the_packets_not_copies() {
        // No payload byte is copied (issue 11): a single NAL unit is a slice of its packet, a
        // fragmented one its header (a static chunk) and a slice of each fragment.
        let sei = Bytes::from(rtp(1, 0, false, &[0x06, 5, 1, 0x80]));
        let fu_start = Bytes::from(rtp(2, 0, false, &[0x7C, 0x85, 1, 2]));
        let fu_end = Bytes::from(rtp(3, 0, true, &[0x7C, 0x45, 3]));
        let mut d = dep();
        for raw in [&sei, &fu_start, &fu_end] {
            d.push(&RtpPacket::parse(raw.clone()).unwrap()).unwrap();
        }
        let au = d.pull().unwrap();
        assert_eq!(au.data, [&sei[12..], &[0x65][..], &[1, 2][..], &[3][..]]);
        assert_eq!(au.nal_ends, [1, 4]);
        assert_eq!(au.contiguous_nals(), [&sei[12..], &[0x65, 1, 2, 3][..]]);
        for (chunk, raw) in [(0, &sei), (2, &fu_start), (3, &fu_end)] {
            assert!(
                raw.as_ptr_range().contains(&au.data[chunk].as_ptr()),
                "a slice"
            );
        }
        assert_eq!(d.stats().bytes_copied, 0);
    }

    fn track() -> Track {
        FuzzCodec::H264.track() // default parameters, 90 kHz
    }

    fn au(nals: Vec<Bytes>, ticks: i64) -> AccessUnit {
        AccessUnit::new(0, Timestamp::new(ticks, 90_000), true, nals)
    }

    #[test]
    fn round_trip_single_and_fu_a() {
        let big: Vec<u8> = std::iter::once(0x65)
            .chain((0..5000u32).map(|i| i as u8))
            .collect();
        let nals = vec![
            Bytes::from_static(&[0x67, 1, 2]),
            Bytes::from_static(&[0x68, 3]),
            Bytes::from(big),
        ];
        let out = round_trip(&track(), &au(nals.clone(), 123_456), 1450);
        // SPS and PPS share one STAP-A; the IDR takes four FU-A packets.
        assert_eq!(out.len(), 1 + 4);
        assert!(out.last().unwrap().marker && out.iter().filter(|p| p.marker).count() == 1);
        assert_eq!(out[0].chunks[0][12..], [0x78, 0, 3]);
        assert_eq!(out[0].chunks[1].as_ptr(), nals[0].as_ptr());
        // FU-A payload chunks are slices of the NAL, not copies.
        assert_eq!(out[1].chunks[1].as_ptr(), nals[2][1..].as_ptr());
        assert_eq!(out[1].chunks[0][12..], [0x7C, 0x85]);
        round_trip(&track(), &au(nals, u32::MAX as i64), 200);
    }

    #[test]
    fn round_trip_of_nal_units_in_chunks() {
        let body: Bytes = (0..3000u32).map(|i| i as u8).collect::<Vec<_>>().into();
        let tiny: Vec<Bytes> = (0..12).map(|i| body.slice(i..i + 1)).collect();
        let chunks = [
            vec![Bytes::from_static(&[0x67, 1, 2])],
            // A slice in four chunks: its header, then three fragments.
            vec![
                Bytes::from_static(&[0x65]),
                body.slice(..1000),
                body.slice(1000..2000),
            ],
            vec![body.slice(2000..)],
            // A short NAL unit in thirteen chunks (a publisher's tiny fragments).
            [vec![Bytes::from_static(&[0x41])], tiny].concat(),
        ]
        .concat();
        let unit = AccessUnit {
            nal_ends: vec![1, 5, 18],
            ..au(chunks, 9000)
        };
        for mtu in [1450, 300] {
            let out = round_trip(&track(), &unit, mtu);
            assert!(
                out.iter().all(|p| p.chunks.len() <= 1 + 4),
                "slices bounded"
            );
        }
        // At 1450 the slice goes out as the three fragments it came in, one slice each.
        let out = round_trip(&track(), &unit, 1450);
        assert_eq!(out.len(), 1 + 3 + 1);
        for (packet, start) in out[1..4].iter().zip([0, 1000, 2000]) {
            assert_eq!(packet.chunks.len(), 2, "header and one slice");
            assert_eq!(
                packet.chunks[1].as_ptr(),
                body[start..].as_ptr(),
                "a slice, not a copy"
            );
        }
    }

    #[test]
    fn packetizer_rejects_empty_nal() {
        let mut p = H264Packetizer::new(
            PacketizerConfig {
                payload_type: 96,
                ssrc: 1,
                initial_seq: 0,
                timestamp_offset: 0,
                mtu: 1450,
            },
            90_000,
        );
        let r = p.packetize(&au(vec![Bytes::new()], 0), &mut Vec::new());
        assert!(r.is_err());
    }
}
