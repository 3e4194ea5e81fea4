//! A media playlist checker for RFC 8216bis, used by Vigia's own tests and the server's
//! conformance tests: [`check_media_playlist`] validates one playlist, [`PlaylistHistory`] the
//! successive playlists a client would see.
//!
//! The checker parses independently of the renderer (no shared code but the file naming, which
//! it takes as a parameter), so a renderer bug is not mirrored in the check.

use std::collections::BTreeMap;

use super::date::parse_date;
use super::naming;

/// Slack for durations printed with 5 decimals and summed (seconds).
const PRINT_TOLERANCE: f64 = 0.0005;

/// One broken rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// 1-based line of the playlist (0 when the rule is about the whole playlist).
    pub line: usize,
    /// Short rule name with its RFC 8216bis section, e.g. `"EXTINF ≤ TARGETDURATION (§4.4.3.1)"`.
    pub rule: &'static str,
    /// What was found.
    pub detail: String,
}

/// How segment and part URIs encode their numbers, to check numbering and preload hints.
#[derive(Clone, Copy, Debug)]
pub struct Naming {
    /// MSN of a segment URI.
    pub segment: fn(&str) -> Option<u64>,
    /// `(msn, index)` of a part URI.
    pub part: fn(&str) -> Option<(u64, u64)>,
}

impl Default for Naming {
    /// Vigia's naming ([`naming`]).
    fn default() -> Self {
        Naming {
            segment: naming::parse_segment_uri,
            part: naming::parse_part_uri,
        }
    }
}

/// A parsed media playlist, as far as the checker needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedPlaylist {
    /// `EXT-X-VERSION`.
    pub version: Option<u64>,
    /// `EXT-X-TARGETDURATION`.
    pub target_duration: Option<u64>,
    /// `EXT-X-MEDIA-SEQUENCE` (0 when absent).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (0 when absent).
    pub discontinuity_sequence: u64,
    /// `EXT-X-PART-INF:PART-TARGET`.
    pub part_target: Option<f64>,
    /// `EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES`.
    pub can_block_reload: bool,
    /// `EXT-X-SERVER-CONTROL:PART-HOLD-BACK`.
    pub part_hold_back: Option<f64>,
    /// `EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL`.
    pub can_skip_until: Option<f64>,
    /// `EXT-X-SKIP:SKIPPED-SEGMENTS` (0 when absent).
    pub skipped: u64,
    /// Complete segments, in order.
    pub segments: Vec<ParsedSegment>,
    /// Parts after the last segment (the segment in progress).
    pub trailing_parts: Vec<ParsedPart>,
    /// `EXT-X-PRELOAD-HINT:TYPE=PART` URI.
    pub preload_hint: Option<String>,
}

/// One complete segment of a [`ParsedPlaylist`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedSegment {
    /// Media sequence number (from `EXT-X-MEDIA-SEQUENCE`, skips and position).
    pub msn: u64,
    /// Line of its `EXTINF`.
    pub line: usize,
    /// URI line.
    pub uri: String,
    /// `EXTINF` duration.
    pub duration: f64,
    /// `EXT-X-PART` lines before it.
    pub parts: Vec<ParsedPart>,
    /// Preceded by `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME` in UNIX µs.
    pub program_date_time_us: Option<i64>,
}

/// One `EXT-X-PART`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedPart {
    /// Line of the tag.
    pub line: usize,
    /// `URI`.
    pub uri: String,
    /// `DURATION`.
    pub duration: f64,
    /// `INDEPENDENT=YES`.
    pub independent: bool,
}

/// Checks one media playlist with Vigia's naming; empty when valid.
pub fn check_media_playlist(text: &str) -> Vec<Violation> {
    check_with(text, &Naming::default()).1
}

/// Parses and checks one media playlist; the parse is `None` when the text is not a playlist.
pub fn check_with(text: &str, naming: &Naming) -> (Option<ParsedPlaylist>, Vec<Violation>) {
    let mut v = Vec::new();
    let Some(playlist) = parse(text, &mut v) else {
        return (None, v);
    };
    check_durations(&playlist, &mut v);
    check_numbering(&playlist, naming, &mut v);
    check_server_control(&playlist, &mut v);
    check_dates(&playlist, &mut v);
    (Some(playlist), v)
}

/// Successive playlists of one stream, as a client polling it sees them.
#[derive(Debug, Default)]
pub struct PlaylistHistory {
    naming: Naming,
    previous: Option<ParsedPlaylist>,
    /// Known segments: MSN → (duration, URI, discontinuity sequence number if known).
    known: BTreeMap<u64, (f64, String, Option<u64>)>,
}

