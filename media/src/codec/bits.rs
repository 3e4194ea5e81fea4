//! Bit reading for parameter sets and slice headers: exp-Golomb codes and emulation prevention.
//!
//! Parameter sets are tiny, so NAL payloads are first unescaped into a small `Vec` with
//! [`remove_emulation_prevention`] and then read with [`BitReader`]. Slice data is never copied:
//! callers unescape only the first bytes of a slice header.

use super::CodecError;

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`), H.264 §7.4.1 / H.265 §7.4.2.
pub fn remove_emulation_prevention(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0usize;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Inserts emulation-prevention bytes so that `rbsp` can be carried in a NAL unit.
///
/// After two zero bytes, any byte `<= 3` gets a `03` in front of it; a trailing zero also does
/// (H.264 §7.4.1, H.265 §7.4.2).
pub fn add_emulation_prevention(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    let mut zeros = 0usize;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    if zeros > 0 && rbsp.len() >= 2 && out.ends_with(&[0, 0]) {
        out.push(3);
    }
    out
}

/// An MSB-first bit reader over an RBSP (emulation prevention already removed).
///
/// Reading past the end returns [`CodecError::Incomplete`]; exp-Golomb codes longer than 32
/// bits return [`CodecError::Invalid`].
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader positioned at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bits not yet read.
    pub fn bits_left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    /// Reads one bit, `u(1)`.
    pub fn read_bit(&mut self) -> Result<bool, CodecError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or(CodecError::Incomplete { what: "bits" })?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` bits (at most 64) as an unsigned number, `u(n)`.
    pub fn read_bits(&mut self, n: u32) -> Result<u64, CodecError> {
        if n > 64 {
            return Err(CodecError::Invalid { what: "bit count" });
        }
        if self.bits_left() < n as usize {
            return Err(CodecError::Incomplete { what: "bits" });
        }
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.read_bit()?);
        }
        Ok(v)
    }

    /// Reads `n` bits (at most 32) as a `u32`.
    pub fn read_u32(&mut self, n: u32) -> Result<u32, CodecError> {
        if n > 32 {
            return Err(CodecError::Invalid { what: "bit count" });
        }
        Ok(self.read_bits(n)? as u32)
    }

    /// Reads `n` bits (at most 8) as a `u8`.
    pub fn read_u8(&mut self, n: u32) -> Result<u8, CodecError> {
        if n > 8 {
            return Err(CodecError::Invalid { what: "bit count" });
        }
        Ok(self.read_bits(n)? as u8)
    }

    /// Skips `n` bits.
    pub fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        if self.bits_left() < n {
            return Err(CodecError::Incomplete { what: "bits" });
        }
        self.pos += n;
        Ok(())
    }

    /// Reads an unsigned exp-Golomb code, `ue(v)` (H.264 §9.1).
    pub fn read_ue(&mut self) -> Result<u32, CodecError> {
        let mut zeros = 0u32;
        while !self.read_bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(CodecError::Invalid {
                    what: "exp-Golomb code",
                });
            }
        }
        let rest = self.read_bits(zeros)?;
        let v = (1u64 << zeros) - 1 + rest;
        u32::try_from(v).map_err(|_| CodecError::Invalid {
            what: "exp-Golomb code",
        })
    }

    /// Reads a signed exp-Golomb code, `se(v)` (H.264 §9.1.1).
    pub fn read_se(&mut self) -> Result<i32, CodecError> {
        let k = i64::from(self.read_ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).map_err(|_| CodecError::Invalid {
            what: "exp-Golomb code",
        })
    }

    /// Reads `ue(v)` and checks it is at most `max`, naming `what` if not.
    pub fn read_ue_max(&mut self, max: u32, what: &'static str) -> Result<u32, CodecError> {
        let v = self.read_ue()?;
        if v > max {
            return Err(CodecError::Invalid { what });
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_case_table() {
        // (name, bytes, expected ue values in order)
        let cases: &[(&str, &[u8], &[u32])] = &[
            ("zero", &[0b1000_0000], &[0]),
            ("one two", &[0b0100_1100], &[1, 2]),
            (
                "three..six",
                &[0b0010_0001, 0b0100_1100, 0b0111_0000],
                &[3, 4, 5, 6],
            ),
            (
                "max u32",
                &[0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE],
                &[u32::MAX - 1],
            ),
        ];
        for (name, bytes, want) in cases {
            let mut r = BitReader::new(bytes);
            for w in *want {
                assert_eq!(r.read_ue().unwrap(), *w, "{name}");
            }
        }
    }

    #[test]
    fn signed_exp_golomb() {
        // 1 -> 0, 010 -> 1, 011 -> -1, 00100 -> 2, 00101 -> -2
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0010, 0b1000_0000]);
        let got: Vec<i32> = (0..5).map(|_| r.read_se().unwrap()).collect();
        assert_eq!(got, [0, 1, -1, 2, -2]);
    }

    #[test]
    fn reading_past_end_is_incomplete_and_long_codes_invalid() {
        let mut r = BitReader::new(&[0b0000_0001]);
        assert_eq!(r.read_ue(), Err(CodecError::Incomplete { what: "bits" }));
        let mut r = BitReader::new(&[0; 8]);
        assert_eq!(
            r.read_ue(),
            Err(CodecError::Invalid {
                what: "exp-Golomb code"
            })
        );
        let mut r = BitReader::new(&[0xFF]);
        assert_eq!(r.read_bits(9), Err(CodecError::Incomplete { what: "bits" }));
    }

    #[test]
    fn emulation_prevention_round_trips() {
        let cases: &[(&str, &[u8], &[u8])] = &[
            ("none", &[1, 2, 3], &[1, 2, 3]),
            ("00 00 00", &[0, 0, 0, 1], &[0, 0, 3, 0, 1]),
            ("00 00 03", &[0, 0, 3], &[0, 0, 3, 3]),
            ("twice", &[0, 0, 1, 0, 0, 2], &[0, 0, 3, 1, 0, 0, 3, 2]),
            ("00 00 04 untouched", &[0, 0, 4], &[0, 0, 4]),
            ("trailing zeros", &[5, 0, 0], &[5, 0, 0, 3]),
        ];
        for (name, rbsp, escaped) in cases {
            assert_eq!(&add_emulation_prevention(rbsp), escaped, "{name}");
            assert_eq!(&remove_emulation_prevention(escaped), rbsp, "{name}");
        }
    }
}
