//! Reading back the segments the recorder writes: top-level boxes, whole fragments and the
//! media time they cover. Used to repair a spool file cut by a crash and to seek in playback.
//! Never panics on any input.

use std::ops::Range;

use vigia_media::fmp4::{self, InitInfo};

/// The whole fragments of a segment file and where its valid bytes end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentScan {
    /// Bytes of `ftyp` + `moov` (0 if the init segment is not whole).
    pub init_len: usize,
    /// Every whole `moof`+`mdat`, in order.
    pub fragments: Vec<FragmentSpan>,
    /// Length of the prefix made of whole boxes that form a valid file (init, then whole
    /// fragments); anything after it is a torn write.
    pub valid_len: usize,
    /// Timescale of the leading track (first video track, else track 1).
    pub timescale: u32,
    /// fMP4 track id of the leading track.
    pub leading_track_id: u32,
}

/// One fragment of a segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentSpan {
    /// Byte range of its `moof` and `mdat`.
    pub range: Range<usize>,
    /// Leading-track decode time of its first sample, in the leading timescale.
    pub start: u64,
    /// Leading-track decode time just after its last sample.
    pub end: u64,
    /// Whether it starts with a leading-track sync sample.
    pub independent: bool,
}

impl SegmentScan {
    /// Scans `data`, the beginning (or all) of a segment file.
    pub fn scan(data: &[u8]) -> Self {
        let mut scan = SegmentScan::default();
        let mut pos = 0;
        let mut moof_start = None;
        while let Some((fourcc, len)) = box_at(data, pos) {
            match &fourcc {
                b"moov" if scan.init_len == 0 => {
                    let Ok(init) = fmp4::read_init(&data[..pos + len]) else {
                        break;
                    };
                    scan.set_leading(&init);
                    scan.init_len = pos + len;
                    scan.valid_len = scan.init_len;
                }
                b"moof" => moof_start = Some(pos),
                b"mdat" => {
                    if let Some(start) = moof_start.take() {
                        scan.add_fragment(data, start..pos + len);
                    }
                }
                _ => {}
            }
            pos += len;
        }
        scan
    }

    /// Duration of the whole fragments in µs (decode times start at 0 in a segment).
    pub fn duration_us(&self) -> i64 {
        let end = self.fragments.last().map_or(0, |f| f.end);
        ticks_to_us(end, self.timescale)
    }

    fn set_leading(&mut self, init: &InitInfo) {
        let leading = init
            .tracks
            .iter()
            .find(|t| &t.handler == b"vide")
            .or_else(|| init.tracks.first());
        if let Some(t) = leading {
            self.timescale = t.timescale.max(1);
            self.leading_track_id = t.id;
        }
    }

    fn add_fragment(&mut self, data: &[u8], range: Range<usize>) {
        if self.init_len == 0 || range.start != self.valid_len {
            return;
        }
        let Some(bytes) = data.get(range.clone()) else {
            return;
        };
        let Ok(info) = fmp4::read_fragment(bytes) else {
            return;
        };
        let Some(traf) = info
            .tracks
            .iter()
            .find(|t| t.track_id == self.leading_track_id)
        else {
            // A part without leading samples still belongs to the file.
            self.valid_len = range.end;
            return;
        };
        let total: u64 = traf.samples.iter().map(|s| u64::from(s.duration)).sum();
        self.fragments.push(FragmentSpan {
            range: range.clone(),
            start: traf.base_decode_time,
            // Saturating: a corrupt `tfdt` near `u64::MAX` must not overflow (fuzz finding).
            end: traf.base_decode_time.saturating_add(total),
            independent: traf.samples.first().is_some_and(|s| s.is_sync()),
        });
        self.valid_len = range.end;
    }
}

/// `ticks` of `timescale` in µs (`i64::MAX` if that does not fit).
pub fn ticks_to_us(ticks: u64, timescale: u32) -> i64 {
    let us = u128::from(ticks) * 1_000_000 / u128::from(timescale.max(1));
    i64::try_from(us).unwrap_or(i64::MAX)
}

/// The type and total length of the whole box starting at `pos`, or `None` if it does not fit.
fn box_at(data: &[u8], pos: usize) -> Option<([u8; 4], usize)> {
    let header = data.get(pos..pos + 8)?;
    let size32 = u32::from_be_bytes(header[..4].try_into().ok()?);
    let fourcc: [u8; 4] = header[4..8].try_into().ok()?;
    let len = match size32 {
        1 => {
            let large = data.get(pos + 8..pos + 16)?;
            usize::try_from(u64::from_be_bytes(large.try_into().ok()?)).ok()?
        }
        0 => return None,
        n => n as usize,
    };
    (len >= 8 && pos.checked_add(len)? <= data.len()).then_some((fourcc, len))
}

