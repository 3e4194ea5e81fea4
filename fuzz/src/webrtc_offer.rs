//! What Vigia does with a WHEP offer from a peer (server/src/webrtc: `parse_offer`, then
//! `accept_offer` on a str0m `Rtc` with only the codecs it sends, and the trickle-ICE candidate
//! lines of a `PATCH`), as one function: the fuzz target `webrtc_offer` calls it, and the normal
//! test run replays the corpus through it (conformance/tests/webrtc_offer_corpus.rs includes
//! this file by path, so the two never drift apart).
//!
//! Invariants checked after each step: nothing panics, and an answer str0m writes parses back
//! (a peer — str0m's own client — must be able to read it).

use std::sync::Once;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::{Candidate, Rtc};

/// Feeds `data` to str0m's offer and candidate parsers and, when it parses as an offer, to
/// `accept_offer` as Vigia calls it; the answer's SDP when there is one.
pub(crate) fn check(data: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(data).ok()?;
    for line in text.lines() {
        let _ = Candidate::from_sdp_string(line.strip_prefix("a=").unwrap_or(line));
    }
    let offer = SdpOffer::from_sdp_string(text).ok()?;
    install_crypto();
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .build(Instant::now());
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 8189));
    if let Ok(candidate) = Candidate::host(local, "udp") {
        rtc.add_local_candidate(candidate);
    }
    let answer = rtc.sdp_api().accept_offer(offer).ok()?.to_sdp_string();
    if let Err(e) = SdpAnswer::from_sdp_string(&answer) {
        panic!("str0m's own answer does not parse back ({e}):\n{answer}");
    }
    Some(answer)
}

/// str0m's crypto (aws-lc-rs, as Vigia's) installed once for the process.
fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}
