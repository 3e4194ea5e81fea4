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
