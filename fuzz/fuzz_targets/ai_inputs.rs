//! Fuzzes what the AI sidecar parses from outside: the watch list file (and the API's changes,
//! which go through its rules), OCR text made into plates, `replay`'s JSON lines, and the
//! recogniser's output decoded greedily and to a plate. Any bytes must parse or fail without
//! panicking; what parses must hold its invariants (see `vigia_ai::fuzz`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_ai::fuzz::fuzz_inputs(data);
});
