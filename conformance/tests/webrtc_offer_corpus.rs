//! Replays the `webrtc_offer` fuzz corpus (`fuzz/corpus/webrtc_offer/`) in the normal test run
//! through the fuzz target's own function (`fuzz/src/webrtc_offer.rs`, included by path: what
//! Vigia does with a WHEP offer), and checks that browsers' offers and str0m's get an H.264
//! answer. `VIGIA_WRITE_CORPUS=1 cargo test -p vigia-conformance --test webrtc_offer_corpus`
//! (re)writes the str0m seeds.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use str0m::Rtc;
use str0m::media::{Direction, MediaKind};

#[path = "../../fuzz/src/webrtc_offer.rs"]
mod webrtc_offer;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/webrtc_offer")
}

/// str0m's offer as `vigia-loadgen` and the conformance WHEP client make it: receive-only
/// video, and audio if `audio`.
fn str0m_offer(audio: bool) -> String {
    str0m::crypto::from_feature_flags().install_process_default();
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .build(Instant::now());
    let addr = "192.0.2.10:50000".parse().expect("an address");
    rtc.add_local_candidate(str0m::Candidate::host(addr, "udp").expect("a candidate"));
    let mut changes = rtc.sdp_api();
    changes.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    if audio {
        changes.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    }
    changes.apply().expect("an offer").0.to_sdp_string()
}

#[test]
fn str0m_seeds_are_written_on_request() {
    let seeds = [
        ("str0m_recvonly_h264", str0m_offer(false)),
        ("str0m_recvonly_h264_opus", str0m_offer(true)),
    ];
    for (name, offer) in &seeds {
        let path = corpus_dir().join(name);
        if std::env::var_os("VIGIA_WRITE_CORPUS").is_some() {
            fs::write(&path, offer).expect("write seed");
        }
        assert!(
            path.exists(),
            "{name} missing: run with VIGIA_WRITE_CORPUS=1"
        );
        let answer = webrtc_offer::check(offer.as_bytes()).expect("str0m's offer is answered");
        assert!(answer.contains("H264/90000"), "{answer}");
    }
}

#[test]
fn browser_offers_get_an_h264_answer() {
    for name in ["chromium_recvonly_all_codecs", "firefox_recvonly"] {
        let offer = fs::read(corpus_dir().join(name)).expect("seed");
        let answer = webrtc_offer::check(&offer).unwrap_or_else(|| panic!("{name}: no answer"));
        assert!(answer.contains("H264/90000"), "{name}: {answer}");
        assert!(answer.contains("opus/48000"), "{name}: {answer}");
    }
}

#[test]
fn replay_webrtc_offer_corpus() {
    let mut count = 0;
    for entry in fs::read_dir(corpus_dir()).expect("corpus dir") {
        let path = entry.expect("corpus entry").path();
        let bytes = fs::read(&path).expect("read seed");
        let result = std::panic::catch_unwind(|| webrtc_offer::check(&bytes));
        assert!(result.is_ok(), "fuzz seed {} panicked", path.display());
        count += 1;
    }
    assert!(count >= 6, "only {count} seeds");
}
