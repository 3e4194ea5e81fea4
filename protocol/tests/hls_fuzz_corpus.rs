//! Replays the `hls_query` fuzz seed corpus in the normal test run and checks that every case of
//! the query parser's table is in it. `VIGIA_WRITE_CORPUS=1 cargo test --test hls_fuzz_corpus`
//! (re)writes the seeds from the case table.

use std::fs;
use std::path::PathBuf;

use vigia_protocol::hls::{fuzz_query, query_cases};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/hls_query")
}

#[test]
fn replay_hls_query_corpus() {
    let dir = corpus_dir();
    if std::env::var_os("VIGIA_WRITE_CORPUS").is_some() {
        fs::create_dir_all(&dir).expect("create corpus dir");
        for (name, query, _) in query_cases() {
            fs::write(dir.join(name), query).expect("write seed");
        }
    }
    for (name, query, _) in query_cases() {
        let on_disk = fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("hls_query/{name} missing from corpus ({e})"));
        assert_eq!(
            on_disk,
            query.as_bytes(),
            "hls_query/{name} differs from its case table"
        );
    }
    let mut count = 0;
    for entry in fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("corpus entry").path();
        fuzz_query(&fs::read(&path).expect("read seed"));
        count += 1;
    }
    assert!(count > 0, "no corpus files in {}", dir.display());
}
