//! Fuzz target: the recording index's journal replay on arbitrary bytes (what
//! `RecordingIndex::open` reads from disk), then `segments` and `spans` checked over several
//! windows and the compacted journal replayed (see `vigia_storage::index::fuzz_index_journal`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vigia_storage::index::fuzz_index_journal(data);
});
