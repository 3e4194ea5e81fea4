//! A minimal FLAC encoder: frames with VERBATIM subframes and the STREAMINFO block
//! (RFC 9639).
//!
//! Used to carry G.711 audio losslessly in fMP4, which browsers cannot play as G.711 (the
//! `fLaC` sample entry of "Encapsulation of FLAC in ISO Base Media File Format"). VERBATIM
//! subframes store every sample as-is, so encoding is a copy with headers and two CRCs: exact,
//! simple and cheap. The output is about twice the size of the G.711 input (16-bit samples),
//! which is still small (128 kbit/s for 8 kHz mono).
//!
//! Browser support, checked 2026-11-29 with Debian's Chromium through MSE:
//! `MediaSource.isTypeSupported('audio/mp4; codecs="flac"')` (and `"fLaC"`) is true while
//! `"alaw"`/`"ulaw"` are false, and an fMP4 of 4 s of G.711 written by `fmp4` buffers 0..4 s and
//! plays (currentTime advancing, audio bytes decoded). ffmpeg decodes it bit-exactly (the
//! `fmp4_golden` integration tests).

use bytes::{BufMut, Bytes, BytesMut};

/// Bits per sample this encoder writes (the G.711 decoders' output width).
pub const BITS_PER_SAMPLE: u8 = 16;

/// The largest block a frame header can describe (RFC 9639 §9.1.6: 16-bit `block size − 1`).
pub const MAX_BLOCK_SIZE: usize = 65_535;

/// The `fLaC` stream marker that starts a native FLAC file (RFC 9639 §6).
pub const STREAM_MARKER: &[u8; 4] = b"fLaC";

/// The STREAMINFO metadata block body (RFC 9639 §8.2), 34 bytes.
///
/// `min_block_size`/`max_block_size` bound the frames the stream may contain; frame sizes,
/// total samples and the MD5 signature are written as 0 ("unknown"), which the RFC allows and
/// a live stream cannot know.
pub fn streaminfo(
    min_block_size: u16,
    max_block_size: u16,
    sample_rate: u32,
    channels: u16,
) -> [u8; 34] {
    let mut b = [0u8; 34];
    b[0..2].copy_from_slice(&min_block_size.to_be_bytes());
    b[2..4].copy_from_slice(&max_block_size.to_be_bytes());
    // Bytes 4..10: minimum and maximum frame size, 24 bits each, 0 = unknown.
    // Then 20 bits sample rate, 3 bits channels − 1, 5 bits bits-per-sample − 1,
    // 36 bits total samples (0 = unknown).
    let rate = u64::from(sample_rate & 0xF_FFFF);
    let ch = u64::from(channels.saturating_sub(1) & 0x07);
    let bps = u64::from(BITS_PER_SAMPLE - 1);
    let packed = (rate << 44) | (ch << 41) | (bps << 36);
    b[10..18].copy_from_slice(&packed.to_be_bytes());
    // Bytes 18..34: MD5 of the unencoded audio, all zero = not computed.
    b
}

/// A metadata block: header (RFC 9639 §8.1: last-block flag, type, 24-bit length) and body.
pub fn metadata_block(last: bool, block_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.push((u8::from(last) << 7) | (block_type & 0x7F));
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX).min(0xFF_FFFF);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(body.get(..len as usize).unwrap_or(body));
    out
}

/// Metadata block type of STREAMINFO (RFC 9639 §8.1, Table 2).
pub const BLOCK_STREAMINFO: u8 = 0;

