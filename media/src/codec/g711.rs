//! G.711 A-law and µ-law decoding to 16-bit linear PCM (ITU-T G.711 (11/88), Tables 1a/1b and
//! 2a/2b).
//!
//! The decode tables are computed at compile time from the segment/quantization rules of the
//! Recommendation, not copied from another project. Values are the 13-bit (A-law) and 14-bit
//! (µ-law) decoder outputs scaled to 16 bits, the same scale ffmpeg's `pcm_alaw`/`pcm_mulaw`
//! decoders produce (the integration tests compare all 256 codes with ffmpeg).

/// Decodes one A-law code to a 16-bit linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW.get(usize::from(code)).copied().unwrap_or(0)
}

/// Decodes one µ-law code to a 16-bit linear sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW.get(usize::from(code)).copied().unwrap_or(0)
}

/// Decodes a buffer of G.711 codes into `out` (appended), one sample per byte.
pub fn decode(mu_law: bool, codes: &[u8], out: &mut Vec<i16>) {
    let table = if mu_law { &ULAW } else { &ALAW };
    // A `u8` always indexes a 256-entry table.
    out.extend(codes.iter().map(|&c| table[usize::from(c)]));
}

/// A-law: even bits inverted on the line (G.711 §2, "alternate digit inversion"), then sign
/// (1 = positive), 3-bit segment, 4-bit step. Segment 0 and 1 share step 2 (in 13-bit units);
/// the decoder outputs the middle of the quantization interval.
const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let segment = ((a >> 4) & 0x07) as i32;
    let step = (a & 0x0F) as i32;
    // 16-bit scale: 13-bit value << 3.
    let magnitude = if segment == 0 {
        (step << 4) + 8
    } else {
        ((step << 4) + 0x108) << (segment - 1)
    };
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// µ-law: all bits inverted on the line; after inversion, sign (1 = negative), 3-bit segment,
/// 4-bit step. The decoder output is `((2·step + 33) << segment) − 33` in 14-bit units (33 is
/// the bias that makes the segments join, Table 2a), here scaled by 4 to 16 bits.
const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let segment = ((u >> 4) & 0x07) as i32;
    let step = (u & 0x0F) as i32;
    let magnitude = (((step << 3) + 0x84) << segment) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn table(mu_law: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if mu_law {
            ulaw_decode(i as u8)
        } else {
            alaw_decode(i as u8)
        };
        i += 1;
    }
    t
}

static ALAW: [i16; 256] = table(false);
static ULAW: [i16; 256] = table(true);

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, code, µ-law?, linear): the ends and the zero codes of each law.
    const CASES: &[(&str, u8, bool, i16)] = &[
        ("µ-law positive zero", 0xFF, true, 0),
        ("µ-law negative zero", 0x7F, true, 0),
        ("µ-law positive max", 0x80, true, 32124),
        ("µ-law negative max", 0x00, true, -32124),
        ("µ-law smallest step", 0xFE, true, 8),
        ("A-law smallest positive", 0xD5, false, 8),
        ("A-law smallest negative", 0x55, false, -8),
        ("A-law positive max", 0xAA, false, 32256),
        ("A-law negative max", 0x2A, false, -32256),
    ];

    #[test]
    fn known_codes_decode() {
        for &(name, code, mu, want) in CASES {
            let got = if mu {
                ulaw_to_linear(code)
            } else {
                alaw_to_linear(code)
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn tables_are_odd_symmetric_and_monotonic() {
        for code in 0..=0x7Fu8 {
            assert_eq!(alaw_to_linear(code), -alaw_to_linear(code | 0x80));
            assert_eq!(ulaw_to_linear(code), -ulaw_to_linear(code | 0x80));
        }
        // µ-law: codes 0x80..=0xFF go from the largest positive value down to zero.
        let mu: Vec<i16> = (0x80..=0xFFu8).map(ulaw_to_linear).collect();
        assert!(mu.windows(2).all(|w| w[0] > w[1]));
    }
}
