//! Case tables for the fMP4 writer and reader.

use bytes::Bytes;

use super::*;
use crate::model::{AacParams, AccessUnit, G711Params, OpusParams, VideoParams};
use crate::time::Timestamp;

/// The 320×240 High-profile SPS/PPS of `codec/testdata/bframes-320x240.h264`.
const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
    0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xec, 0xb2, 0x2c];

fn h264() -> Track {
    Track {
        codec: CodecParams::H264(VideoParams {
            vps: None,
            sps: Some(Bytes::from_static(SPS)),
            pps: Some(Bytes::from_static(PPS)),
        }),
        clock_rate: 90_000,
    }
}

fn aac() -> Track {
    Track {
        codec: CodecParams::Aac(AacParams {
            config: Bytes::from_static(&[0x11, 0x88]),
            sample_rate: 48_000,
            channels: 1,
        }),
        clock_rate: 48_000,
    }
}

fn opus() -> Track {
    Track {
        codec: CodecParams::Opus(OpusParams { channels: 2 }),
        clock_rate: 48_000,
    }
}

fn pcma(channels: u16) -> Track {
    Track {
        codec: CodecParams::G711(G711Params {
            mu_law: false,
            sample_rate: 8000,
            channels,
        }),
        clock_rate: 8000,
    }
}

fn unit(pts: i64, dts: i64, clock: u32, keyframe: bool, data: Vec<Bytes>) -> AccessUnit {
    AccessUnit {
        track: 0,
        pts: Timestamp::new(pts, clock),
        dts: Timestamp::new(dts, clock),
        keyframe,
        wallclock_us: None,
        data,
        nal_ends: Vec::new(),
        new_params: None,
    }
}

/// (name, track, codec fourcc, config box, width, height, channels, sample rate, timescale)
#[allow(clippy::type_complexity)]
fn init_cases() -> Vec<(
    &'static str,
    Track,
    &'static [u8; 4],
    &'static [u8; 4],
    u16,
    u16,
    u16,
    u32,
    u32,
)> {
    vec![
        (
            "H.264 High 320x240",
            h264(),
            b"avc1",
            b"avcC",
            320,
            240,
            0,
            0,
            90_000,
        ),
        (
            "AAC-LC mono 48 kHz",
            aac(),
            b"mp4a",
            b"esds",
            0,
            0,
            1,
            48_000,
            48_000,
        ),
        (
            "Opus stereo",
            opus(),
            b"Opus",
            b"dOps",
            0,
            0,
            2,
            48_000,
            48_000,
        ),
        (
            "G.711 A-law as FLAC",
            pcma(1),
            b"fLaC",
            b"dfLa",
            0,
            0,
            1,
            8000,
            8000,
        ),
    ]
}

#[test]
fn init_segments_read_back() {
    for (name, track, codec, config, w, h, ch, rate, ts) in init_cases() {
        let init = init_segment(std::slice::from_ref(&track)).unwrap();
        assert_eq!(&init[4..8], b"ftyp", "{name}");
        let info = read_init(&init).unwrap();
        assert_eq!(info.trex_track_ids, [1], "{name}");
        let t = &info.tracks[0];
        assert_eq!(t.id, 1, "{name}");
        assert_eq!(&t.codec, codec, "{name}");
        assert_eq!(&t.config_type, config, "{name}");
        assert_eq!((t.width, t.height), (w, h), "{name}");
        assert_eq!((t.channels, t.sample_rate), (ch, rate), "{name}");
        assert_eq!(t.timescale, ts, "{name}");
    }
}

#[test]
fn avcc_carries_profile_and_parameter_sets() {
    let init = init_segment(&[h264()]).unwrap();
    let info = read_init(&init).unwrap();
    let c = &info.tracks[0].config;
    // version 1, profile 100, constraints 0, level 13, 4-byte lengths, one SPS.
    assert_eq!(&c[..6], &[1, 0x64, 0x00, 0x0d, 0xFF, 0xE1]);
    assert_eq!(&c[6..8], &(SPS.len() as u16).to_be_bytes());
    assert_eq!(&c[8..8 + SPS.len()], SPS);
    assert_eq!(codec_string(&h264()).as_deref(), Some("avc1.64000D"));
}

