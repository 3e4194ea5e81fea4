//! Vigia's codec-neutral media model.
//!
//! Everything that flows from an ingest to a reader is described here: tracks and their codec
//! parameters ([`model`]), timestamps ([`time`]), access units whose payload are `Bytes` slices of
//! what was received, and the stream hub that fans them out without copying.
//!
//! This crate never does I/O and never reads the clock: callers pass `now` in.

#![warn(missing_docs)]

pub mod model;
pub mod time;

pub use model::{AccessUnit, CodecParams, MediaKind, Track};
pub use time::{Timestamp, Unwrapper};
pub mod codec;
pub mod fmp4;
pub mod hub;
pub mod synthetic;
