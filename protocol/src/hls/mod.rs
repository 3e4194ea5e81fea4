//! Low-latency HLS (RFC 8216bis): segmenter, part scheduler, playlists and query parsing.
//!
//! Sans-IO, like the rest of this crate: [`HlsMuxer`] takes access units and answers playlist,
//! segment and part look-ups with text and `Bytes` chunk lists; it never reads the clock and
//! never waits. Blocking playlist reload (RFC 8216bis §6.2.5.2) is split between the muxer and
//! the server's driver: the muxer answers [`PlaylistAnswer::NotYet`] and the driver waits until
//! [`HlsMuxer::version`] changes, then asks again.
//!
//! The fMP4 boxes themselves come from a [`PartMuxer`]: the segmenter decides where parts and
//! segments start and end; the part muxer turns the samples of one part into `moof`+`mdat`
//! chunks. See [`naming`] for the URIs the playlists use and [`HlsMuxer::file`] to resolve them.

mod codecs;
mod config;
mod date;
mod fmp4;
mod muxer;
mod playlist;
mod query;

pub mod check;
pub mod naming;

pub use config::{HlsConfig, HlsVariant};
pub use fmp4::Fmp4PartMuxer;
pub use muxer::{FileAnswer, HlsError, HlsMuxer, PartMuxer};
pub use playlist::PlaylistAnswer;
pub use query::{BlockingRequest, PlaylistRequest, QueryError, SkipRequest};
#[doc(hidden)]
pub use query::{fuzz_query, query_cases};
pub use vigia_media::fmp4::{PartRun, PartSample};
