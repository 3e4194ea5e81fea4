//! Fuzz target: the fMP4 reader on raw bytes (`read_init`, `read_fragment` must never panic),
//! then access units derived from the bytes (payload sizes, DTS steps, composition offsets,
//! keyframe flags, chunk counts) through `SampleBuilder` → `fragment` → `read_fragment`:
//! sample counts, sizes, durations, flags, composition offsets and payload bytes must survive.
//! The invariants are asserted inside `fuzz_fmp4_roundtrip`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigia_media::fmp4::fuzz_fmp4_roundtrip;

fuzz_target!(|data: &[u8]| {
    fuzz_fmp4_roundtrip(data);
});
