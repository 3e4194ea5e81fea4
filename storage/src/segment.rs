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
            end: traf.base_decode_time + total,
            independent: traf.samples.first().is_some_and(|s| s.is_sync()),
        });
        self.valid_len = range.end;
    }
}

/// `ticks` of `timescale` in µs.
pub fn ticks_to_us(ticks: u64, timescale: u32) -> i64 {
    (u128::from(ticks) * 1_000_000 / u128::from(timescale.max(1))) as i64
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
