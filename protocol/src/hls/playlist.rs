//! Media and multivariant playlists (RFC 8216bis §4.4), rendered by hand: `m3u8-rs` has no
//! LL-HLS tags, and tests parse the output back with it.

use std::fmt::Write as _;

use vigia_media::MediaKind;
use vigia_media::fmp4::codec_string;

use super::codecs::picture;
use super::config::HlsVariant;
use super::date::write_date;
use super::muxer::{HlsMuxer, Segment};
use super::naming::{self, Name};
use super::query::{PlaylistRequest, SkipRequest};

/// Parts are listed for segments starting within this many target durations of the playlist's
/// end (RFC 8216bis §4.4.4.9: older `EXT-X-PART` tags may be removed after three).
const PART_LIST_TARGET_DURATIONS: f64 = 3.0;

/// `PART-HOLD-BACK` in part targets (RFC 8216bis §4.4.3.8: at least 2, 3 recommended).
const PART_HOLD_BACK_PARTS: f64 = 3.0;

/// `CAN-SKIP-UNTIL` in target durations (RFC 8216bis §4.4.3.8: at least 6).
const SKIP_TARGET_DURATIONS: u64 = 6;

/// A blocking request may ask this many segments past the last complete one
/// (RFC 8216bis §6.2.5.2).
const MAX_MSN_AHEAD: u64 = 2;

/// Complete segments a new muxer has before it answers playlists.
///
/// With only the muxer's first segment complete, a stock hls.js (1.7, default low-latency
/// settings) starts `PART-HOLD-BACK` before the live edge, inside that first segment, and
/// then loads that segment's parts again and again: its buffered end (the audio, which stops
/// a fraction of a frame before the video) stays inside the segment, so it keeps picking it,
/// and each re-append of the keyframe part empties what was buffered after it. Playback
/// stalls, and with no catch-up by default the latency stays at 2–3 s (measured by
/// `conformance/tests/hls_stock_player.rs`: p50 1.97 s, 3.19 s, stalls in every cold start).
/// With two complete segments the start position is past the first one and playback starts
/// as it does on a running muxer. It costs the first viewer of an idle path one segment of
/// start-up time, not latency.
const MIN_SEGMENTS: usize = 2;

/// What to answer to a playlist request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlaylistAnswer {
    /// The playlist text (`application/vnd.apple.mpegurl`).
    Ready(String),
    /// Not available yet (fewer than two complete segments, or a blocking request for a part or segment that
    /// does not exist yet): wait until [`HlsMuxer::version`] changes and ask again. A driver
    /// bounds the wait (RFC 8216bis §6.2.5.2 suggests three target durations, then 503).
    NotYet,
    /// The request can never be satisfied: answer 400 with this reason (RFC 8216bis §6.2.5.2).
    BadRequest(String),
}

impl HlsMuxer {
    /// The media playlist for `request` (RFC 8216bis §4.4.3, §6.2.5).
    ///
    /// [`PlaylistAnswer::NotYet`] until two segments are complete: a player that starts inside
    /// a new muxer's only segment can loop on it (hls.js does).
    ///
    /// Classic fMP4 variant: delivery directives are ignored and only whole segments are listed.
    pub fn media_playlist(&self, request: &PlaylistRequest) -> PlaylistAnswer {
        let low_latency = self.config.variant == HlsVariant::LowLatency;
        if low_latency && let Some(block) = request.block {
            let limit = self.current.msn.saturating_sub(1) + MAX_MSN_AHEAD;
            if block.msn > limit {
                return PlaylistAnswer::BadRequest(format!(
                    "_HLS_msn={} is more than {MAX_MSN_AHEAD} segments past the last one ({})",
                    block.msn,
                    self.current.msn.saturating_sub(1)
                ));
            }
            if !self.has(block.msn, block.part) {
                return PlaylistAnswer::NotYet;
            }
        }
        let Some(target) = self.target_duration() else {
            return PlaylistAnswer::NotYet;
        };
        if self.segments.len() < MIN_SEGMENTS {
            return PlaylistAnswer::NotYet;
        }
        let skip = low_latency && request.skip != SkipRequest::No;
        let newest = self.segments.back().map(|s| s.msn);
        self.listed_to_clients.set(newest);
        PlaylistAnswer::Ready(self.render_media(target, skip))
    }