impl PlaylistHistory {
    /// A history checking with Vigia's naming.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks `text` alone and against the playlists before it (RFC 8216bis §6.2.1: target
    /// duration and a segment's duration and URI never change; the media sequence and the last
    /// segment and part never go back).
    pub fn push(&mut self, text: &str) -> Vec<Violation> {
        let (parsed, mut v) = check_with(text, &self.naming);
        let Some(now) = parsed else { return v };
        if let Some(before) = &self.previous {
            compare(before, &now, &mut v);
        }
        self.remember(&now, &mut v);
        self.previous = Some(now);
        v
    }

    fn remember(&mut self, now: &ParsedPlaylist, v: &mut Vec<Violation>) {
        let mut dsn = (now.skipped == 0).then_some(now.discontinuity_sequence);
        for s in &now.segments {
            if s.discontinuity {
                dsn = dsn.map(|d| d + 1);
            }
            let entry = (s.duration, s.uri.clone(), dsn);
            match self.known.get(&s.msn) {
                Some((d, uri, _)) if *d != s.duration || *uri != s.uri => v.push(violation(
                    s.line,
                    "segment unchanged across reloads (§6.2.1)",
                    format!("MSN {} was {uri} {d}, now {} {}", s.msn, s.uri, s.duration),
                )),
                Some((_, _, Some(old))) if dsn.is_some_and(|d| d != *old) => v.push(violation(
                    s.line,
                    "discontinuity sequence unchanged across reloads (§4.4.3.3)",
                    format!(
                        "MSN {} had discontinuity sequence {old}, now {dsn:?}",
                        s.msn
                    ),
                )),
                _ => {}
            }
            self.known.insert(s.msn, entry);
        }
        let oldest = now.media_sequence;
        self.known.retain(|&msn, _| msn >= oldest);
    }
}

fn compare(before: &ParsedPlaylist, now: &ParsedPlaylist, v: &mut Vec<Violation>) {
    if before.target_duration != now.target_duration {
        let detail = format!(
            "{:?} then {:?}",
            before.target_duration, now.target_duration
        );
        v.push(violation(
            0,
            "TARGETDURATION never changes (§4.4.3.1)",
            detail,
        ));
    }
    if before.part_target != now.part_target {
        let detail = format!("{:?} then {:?}", before.part_target, now.part_target);
        v.push(violation(0, "PART-TARGET never changes (§4.4.3.7)", detail));
    }
    if now.media_sequence < before.media_sequence {
        let detail = format!("{} then {}", before.media_sequence, now.media_sequence);
        v.push(violation(
            0,
            "MEDIA-SEQUENCE never decreases (§6.2.1)",
            detail,
        ));
    }
    if now.discontinuity_sequence < before.discontinuity_sequence {
        let detail = format!(
            "{} then {}",
            before.discontinuity_sequence, now.discontinuity_sequence
        );
        v.push(violation(
            0,
            "DISCONTINUITY-SEQUENCE never decreases (§4.4.3.3)",
            detail,
        ));
    }
    if live_edge(now) < live_edge(before) {
        let detail = format!("{:?} then {:?}", live_edge(before), live_edge(now));
        v.push(violation(
            0,
            "last segment/part never goes back (§6.2.2)",
            detail,
        ));
    }
}

/// `(msn, parts)` of the live edge: the last complete segment and the parts after it.
fn live_edge(p: &ParsedPlaylist) -> (u64, usize) {
    (last_msn(p).map_or(0, |m| m + 1), p.trailing_parts.len())
}

fn last_msn(p: &ParsedPlaylist) -> Option<u64> {
    let listed = p.media_sequence + p.skipped + p.segments.len() as u64;
    listed.checked_sub(1)
}

