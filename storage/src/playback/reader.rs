//! [`SegmentReader`]: a push parser cutting a segment's bytes, however they arrive, into its
//! init segment and its whole `moof`+`mdat` fragments (ISO/IEC 14496-12 §4.2, §8.8).
//!
//! Only the box being completed is buffered: memory is bounded by the largest fragment (and by
//! [`MAX_BOX`]), not by the segment. Other top-level boxes (`free`, `sidx`, `styp`…) are skipped
//! as they pass without being held. Never panics on any input.

use bytes::{Buf, Bytes, BytesMut};

/// Largest top-level box (or fragment) accepted: a part is at most `recordMaxPartSize` (50 MB
/// by default) of payload.
pub(crate) const MAX_BOX: u64 = 256 << 20;

/// A whole piece of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Everything before the end of `moov`: `ftyp` + `moov`.
    Init(Bytes),
    /// One `moof` and the `mdat` after it, and the offset of the `moof` in the segment.
    Fragment {
        /// The fragment's bytes.
        bytes: Bytes,
        /// Offset of its first byte in the segment file.
        at: u64,
    },
}

/// The push parser; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct SegmentReader {
    buf: BytesMut,
    /// Offset in the segment of `buf[0]`.
    at: u64,
    /// Bytes still to drop from the input (the rest of a skipped box).
    skip: u64,
    init_done: bool,
}

impl SegmentReader {
    /// Takes the next bytes of the segment.
    pub(crate) fn push(&mut self, mut chunk: &[u8]) {
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            chunk = chunk.get(n..).unwrap_or_default();
            self.skip -= n as u64;
            self.at += n as u64;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole piece, `Ok(None)` until more bytes are pushed, or what is wrong with the
    /// segment (then the reader must not be used further).
    pub(crate) fn next(&mut self) -> Result<Option<Piece>, String> {
        if !self.init_done {
            return self.next_init();
        }
        loop {
            let Some((fourcc, len)) = header(&self.buf, 0, self.at)? else {
                return Ok(None);
            };
            if &fourcc == b"moof" {
                return self.next_fragment(len);
            }
            if &fourcc == b"moov" || &fourcc == b"ftyp" {
                return Err(format!(
                    "{} at byte {} after the init",
                    name(&fourcc),
                    self.at
                ));
            }
            self.drop_box(len);
        }
    }

    /// Bytes received but not yet part of a whole piece.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// `ftyp` (and whatever precedes `moov`) + `moov`, once `moov` is whole.
    fn next_init(&mut self) -> Result<Option<Piece>, String> {
        let mut pos = 0usize;
        loop {
            let Some((fourcc, len)) = header(&self.buf, pos, self.at)? else {
                return Ok(None);
            };
            let end = pos.saturating_add(len);
            if end as u64 > MAX_BOX {
                return Err("no moov in the first 256 MiB".to_owned());
            }
            match &fourcc {
                b"moof" | b"mdat" => {
                    return Err(format!(
                        "{} before moov at byte {}",
                        name(&fourcc),
                        self.at + pos as u64
                    ));
                }
                b"moov" if end <= self.buf.len() => {
                    self.init_done = true;
                    self.at += end as u64;
                    return Ok(Some(Piece::Init(self.buf.split_to(end).freeze())));
                }
                _ if end <= self.buf.len() => pos = end,
                _ => return Ok(None),
            }
        }
    }

    /// The `moof` of `moof_len` bytes at the start of the buffer and its `mdat`, once whole.
    fn next_fragment(&mut self, moof_len: usize) -> Result<Option<Piece>, String> {
        let Some((fourcc, mdat_len)) = header(&self.buf, moof_len, self.at)? else {
            return Ok(None);
        };
        if &fourcc != b"mdat" {
            return Err(format!(
                "moof at byte {} followed by {}",
                self.at,
                name(&fourcc)
            ));
        }
        let total = moof_len.saturating_add(mdat_len);
        if total as u64 > MAX_BOX {
            return Err(format!("fragment at byte {} larger than 256 MiB", self.at));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let at = self.at;
        self.at += total as u64;
        Ok(Some(Piece::Fragment {
            bytes: self.buf.split_to(total).freeze(),
            at,
        }))
    }

    /// Drops the box of `len` bytes at the start of the buffer, now or as it arrives.
    fn drop_box(&mut self, len: usize) {
        let now = len.min(self.buf.len());
        self.buf.advance(now);
        self.at += now as u64;
        self.skip = (len - now) as u64;
    }
}

/// Type and total length of the box whose header starts at `pos`, `None` if the header is not
/// all there yet; an error for sizes no valid box has (smaller than its header, "to the end of
/// the file", larger than [`MAX_BOX`]).
fn header(buf: &[u8], pos: usize, base: u64) -> Result<Option<([u8; 4], usize)>, String> {
    let at = base + pos as u64;
    let Some(h) = buf.get(pos..pos.saturating_add(8)) else {
        return Ok(None);
    };
    let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let fourcc = [h[4], h[5], h[6], h[7]];
    let (size, header_len) = match size32 {
        0 => return Err(format!("{} at byte {at} runs to the end", name(&fourcc))),
        1 => {
            let Some(l) = buf.get(pos + 8..pos + 16) else {
                return Ok(None);
            };
            let mut large = [0u8; 8];
            large.copy_from_slice(l);
            (u64::from_be_bytes(large), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header_len {
        return Err(format!("{} at byte {at}: size {size}", name(&fourcc)));
    }
    if size > MAX_BOX {
        return Err(format!(
            "{} at byte {at} larger than 256 MiB",
            name(&fourcc)
        ));
    }
    Ok(Some((fourcc, size as usize)))
}

/// A four-character code for messages.
fn name(fourcc: &[u8; 4]) -> String {
    fourcc
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}