/// Encodes one frame of interleaved 16-bit samples with VERBATIM subframes (RFC 9639 §9).
///
/// `first_sample` is the index of the frame's first sample per channel in the stream: the
/// frame uses the variable block size strategy (§9.1.1, blocking strategy bit 1) and codes
/// that sample number, because live G.711 packets need not all have the same length and the
/// fixed strategy requires they do. Channels are coded independently (§9.1.3). A trailing
/// partial group of samples (fewer than `channels`) is dropped; at most [`MAX_BLOCK_SIZE`]
/// samples per channel are encoded, the rest is dropped.
///
/// Returns `None` when there is no whole sample to encode or `channels` is not 1..=8.
pub fn encode_frame(
    samples: &[i16],
    channels: u16,
    sample_rate: u32,
    first_sample: u64,
) -> Option<Bytes> {
    if !(1..=8).contains(&channels) {
        return None;
    }
    let ch = usize::from(channels);
    let block = (samples.len() / ch).min(MAX_BLOCK_SIZE);
    if block == 0 {
        return None;
    }
    let mut out = BytesMut::with_capacity(16 + 2 + ch * (1 + 2 * block) + 2);
    write_header(&mut out, block, channels, sample_rate, first_sample);
    for c in 0..ch {
        // Subframe header (§9.2.1): zero bit, type 0b000001 (VERBATIM), no wasted bits.
        out.put_u8(0b0000_0010);
        for s in samples.iter().skip(c).step_by(ch).take(block) {
            out.put_i16(*s);
        }
    }
    // 16-bit samples keep the frame byte-aligned: no padding before the footer (§9.3).
    let crc = crc16(&out);
    out.put_u16(crc);
    Some(out.freeze())
}

/// Frame header (RFC 9639 §9.1) up to and including its CRC-8.
fn write_header(
    out: &mut BytesMut,
    block: usize,
    channels: u16,
    sample_rate: u32,
    first_sample: u64,
) {
    let start = out.len();
    // 15-bit sync code 0b111111111111100, blocking strategy 1 (variable).
    out.put_u16(0xFFF9);
    let (block_code, block_extra) = if block <= 256 {
        (0b0110u8, 1usize)
    } else {
        (0b0111, 2)
    };
    let (rate_code, rate_extra) = rate_code(sample_rate);
    out.put_u8((block_code << 4) | rate_code);
    // Channel assignment: channels − 1 independent; sample size 0b100 = 16 bits; reserved 0.
    let channel_bits = (channels.saturating_sub(1) as u8) & 0x0F;
    out.put_u8((channel_bits << 4) | (0b100 << 1));
    put_coded_number(out, first_sample);
    let minus_one = (block - 1) as u16;
    if block_extra == 1 {
        out.put_u8(minus_one as u8);
    } else {
        out.put_u16(minus_one);
    }
    match rate_extra {
        RateExtra::None => {}
        RateExtra::Hz(hz) => out.put_u16(hz),
    }
    let crc = crc8(out.get(start..).unwrap_or_default());
    out.put_u8(crc);
}

/// Extra sample-rate field after the coded number (§9.1.2, codes 0b1100..0b1110).
enum RateExtra {
    None,
    Hz(u16),
}

/// Sample-rate bits of the frame header (§9.1.2): a fixed code for common rates, the rate in
/// Hz as 16 bits when it fits, else "from STREAMINFO".
fn rate_code(rate: u32) -> (u8, RateExtra) {
    let fixed = match rate {
        88_200 => Some(0b0001),
        176_400 => Some(0b0010),
        192_000 => Some(0b0011),
        8_000 => Some(0b0100),
        16_000 => Some(0b0101),
        22_050 => Some(0b0110),
        24_000 => Some(0b0111),
        32_000 => Some(0b1000),
        44_100 => Some(0b1001),
        48_000 => Some(0b1010),
        96_000 => Some(0b1011),
        _ => None,
    };
    match (fixed, u16::try_from(rate)) {
        (Some(code), _) => (code, RateExtra::None),
        (None, Ok(hz)) => (0b1101, RateExtra::Hz(hz)),
        (None, Err(_)) => (0b0000, RateExtra::None),
    }
}

/// The "UTF-8"-like coded number of §9.1.5 (up to 36 bits, 1 to 7 bytes).
fn put_coded_number(out: &mut BytesMut, n: u64) {
    let n = n & 0xF_FFFF_FFFF;
    if n < 0x80 {
        out.put_u8(n as u8);
        return;
    }
    // Continuation bytes carry 6 bits each; the first byte has (7 − count) payload bits.
    let extra = match n {
        0..0x800 => 1,
        0x800..0x1_0000 => 2,
        0x1_0000..0x20_0000 => 3,
        0x20_0000..0x400_0000 => 4,
        0x400_0000..0x8000_0000 => 5,
        _ => 6,
    };
    let lead_mask = !(0xFFu8 >> (extra + 1));
    out.put_u8(lead_mask | (n >> (6 * extra)) as u8);
    for i in (0..extra).rev() {
        out.put_u8(0x80 | ((n >> (6 * i)) & 0x3F) as u8);
    }
}