fn check_durations(p: &ParsedPlaylist, v: &mut Vec<Violation>) {
    let Some(target) = p.target_duration else {
        return v.push(violation(
            0,
            "EXT-X-TARGETDURATION present (§4.4.3.1)",
            String::new(),
        ));
    };
    for s in &p.segments {
        if s.duration <= 0.0 || (s.duration + 0.5).floor() as u64 > target {
            let detail = format!("EXTINF {} with TARGETDURATION {target}", s.duration);
            v.push(violation(
                s.line,
                "EXTINF rounded ≤ TARGETDURATION (§4.4.3.1)",
                detail,
            ));
        }
        check_part_sum(s, v);
    }
    let all_parts = p
        .segments
        .iter()
        .flat_map(|s| &s.parts)
        .chain(&p.trailing_parts);
    for part in all_parts {
        match p.part_target {
            None => v.push(violation(
                part.line,
                "EXT-X-PART-INF present with parts (§4.4.3.7)",
                String::new(),
            )),
            Some(t) if part.duration > t + PRINT_TOLERANCE || part.duration <= 0.0 => {
                let detail = format!(
                    "part {} lasts {} > PART-TARGET {t}",
                    part.uri, part.duration
                );
                v.push(violation(
                    part.line,
                    "part duration ≤ PART-TARGET (§4.4.4.9)",
                    detail,
                ));
            }
            Some(_) => {}
        }
    }
}

fn check_part_sum(s: &ParsedSegment, v: &mut Vec<Violation>) {
    if s.parts.is_empty() {
        return;
    }
    let sum: f64 = s.parts.iter().map(|p| p.duration).sum();
    let tolerance = PRINT_TOLERANCE * (s.parts.len() + 1) as f64;
    if (sum - s.duration).abs() > tolerance {
        let detail = format!(
            "parts of MSN {} sum to {sum:.5}, EXTINF {}",
            s.msn, s.duration
        );
        v.push(violation(
            s.line,
            "parts sum to the segment duration (§4.4.4.9)",
            detail,
        ));
    }
}

fn check_numbering(p: &ParsedPlaylist, naming: &Naming, v: &mut Vec<Violation>) {
    for s in &p.segments {
        if (naming.segment)(&s.uri) != Some(s.msn) {
            let detail = format!("{} at MSN {}", s.uri, s.msn);
            v.push(violation(
                s.line,
                "segment URI matches its MSN (§4.4.3.2)",
                detail,
            ));
        }
        check_parts_of(s.msn, &s.parts, naming, v);
    }
    let next = last_msn(p).map_or(p.media_sequence, |m| m + 1);
    check_parts_of(next, &p.trailing_parts, naming, v);
    if p.part_target.is_none() {
        return;
    }
    let expected = (next, p.trailing_parts.len() as u64);
    let hint = p.preload_hint.as_deref().and_then(naming.part);
    if hint != Some(expected) {
        let detail = format!("hint {:?}, next part is {expected:?}", p.preload_hint);
        v.push(violation(
            0,
            "PRELOAD-HINT names the next part (§4.4.5.3)",
            detail,
        ));
    }
}

fn check_parts_of(msn: u64, parts: &[ParsedPart], naming: &Naming, v: &mut Vec<Violation>) {
    for (i, part) in parts.iter().enumerate() {
        if (naming.part)(&part.uri) != Some((msn, i as u64)) {
            let detail = format!("{} where part {i} of MSN {msn} belongs", part.uri);
            v.push(violation(
                part.line,
                "parts numbered in order from 0 (§4.4.4.9)",
                detail,
            ));
        }
    }
}

fn check_server_control(p: &ParsedPlaylist, v: &mut Vec<Violation>) {
    let target = p.target_duration.unwrap_or(0) as f64;
    if let Some(t) = p.part_target {
        match p.part_hold_back {
            Some(h) if h + PRINT_TOLERANCE >= 2.0 * t => {}
            other => v.push(violation(
                0,
                "PART-HOLD-BACK ≥ 2 × PART-TARGET (§4.4.3.8)",
                format!("{other:?}"),
            )),
        }
    }
    if let Some(until) = p.can_skip_until
        && until < 6.0 * target
    {
        v.push(violation(
            0,
            "CAN-SKIP-UNTIL ≥ 6 × TARGETDURATION (§4.4.3.8)",
            format!("{until}"),
        ));
    }
    if p.skipped == 0 {
        return;
    }
    let remaining: f64 = p.segments.iter().map(|s| s.duration).sum();
    match p.can_skip_until {
        None => v.push(violation(
            0,
            "EXT-X-SKIP only with CAN-SKIP-UNTIL (§4.4.5.2)",
            String::new(),
        )),
        Some(until) if remaining + PRINT_TOLERANCE < until => v.push(violation(
            0,
            "no segment skipped within the skip boundary (§6.2.5.1)",
            format!("{remaining:.3} s left after skipping, CAN-SKIP-UNTIL={until}"),
        )),
        Some(_) => {}
    }
    if p.version.unwrap_or(1) < 9 {
        v.push(violation(
            0,
            "EXT-X-SKIP needs EXT-X-VERSION ≥ 9 (§4.4.5.2)",
            String::new(),
        ));
    }
}