    /// The multivariant playlist (RFC 8216bis §4.4.6.2) with one variant: `CODECS` (RFC 6381),
    /// `RESOLUTION`, `FRAME-RATE`, and `BANDWIDTH` measured on the segments in memory;
    /// [`PlaylistAnswer::NotYet`] until two segments are complete (as for the media playlist).
    pub fn multivariant_playlist(&self) -> PlaylistAnswer {
        if self.segments.len() < MIN_SEGMENTS {
            return PlaylistAnswer::NotYet;
        }
        let (peak, average) = self.bandwidth();
        let mut out = String::with_capacity(256);
        out.push_str("#EXTM3U\n");
        let _ = writeln!(out, "#EXT-X-VERSION:{}", self.version_tag());
        // No EXT-X-INDEPENDENT-SEGMENTS: a forced cut (GOP longer than the target duration)
        // starts a segment without a keyframe.
        out.push('\n');
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average}"
        );
        let codecs: Vec<String> = self.tracks.iter().filter_map(codec_string).collect();
        if !codecs.is_empty() {
            let _ = write!(out, ",CODECS=\"{}\"", codecs.join(","));
        }
        let video = self.tracks.iter().find(|t| t.kind() == MediaKind::Video);
        if let Some((w, h, fps)) = video.and_then(|t| picture(&t.codec)) {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
            if let Some(fps) = fps.filter(|f| f.is_finite() && *f > 0.0) {
                let _ = write!(out, ",FRAME-RATE={fps:.3}");
            }
        }
        let _ = writeln!(out, "\n{}", naming::MEDIA_PLAYLIST);
        PlaylistAnswer::Ready(out)
    }

    /// Whether part `part` of segment `msn` (or, without a part, the whole segment `msn`)
    /// exists or has been passed (RFC 8216bis §6.2.5.2).
    fn has(&self, msn: u64, part: Option<u64>) -> bool {
        match part {
            None => self.segments.back().is_some_and(|s| s.msn >= msn),
            Some(index) => self.last_part().is_some_and(|last| last >= (msn, index)),
        }
    }

    fn version_tag(&self) -> u8 {
        match self.config.variant {
            // EXT-X-SKIP needs version 9 (RFC 8216bis §4.4.5.2).
            HlsVariant::LowLatency => 9,
            // EXT-X-MAP without I-frames-only needs 6; 7 is what MediaMTX writes.
            HlsVariant::Fmp4 => 7,
        }
    }

    fn listed(&self) -> impl Iterator<Item = &Segment> {
        let skip = self
            .segments
            .len()
            .saturating_sub(self.config.segment_count.max(1));
        self.segments.iter().skip(skip)
    }

    fn render_media(&self, target: u64, skip: bool) -> String {
        let low_latency = self.config.variant == HlsVariant::LowLatency;
        let listed: Vec<&Segment> = self.listed().collect(); // at most `segment_count` pointers
        let skipped = if skip {
            self.skippable(&listed, target)
        } else {
            0
        };
        let mut out = String::with_capacity(256 + listed.len() * 400);
        self.write_header(&mut out, target, &listed);
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        let parts_from = if low_latency {
            self.parts_from(&listed, target)
        } else {
            u64::MAX
        };
        let mut generation = None;
        for segment in listed.iter().skip(skipped) {
            write_segment_tags(&mut out, segment, &mut generation);
            if segment.msn >= parts_from {
                write_parts(&mut out, segment);
            }
            out.push_str(&segment.extinf_lines);
        }
        if low_latency {
            self.write_live_edge(&mut out, &mut generation);
        }
        out
    }

    fn write_header(&self, out: &mut String, target: u64, listed: &[&Segment]) {
        out.push_str("#EXTM3U\n");
        let _ = writeln!(out, "#EXT-X-VERSION:{}", self.version_tag());
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
        if self.config.variant == HlsVariant::LowLatency {
            let part_target = self.part_target();
            let _ = writeln!(
                out,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.5},CAN-SKIP-UNTIL={}",
                part_target * PART_HOLD_BACK_PARTS,
                target * SKIP_TARGET_DURATIONS
            );
            let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={part_target:.5}");
        }
        let first = listed.first().map_or(self.current.msn, |s| s.msn);
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
        let discontinuities = self.dropped_discontinuities
            + self
                .segments
                .iter()
                .take_while(|s| s.msn < first)
                .filter(|s| s.discontinuity)
                .count() as u64;
        if discontinuities > 0 {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities}");
        }
    }

    /// The in-progress segment's parts and the preload hint of the next part.
    fn write_live_edge(&self, out: &mut String, generation: &mut Option<u32>) {
        if !self.current.parts.is_empty() {
            write_segment_tags(out, &self.current, generation);
            write_parts(out, &self.current);
        }
        let _ = writeln!(
            out,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
            Name::Part(self.current.msn, self.current.parts.len() as u64)
        );
    }

    /// How many of the oldest listed segments a delta update skips: those ending more than
    /// `CAN-SKIP-UNTIL` before the end of the last complete segment (RFC 8216bis §6.2.5.1).
    fn skippable(&self, listed: &[&Segment], target: u64) -> usize {
        let boundary = (target * SKIP_TARGET_DURATIONS) as f64;
        let mut remaining: f64 = listed.iter().map(|s| s.duration()).sum();
        let mut skipped = 0;
        for segment in listed {
            remaining -= segment.duration();
            if remaining < boundary {
                break;
            }
            skipped += 1;
        }
        skipped
    }

    /// First MSN whose parts are listed: segments ending within three target durations of the
    /// end.
    fn parts_from(&self, listed: &[&Segment], target: u64) -> u64 {
        let window = PART_LIST_TARGET_DURATIONS * target as f64;
        let mut age = self.current.duration();
        let mut first = self.current.msn;
        for segment in listed.iter().rev() {
            if age >= window {
                break;
            }
            age += segment.duration();
            first = segment.msn;
        }
        first
    }

    /// Peak and average bit rates of the segments in memory, in bits per second.
    fn bandwidth(&self) -> (u64, u64) {
        let (mut peak, mut bits, mut seconds) = (0.0f64, 0.0, 0.0);
        for s in &self.segments {
            let (b, d) = (s.size() as f64 * 8.0, s.duration());
            if d > 0.0 {
                peak = peak.max(b / d);
            }
            bits += b;
            seconds += d;
        }
        let average = if seconds > 0.0 { bits / seconds } else { 0.0 };
        (peak.ceil().max(1.0) as u64, average.ceil().max(1.0) as u64)
    }
}