#[test]
fn esds_and_dfla_bodies() {
    let info = read_init(&init_segment(&[aac(), pcma(2)]).unwrap()).unwrap();
    let esds = &info.tracks[0].config;
    // FullBox header, ES_Descriptor tag 3, ..., DecoderSpecificInfo tag 5 of 2 bytes: the config.
    assert_eq!(esds[4], 0x03);
    let dsi = esds.windows(4).position(|w| w == [0x05, 0x02, 0x11, 0x88]);
    assert!(dsi.is_some(), "{esds:02x?}");
    let dfla = &info.tracks[1].config;
    // FullBox header, then STREAMINFO flagged last, 34 bytes.
    assert_eq!(&dfla[..8], &[0, 0, 0, 0, 0x80, 0, 0, 34]);
    assert_eq!(&dfla[8..12], &[0, 16, 0xFF, 0xFF]);
    // 8000 Hz, 2 channels (1), 16 bits (15).
    assert_eq!(&dfla[18..22], &[0x01, 0xF4, 0x02, 0xF0]);
    assert_eq!(info.tracks[1].id, 2);
}

#[test]
fn missing_parameters_are_errors() {
    let mut t = h264();
    if let CodecParams::H264(p) = &mut t.codec {
        p.pps = None;
    }
    assert_eq!(
        init_segment(&[aac(), t]),
        Err(Fmp4Error::MissingParams {
            track: 1,
            what: "PPS"
        })
    );
    let hevc = Track {
        codec: CodecParams::H265(VideoParams::default()),
        clock_rate: 90_000,
    };
    assert_eq!(
        init_segment(&[hevc]),
        Err(Fmp4Error::MissingParams {
            track: 0,
            what: "SPS"
        })
    );
}

/// A B-frame GOP in decode order, I P B B (pts − dts = +2, +4, −1, 0 frames, with a negative
/// first DTS as a POC-derived DTS gives), through the builder, `fragment` and the reader.
#[test]
fn b_frames_keep_signed_composition_offsets() {
    const F: i64 = 3600;
    let nal = |t: u8| Bytes::from(vec![t, 0xAA, 0xBB]);
    // (pts, dts, keyframe) in frames.
    let gop = [(0, -2, true), (3, -1, false), (1, 0, false), (2, 1, false)];
    let mut b = SampleBuilder::new(&h264());
    let mut samples = Vec::new();
    for (pts, dts, key) in gop {
        let aud = Bytes::from_static(&[0x09, 0xF0]);
        b.push(&unit(
            pts * F,
            dts * F,
            90_000,
            key,
            vec![aud, nal(if key { 0x65 } else { 0x41 })],
        ));
        samples.extend(std::iter::from_fn(|| b.pull()));
    }
    b.flush();
    samples.extend(std::iter::from_fn(|| b.pull()));
    let offsets: Vec<i32> = samples.iter().map(|(_, s)| s.composition_offset).collect();
    assert_eq!(offsets, [2 * F as i32, 4 * F as i32, F as i32, F as i32]);
    assert_eq!(samples[0].0, -2 * F);
    // AUD dropped: 4-byte length + 3-byte slice.
    assert!(
        samples
            .iter()
            .all(|(_, s)| s.size() == 7 && s.duration == F as u32)
    );

    // Shift by a negative offset (pts < dts) the way a muxer with edit-free CMAF does.
    let mut run = TrackRun {
        track_id: 1,
        base_decode_time: 0,
        samples: Vec::new(),
    };
    run.samples = samples.into_iter().map(|(_, s)| s).collect();
    run.samples[2].composition_offset = -(F as i32);
    let chunks = fragment(7, std::slice::from_ref(&run));
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
    let trun = bytes.windows(4).position(|w| w == b"trun").unwrap();
    assert_eq!(bytes[trun + 4], 1, "trun version 1: signed offsets");
    let info = read_fragment(&bytes).unwrap();
    let got: Vec<(i32, bool)> = info.tracks[0]
        .samples
        .iter()
        .map(|s| (s.composition_offset, s.is_sync()))
        .collect();
    assert_eq!(
        got,
        [
            (2 * F as i32, true),
            (4 * F as i32, false),
            (-F as i32, false),
            (F as i32, false)
        ]
    );
}

