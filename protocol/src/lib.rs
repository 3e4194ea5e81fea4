//! Sans-IO wire protocols: RTSP, RTP/RTCP, RTP payload formats and SDP.
//!
//! Nothing here touches a socket or reads the clock: functions take bytes and `now` and return
//! bytes, events and the next deadline. The server's drivers own all I/O.

#![warn(missing_docs)]

pub mod auth;
pub mod hls;
pub mod payload;
pub mod rtcp;
pub mod rtp;
pub mod rtp_session;
pub mod rtsp;
pub mod sdp;
pub mod sdpfrag;

/// The sending at which bytes that go to many readers (an LL-HLS part, a unit's RTP packets
/// framed for RTSP over TCP) are joined into one buffer for the rest. Until then each reader's
/// write gathers the units' own slices (~60 for a 2 Mbit/s part, ~4 per RTP packet), which the
/// kernel copies ~3x more slowly than one buffer but which costs no memory: a joined copy
/// keeps ~1 MiB more per 2 Mbit/s stream while its window or ring holds it. At 2 readers the
/// CPU is even either way and at 200–500 the joined buffer saves 13–20 %, so a stream with a
/// few readers, as most cameras have (a VMS, the AI sidecar, an operator), makes no copy.
pub const JOIN_AT_SENDING: u32 = 8;
