//! One LL-HLS reader, fetching as a player at the live edge does (RFC 8216bis §6.2.5.2,
//! §6.3.7): the multivariant playlist, the media playlist, then for each next part a blocking
//! playlist reload (`_HLS_msn`/`_HLS_part`) followed by the part itself. Every video sample of
//! every part is a frame; its wall-clock SEI gives a latency sample.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use vigia_media::codec::sei;
use vigia_media::fmp4::read_fragment;
use vigia_protocol::hls::check::{Naming, ParsedPlaylist, check_with};
use vigia_protocol::hls::naming::parse_part_uri;

use crate::http::HttpConn;
use crate::reader::on_frame;
use crate::stats::Stats;
use crate::{Error, wallclock_us};

/// A part's place: parent media sequence number and index in it.
pub type PartId = (u64, u64);

/// Reads the LL-HLS stream whose multivariant playlist is `url` until `until`, connecting from
/// `source` if given.
pub async fn run(
    host: &str,
    port: u16,
    url: &str,
    source: Option<IpAddr>,
    who: String,
    stats: Arc<Stats>,
    until: Instant,
) -> Result<(), Error> {
    let mut conn = HttpConn::connect(host, port, source, who.clone()).await?;
    let multivariant_path = url
        .find("//")
        .and_then(|i| url[i + 2..].find('/').map(|j| &url[i + 2 + j..]));
    let multivariant_path = multivariant_path.unwrap_or(url);
    let base = &multivariant_path[..multivariant_path.rfind('/').map_or(0, |i| i + 1)];
    let multivariant = get_ok(&mut conn, multivariant_path, &who).await?;
    let media = first_uri(&multivariant)
        .ok_or_else(|| Error::protocol(&who, "multivariant playlist has no variant"))?;
    let media_path = format!("{base}{media}");
    let playlist = playlist(&get_ok(&mut conn, &media_path, &who).await?, &who)?;
    let mut reader = HlsReader {
        conn,
        base: base.to_owned(),
        media_path,
        who,
        last: None,
        last_frame_us: None,
        joined_us: wallclock_us(),
    };
    Stats::add(&stats.readers_up, 1);
    let result = reader.follow(playlist, &stats, until).await;
    stats
        .readers_up
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    result
}

/// The parts to fetch from `playlist` after `last` (all in order), and whether parts were
/// missed between `last` and the first of them (the reader fell out of the window). A jump to
/// part 0 of the next segment is never a gap: the parts of a segment that left the playlist
/// cannot be counted.
///
/// With no `last`, only the newest part: a player joining at the live edge.
pub fn parts_after(
    playlist: &ParsedPlaylist,
    last: Option<PartId>,
) -> (Vec<(PartId, String)>, bool) {
    let all: Vec<(PartId, String)> = playlist
        .segments
        .iter()
        .flat_map(|s| s.parts.iter())
        .chain(&playlist.trailing_parts)
        .filter_map(|p| Some((parse_part_uri(&p.uri)?, p.uri.clone())))
        .collect();
    let Some(last) = last else {
        return (all.last().cloned().into_iter().collect(), false);
    };
    let next: Vec<_> = all.into_iter().filter(|(id, _)| *id > last).collect();
    let gap = next
        .first()
        .is_some_and(|(id, _)| *id != (last.0, last.1 + 1) && *id != (last.0 + 1, 0));
    (next, gap)
}

/// The NAL units of an AVCC sample (4-byte big-endian lengths); stops at a bad length.
pub fn avcc_nalus(sample: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = sample;
    std::iter::from_fn(move || {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let nal = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        Some(nal)
    })
}

/// The wall-clock stamps of the video samples of an fMP4 part (`None` for unstamped samples).
pub fn part_stamps(part: &[u8]) -> Result<Vec<Option<i64>>, String> {
    let frag = read_fragment(part).map_err(|e| format!("part: {e}"))?;
    let video = frag.tracks.first().ok_or("part has no track")?;
    Ok(video
        .sample_ranges()
        .map(|r| {
            let sample = part.get(r).unwrap_or_default();
            avcc_nalus(sample).find_map(sei::parse_wallclock_sei)
        })
        .collect())
}

struct HlsReader {
    conn: HttpConn,
    base: String,
    media_path: String,
    who: String,
    last: Option<PartId>,
    last_frame_us: Option<i64>,
    joined_us: i64,
}