fn check_dates(p: &ParsedPlaylist, v: &mut Vec<Violation>) {
    let mut last: Option<i64> = None;
    for s in &p.segments {
        if s.discontinuity {
            last = None;
        }
        let Some(date) = s.program_date_time_us else {
            continue;
        };
        if last.is_some_and(|l| date <= l) {
            let detail = format!("MSN {} dated {date} µs after {last:?}", s.msn);
            v.push(violation(
                s.line,
                "PROGRAM-DATE-TIME increases (§4.4.4.6)",
                detail,
            ));
        }
        last = Some(date);
    }
}

/// Parser state while reading tags that apply to the next segment.
#[derive(Default)]
struct Pending {
    parts: Vec<ParsedPart>,
    discontinuity: bool,
    date: Option<i64>,
    extinf: Option<(usize, f64)>,
    map_seen: bool,
    hint_line: Option<usize>,
}

fn parse(text: &str, v: &mut Vec<Violation>) -> Option<ParsedPlaylist> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end()));
    if lines.next().map(|(_, l)| l) != Some("#EXTM3U") {
        v.push(violation(
            1,
            "starts with #EXTM3U (§4.4.1.1)",
            String::new(),
        ));
        return None;
    }
    let mut p = ParsedPlaylist::default();
    let mut st = Pending::default();
    for (n, line) in lines {
        if line.is_empty() || (line.starts_with('#') && !line.starts_with("#EXT")) {
            continue;
        }
        if st.hint_line.is_some()
            && !line.starts_with("#EXT-X-PRELOAD-HINT")
            && !line.starts_with("#EXT-X-RENDITION-REPORT")
        {
            v.push(violation(
                n,
                "PRELOAD-HINT after the last part (§4.4.5.3)",
                line.to_owned(),
            ));
        }
        match line.split_once(':').map_or((line, ""), |(t, a)| (t, a)) {
            (tag, _) if !tag.starts_with('#') => segment_line(&mut p, &mut st, n, line, v),
            (tag, value) => tag_line(&mut p, &mut st, n, tag, value, v),
        }
    }
    if let Some((n, _)) = st.extinf {
        v.push(violation(
            n,
            "EXTINF followed by a URI (§4.4.4.1)",
            String::new(),
        ));
    }
    p.trailing_parts = st.parts;
    Some(p)
}

fn segment_line(
    p: &mut ParsedPlaylist,
    st: &mut Pending,
    n: usize,
    uri: &str,
    v: &mut Vec<Violation>,
) {
    let Some((line, duration)) = st.extinf.take() else {
        return v.push(violation(
            n,
            "URI preceded by EXTINF (§4.4.4.1)",
            uri.to_owned(),
        ));
    };
    let msn = p.media_sequence + p.skipped + p.segments.len() as u64;
    p.segments.push(ParsedSegment {
        msn,
        line,
        uri: uri.to_owned(),
        duration,
        parts: std::mem::take(&mut st.parts),
        discontinuity: std::mem::take(&mut st.discontinuity),
        program_date_time_us: st.date.take(),
    });
}

fn tag_line(
    p: &mut ParsedPlaylist,
    st: &mut Pending,
    n: usize,
    tag: &str,
    value: &str,
    v: &mut Vec<Violation>,
) {
    if header_tag(p, tag, value) {
        return;
    }
    let mut flag = |rule: &'static str, detail: &str| v.push(violation(n, rule, detail.to_owned()));
    match tag {
        "#EXT-X-SKIP" => {
            if !p.segments.is_empty() || !st.parts.is_empty() || st.extinf.is_some() {
                flag("EXT-X-SKIP before the segments (§4.4.5.2)", "");
            }
            p.skipped = attr(value, "SKIPPED-SEGMENTS")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
        "#EXT-X-MAP" => st.map_seen = true,
        "#EXT-X-DISCONTINUITY" => st.discontinuity = true,
        "#EXT-X-PROGRAM-DATE-TIME" => {
            st.date = parse_date(value);
            if st.date.is_none() {
                flag("PROGRAM-DATE-TIME is ISO 8601 (§4.4.4.6)", value);
            }
        }
        "#EXTINF" => extinf_tag(st, n, value, v),
        "#EXT-X-PART" => {
            require_map(st, n, v);
            st.parts.push(ParsedPart {
                line: n,
                uri: attr(value, "URI").unwrap_or_default().to_owned(),
                duration: attr(value, "DURATION")
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0.0),
                independent: attr(value, "INDEPENDENT") == Some("YES"),
            });
        }
        "#EXT-X-PRELOAD-HINT" if attr(value, "TYPE") == Some("PART") => {
            if p.preload_hint.is_some() {
                flag("one PART preload hint (§4.4.5.3)", "");
            }
            p.preload_hint = attr(value, "URI").map(str::to_owned);
            st.hint_line = Some(n);
        }
        _ => {}
    }
}

