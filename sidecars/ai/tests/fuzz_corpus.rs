//! Replays the `ai_inputs` fuzz target's corpus (`fuzz/corpus/ai_inputs`: the seeds and what
//! fuzzing found) through `vigia_ai::fuzz::fuzz_inputs`, so the normal test run keeps every case
//! passing.

use std::path::Path;

#[test]
fn the_ai_inputs_corpus_replays_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ai_inputs");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        vigia_ai::fuzz::fuzz_inputs(&data);
        cases += 1;
    }
    assert!(cases >= 8, "{cases} cases in {}", dir.display());
}

#[test]
fn the_seeds_parse_as_what_they_are() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ai_inputs");
    let text = |name: &str| std::fs::read_to_string(dir.join(name)).expect("seed");
    let list = vigia_ai::watchlist::Watchlist::parse(&text("watchlist"), "seed").expect("list");
    assert_eq!(list.entries().len(), 2);
    let plate = vigia_ai::plate::read_plate(&text("plate-fixes")).expect("plate");
    assert_eq!(plate.plate.as_str(), "OBC1Z35");
    let line: vigia_ai::pipeline::OcrRead =
        serde_json::from_str(&text("replay-line")).expect("replay line");
    assert_eq!(line.frame, 17);
    let boxed: vigia_ai::pipeline::OcrRead =
        serde_json::from_str(&text("replay-line-box")).expect("replay line with a box");
    let b = boxed.bounding_box.expect("boundingBox");
    assert_eq!((b.x, b.y, b.width, b.height), (612, 418, 96, 31));
}
