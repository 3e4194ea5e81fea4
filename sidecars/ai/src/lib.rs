//! The AI sidecar's logic: Brazilian plate reading from OCR text ([`plate`]), one
//! result per vehicle pass ([`pass`]), the watch list ([`watchlist`]), daily reports per city
//! ([`report`]) and the contract payloads built from them ([`events`]); [`pipeline`] chains
//! them from OCR text to events, [`sampler`] picks the keyframes worth reading, [`ocr`] finds
//! and reads text in a decoded frame (PP-OCRv4 on ONNX Runtime), [`config`] is the binary's
//! environment, and [`accuracy`] scores detections against the test clips' ground truth.
//!
//! Nothing here reads the clock or a socket (only the watch list reads its file): times are frame
//! wall-clock times passed in, so every rule is
//! tested with simulated time ([`ocr`] reads it only to time its stages). Stream reading and
//! decoding (retina, openh264) come next; see `sidecars/ai/README.md`.

#![warn(missing_docs)]

pub mod accuracy;
pub mod config;
pub mod decode;
mod error;
pub mod events;
pub mod ocr;
pub mod pass;
pub mod pipeline;
pub mod plate;
pub mod report;
pub mod sampler;
pub mod stream;
pub mod watchlist;

pub use error::Error;
