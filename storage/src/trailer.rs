//! The segment trailer: a `free` box at the very end of every stored segment that says how
//! long the segment is, so an index can be rebuilt from the store with one small ranged read
//! per segment (no segment is read whole).
//!
//! Layout (32 bytes): box size `32` and type `free` (ISO/IEC 14496-12 §8.1.2: readers ignore its
//! contents), then the magic `vigiaseg`, a version byte (1), three zero bytes, the duration in
//! µs (big-endian `i64`), and four reserved zero bytes.

use bytes::{BufMut, Bytes, BytesMut};

/// Length of the trailer in bytes.
pub const TRAILER_LEN: usize = 32;

const MAGIC: &[u8; 8] = b"vigiaseg";
const VERSION: u8 = 1;

/// The trailer of a segment lasting `duration_us`.
pub fn trailer(duration_us: i64) -> Bytes {
    let mut b = BytesMut::with_capacity(TRAILER_LEN);
    b.put_u32(TRAILER_LEN as u32);
    b.put_slice(b"free");
    b.put_slice(MAGIC);
    b.put_u8(VERSION);
    b.put_bytes(0, 3);
    b.put_i64(duration_us);
    b.put_bytes(0, 4);
    b.freeze()
}

/// The duration a segment's last [`TRAILER_LEN`] bytes give, or `None` if they are not a
/// trailer (a segment from another writer, or cut short).
pub fn read_trailer(tail: &[u8]) -> Option<i64> {
    let t = tail.get(tail.len().checked_sub(TRAILER_LEN)?..)?;
    let ok = t[..4] == (TRAILER_LEN as u32).to_be_bytes()
        && &t[4..8] == b"free"
        && &t[8..16] == MAGIC
        && t[16] == VERSION;
    let duration = i64::from_be_bytes(t[20..28].try_into().ok()?);
    (ok && duration >= 0).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let t = trailer(61_234_567);
        assert_eq!(t.len(), TRAILER_LEN);
        assert_eq!(read_trailer(&t), Some(61_234_567));
        let mut longer = vec![0u8; 100];
        longer.extend_from_slice(&t);
        assert_eq!(read_trailer(&longer), Some(61_234_567));
        assert_eq!(read_trailer(&t[1..]), None, "too short");
        assert_eq!(read_trailer(&trailer(-1)), None, "negative");
        let mut other = t.to_vec();
        other[10] = b'X';
        assert_eq!(read_trailer(&other), None, "wrong magic");
        assert_eq!(read_trailer(&[0u8; 32]), None);
    }
}
