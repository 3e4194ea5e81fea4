//! The initialization segment: `ftyp` + `moov` (ISO/IEC 14496-12 §8.2–§8.8, CMAF
//! ISO/IEC 23000-19 §7.3) with one `trak` per track and `mvex`/`trex` for fragments.

use bytes::Bytes;

use super::G711Storage;
use super::writer::BoxWriter;
use super::{Fmp4Error, timescale};
use crate::codec::{flac, h264, h265};
use crate::model::{CodecParams, MediaKind, Track, VideoParams};

/// What the sample entry of one track needs, checked before anything is written.
enum Entry<'a> {
    Avc {
        sps: &'a Bytes,
        pps: &'a Bytes,
        info: h264::SpsInfo,
    },
    Hevc {
        vps: &'a Bytes,
        sps: &'a Bytes,
        pps: &'a Bytes,
        info: h265::SpsInfo,
    },
    Aac {
        config: &'a Bytes,
        sample_rate: u32,
        channels: u16,
    },
    Opus {
        channels: u16,
    },
    Flac {
        sample_rate: u32,
        channels: u16,
    },
    /// G.711 as received: QuickTime's `ulaw` / `alaw` sample entries.
    G711 {
        mu_law: bool,
        sample_rate: u32,
        channels: u16,
    },
}

/// One track's identity and entry.
struct TrakSpec<'a> {
    id: u32,
    timescale: u32,
    kind: MediaKind,
    entry: Entry<'a>,
}

/// Builds the initialization segment for `tracks` (track ID = index + 1).
pub(super) fn build(tracks: &[Track], g711: G711Storage) -> Result<Bytes, Fmp4Error> {
    let specs = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| spec(i, t, g711))
        .collect::<Result<Vec<_>, _>>()?;
    let mut w = BoxWriter::with_capacity(1024 + 512 * specs.len());
    ftyp(&mut w);
    let moov = w.open(b"moov");
    mvhd(&mut w, specs.len());
    for s in &specs {
        trak(&mut w, s);
    }
    let mvex = w.open(b"mvex");
    for s in &specs {
        trex(&mut w, s.id);
    }
    w.close(mvex);
    w.close(moov);
    Ok(w.buf.freeze())
}

fn spec(index: usize, track: &Track, g711: G711Storage) -> Result<TrakSpec<'_>, Fmp4Error> {
    let id = u32::try_from(index + 1).map_err(|_| Fmp4Error::BadParams {
        track: index,
        what: "too many tracks",
    })?;
    let ts = timescale(track);
    if ts == 0 {
        return Err(Fmp4Error::BadParams {
            track: index,
            what: "clock rate 0",
        });
    }
    Ok(TrakSpec {
        id,
        timescale: ts,
        kind: track.kind(),
        entry: entry(index, &track.codec, g711)?,
    })
}

fn entry(index: usize, codec: &CodecParams, g711: G711Storage) -> Result<Entry<'_>, Fmp4Error> {
    let bad = |what| Fmp4Error::BadParams { track: index, what };
    Ok(match codec {
        CodecParams::H264(p) => {
            let (sps, pps) = sps_pps(index, p)?;
            let info = h264::SpsInfo::parse(sps).map_err(|_| bad("SPS does not parse"))?;
            Entry::Avc { sps, pps, info }
        }
        CodecParams::H265(p) => {
            let (sps, pps) = sps_pps(index, p)?;
            let vps = p.vps.as_ref().ok_or(Fmp4Error::MissingParams {
                track: index,
                what: "VPS",
            })?;
            let info = h265::SpsInfo::parse(sps).map_err(|_| bad("SPS does not parse"))?;
            Entry::Hevc {
                vps,
                sps,
                pps,
                info,
            }
        }
        CodecParams::Aac(a) => Entry::Aac {
            config: &a.config,
            sample_rate: a.sample_rate,
            channels: a.channels,
        },
        CodecParams::Opus(o) => Entry::Opus {
            channels: o.channels,
        },
        CodecParams::G711(g) if g711 == G711Storage::Raw => Entry::G711 {
            mu_law: g.mu_law,
            sample_rate: g.sample_rate,
            channels: g.channels.clamp(1, 8),
        },
        CodecParams::G711(g) => Entry::Flac {
            sample_rate: g.sample_rate,
            channels: g.channels.clamp(1, 8),
        },
    })
}

fn sps_pps(index: usize, p: &VideoParams) -> Result<(&Bytes, &Bytes), Fmp4Error> {
    let missing = |what| Fmp4Error::MissingParams { track: index, what };
    let sps = p.sps.as_ref().ok_or(missing("SPS"))?;
    let pps = p.pps.as_ref().ok_or(missing("PPS"))?;
    Ok((sps, pps))
}

