//! Fuzz target: reading back a recorded segment file (`SegmentScan::scan`, used by crash
//! repair and playback) on arbitrary bytes; the valid prefix, the fragment order and the
//! rescan of the valid prefix are asserted inside `fuzz_segment_scan`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_storage::segment::fuzz_segment_scan(data);
});
