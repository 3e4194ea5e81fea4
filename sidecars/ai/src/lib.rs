//! The AI sidecar's logic, free of I/O: Brazilian plate reading from OCR text ([`plate`]), one
//! result per vehicle pass ([`pass`]) and the watch list ([`watchlist`]).
//!
//! Nothing here reads the clock: times are frame wall-clock times passed in, so every rule is
//! tested with simulated time. The stream reading and the OCR models (retina, openh264, ort)
//! come next.

#![warn(missing_docs)]

pub mod pass;
pub mod plate;
pub mod watchlist;
