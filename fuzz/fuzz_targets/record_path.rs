//! Fuzz target: `recordPath` templates (`RecordPath::parse`), then object keys rendered for a
//! path name and a time and read back by the path's `KeyMatcher` (see
//! `vigia_storage::template::fuzz_record_path` for the input layout).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_storage::template::fuzz_record_path(data);
});