/// Fuzz entry point of the `segment_scan` target: [`SegmentScan::scan`] on arbitrary bytes,
/// asserting that the valid prefix lies inside the input, that the fragments are in order,
/// disjoint, inside the valid prefix and with `start <= end`, and that scanning the valid
/// prefix alone gives the same scan (what crash repair relies on when it truncates a file).
#[doc(hidden)]
pub fn fuzz_segment_scan(data: &[u8]) {
    let scan = SegmentScan::scan(data);
    assert!(
        scan.valid_len <= data.len(),
        "valid prefix inside the input"
    );
    assert!(
        scan.init_len <= scan.valid_len,
        "init inside the valid prefix"
    );
    let mut end = scan.init_len;
    for f in &scan.fragments {
        assert!(f.range.start >= end, "fragments in order and disjoint");
        assert!(f.range.start < f.range.end && f.range.end <= scan.valid_len);
        assert!(f.start <= f.end, "decode times go forward");
        end = f.range.end;
    }
    let _ = scan.duration_us();
    let again = SegmentScan::scan(data.get(..scan.valid_len).unwrap_or_default());
    assert_eq!(again, scan, "the valid prefix scans the same");
}

/// Named seeds for the `segment_scan` corpus: a whole segment the [`Recorder`] made from the
/// built-in clip (payloads cut to their first bytes to keep the seed small; boxes and sample
/// tables are the recorder's own), and torn copies of it.
///
/// [`Recorder`]: crate::recorder::Recorder
#[doc(hidden)]
pub fn fuzz_segment_scan_seeds() -> Vec<(String, Vec<u8>)> {
    let segment = fuzz::small_segment();
    let init_len = SegmentScan::scan(&segment).init_len;
    let mut seeds = vec![
        ("segment".to_owned(), segment.clone()),
        ("init".to_owned(), segment[..init_len].to_vec()),
        ("torn-init".to_owned(), segment[..init_len / 2].to_vec()),
    ];
    if let Some(last) = SegmentScan::scan(&segment).fragments.last() {
        let torn = last.range.start + (last.range.end - last.range.start) / 2;
        seeds.push(("torn-part".to_owned(), segment[..torn].to_vec()));
    }
    seeds
}

mod fuzz {
    //! The recording behind [`super::fuzz_segment_scan_seeds`].

    use std::sync::Arc;
    use std::time::Duration;

    use vigia_media::AccessUnit;
    use vigia_media::synthetic::{Player, builtin_360p};

    use crate::recorder::{RecordEvent, Recorder, RecorderConfig};

    /// Payload bytes kept of each NAL unit or audio frame.
    const KEEP: usize = 6;

    /// The first segment of 1.5 s of the clip cut into 1 s segments of 400 ms parts.
    pub(super) fn small_segment() -> Vec<u8> {
        let mut player = Player::new(builtin_360p());
        let config = RecorderConfig {
            part_duration: Duration::from_millis(400),
            segment_duration: Duration::from_secs(1),
            max_part_size: 50_000_000,
        };
        let mut recorder = Recorder::new(player.clip().tracks().to_vec(), config);
        let mut segment = Vec::new();
        while player.next_due_us() < 1_500_000 {
            let due = player.next_due_us();
            recorder.push(Arc::new(shrink(
                player.next_unit(1_764_684_245_000_000 + due),
            )));
            while let Some(event) = recorder.pull() {
                match event {
                    RecordEvent::SegmentStart { init, .. } if segment.is_empty() => {
                        segment.extend_from_slice(&init);
                    }
                    RecordEvent::Part { chunks, .. } => {
                        chunks.iter().for_each(|c| segment.extend_from_slice(c));
                    }
                    RecordEvent::SegmentEnd { .. } => return segment,
                    RecordEvent::SegmentStart { .. } => {}
                }
            }
        }
        segment
    }

    fn shrink(mut unit: AccessUnit) -> AccessUnit {
        for chunk in &mut unit.data {
            chunk.truncate(KEEP);
        }
        unit
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vigia_media::fmp4::{self, Sample, TrackRun};

    use super::*;

    /// Found by the `segment_scan` fuzz target: a fragment whose `tfdt` is near `u64::MAX`
    /// overflowed the end of its span.
    #[test]
    fn a_decode_time_near_the_end_of_u64_saturates() {
        let segment = fuzz::small_segment();
        let init_len = SegmentScan::scan(&segment).init_len;
        let run = TrackRun {
            track_id: 1,
            base_decode_time: u64::MAX - 10,
            samples: vec![Sample {
                duration: 3600,
                composition_offset: 0,
                keyframe: true,
                data: vec![Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88])],
            }],
        };
        let mut data = segment[..init_len].to_vec();
        data.extend(fmp4::fragment(1, &[run]).concat());
        let scan = SegmentScan::scan(&data);
        assert_eq!(scan.valid_len, data.len());
        assert_eq!(scan.fragments[0].end, u64::MAX);
        assert_eq!(scan.duration_us(), i64::MAX);
        fuzz_segment_scan(&data);
    }

    #[test]
    fn seeds_scan_as_whole_and_torn_files() {
        let seeds: std::collections::HashMap<_, _> =
            fuzz_segment_scan_seeds().into_iter().collect();
        let whole = SegmentScan::scan(&seeds["segment"]);
        assert_eq!(whole.valid_len, seeds["segment"].len());
        assert!(whole.fragments.len() >= 2 && whole.fragments[0].independent);
        let torn = SegmentScan::scan(&seeds["torn-part"]);
        assert_eq!(torn.fragments.len(), whole.fragments.len() - 1);
        assert_eq!(SegmentScan::scan(&seeds["torn-init"]).valid_len, 0);
        for data in seeds.values() {
            fuzz_segment_scan(data);
        }
    }
}