impl HlsReader {
    async fn follow(
        &mut self,
        mut playlist: ParsedPlaylist,
        stats: &Stats,
        until: Instant,
    ) -> Result<(), Error> {
        loop {
            let (parts, gap) = parts_after(&playlist, self.last);
            Stats::add(&stats.gaps, u64::from(gap));
            for (id, uri) in parts {
                let body =
                    get_ok(&mut self.conn, &format!("{}{uri}", self.base), &self.who).await?;
                Stats::add(&stats.bytes_received, body.len() as u64);
                self.on_part(&body, stats);
                self.last = Some(id);
            }
            let Some((msn, part)) = self.last else {
                return Err(Error::protocol(&self.who, "playlist has no part"));
            };
            let path = format!("{}?_HLS_msn={msn}&_HLS_part={}", self.media_path, part + 1);
            let text = match tokio::time::timeout_at(
                until,
                get_ok(&mut self.conn, &path, &self.who),
            )
            .await
            {
                Ok(text) => text?,
                Err(_) => return Ok(()),
            };
            Stats::add(&stats.bytes_received, text.len() as u64);
            playlist = self::playlist(&text, &self.who)?;
        }
    }

    fn on_part(&mut self, body: &[u8], stats: &Stats) {
        let Ok(stamps) = part_stamps(body) else {
            return;
        };
        let now = wallclock_us();
        for stamp in stamps {
            on_frame(&mut self.last_frame_us, now, stats);
            match stamp {
                Some(s) => stats.frame_stamp(s, now, self.joined_us),
                None => Stats::add(&stats.unstamped, 1),
            }
        }
    }
}

async fn get_ok(conn: &mut HttpConn, path: &str, who: &str) -> Result<Bytes, Error> {
    let resp = conn.get(path).await?;
    if resp.status != 200 {
        return Err(Error::protocol(who, format!("GET {path}: {}", resp.status)));
    }
    Ok(resp.body)
}

fn playlist(body: &[u8], who: &str) -> Result<ParsedPlaylist, Error> {
    let text =
        std::str::from_utf8(body).map_err(|_| Error::protocol(who, "playlist is not UTF-8"))?;
    check_with(text, &Naming::default())
        .0
        .ok_or_else(|| Error::protocol(who, "not a media playlist"))
}

/// The first URI line of a multivariant playlist.
fn first_uri(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYLIST: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n\
        #EXT-X-PART-INF:PART-TARGET=0.20000\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-MAP:URI=\"init.mp4\"\n\
        #EXT-X-PART:DURATION=0.20000,URI=\"part4.0.mp4\",INDEPENDENT=YES\n\
        #EXT-X-PART:DURATION=0.20000,URI=\"part4.1.mp4\"\n\
        #EXTINF:0.40000,\nseg4.mp4\n\
        #EXT-X-PART:DURATION=0.20000,URI=\"part5.0.mp4\",INDEPENDENT=YES\n\
        #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part5.1.mp4\"\n";

    fn parsed() -> ParsedPlaylist {
        playlist(PLAYLIST.as_bytes(), "test").unwrap()
    }

    fn ids(v: &[(PartId, String)]) -> Vec<PartId> {
        v.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn a_new_reader_starts_at_the_newest_part() {
        let (parts, gap) = parts_after(&parsed(), None);
        assert_eq!((ids(&parts), gap), (vec![(5, 0)], false));
        assert_eq!(parts[0].1, "part5.0.mp4");
    }

    #[test]
    fn next_parts_cross_segments_and_gaps_are_seen() {
        let cases: &[(PartId, &[PartId], bool)] = &[
            ((4, 1), &[(5, 0)], false),
            ((4, 0), &[(4, 1), (5, 0)], false),
            ((5, 0), &[], false),
            ((3, 2), &[(4, 0), (4, 1), (5, 0)], false),
            ((2, 3), &[(4, 0), (4, 1), (5, 0)], true),
        ];
        for (last, want, gap) in cases {
            let (parts, g) = parts_after(&parsed(), Some(*last));
            assert_eq!((ids(&parts).as_slice(), g), (*want, *gap), "after {last:?}");
        }
    }

    #[test]
    fn avcc_split_and_stamp() {
        let stamp = sei::wallclock_sei_h264(77);
        let mut sample = Vec::new();
        for nal in [&[0x09u8, 0xF0][..], &stamp, &[0x65, 0x88]] {
            sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            sample.extend_from_slice(nal);
        }
        assert_eq!(avcc_nalus(&sample).count(), 3);
        assert_eq!(
            avcc_nalus(&sample).find_map(sei::parse_wallclock_sei),
            Some(77)
        );
        assert_eq!(avcc_nalus(&[0, 0, 0, 9, 1]).count(), 0);
    }
}
