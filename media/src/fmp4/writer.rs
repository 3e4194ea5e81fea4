//! A tiny big-endian box writer over `BytesMut` with size back-patching (ISO/IEC 14496-12 §4.2).

use bytes::{BufMut, BytesMut};

/// Writes boxes into one buffer; [`BoxWriter::open`] returns a mark that
/// [`BoxWriter::close`] turns into the box's 32-bit size.
pub(crate) struct BoxWriter {
    pub(crate) buf: BytesMut,
}

impl BoxWriter {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
        }
    }

    /// Starts a box: a size placeholder and the four-character type.
    pub(crate) fn open(&mut self, fourcc: &[u8; 4]) -> usize {
        let start = self.buf.len();
        self.buf.put_u32(0);
        self.buf.put_slice(fourcc);
        start
    }

    /// Starts a FullBox (§4.2): box header, then version and 24-bit flags.
    pub(crate) fn open_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
        let start = self.open(fourcc);
        self.buf
            .put_u32((u32::from(version) << 24) | (flags & 0xFF_FFFF));
        start
    }

    /// Ends the box opened at `start`, writing its size.
    ///
    /// Boxes written here are small (headers, sample tables of one fragment); a box over
    /// 4 GiB would need `largesize` and cannot be produced by this module.
    pub(crate) fn close(&mut self, start: usize) {
        let size = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        if let Some(slot) = self.buf.get_mut(start..start + 4) {
            slot.copy_from_slice(&size.to_be_bytes());
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.put_u16(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.put_u32(v);
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.put_u64(v);
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.put_slice(v);
    }

    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.put_bytes(0, n);
    }

    /// The unity transformation matrix of `mvhd`/`tkhd` (§8.2.2.3).
    pub(crate) fn matrix(&mut self) {
        for v in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000u32] {
            self.u32(v);
        }
    }
}
