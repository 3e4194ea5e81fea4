//! The fuzz entry for what the sidecar parses from outside: the watch list file (and the
//! watch list API's changes, which go through the same rules), OCR text made into plates,
//! `replay`'s JSON lines, and the recogniser's output matrices decoded greedily and to a plate.
//! `fuzz/fuzz_targets/ai_inputs.rs` drives it; `tests/fuzz_corpus.rs` replays its corpus.

use crate::pipeline::OcrRead;
use crate::plate::read_plate;
use crate::watchlist::Watchlist;

/// Parses arbitrary bytes every way the sidecar takes outside input; never panics on any
/// input except a broken invariant: a list that parses writes back to the same list, a plate
/// read is already fixed, and a matrix's plate path is a plate.
#[doc(hidden)]
pub fn fuzz_inputs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(list) = Watchlist::parse(&text, "fuzz") {
        let again = Watchlist::parse(&list.to_yaml(), "fuzz")
            .unwrap_or_else(|e| panic!("the list written back does not parse: {e}"));
        assert_eq!(
            again.entries(),
            list.entries(),
            "the list written back differs"
        );
    }
    if let Ok(read) = read_plate(&text) {
        let again = read_plate(read.plate.as_str())
            .unwrap_or_else(|e| panic!("plate {} does not read back: {e}", read.plate.as_str()));
        assert_eq!(
            (again.plate, again.fixes),
            (read.plate, 0),
            "a plate read is fixed"
        );
    }
    let _ = serde_json::from_slice::<OcrRead>(data);
    if let Some((plate, format)) = crate::ocr::fuzz_decoding(data) {
        let read = read_plate(&plate)
            .unwrap_or_else(|e| panic!("plate path {plate:?} is not a plate: {e}"));
        assert!(
            format.is_none_or(|f| f == read.format),
            "plate path {plate:?} is not of the format {format:?} it was held to"
        );
    }
}