#[test]
fn fragment_shares_payload_bytes() {
    let payload = Bytes::from(vec![0x65u8; 1000]);
    let mut b = SampleBuilder::new(&h264());
    b.push(&unit(
        0,
        0,
        90_000,
        true,
        vec![payload.slice(..600), payload.slice(600..)],
    ));
    b.push(&unit(3000, 3000, 90_000, false, vec![payload.slice(..10)]));
    let (dts, sample) = b.pull().unwrap();
    assert_eq!((dts, sample.duration, sample.keyframe), (0, 3000, true));
    let run = TrackRun {
        track_id: 1,
        base_decode_time: 0,
        samples: vec![sample],
    };
    let chunks = fragment(1, &[run]);
    // moof+mdat header, then length, NAL, length, NAL: the NALs point into `payload`.
    assert_eq!(chunks.len(), 5);
    assert_eq!(chunks[2].as_ptr(), payload.as_ptr());
    assert_eq!(chunks[4].as_ptr(), payload[600..].as_ptr());
    assert_eq!(&chunks[1][..], &600u32.to_be_bytes());
    assert_eq!(total_len(&chunks), chunks[0].len() + 1008);
}

#[test]
fn a_nal_unit_in_chunks_is_one_length_prefixed_nal_unit() {
    let slice = Bytes::from(vec![0x9au8; 3000]);
    let header = Bytes::from_static(&[0x65]);
    let sei = Bytes::from_static(&[0x06, 1, 2]);
    let aud = Bytes::from_static(&[0x09, 0xf0]);
    let chunked = AccessUnit {
        nal_ends: vec![1, 2, 6],
        ..unit(
            0,
            0,
            90_000,
            true,
            vec![
                aud.clone(),
                sei.clone(),
                header.clone(),
                slice.slice(..1400),
                slice.slice(1400..2800),
                slice.slice(2800..),
            ],
        )
    };
    let joined: Bytes = [&[0x65u8][..], &slice[..]].concat().into();
    let contiguous = unit(0, 0, 90_000, true, vec![aud, sei, joined]);
    let sample_of = |au: &AccessUnit| {
        let mut b = SampleBuilder::new(&h264());
        b.push(au);
        b.flush();
        b.pull().unwrap().1
    };
    let (a, b) = (sample_of(&chunked), sample_of(&contiguous));
    assert_eq!(
        a.data.concat(),
        b.data.concat(),
        "same bytes: the AUD dropped, lengths of whole NAL units"
    );
    assert_eq!(&a.data[2][..], &3001u32.to_be_bytes());
    // The slice's chunks are the received bytes, not a copy.
    assert_eq!(a.data[4].as_ptr(), slice.as_ptr());
}

#[test]
fn audio_units_split_into_frames() {
    let f = |n: u8| Bytes::from(vec![n; 10 + usize::from(n)]);
    let mut b = SampleBuilder::new(&aac());
    b.push(&unit(0, 0, 48_000, true, vec![f(1), f(2), f(3)]));
    b.push(&unit(3073, 3073, 48_000, true, vec![f(4)]));
    let got: Vec<(i64, u32, usize)> = std::iter::from_fn(|| b.pull())
        .map(|(dts, s)| (dts, s.duration, s.size()))
        .collect();
    assert_eq!(got, [(0, 1024, 11), (1024, 1024, 12), (2048, 1025, 13)]);
    assert_eq!(b.pending_decode_time(), Some(3073));
}

#[test]
fn g711_becomes_one_flac_frame_per_unit() {
    let mut b = SampleBuilder::new(&pcma(1));
    let codes = Bytes::from(vec![0xD5u8; 160]);
    b.push(&unit(
        0,
        0,
        8000,
        true,
        vec![codes.slice(..100), codes.slice(100..)],
    ));
    b.push(&unit(160, 160, 8000, true, vec![codes.clone()]));
    b.flush();
    let samples: Vec<(i64, Sample)> = std::iter::from_fn(|| b.pull()).collect();
    assert_eq!(samples.len(), 2);
    for (i, (dts, s)) in samples.iter().enumerate() {
        assert_eq!((*dts, s.duration), (160 * i as i64, 160));
        let frame = &s.data[0];
        // Header 8 bytes (second frame's sample number 160 codes in 2 bytes: 9), subframe
        // header, 160 samples of +8, CRC-16.
        assert_eq!(&frame[..2], &[0xFF, 0xF9]);
        assert_eq!(
            &frame[frame.len() - 4..frame.len() - 2],
            &8i16.to_be_bytes()
        );
        assert_eq!(frame.len(), if i == 0 { 7 } else { 8 } + 1 + 320 + 2);
    }
}

