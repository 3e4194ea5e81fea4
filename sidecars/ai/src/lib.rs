//! The AI sidecar's logic, free of I/O: Brazilian plate reading from OCR text ([`plate`]), one
//! result per vehicle pass ([`pass`]), the watch list ([`watchlist`]), daily reports per city
//! ([`report`]) and the contract payloads built from them ([`events`]).
//!
//! Nothing here reads the clock: times are frame wall-clock times passed in, so every rule is
//! tested with simulated time. The stream reading and the OCR models (retina, openh264, ort)
//! come next; see `sidecars/ai/README.md`.

#![warn(missing_docs)]

pub mod events;
pub mod pass;
pub mod plate;
pub mod report;
pub mod watchlist;
