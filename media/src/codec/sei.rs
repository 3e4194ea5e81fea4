//! The wall-clock stamp: an SEI "user data unregistered" message carrying Vigia's UUID and the
//! UNIX time in microseconds, inserted on keyframes by the synthetic source and read back by
//! latency tests (H.264 §D.1.7 / §7.3.2.3, H.265 §D.2.7 / §7.3.2.4).
//!
//! Payload (24 bytes): the 16-byte [`VIGIA_WALLCLOCK_UUID`], then the time as a big-endian i64.

use bytes::Bytes;

use super::bits::{add_emulation_prevention, remove_emulation_prevention};
use super::{h264, h265};
use crate::model::{AccessUnit, join_chunks, leading_bytes};

/// `uuid_iso_iec_11578` identifying Vigia's wall-clock stamp
/// (46034d6f-a731-4aec-8839-e6fad81d58ef).
pub const VIGIA_WALLCLOCK_UUID: [u8; 16] = [
    0x46, 0x03, 0x4D, 0x6F, 0xA7, 0x31, 0x4A, 0xEC, 0x88, 0x39, 0xE6, 0xFA, 0xD8, 0x1D, 0x58, 0xEF,
];

/// SEI `payloadType` of user data unregistered (same in H.264 and H.265).
pub const USER_DATA_UNREGISTERED: u32 = 5;

const PAYLOAD_LEN: usize = 24;

/// An H.264 SEI NAL unit (type 6, `nal_ref_idc` 0) stamping `wallclock_us`.
pub fn wallclock_sei_h264(wallclock_us: i64) -> Bytes {
    build(&[h264::NalType::SEI.0], wallclock_us)
}

/// An H.265 prefix SEI NAL unit (type 39, layer 0, temporal id 0) stamping `wallclock_us`.
pub fn wallclock_sei_h265(wallclock_us: i64) -> Bytes {
    build(&[h265::NalType::PREFIX_SEI.0 << 1, 0x01], wallclock_us)
}

/// The wall-clock stamp carried by `nal` (an H.264 SEI or an H.265 prefix/suffix SEI NAL unit
/// without start code), or `None` if it carries none.
pub fn parse_wallclock_sei(nal: &[u8]) -> Option<i64> {
    let first = *nal.first()?;
    if first & 0x80 != 0 {
        return None;
    }
    if first & 0x1F == h264::NalType::SEI.0
        && let Some(us) = find_stamp(nal.get(1..)?)
    {
        return Some(us);
    }
    let t = h265::NalType::of(nal)?;
    if t == h265::NalType::PREFIX_SEI || t == h265::NalType::SUFFIX_SEI {
        return find_stamp(nal.get(2..)?);
    }
    None
}

/// The wall-clock stamp of the first SEI among `nalus` that carries one.
pub fn find_wallclock(nalus: &[Bytes]) -> Option<i64> {
    nalus.iter().find_map(|n| parse_wallclock_sei(n))
}

/// The wall-clock stamp of the first SEI of `unit` that carries one. A NAL unit in several
/// chunks is joined only if its header says SEI (H.264 type 6, H.265 type 39 or 40): slices
/// are never copied for it.
pub fn unit_wallclock(unit: &AccessUnit) -> Option<i64> {
    unit.nals().find_map(|chunks| match chunks {
        [one] => parse_wallclock_sei(one),
        _ => {
            let header = [leading_bytes::<1>(chunks).0[0]];
            let h265_sei = [h265::NalType::PREFIX_SEI, h265::NalType::SUFFIX_SEI];
            let sei = h264::NalType::of(&header) == Some(h264::NalType::SEI)
                || h265::NalType::of(&header).is_some_and(|t| h265_sei.contains(&t));
            sei.then(|| parse_wallclock_sei(&join_chunks(chunks)))
                .flatten()
        }
    })
}

fn build(header: &[u8], wallclock_us: i64) -> Bytes {
    let mut rbsp = Vec::with_capacity(3 + PAYLOAD_LEN);
    rbsp.push(USER_DATA_UNREGISTERED as u8);
    rbsp.push(PAYLOAD_LEN as u8);
    rbsp.extend_from_slice(&VIGIA_WALLCLOCK_UUID);
    rbsp.extend_from_slice(&wallclock_us.to_be_bytes());
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut nal = header.to_vec();
    nal.extend_from_slice(&add_emulation_prevention(&rbsp));
    Bytes::from(nal)
}

