//! Playback assembly (sans-IO): the recorded segments that overlap a requested window of wall
//! time become one MP4 file — fragmented (`format=fmp4`, streamed as it is read) or plain
//! (`format=mp4`, `moov` first, served with byte ranges). The HTTP server only fetches bytes
//! from the object store and forwards what these types produce.
//!
//! # Input
//!
//! The driver asks the index for the segments overlapping `[start, start + duration)`, then for
//! each, in order: [`Assembler::begin_segment`] (which says whether to read it at all),
//! [`Assembler::push`] of its bytes as they arrive from the store (any chunking), and
//! [`Assembler::end_segment`]; then [`Assembler::finish`]. [`Assembler::is_done`] turns true as
//! soon as nothing more is needed (the window's end was reached, or continuity broke), so the
//! driver stops downloading. A segment is parsed one whole top-level box at a time (the init,
//! then one `moof`+`mdat` fragment at a time): memory stays bounded by one
//! fragment (about a second of media), never a segment.
//!
//! # Timing, and how it compares with MediaMTX
//!
//! These are MediaMTX's rules (`internal/playback`: `seekAndMux`, `segmentFMP4MuxParts`,
//! `muxerFMP4`, `muxerMP4`), so clients see the same files:
//!
//! - **Output timeline.** Time 0 of the output is the requested `start`. A sample at wall time
//!   `t` is at `t - start` on the output, in its track's own timescale.
//! - **Seeking.** Output begins at the leading-track keyframe at or before `start`. In fMP4 the
//!   samples before `start` (the rest of that GOP) are kept so the first picture decodes, but
//!   take no time: they all decode at 0, and only the last of them — the picture on screen at
//!   `start` — lasts, until the first sample at or after `start`. MediaMTX gives all of them
//!   duration 0 at the decode time of the first sample at or after `start`, which leaves the
//!   first fraction of a frame of its output empty and makes ffprobe count that fraction twice;
//!   here the presented media starts at `start` exactly. Audio samples before `start` are
//!   dropped (every audio sample is a sync sample). In MP4 those samples keep their durations
//!   and an edit list (`elst` media time) skips them, which players honour; a track whose
//!   first sample comes after `start` gets an empty edit first (both as MediaMTX).
//! - **Presentation times.** Each track's composition offsets are shifted so that its first
//!   sync sample's is 0 (B-frames then get negative offsets: `trun` and `ctts` version 1). A
//!   segment's wall-clock start is the presentation time of its first keyframe, so this puts
//!   presentation times, not only decode times, on the wall clock: the keyframe recorded at
//!   wall time `t` is presented at `t - start`. (MediaMTX leaves the offsets as recorded, so its
//!   B-frame video is presented late by the keyframe's offset, two frames for x264's default.)
//! - **Decode times never run back.** A sample recorded with a decode time before the end of
//!   the track's previous one (a recorder clamping a track's first decode time to its segment's
//!   start makes such overlaps) is placed where the track is; the track then catches up with
//!   its recorded times, so its length stays right instead of growing by every overlap.
//! - **End.** Samples whose decode time is at or after `start + duration` are cut; the last one
//!   kept keeps its whole duration, so the output lasts `duration` within one frame.
//! - **Across segments.** The next segment continues the output only if it is the recording's
//!   continuation: it starts (by the index's wall clock) within
//!   [`SPAN_TOLERANCE_US`](crate::index::SPAN_TOLERANCE_US) of the previous one's end — the very
//!   rule that merges segments into one `/list` span — and its init segment is byte-identical
//!   to the first one's (same codec parameters). It then follows *directly after* the previous
//!   segment's media (decode times continue from where the previous segment's leading track
//!   ended), as MediaMTX does with the stream DTS it stores in each segment (`mtxi`), so
//!   rounding and clock drift never open holes or overlaps. At a real gap, or when the codec
//!   parameters changed, the output **ends there**, as MediaMTX's does (`/list` reports the
//!   next part of the recording as another span with its own URL).
//! - **A window starting in a gap** (before the first overlapping segment): that segment's media
//!   is placed at its real offset from `start` (its first decode time is positive), as in
//!   MediaMTX.
//!
//! Deliberate differences: a track whose first samples are not sync samples (never the case in
//! what the recorder writes) skips them instead of starting undecodable; fMP4 sequence numbers
//! start at 1; MP4 keeps keyframes' composition offsets (MediaMTX zeroes them).

mod assembler;
mod fmp4;
pub mod list;
mod moov;
mod mp4;
mod reader;

#[doc(hidden)]
pub mod fuzz;

pub use assembler::{Assembler, SampleRef, Sink};
pub use fmp4::Fmp4Muxer;
pub use mp4::{Mp4File, Mp4Muxer, Piece};

/// The fMP4 assembler: [`Assembler::pull`] gives the output chunks as they are ready.
pub type Fmp4Playback = Assembler<Fmp4Muxer>;

/// The MP4 planner: [`Assembler::into_file`] gives the file's layout once every segment was read.
pub type Mp4Playback = Assembler<Mp4Muxer>;

/// What a client asked for: `duration_us` of recording from wall time `start_us` (UNIX µs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First instant, UNIX µs.
    pub start_us: i64,
    /// Length, µs (positive).
    pub duration_us: i64,
}

impl Window {
    /// Just after the last instant, UNIX µs.
    pub fn end_us(&self) -> i64 {
        self.start_us.saturating_add(self.duration_us)
    }
}

#[cfg(test)]
mod tests;
