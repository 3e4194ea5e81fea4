//! Muxer configuration (MediaMTX's `hlsVariant`, `hlsSegmentDuration`, `hlsPartDuration`,
//! `hlsSegmentCount`, `hlsSegmentMaxSize`).

use std::time::Duration;

/// Which flavour of HLS a muxer produces (MediaMTX's `hlsVariant`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HlsVariant {
    /// Low-latency HLS: parts, blocking reload, delta updates, preload hints (`lowLatency`).
    #[default]
    LowLatency,
    /// Classic fMP4 HLS for old players: whole segments only, no parts in the playlist (`fmp4`).
    Fmp4,
}

/// How an [`HlsMuxer`](super::HlsMuxer) cuts and keeps segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HlsConfig {
    /// Playlist flavour.
    pub variant: HlsVariant,
    /// Minimum segment length; a segment ends at the first keyframe after it (`hlsSegmentDuration`).
    pub segment_duration: Duration,
    /// Part length target, also the playlist's `PART-TARGET` (`hlsPartDuration`).
    pub part_duration: Duration,
    /// Complete segments listed in the media playlist (`hlsSegmentCount`) while the stream is
    /// watched; one nobody has asked a playlist of for this many segments keeps only the
    /// newest covering three target durations, and grows back when a player arrives.
    pub segment_count: usize,
    /// Segments kept past the playlist window for clients still fetching them (RFC 8216bis
    /// §6.2.2), once a served media playlist listed them. A stream nobody reads holds only its
    /// window; one being watched holds this many more.
    pub extra_segments: usize,
    /// Bytes a segment may reach (`hlsSegmentMaxSize`); a segment that grows past it (a very
    /// high bitrate, or a long `segment_duration`) is ended, and the next starts at the next
    /// keyframe after a discontinuity. Segments are also cut at the target duration, so this
    /// bounds bytes where the duration bound does not.
    pub segment_max_size: usize,
    /// Whether complete segments go to disk (MediaMTX's `hlsDirectory`): the muxer hands each
    /// one to its driver ([`HlsMuxer::segments_to_store`](super::HlsMuxer::segments_to_store)),
    /// and once the driver says it is written ([`HlsMuxer::stored`](super::HlsMuxer::stored))
    /// keeps only its offsets and answers requests for it with
    /// [`FileAnswer::Stored`](super::FileAnswer::Stored). The segment in progress stays in
    /// memory.
    pub store_segments: bool,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            variant: HlsVariant::LowLatency,
            segment_duration: Duration::from_secs(1),
            part_duration: Duration::from_millis(200),
            segment_count: 7,
            extra_segments: 2,
            segment_max_size: 50 * 1024 * 1024,
            store_segments: false,
        }
    }
}