/// Walks the `sei_message()`s of an SEI RBSP (after the NAL header) looking for the stamp.
fn find_stamp(escaped: &[u8]) -> Option<i64> {
    let rbsp = remove_emulation_prevention(escaped);
    let mut rest = rbsp.as_slice();
    while rest.first().is_some_and(|&b| b != 0x80) {
        let (typ, after) = read_ff_coded(rest)?;
        let (size, after) = read_ff_coded(after)?;
        let payload = after.get(..size)?;
        if typ == USER_DATA_UNREGISTERED as usize
            && let Some(us) = stamp_of(payload)
        {
            return Some(us);
        }
        rest = after.get(size..)?;
    }
    None
}

fn stamp_of(payload: &[u8]) -> Option<i64> {
    if payload.len() != PAYLOAD_LEN || payload.get(..16)? != VIGIA_WALLCLOCK_UUID {
        return None;
    }
    Some(i64::from_be_bytes(payload.get(16..24)?.try_into().ok()?))
}

/// `payloadType`/`payloadSize` coding: a run of `0xFF` bytes (255 each) plus a last byte.
fn read_ff_coded(data: &[u8]) -> Option<(usize, &[u8])> {
    let mut value = 0usize;
    for (i, &b) in data.iter().enumerate() {
        value = value.checked_add(usize::from(b))?;
        if b != 0xFF {
            return Some((value, data.get(i + 1..)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_case_table() {
        let cases: &[(&str, i64)] = &[
            ("zero (needs emulation prevention)", 0),
            ("2026", 1_795_000_000_000_000),
            ("negative", -1),
            ("bytes 00 00 01", 0x0000_0100_0001),
            ("max", i64::MAX),
        ];
        for (name, us) in cases {
            let n264 = wallclock_sei_h264(*us);
            let n265 = wallclock_sei_h265(*us);
            assert_eq!(parse_wallclock_sei(&n264), Some(*us), "h264 {name}");
            assert_eq!(parse_wallclock_sei(&n265), Some(*us), "h265 {name}");
            for w in n264.windows(3).chain(n265.windows(3)) {
                assert!(
                    !(w[0] == 0 && w[1] == 0 && w[2] < 3),
                    "{name}: start-code emulation"
                );
            }
        }
    }

    #[test]
    fn a_unit_stamp_is_found_in_chunks_too() {
        let sei = wallclock_sei_h264(42);
        let unit = |data: Vec<Bytes>, nal_ends: Vec<u32>| AccessUnit {
            nal_ends,
            ..AccessUnit::new(0, crate::Timestamp::new(0, 90_000), true, data)
        };
        let slice = vec![
            Bytes::from_static(&[0x65]),
            Bytes::from_static(&[6, 5, 0x18]),
        ];
        let whole = unit(vec![sei.clone(), slice[0].clone()], vec![]);
        assert_eq!(unit_wallclock(&whole), Some(42));
        // The SEI in two chunks is joined; a slice whose chunk starts like an SEI is not one.
        let (a, b) = (sei.slice(..1), sei.slice(1..));
        let chunked = unit([slice.clone(), vec![a, b]].concat(), vec![2, 4]);
        assert_eq!(unit_wallclock(&chunked), Some(42));
        assert_eq!(unit_wallclock(&unit(slice, vec![2])), None);
    }

    #[test]
    fn layout_is_as_documented() {
        let nal = wallclock_sei_h264(1);
        assert_eq!(&nal[..3], &[0x06, 0x05, 0x18]);
        assert_eq!(&nal[3..19], &VIGIA_WALLCLOCK_UUID);
        assert_eq!(nal.last(), Some(&0x80));
        assert_eq!(&wallclock_sei_h265(1)[..4], &[0x4E, 0x01, 0x05, 0x18]);
    }

    #[test]
    fn other_seis_are_skipped_or_ignored() {
        // A recovery-point SEI (type 6, size 1) followed by our stamp in the same NAL.
        let stamp = wallclock_sei_h264(42);
        let mut nal = vec![0x06, 0x06, 0x01, 0x84];
        nal.extend_from_slice(&stamp[1..]);
        assert_eq!(parse_wallclock_sei(&nal), Some(42));
        assert_eq!(parse_wallclock_sei(&[0x06, 0x06, 0x01, 0x84, 0x80]), None);
        assert_eq!(parse_wallclock_sei(&[0x06, 0x05, 0xFF]), None);
        assert_eq!(parse_wallclock_sei(&[0x65, 0x88]), None);
        assert_eq!(parse_wallclock_sei(&[]), None);
        assert_eq!(
            find_wallclock(&[Bytes::from_static(&[0x67]), stamp]),
            Some(42)
        );
    }
}