/// Reads a playlist-wide tag; `false` if `tag` is not one.
fn header_tag(p: &mut ParsedPlaylist, tag: &str, value: &str) -> bool {
    let number = |s: &str| s.parse::<u64>().ok();
    let decimal = |key: &str| attr(value, key).and_then(|s| s.parse::<f64>().ok());
    match tag {
        "#EXT-X-VERSION" => p.version = number(value),
        "#EXT-X-TARGETDURATION" => p.target_duration = number(value),
        "#EXT-X-MEDIA-SEQUENCE" => p.media_sequence = number(value).unwrap_or(0),
        "#EXT-X-DISCONTINUITY-SEQUENCE" => p.discontinuity_sequence = number(value).unwrap_or(0),
        "#EXT-X-PART-INF" => p.part_target = decimal("PART-TARGET"),
        "#EXT-X-SERVER-CONTROL" => {
            p.can_block_reload = attr(value, "CAN-BLOCK-RELOAD") == Some("YES");
            p.part_hold_back = decimal("PART-HOLD-BACK");
            p.can_skip_until = decimal("CAN-SKIP-UNTIL");
        }
        _ => return false,
    }
    true
}

fn extinf_tag(st: &mut Pending, n: usize, value: &str, v: &mut Vec<Violation>) {
    require_map(st, n, v);
    if let Some((line, _)) = st.extinf {
        v.push(violation(
            line,
            "EXTINF followed by a URI (§4.4.4.1)",
            String::new(),
        ));
    }
    match value.split(',').next().and_then(|d| d.parse().ok()) {
        Some(d) => st.extinf = Some((n, d)),
        None => v.push(violation(
            n,
            "EXTINF has a duration (§4.4.4.1)",
            value.to_owned(),
        )),
    }
}

fn require_map(st: &Pending, n: usize, v: &mut Vec<Violation>) {
    if !st.map_seen {
        v.push(violation(
            n,
            "EXT-X-MAP before the first segment (§4.4.4.5)",
            String::new(),
        ));
    }
}

/// Value of `key` in an attribute list (RFC 8216bis §4.2), quotes removed.
fn attr<'a>(list: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (
                quoted.get(..end)?,
                quoted.get(end + 1..)?.trim_start_matches(','),
            )
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        if name == key {
            return Some(value);
        }
        rest = next;
    }
    None
}