/// CRC-8 of the frame header: polynomial x⁸ + x² + x + 1 (0x07), initial value 0 (§9.1.8).
pub fn crc8(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |mut crc, &b| {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// CRC-16 of the whole frame: polynomial x¹⁶ + x¹⁵ + x² + 1 (0x8005), initial value 0 (§9.3).
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        // A `u8` always indexes the 256-entry table.
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// CRC-16 of every byte value, computed bit by bit at compile time: one lookup per byte at
/// run time (frames are a few hundred bytes per G.711 packet).
static CRC16_TABLE: [u16; 256] = crc16_table();

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, number, coded bytes): §9.1.5 boundaries.
    const CODED: &[(&str, u64, &[u8])] = &[
        ("zero", 0, &[0x00]),
        ("7 bits", 0x7F, &[0x7F]),
        ("8 bits", 0x80, &[0xC2, 0x80]),
        ("11 bits", 0x7FF, &[0xDF, 0xBF]),
        ("12 bits", 0x800, &[0xE0, 0xA0, 0x80]),
        ("16 bits", 0xFFFF, &[0xEF, 0xBF, 0xBF]),
        ("17 bits", 0x1_0000, &[0xF0, 0x90, 0x80, 0x80]),
        (
            "36 bits",
            0xF_FFFF_FFFF,
            &[0xFE, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF, 0xBF],
        ),
    ];

    #[test]
    fn coded_numbers() {
        for &(name, n, want) in CODED {
            let mut out = BytesMut::new();
            put_coded_number(&mut out, n);
            assert_eq!(&out[..], want, "{name}");
        }
    }

    #[test]
    fn crcs_match_known_checks() {
        // CRC-8/SMBUS and CRC-16/UMTS (a.k.a. BUYPASS) check values for "123456789".
        assert_eq!(crc8(b"123456789"), 0xF4);
        assert_eq!(crc16(b"123456789"), 0xFEE8);
    }

    #[test]
    fn frame_layout() {
        let frame = encode_frame(&[1, -1, 2, -2], 2, 8000, 0).unwrap();
        // Header: sync+strategy, block code 0110 / rate 0100, channels 2 / 16-bit, sample 0,
        // block size − 1 = 1, CRC-8.
        assert_eq!(&frame[..6], &[0xFF, 0xF9, 0x64, 0x18, 0x00, 0x01]);
        assert_eq!(frame[6], crc8(&frame[..6]));
        // Two VERBATIM subframes of two samples each, then CRC-16.
        assert_eq!(
            &frame[7..17],
            &[0x02, 0, 1, 0, 2, 0x02, 0xFF, 0xFF, 0xFF, 0xFE]
        );
        let crc = crc16(&frame[..17]);
        assert_eq!(&frame[17..], &crc.to_be_bytes());
    }

    #[test]
    fn rejects_empty_and_bad_channel_counts() {
        assert!(encode_frame(&[], 1, 8000, 0).is_none());
        assert!(encode_frame(&[1], 2, 8000, 0).is_none());
        assert!(encode_frame(&[1], 0, 8000, 0).is_none());
        assert!(encode_frame(&[1; 9], 9, 8000, 0).is_none());
    }

    #[test]
    fn streaminfo_fields() {
        let si = streaminfo(16, 4096, 8000, 1);
        assert_eq!(&si[..4], &[0, 16, 0x10, 0]);
        // 8000 Hz = 0x01F40 in 20 bits, mono (0), 16 bits (15) → 0x01F4_0_0F0...
        assert_eq!(&si[10..14], &[0x01, 0xF4, 0x00, 0xF0]);
    }
}