#[test]
fn raw_g711_keeps_the_received_bytes() {
    let track = pcma(1);
    let init = super::init_segment_with(std::slice::from_ref(&track), G711Storage::Raw).unwrap();
    let info = read_init(&init).unwrap();
    assert_eq!(&info.tracks[0].codec, b"alaw");
    assert_eq!(info.tracks[0].timescale, 8000);
    let mut b = SampleBuilder::with_g711(&track, G711Storage::Raw);
    let codes = Bytes::from(vec![0xD5u8; 160]);
    let chunks = vec![codes.slice(..100), codes.slice(100..)];
    b.push(&unit(0, 0, 8000, true, chunks.clone()));
    b.push(&unit(160, 160, 8000, true, vec![codes.clone()]));
    b.flush();
    let (dts, first) = b.pull().unwrap();
    assert_eq!((dts, first.duration, first.keyframe), (0, 160, true));
    assert_eq!(first.data.len(), 2);
    for (got, sent) in first.data.iter().zip(&chunks) {
        assert_eq!(got.as_ptr(), sent.as_ptr(), "payload shared, not copied");
    }
    assert_eq!(b.pull().unwrap().1.size(), 160);
}

/// (name, bytes, expected error) for inputs the reader must reject.
#[test]
fn reader_rejects_malformed_input() {
    let init = init_segment(&[aac()]).unwrap();
    let mut run = TrackRun {
        track_id: 1,
        base_decode_time: 0,
        samples: Vec::new(),
    };
    run.samples.push(Sample {
        duration: 1024,
        composition_offset: 0,
        keyframe: true,
        data: vec![Bytes::from_static(b"abcd")],
    });
    let frag: Vec<u8> = fragment(1, &[run])
        .iter()
        .flat_map(|c| c.to_vec())
        .collect();
    let mut short_mdat = frag.clone();
    short_mdat.truncate(frag.len() - 1);
    let moof_len = u32::from_be_bytes(frag[..4].try_into().unwrap()) as usize;
    short_mdat[moof_len..moof_len + 4].copy_from_slice(&11u32.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, Result<(), Fmp4Error>)> = vec![
        (
            "empty",
            vec![],
            Err(Fmp4Error::Invalid {
                pos: 0,
                what: "no moof",
            }),
        ),
        (
            "size below header",
            vec![0, 0, 0, 4, b'm', b'o', b'o', b'f'],
            Err(Fmp4Error::Invalid {
                pos: 0,
                what: "box size smaller than its header",
            }),
        ),
        (
            "cut box",
            frag[..20].to_vec(),
            Err(Fmp4Error::Incomplete {
                pos: 0,
                what: "box",
            }),
        ),
        (
            "init is not a fragment",
            init.to_vec(),
            Err(Fmp4Error::Invalid {
                pos: 0,
                what: "no moof",
            }),
        ),
        (
            "sample past mdat",
            short_mdat,
            Err(Fmp4Error::Invalid {
                pos: 24,
                what: "sample outside mdat",
            }),
        ),
        ("whole", frag.clone(), Ok(())),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(read_fragment(&bytes).map(|_| ()), want, "{name}");
    }
    assert_eq!(
        read_init(&frag).map(|_| ()),
        Err(Fmp4Error::Invalid {
            pos: 0,
            what: "no moov"
        })
    );
    for cut in 0..init.len() {
        assert!(read_init(&init[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn fuzz_seeds_run() {
    let seeds = fuzz_fmp4_seeds();
    assert!(seeds.len() >= 12);
    for (_, data) in seeds {
        fuzz_fmp4_roundtrip(&data);
    }
}