/// `ftyp` (§4.3): CMAF brand `cmfc` (ISO/IEC 23000-19 §7.2) with `iso6` for `tfdt` v1 and
/// signed composition offsets.
fn ftyp(w: &mut BoxWriter) {
    let b = w.open(b"ftyp");
    w.bytes(b"iso6");
    w.u32(0);
    for brand in [b"iso6", b"cmfc", b"mp41"] {
        w.bytes(brand);
    }
    w.close(b);
}

/// `mvhd` v0 (§8.2.2): times zero (live), timescale 1000, duration 0 (fragmented).
fn mvhd(w: &mut BoxWriter, track_count: usize) {
    let b = w.open_full(b"mvhd", 0, 0);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(1000); // timescale
    w.u32(0); // duration
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(2 + 8); // reserved
    w.matrix();
    w.zeros(24); // pre_defined
    w.u32(u32::try_from(track_count + 1).unwrap_or(u32::MAX)); // next_track_ID
    w.close(b);
}

fn trak(w: &mut BoxWriter, s: &TrakSpec<'_>) {
    let trak = w.open(b"trak");
    tkhd(w, s);
    let mdia = w.open(b"mdia");
    mdhd(w, s.timescale);
    hdlr(w, s.kind);
    let minf = w.open(b"minf");
    media_header(w, s.kind);
    dinf(w);
    stbl(w, s);
    w.close(minf);
    w.close(mdia);
    w.close(trak);
}

/// `tkhd` v0 (§8.3.2), flags enabled | in_movie; width and height as 16.16.
fn tkhd(w: &mut BoxWriter, s: &TrakSpec<'_>) {
    let b = w.open_full(b"tkhd", 0, 0x3);
    w.u32(0); // creation_time
    w.u32(0); // modification_time
    w.u32(s.id);
    w.u32(0); // reserved
    w.u32(0); // duration
    w.zeros(8); // reserved
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(if s.kind == MediaKind::Audio {
        0x0100
    } else {
        0
    }); // volume
    w.u16(0); // reserved
    w.matrix();
    let (width, height) = dimensions(&s.entry);
    w.u32(width << 16);
    w.u32(height << 16);
    w.close(b);
}

fn dimensions(e: &Entry<'_>) -> (u32, u32) {
    match e {
        Entry::Avc { info, .. } => (info.width & 0xFFFF, info.height & 0xFFFF),
        Entry::Hevc { info, .. } => (info.width & 0xFFFF, info.height & 0xFFFF),
        _ => (0, 0),
    }
}

/// `mdhd` v0 (§8.4.2): the track's timescale, language `und`.
fn mdhd(w: &mut BoxWriter, timescale: u32) {
    let b = w.open_full(b"mdhd", 0, 0);
    w.u32(0);
    w.u32(0);
    w.u32(timescale);
    w.u32(0); // duration
    w.u16(0x55C4); // 'und' packed as three 5-bit letters
    w.u16(0); // pre_defined
    w.close(b);
}

/// `hdlr` (§8.4.3).
fn hdlr(w: &mut BoxWriter, kind: MediaKind) {
    let (handler, name): (&[u8; 4], &[u8]) = match kind {
        MediaKind::Video => (b"vide", b"VideoHandler\0"),
        MediaKind::Audio => (b"soun", b"SoundHandler\0"),
    };
    let b = w.open_full(b"hdlr", 0, 0);
    w.u32(0); // pre_defined
    w.bytes(handler);
    w.zeros(12); // reserved
    w.bytes(name);
    w.close(b);
}

/// `vmhd` (§12.1.2, flags 1) or `smhd` (§12.2.2).
fn media_header(w: &mut BoxWriter, kind: MediaKind) {
    let b = match kind {
        MediaKind::Video => {
            let b = w.open_full(b"vmhd", 0, 1);
            w.zeros(8); // graphicsmode, opcolor
            b
        }
        MediaKind::Audio => {
            let b = w.open_full(b"smhd", 0, 0);
            w.zeros(4); // balance, reserved
            b
        }
    };
    w.close(b);
}

/// `dinf` with a self-contained `url ` entry (§8.7.1–§8.7.2).
fn dinf(w: &mut BoxWriter) {
    let dinf = w.open(b"dinf");
    let dref = w.open_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.open_full(b"url ", 0, 1);
    w.close(url);
    w.close(dref);
    w.close(dinf);
}

/// `stbl` (§8.5.1): the sample entry and empty sample tables (samples live in fragments).
fn stbl(w: &mut BoxWriter, s: &TrakSpec<'_>) {
    let stbl = w.open(b"stbl");
    let stsd = w.open_full(b"stsd", 0, 0);
    w.u32(1);
    sample_entry(w, &s.entry);
    w.close(stsd);
    for (fourcc, zeros) in [(b"stts", 4), (b"stsc", 4), (b"stsz", 8), (b"stco", 4)] {
        let b = w.open_full(fourcc, 0, 0);
        w.zeros(zeros);
        w.close(b);
    }
    w.close(stbl);
}

