//! Replays the RTP/RTCP/depacketizer fuzz seed corpora in the normal test run, and checks that
//! every case-table seed is in the corpus. `VIGIA_WRITE_CORPUS=1 cargo test --test
//! fuzz_corpus_rtp` (re)writes the seeds from the case tables.

use std::fs;
use std::path::PathBuf;

use vigia_protocol::payload::{FuzzCodec, fuzz_depacketize};
use vigia_protocol::{rtcp, rtp};

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// A fuzz target: its name, its case-table seeds `(file name, bytes)` and its entry point.
type Target = (&'static str, Vec<(String, Vec<u8>)>, Box<dyn Fn(&[u8])>);

/// Every target with its case-table seeds and its entry point.
fn targets() -> Vec<Target> {
    let mut t: Vec<Target> = vec![
        (
            "rtp",
            rtp::parse_cases()
                .into_iter()
                .map(|(n, b, _)| (n.to_owned(), b))
                .collect(),
            Box::new(rtp::fuzz_parse),
        ),
        (
            "rtcp",
            rtcp::parse_cases()
                .into_iter()
                .map(|(n, b, _)| (n.to_owned(), b))
                .collect(),
            Box::new(rtcp::fuzz_parse),
        ),
    ];
    for codec in FuzzCodec::ALL {
        t.push((
            codec.target(),
            codec.seeds(),
            Box::new(move |d: &[u8]| {
                fuzz_depacketize(codec, d);
            }),
        ));
    }
    t
}

#[test]
fn replay_corpora() {
    let write = std::env::var_os("VIGIA_WRITE_CORPUS").is_some();
    for (target, seeds, run) in targets() {
        let dir = corpus_dir(target);
        if write {
            fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in &seeds {
                fs::write(dir.join(name), bytes).unwrap();
            }
        }
        for (name, bytes) in &seeds {
            let on_disk = fs::read(dir.join(name))
                .unwrap_or_else(|e| panic!("{target}/{name} missing from corpus ({e})"));
            assert_eq!(
                &on_disk, bytes,
                "{target}/{name} differs from its case table"
            );
        }
        let mut count = 0;
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            run(&fs::read(&path).unwrap());
            count += 1;
        }
        assert!(count > 0, "no corpus files found in {}", dir.display());
    }
}
