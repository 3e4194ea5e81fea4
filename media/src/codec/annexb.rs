//! Annex B byte streams (H.264 Annex B, H.265 Annex B): start-code framing of NAL units.
//!
//! [`split`] cuts a byte stream into NAL units without copying (each is a `Bytes::slice` of
//! the input); [`write`] puts start codes back, for tests and for loading clips.

use bytes::Bytes;

/// The 4-byte start code written by [`write`].
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Splits an Annex B stream into NAL units, zero-copy.
///
/// Start codes may be 3 or 4 bytes; trailing zero bytes before a start code
/// (`trailing_zero_8bits`) are dropped; empty units are skipped. Bytes before the first start
/// code are ignored (a stream should not have any).
pub fn split(stream: &Bytes) -> Vec<Bytes> {
    iter(stream).collect()
}

/// Iterates over the NAL units of an Annex B stream, zero-copy (see [`split`]).
pub fn iter(stream: &Bytes) -> NalIter {
    let start = find_start_code(stream, 0).map(|(_, end)| end);
    NalIter {
        stream: stream.clone(),
        next: start,
    }
}

/// Iterator returned by [`iter`].
#[derive(Clone, Debug)]
pub struct NalIter {
    stream: Bytes,
    next: Option<usize>,
}

impl Iterator for NalIter {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            let begin = self.next?;
            let (end, after) = match find_start_code(&self.stream, begin) {
                Some((sc, after)) => (sc, Some(after)),
                None => (self.stream.len(), None),
            };
            self.next = after;
            let end = trim_trailing_zeros(&self.stream, begin, end);
            if end > begin {
                return Some(self.stream.slice(begin..end));
            }
        }
    }
}

/// Writes NAL units as an Annex B stream with 4-byte start codes.
pub fn write(nalus: &[Bytes]) -> Vec<u8> {
    let len = nalus.iter().map(|n| n.len() + START_CODE.len()).sum();
    let mut out = Vec::with_capacity(len);
    for nalu in nalus {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nalu);
    }
    out
}

/// Finds the next `00 00 01` at or after `from`: returns (its position, position after it).
fn find_start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let tail = data.get(from..)?;
    tail.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|i| (from + i, from + i + 3))
}

fn trim_trailing_zeros(data: &[u8], begin: usize, mut end: usize) -> usize {
    while end > begin && data.get(end - 1) == Some(&0) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_case_table() {
        /// (name, stream, NAL units)
        type Case = (&'static str, &'static [u8], &'static [&'static [u8]]);
        let cases: &[Case] = &[
            ("empty", &[], &[]),
            ("no start code", &[1, 2, 3], &[]),
            (
                "4-byte codes",
                &[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2],
                &[&[0x67, 1], &[0x68, 2]],
            ),
            (
                "3-byte codes",
                &[0, 0, 1, 0x65, 9, 0, 0, 1, 0x41],
                &[&[0x65, 9], &[0x41]],
            ),
            (
                "trailing zeros",
                &[0, 0, 1, 0x09, 0xF0, 0, 0, 0, 0, 0, 1, 0x41],
                &[&[0x09, 0xF0], &[0x41]],
            ),
            ("empty unit skipped", &[0, 0, 1, 0, 0, 1, 0x41], &[&[0x41]]),
            ("lone start code", &[0, 0, 0, 1], &[]),
        ];
        for (name, input, want) in cases {
            let got = split(&Bytes::copy_from_slice(input));
            let got: Vec<&[u8]> = got.iter().map(|b| b.as_ref()).collect();
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn write_then_split_round_trips_without_copying() {
        let nalus = vec![
            Bytes::from_static(&[0x67, 0x42]),
            Bytes::from_static(&[0x65, 0x88, 0x80]),
        ];
        let stream = Bytes::from(write(&nalus));
        assert_eq!(
            stream.as_ref(),
            &[0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x65, 0x88, 0x80]
        );
        let back = split(&stream);
        assert_eq!(back, nalus);
        let base = stream.as_ptr() as usize;
        assert_eq!(
            back[1].as_ptr() as usize,
            base + 10,
            "slices point into the input"
        );
    }
}
