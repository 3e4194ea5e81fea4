//! Fuzzes CloudEvents envelope parsing: any bytes must parse or fail without panicking, and an
//! event that parses must re-encode and re-parse to the same event.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_events::fuzz_envelope(data);
});