/// `trex` (§8.8.3): sample description 1, no defaults (every `trun` carries its values).
fn trex(w: &mut BoxWriter, id: u32) {
    let b = w.open_full(b"trex", 0, 0);
    w.u32(id);
    w.u32(1);
    w.zeros(12);
    w.close(b);
}

fn sample_entry(w: &mut BoxWriter, e: &Entry<'_>) {
    match e {
        Entry::Avc { sps, pps, info } => {
            let b = visual_entry(w, b"avc1", info.width, info.height);
            avcc(w, sps, pps, info);
            w.close(b);
        }
        Entry::Hevc {
            vps,
            sps,
            pps,
            info,
        } => {
            let b = visual_entry(w, b"hvc1", info.width, info.height);
            hvcc(w, [vps, sps, pps], info);
            w.close(b);
        }
        Entry::Aac {
            config,
            sample_rate,
            channels,
        } => {
            let b = audio_entry(w, b"mp4a", *channels, *sample_rate);
            esds(w, config);
            w.close(b);
        }
        Entry::Opus { channels } => {
            let b = audio_entry(w, b"Opus", *channels, 48_000);
            dops(w, *channels);
            w.close(b);
        }
        Entry::Flac {
            sample_rate,
            channels,
        } => {
            let b = audio_entry(w, b"fLaC", *channels, *sample_rate);
            dfla(w, *sample_rate, *channels);
            w.close(b);
        }
        Entry::G711 {
            mu_law,
            sample_rate,
            channels,
        } => {
            let fourcc = if *mu_law { b"ulaw" } else { b"alaw" };
            let b = audio_entry(w, fourcc, *channels, *sample_rate);
            w.close(b);
        }
    }
}

/// VisualSampleEntry (§12.1.3); the caller writes the config box and closes.
fn visual_entry(w: &mut BoxWriter, fourcc: &[u8; 4], width: u32, height: u32) -> usize {
    let b = w.open(fourcc);
    w.zeros(6); // reserved
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined, reserved, pre_defined[3]
    w.u16(u16::try_from(width).unwrap_or(u16::MAX));
    w.u16(u16::try_from(height).unwrap_or(u16::MAX));
    w.u32(0x0048_0000); // horizresolution 72 dpi
    w.u32(0x0048_0000); // vertresolution
    w.u32(0); // reserved
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth
    w.u16(0xFFFF); // pre_defined = -1
    b
}

/// AudioSampleEntry (§12.2.3); `samplerate` is 16.16 and 0 when the rate does not fit.
fn audio_entry(w: &mut BoxWriter, fourcc: &[u8; 4], channels: u16, rate: u32) -> usize {
    let b = w.open(fourcc);
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(8); // reserved
    w.u16(channels);
    w.u16(16); // samplesize
    w.zeros(4); // pre_defined, reserved
    w.u32(if rate <= 0xFFFF { rate << 16 } else { 0 });
    b
}

/// `avcC` (ISO/IEC 14496-15 §5.3.3.1): one SPS, one PPS, 4-byte lengths; the chroma and bit
/// depth fields for the High profiles (§5.3.3.1.2).
fn avcc(w: &mut BoxWriter, sps: &[u8], pps: &[u8], info: &h264::SpsInfo) {
    let b = w.open(b"avcC");
    w.u8(1); // configurationVersion
    w.u8(info.profile_idc);
    w.u8(info.constraint_flags);
    w.u8(info.level_idc);
    w.u8(0xFC | 3); // lengthSizeMinusOne
    w.u8(0xE0 | 1); // numOfSequenceParameterSets
    length_prefixed(w, sps);
    w.u8(1); // numOfPictureParameterSets
    length_prefixed(w, pps);
    if matches!(info.profile_idc, 100 | 110 | 122 | 144) {
        w.u8(0xFC | (info.chroma_format_idc & 3) as u8);
        w.u8(0xF8 | (info.bit_depth_luma.saturating_sub(8) & 7) as u8);
        w.u8(0xF8 | (info.bit_depth_chroma.saturating_sub(8) & 7) as u8);
        w.u8(0); // numOfSequenceParameterSetExt
    }
    w.close(b);
}

