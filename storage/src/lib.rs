//! Recording for Vigia: every stream's access units cut into fMP4 segments, made durable in a
//! local spool, uploaded to an object store (a local directory by default, MinIO/S3 by config),
//! indexed for playback, and deleted after their retention.
//!
//! The flow, and who owns what:
//! - [`recorder::Recorder`] (sans-IO): access units in, segment starts, fMP4 parts and segment
//!   ends out. It cuts with the same [`vigia_media::fmp4::Segmenter`] and writes with the same
//!   [`vigia_media::fmp4::FragmentWriter`] as LL-HLS: one muxer for both.
//! - [`spool::Spool`]: each part is appended to the segment's spool file and fsynced before it
//!   counts as recorded; a finished segment is marked complete; at start, leftovers of a crash
//!   are cut back to their last whole fragment and marked complete. Past its size limit the
//!   oldest unsent segments are dropped, logged and counted.
//! - [`uploader`]: sends complete segments oldest first (multipart for large ones), retrying
//!   with backoff while the store is down; on success the segment joins the index and leaves
//!   the spool.
//! - [`index::RecordingIndex`]: segments per path with their wall-clock start and duration, in
//!   memory and journaled to disk, so `/list` never lists the store.
//! - [`retention`]: deletes segments older than their path's `recordDeleteAfter` (or the
//!   city's storage plan), walking the index, not the store.
//! - [`template::RecordPath`]: `recordPath` → destination and object keys, and back.

pub mod index;
pub mod playback;
pub mod rebuild;
pub mod recorder;
pub mod retention;
pub mod segment;
pub mod spool;
pub mod store;
pub mod template;
pub mod trailer;
pub mod uploader;

mod error;

pub use error::StorageError;
