//! The URIs the playlists use, relative to the media playlist, and their parsing.
//!
//! | resource | URI |
//! |---|---|
//! | multivariant playlist | `index.m3u8` (served by the driver from [`HlsMuxer::multivariant_playlist`](super::HlsMuxer::multivariant_playlist)) |
//! | media playlist | [`MEDIA_PLAYLIST`] = `stream.m3u8` |
//! | initialization section | `init.mp4`, then `init{g}.mp4` after the codec parameters change (generation `g` ≥ 1) |
//! | segment | `seg{msn}.mp4` |
//! | part | `part{msn}.{index}.mp4` (index from 0 within its segment) |
//!
//! Every name is unique for the life of one muxer, so parts and segments may be cached as
//! immutable; the playlists must not be.

use std::fmt;

/// File name of the multivariant playlist.
pub const MULTIVARIANT_PLAYLIST: &str = "index.m3u8";

/// File name of the media playlist, as referenced by the multivariant playlist.
pub const MEDIA_PLAYLIST: &str = "stream.m3u8";

/// One file the muxer serves, as named in its playlists (its `Display` is that name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Initialization section of generation `g` (`EXT-X-MAP`).
    Init(u32),
    /// A whole media segment by media sequence number.
    Segment(u64),
    /// A partial segment: parent media sequence number and index within it.
    Part(u64, u64),
}

/// URI of the initialization section of generation `generation`.
pub fn init_uri(generation: u32) -> String {
    Name::Init(generation).to_string()
}

/// URI of segment `msn`.
pub fn segment_uri(msn: u64) -> String {
    Name::Segment(msn).to_string()
}

/// URI of part `index` of segment `msn`.
pub fn part_uri(msn: u64, index: u64) -> String {
    Name::Part(msn, index).to_string()
}

/// A resource's name, written without an intermediate `String` (playlist rendering).
pub(crate) use Resource as Name;

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Resource::Init(0) => f.write_str("init.mp4"),
            Resource::Init(g) => write!(f, "init{g}.mp4"),
            Resource::Segment(msn) => write!(f, "seg{msn}.mp4"),
            Resource::Part(msn, index) => write!(f, "part{msn}.{index}.mp4"),
        }
    }
}

/// Parses a file name produced by [`init_uri`], [`segment_uri`] or [`part_uri`].
///
/// Strict: numbers are plain decimal without sign or leading zeros, so every resource has
/// exactly one name.
pub fn parse(name: &str) -> Option<Resource> {
    let stem = name.strip_suffix(".mp4")?;
    if stem == "init" {
        return Some(Resource::Init(0));
    }
    if let Some(g) = stem.strip_prefix("init") {
        return number(g)
            .and_then(|g| u32::try_from(g).ok())
            .filter(|&g| g > 0)
            .map(Resource::Init);
    }
    if let Some(msn) = stem.strip_prefix("seg") {
        return number(msn).map(Resource::Segment);
    }
    let (msn, index) = stem.strip_prefix("part")?.split_once('.')?;
    Some(Resource::Part(number(msn)?, number(index)?))
}

/// Segment number of a segment URI, for the playlist checker.
pub fn parse_segment_uri(uri: &str) -> Option<u64> {
    match parse(uri)? {
        Resource::Segment(msn) => Some(msn),
        _ => None,
    }
}

/// `(msn, index)` of a part URI, for the playlist checker.
pub fn parse_part_uri(uri: &str) -> Option<(u64, u64)> {
    match parse(uri)? {
        Resource::Part(msn, index) => Some((msn, index)),
        _ => None,
    }
}

fn number(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in [
            Resource::Init(0),
            Resource::Init(3),
            Resource::Segment(0),
            Resource::Segment(u64::MAX),
            Resource::Part(12, 0),
            Resource::Part(12, 4),
        ] {
            let name = match r {
                Resource::Init(g) => init_uri(g),
                Resource::Segment(m) => segment_uri(m),
                Resource::Part(m, i) => part_uri(m, i),
            };
            assert_eq!(parse(&name), Some(r), "{name}");
        }
    }

    #[test]
    fn rejects_non_canonical_names() {
        for name in [
            "init0.mp4",
            "seg01.mp4",
            "seg.mp4",
            "seg-1.mp4",
            "part1.mp4",
            "part1..mp4",
            "part1.2.3.mp4",
            "seg1.m4s",
            "stream.m3u8",
            "seg+1.mp4",
            "init99999999999.mp4",
        ] {
            assert_eq!(parse(name), None, "{name}");
        }
    }
}
