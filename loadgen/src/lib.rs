//! `vigia-loadgen`: synthetic cameras that publish a pre-encoded clip to Vigia, readers that
//! pull it back, and a report of what that cost and how late the video arrived.
//!
//! - [`clip`] packetizes the built-in clip once into RTP payload templates; a camera only
//!   rewrites the 12-byte RTP header and adds a wall-clock SEI per frame.
//! - [`publisher`] runs one camera (RTSP ANNOUNCE/RECORD over TCP or UDP), [`reader`] one RTSP
//!   reader, [`hls`] one LL-HLS reader, [`whep`] one WebRTC (WHEP) reader; they report into
//!   [`stats::Stats`].
//! - [`procfs`] samples CPU and RSS of the server and of the load generator itself.
//! - [`report`] turns the per-second samples into the JSON report, [`html`] into the HTML one.
//! - [`net`] spreads connections over 127.0.0.2..=254 against a loopback server, whose
//!   per-IP limits would otherwise see one client.
//! - [`run`] wires it together on one tokio runtime, one task per connection.

#![warn(missing_docs)]

pub mod cli;
pub mod clip;
pub mod error;
pub mod hls;
pub mod html;
pub mod http;
pub mod net;
pub mod procfs;
pub mod publisher;
pub mod reader;
pub mod report;
pub mod rtsp_conn;
pub mod run;
pub mod stats;
pub mod whep;

pub use error::Error;

/// The wall clock in UNIX microseconds (the load generator's only clock for latency).
pub fn wallclock_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
