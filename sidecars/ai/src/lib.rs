//! The AI sidecar's logic: Brazilian plate reading from OCR text ([`plate`]), one
//! result per vehicle pass ([`pass`]), the watch list ([`watchlist`]), daily reports per city
//! ([`report`]) and the contract payloads built from them ([`events`]); [`pipeline`] chains
//! them from OCR text to events, [`sampler`] picks the keyframes worth reading, [`ocr`] finds
//! and reads text in a decoded frame (PP-OCRv4 on ONNX Runtime), [`config`] is the binary's
//! environment, and [`accuracy`] scores detections against the test clips' ground truth.
//! The live path: [`stream`] reads a camera's keyframes from Vigia over RTSP, [`decode`] turns
//! them into pictures, and [`live`]'s workers sample, decode and read them for the pipeline;
//! [`eval`] runs recorded clips through those same workers (the accuracy test, benchmarks).
//! [`snapshot`] crops the plate's picture to JPEG and stores it for the detection's
//! `snapshotKey`.
//!
//! The logic reads no clock and no socket (only the watch list reads its file): times are frame
//! wall-clock times passed in, so every rule is tested with simulated time. The exceptions are
//! the live path's drivers: [`stream`] talks RTSP and dates frames that arrive without a sender
//! report, and [`ocr`] and [`live`] time their stages.

#![warn(missing_docs)]

pub mod accuracy;
pub mod config;
pub mod decode;
mod error;
pub mod eval;
pub mod events;
pub mod fuzz;
pub mod live;
pub mod ocr;
pub mod pass;
pub mod pipeline;
pub mod plate;
pub mod report;
pub mod sampler;
pub mod snapshot;
pub mod stream;
pub mod watchlist;

pub use error::Error;