/// `EXT-X-DISCONTINUITY`, `EXT-X-MAP` (first segment, or a new initialization section) and
/// `EXT-X-PROGRAM-DATE-TIME` of a segment.
fn write_segment_tags(out: &mut String, segment: &Segment, generation: &mut Option<u32>) {
    if segment.discontinuity {
        out.push_str("#EXT-X-DISCONTINUITY\n");
    }
    if *generation != Some(segment.generation) {
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", Name::Init(segment.generation));
        *generation = Some(segment.generation);
    }
    out.push_str(&segment.date_line);
}

fn write_parts(out: &mut String, segment: &Segment) {
    for part in &segment.parts {
        out.push_str(&part.line);
    }
}

/// The `EXT-X-PART` line of a part (RFC 8216bis §4.4.4.9), rendered once when the part is made.
pub(crate) fn part_line(msn: u64, index: u64, duration: f64, independent: bool) -> Box<str> {
    let independent = if independent { ",INDEPENDENT=YES" } else { "" };
    let uri = Name::Part(msn, index);
    format!("#EXT-X-PART:DURATION={duration:.5},URI=\"{uri}\"{independent}\n").into()
}

/// The `EXT-X-PROGRAM-DATE-TIME` line (RFC 8216bis §4.4.4.6), empty without a wall clock.
pub(crate) fn date_line(wallclock_us: Option<i64>) -> Box<str> {
    let Some(us) = wallclock_us else {
        return Box::from("");
    };
    let mut line = String::from("#EXT-X-PROGRAM-DATE-TIME:");
    write_date(&mut line, us);
    line.push('\n');
    line.into()
}

/// The `EXTINF` and URI lines of a complete segment (RFC 8216bis §4.4.4.1).
pub(crate) fn extinf_lines(msn: u64, duration: f64) -> Box<str> {
    format!("#EXTINF:{duration:.5},\n{}\n", Name::Segment(msn)).into()
}