/// `hvcC` (ISO/IEC 14496-15 §8.3.3.1): profile/tier/level from the SPS, arrays of one VPS,
/// SPS and PPS, complete (they may also repeat in-band), 4-byte lengths.
fn hvcc(w: &mut BoxWriter, sets: [&Bytes; 3], info: &h265::SpsInfo) {
    let b = w.open(b"hvcC");
    w.u8(1); // configurationVersion
    w.u8((info.profile_space << 6) | (u8::from(info.tier_flag) << 5) | (info.profile_idc & 0x1F));
    w.u32(info.profile_compatibility_flags);
    w.bytes(
        info.constraint_flags
            .to_be_bytes()
            .get(2..)
            .unwrap_or_default(),
    );
    w.u8(info.level_idc);
    w.u16(0xF000); // min_spatial_segmentation_idc 0
    w.u8(0xFC); // parallelismType unknown
    w.u8(0xFC | (info.chroma_format_idc & 3) as u8);
    w.u8(0xF8 | (info.bit_depth_luma.saturating_sub(8) & 7) as u8);
    w.u8(0xF8 | (info.bit_depth_chroma.saturating_sub(8) & 7) as u8);
    w.u16(0); // avgFrameRate unknown
    // constantFrameRate 0, numTemporalLayers, temporalIdNested (implied for one layer),
    // lengthSizeMinusOne 3.
    let layers = info.max_sub_layers & 7;
    w.u8((layers << 3) | (u8::from(layers == 1) << 2) | 3);
    w.u8(3); // numOfArrays
    for (nal_type, nal) in [32u8, 33, 34].into_iter().zip(sets) {
        w.u8(0x80 | nal_type); // array_completeness 1
        w.u16(1);
        length_prefixed(w, nal);
    }
    w.close(b);
}

fn length_prefixed(w: &mut BoxWriter, nal: &[u8]) {
    // Parameter sets are a few dozen bytes; one over 64 KiB is cut (and would not decode).
    let len = nal.len().min(usize::from(u16::MAX));
    w.u16(len as u16);
    w.bytes(nal.get(..len).unwrap_or_default());
}

/// `esds` (ISO/IEC 14496-14 §5.6, descriptors of ISO/IEC 14496-1 §7.2.6): AAC (object type
/// indication 0x40), audio stream, the AudioSpecificConfig as DecoderSpecificInfo.
fn esds(w: &mut BoxWriter, config: &[u8]) {
    let b = w.open_full(b"esds", 0, 0);
    let dsi = 2 + config.len();
    let dcd = 13 + descriptor_size_len(config.len()) + dsi - 1;
    let es = 3 + 1 + descriptor_size_len(dcd) + dcd + 3;
    descriptor_header(w, 0x03, es);
    w.u16(0); // ES_ID
    w.u8(0); // no dependence, URL or OCR stream
    descriptor_header(w, 0x04, dcd);
    w.u8(0x40); // objectTypeIndication: Audio ISO/IEC 14496-3
    w.u8((0x05 << 2) | 1); // streamType audio, upStream 0, reserved 1
    w.zeros(3); // bufferSizeDB
    w.u32(0); // maxBitrate
    w.u32(0); // avgBitrate
    descriptor_header(w, 0x05, config.len());
    w.bytes(config);
    descriptor_header(w, 0x06, 1);
    w.u8(0x02); // SLConfigDescriptor predefined = MP4
    w.close(b);
}

/// Bytes taken by the expandable size field of a descriptor (14496-1 §8.3.3).
fn descriptor_size_len(size: usize) -> usize {
    match size {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        _ => 4,
    }
}

fn descriptor_header(w: &mut BoxWriter, tag: u8, size: usize) {
    w.u8(tag);
    let n = descriptor_size_len(size);
    for i in (0..n).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        w.u8(more | ((size >> (7 * i)) & 0x7F) as u8);
    }
}

/// `dOps` (Encapsulation of Opus in ISO BMFF §4.3.2): channel mapping family 0 (mono or
/// stereo), pre-skip 0 (RTP carries none), input rate 48 kHz, gain 0.
fn dops(w: &mut BoxWriter, channels: u16) {
    let b = w.open(b"dOps");
    w.u8(0); // Version
    w.u8(channels.clamp(1, 2) as u8);
    w.u16(0); // PreSkip
    w.u32(48_000); // InputSampleRate
    w.u16(0); // OutputGain
    w.u8(0); // ChannelMappingFamily
    w.close(b);
}

/// `dfLa` (Encapsulation of FLAC in ISO BMFF §3.3.2): a FullBox holding the STREAMINFO
/// block, flagged last. Block sizes 1..=65535: G.711 packets of any length.
fn dfla(w: &mut BoxWriter, sample_rate: u32, channels: u16) {
    let b = w.open_full(b"dfLa", 0, 0);
    let info = flac::streaminfo(16, u16::MAX, sample_rate, channels);
    w.bytes(&flac::metadata_block(true, flac::BLOCK_STREAMINFO, &info));
    w.close(b);
}