fn violation(line: usize, rule: &'static str, detail: String) -> Violation {
    Violation { line, rule, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000,CAN-SKIP-UNTIL=6
#EXT-X-PART-INF:PART-TARGET=0.20000
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-MAP:URI=\"init.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2026-11-29T08:00:00.000Z
#EXTINF:1.00000,
seg4.mp4
#EXT-X-PROGRAM-DATE-TIME:2026-11-29T08:00:01.000Z
#EXT-X-PART:DURATION=0.20000,URI=\"part5.0.mp4\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI=\"part5.1.mp4\"
#EXTINF:0.40000,
seg5.mp4
#EXT-X-PROGRAM-DATE-TIME:2026-11-29T08:00:01.400Z
#EXT-X-PART:DURATION=0.20000,URI=\"part6.0.mp4\",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part6.1.mp4\"
";

    /// `(name, edit of GOOD, rule expected)`.
    fn broken_cases() -> Vec<(&'static str, String, &'static str)> {
        let edit = |from: &str, to: &str| GOOD.replacen(from, to, 1);
        vec![
            (
                "long_extinf",
                edit("#EXTINF:1.00000", "#EXTINF:1.60000"),
                "EXTINF rounded ≤ TARGETDURATION (§4.4.3.1)",
            ),
            (
                "part_sum",
                edit("#EXTINF:0.40000", "#EXTINF:0.50000"),
                "parts sum to the segment duration (§4.4.4.9)",
            ),
            (
                "wrong_hint",
                edit("part6.1.mp4\"", "part6.2.mp4\""),
                "PRELOAD-HINT names the next part (§4.4.5.3)",
            ),
            (
                "seg_number",
                edit("seg5.mp4", "seg7.mp4"),
                "segment URI matches its MSN (§4.4.3.2)",
            ),
            (
                "part_number",
                edit("part5.1.mp4", "part5.2.mp4"),
                "parts numbered in order from 0 (§4.4.4.9)",
            ),
            (
                "no_map",
                edit("#EXT-X-MAP:URI=\"init.mp4\"\n", ""),
                "EXT-X-MAP before the first segment (§4.4.4.5)",
            ),
            (
                "date_back",
                edit("08:00:01.000Z", "07:00:01.000Z"),
                "PROGRAM-DATE-TIME increases (§4.4.4.6)",
            ),
            (
                "hold_back",
                edit("PART-HOLD-BACK=0.60000", "PART-HOLD-BACK=0.30000"),
                "PART-HOLD-BACK ≥ 2 × PART-TARGET (§4.4.3.8)",
            ),
            (
                "skip_until",
                edit("CAN-SKIP-UNTIL=6", "CAN-SKIP-UNTIL=2"),
                "CAN-SKIP-UNTIL ≥ 6 × TARGETDURATION (§4.4.3.8)",
            ),
            (
                "long_part",
                edit(
                    "DURATION=0.20000,URI=\"part6.0",
                    "DURATION=0.30000,URI=\"part6.0",
                ),
                "part duration ≤ PART-TARGET (§4.4.4.9)",
            ),
            (
                "skip_too_much",
                edit("#EXT-X-MAP", "#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n#EXT-X-MAP"),
                "no segment skipped within the skip boundary (§6.2.5.1)",
            ),
            (
                "no_uri",
                GOOD.replace("seg5.mp4\n", ""),
                "EXTINF followed by a URI (§4.4.4.1)",
            ),
            (
                "no_extinf",
                GOOD.replace("#EXTINF:0.40000,\n", ""),
                "URI preceded by EXTINF (§4.4.4.1)",
            ),
        ]
    }

    #[test]
    fn accepts_a_good_playlist() {
        let (parsed, v) = check_with(GOOD, &Naming::default());
        assert_eq!(v, []);
        let parsed = parsed.unwrap_or_default();
        assert_eq!(parsed.segments.len(), 2);
        assert_eq!(parsed.trailing_parts.len(), 1);
        assert_eq!(parsed.segments.get(1).map(|s| s.parts.len()), Some(2));
    }

    #[test]
    fn finds_each_broken_rule() {
        for (name, text, rule) in broken_cases() {
            let v = check_media_playlist(&text);
            assert!(
                v.iter().any(|x| x.rule == rule),
                "{name}: expected {rule}, got {v:#?}"
            );
        }
    }

    #[test]
    fn history_finds_changes() {
        let mut h = PlaylistHistory::new();
        assert_eq!(h.push(GOOD), []);
        let changed = GOOD.replace("#EXTINF:1.00000", "#EXTINF:0.90000");
        let v = h.push(&changed);
        assert!(
            v.iter()
                .any(|x| x.rule == "segment unchanged across reloads (§6.2.1)"),
            "{v:#?}"
        );
        let older = GOOD
            .replace("MEDIA-SEQUENCE:4", "MEDIA-SEQUENCE:3")
            .replace("seg4", "seg3")
            .replace("seg5", "seg4");
        let v = h.push(&older);
        assert!(
            v.iter()
                .any(|x| x.rule == "MEDIA-SEQUENCE never decreases (§6.2.1)"),
            "{v:#?}"
        );
        let v = h.push(&GOOD.replace("TARGETDURATION:1", "TARGETDURATION:2"));
        assert!(
            v.iter()
                .any(|x| x.rule == "TARGETDURATION never changes (§4.4.3.1)"),
            "{v:#?}"
        );
    }

    #[test]
    fn attribute_lists() {
        let list = "TYPE=PART,URI=\"a,b=c.mp4\",BYTERANGE-START=0";
        assert_eq!(attr(list, "URI"), Some("a,b=c.mp4"));
        assert_eq!(attr(list, "BYTERANGE-START"), Some("0"));
        assert_eq!(attr(list, "TYPE"), Some("PART"));
        assert_eq!(attr(list, "NONE"), None);
        assert_eq!(attr("URI=\"unterminated", "URI"), None);
    }
}
