//! MPEG-4 AAC over RTP, RFC 3640 `mode=AAC-hbr` (§3.3.6): an AU-headers-length, one AU header
//! per frame (sizeLength 13, indexLength/indexDeltaLength 3), then the frames. Several frames may
//! share a packet; one frame may be fragmented over several packets with the same timestamp
//! (§3.2.3.3), reassembled here into one bounded buffer.

use bytes::{Bytes, BytesMut};
use vigia_media::model::AccessUnit;
use vigia_media::time::Timestamp;

use super::{
    Case, DepacketizeError, DepacketizeErrorKind, DepacketizeStats, Depacketizer, MAX_AU_SIZE,
    OutPacket, PacketWriter, PacketizeError, Packetizer, PacketizerConfig, ReadyQueue, RtpTimeline,
    SeqEvent, copy_exact, fixture, rtp,
};
use crate::rtp::RtpPacket;

/// Samples per AAC frame (AAC-LC); RTP timestamps advance by this per frame.
pub const AAC_FRAME_SAMPLES: i64 = 1024;
/// Largest AAC frame the 13-bit size field can describe.
const MAX_FRAME: usize = (1 << 13) - 1;

type Fail = DepacketizeErrorKind;

/// A frame being reassembled from fragments.
#[derive(Clone, Debug)]
struct Partial {
    ts: i64,
    size: usize,
    buf: BytesMut,
}

/// Depacketizer for AAC-hbr. Emits one access unit per packet (one chunk per frame) with the
/// first frame's timestamp; later frames are [`AAC_FRAME_SAMPLES`] apart.
#[derive(Clone, Debug)]
pub struct AacDepacketizer {
    track: usize,
    clock_rate: u32,
    timeline: RtpTimeline,
    partial: Option<Partial>,
    /// Whether the previous packet ended a frame (marker, no loss since): a fragment may start.
    at_boundary: bool,
    ready: ReadyQueue,
    stats: DepacketizeStats,
}

impl AacDepacketizer {
    /// A depacketizer for track `track`; `clock_rate` is the SDP's (normally the sample rate).
    pub fn new(track: usize, clock_rate: u32) -> Self {
        Self {
            track,
            clock_rate,
            timeline: RtpTimeline::default(),
            partial: None,
            at_boundary: true,
            ready: ReadyQueue::default(),
            stats: DepacketizeStats::default(),
        }
    }

    fn handle(&mut self, pkt: &RtpPacket) -> Result<(), Fail> {
        let at_boundary = std::mem::replace(&mut self.at_boundary, pkt.marker);
        let Some((event, ts)) = self.timeline.admit(pkt, &mut self.stats) else {
            return Ok(());
        };
        if let SeqEvent::Gap(_) = event {
            self.drop_partial();
            if !pkt.marker {
                self.at_boundary = false;
            }
            return self.after_loss(pkt, ts);
        }
        let (sizes, data) = au_headers(&pkt.payload)?;
        if let Some(p) = &self.partial
            && p.ts != ts
        {
            self.drop_partial();
        }
        let needed: usize = sizes.iter().sum();
        if sizes.len() == 1 && (needed > data.len() || self.partial.is_some()) {
            if self.partial.is_none() && !at_boundary {
                self.stats.packets_discarded += 1;
                return Ok(()); // a middle or last fragment whose start we did not see
            }
            return self.fragment(ts, needed, &data);
        }
        self.whole_frames(ts, sizes, data)
    }

    /// After a gap: whole frames are still usable; fragments of a frame whose start may have
    /// been lost are not (the marker tells a fragment set's end, RFC 3640 §3.2.3.3).
    fn after_loss(&mut self, pkt: &RtpPacket, ts: i64) -> Result<(), Fail> {
        let (sizes, data) = au_headers(&pkt.payload)?;
        if sizes.iter().sum::<usize>() > data.len() {
            self.stats.packets_discarded += 1;
            return Ok(());
        }
        self.whole_frames(ts, sizes, data)
    }

    fn whole_frames(&mut self, ts: i64, sizes: Vec<usize>, data: Bytes) -> Result<(), Fail> {
        let needed: usize = sizes.iter().sum();
        if needed > data.len() {
            return Err(Fail::Invalid("AU sizes exceed the payload"));
        }
        let mut frames = Vec::with_capacity(sizes.len());
        let mut pos = 0;
        for size in sizes {
            frames.push(data.slice(pos..pos + size));
            pos += size;
        }
        self.stats.bytes_copied += copy_exact(&mut frames, |_| true) as u64;
        self.emit(ts, frames);
        Ok(())
    }

    /// Continues or starts a fragmented frame (RFC 3640 §3.2.3.3: the AU header carries the
    /// whole frame's size on every fragment).
    fn fragment(&mut self, ts: i64, size: usize, data: &Bytes) -> Result<(), Fail> {
        let partial = self.partial.get_or_insert_with(|| Partial {
            ts,
            size,
            buf: BytesMut::with_capacity(size.min(MAX_FRAME)),
        });
        if partial.size != size || partial.buf.len() + data.len() > size {
            self.drop_partial();
            return Err(Fail::Invalid("AAC fragment does not match the frame size"));
        }
        partial.buf.extend_from_slice(data);
        self.stats.bytes_copied += data.len() as u64;
        if partial.buf.len() == size {
            let frame = self
                .partial
                .take()
                .map(|p| p.buf.freeze())
                .unwrap_or_default();
            self.emit(ts, vec![frame]);
        }
        Ok(())
    }

    fn drop_partial(&mut self) {
        if self.partial.take().is_some() {
            self.stats.access_units_dropped += 1;
        }
    }

    fn emit(&mut self, ts: i64, frames: Vec<Bytes>) {
        if frames.is_empty() || frames.iter().all(Bytes::is_empty) {
            return;
        }
        let pts = Timestamp::new(ts, self.clock_rate);
        let au = AccessUnit::new(self.track, pts, true, frames);
        self.ready.push(au, &mut self.stats);
    }
}

/// Parses the AU header section (RFC 3640 §3.2.1): returns frame sizes and the data after it.
fn au_headers(p: &Bytes) -> Result<(Vec<usize>, Bytes), Fail> {
    let Some(&[hi, lo]) = p.get(..2).and_then(|s| <&[u8; 2]>::try_from(s).ok()) else {
        return Err(Fail::Invalid("payload shorter than AU-headers-length"));
    };
    let bits = usize::from(u16::from_be_bytes([hi, lo]));
    if bits == 0 || bits % 16 != 0 {
        return Err(Fail::Invalid(
            "AU-headers-length is not a multiple of 16 bits",
        ));
    }
    let end = 2 + bits / 8;
    let headers = p
        .get(2..end)
        .ok_or(Fail::Invalid("AU headers run past the end"))?;
    // 13-bit size, 3-bit index (first) / index delta (others); interleaving is not supported.
    let mut sizes = Vec::with_capacity(headers.len() / 2);
    for h in headers.chunks_exact(2) {
        if h[1] & 0x07 != 0 {
            return Err(Fail::Unsupported("AU index/index-delta (interleaving)"));
        }
        sizes.push(usize::from(u16::from_be_bytes([h[0], h[1]]) >> 3));
    }
    Ok((sizes, p.slice(end..)))
}

impl Depacketizer for AacDepacketizer {
    fn push(&mut self, pkt: &RtpPacket) -> Result<(), DepacketizeError> {
        self.handle(pkt).map_err(|kind| kind.at(pkt))
    }

    fn pull(&mut self) -> Option<AccessUnit> {
        self.ready.pop()
    }

    fn stats(&self) -> DepacketizeStats {
        self.stats
    }

    fn check_invariants(&self) {
        self.ready.check_invariants();
        if let Some(p) = &self.partial {
            assert!(p.buf.len() < p.size && p.size <= MAX_FRAME && p.size <= MAX_AU_SIZE);
        }
    }
}

/// Packetizer for AAC-hbr: as many whole frames per packet as fit the MTU; a frame larger than
/// the MTU is fragmented. Marker set on every packet that ends a frame (RFC 3640 §3.2.3.3).
#[derive(Clone, Debug)]
pub struct AacPacketizer {
    writer: PacketWriter,
}

impl AacPacketizer {
    /// A packetizer stamping packets per `cfg`; `clock_rate` is the sample rate.
    pub fn new(cfg: PacketizerConfig, clock_rate: u32) -> Self {
        Self {
            writer: PacketWriter::new(cfg, clock_rate),
        }
    }

    /// Fragments one large frame: each packet carries one AU header with the full size.
    fn fragment(&mut self, ts: u32, frame: &Bytes, out: &mut Vec<OutPacket>) {
        let step = self.writer.cfg.mtu - 4;
        let header = au_header_section(&[frame.len()]);
        let mut pos = 0;
        while pos < frame.len() {
            let end = (pos + step).min(frame.len());
            out.push(
                self.writer
                    .emit(ts, end == frame.len(), &header, &[frame.slice(pos..end)]),
            );
            pos = end;
        }
    }
}

/// The AU-headers-length and AU headers for frames of `sizes`.
fn au_header_section(sizes: &[usize]) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + 2 * sizes.len());
    v.extend_from_slice(&((sizes.len() * 16) as u16).to_be_bytes());
    for &s in sizes {
        v.extend_from_slice(&((s as u16) << 3).to_be_bytes());
    }
    v
}

impl Packetizer for AacPacketizer {
    fn packetize(
        &mut self,
        au: &AccessUnit,
        out: &mut Vec<OutPacket>,
    ) -> Result<(), PacketizeError> {
        if au.data.iter().any(|f| f.is_empty() || f.len() > MAX_FRAME) {
            return Err(PacketizeError::Invalid(
                "AAC frame empty or larger than 8191 bytes",
            ));
        }
        let base = au.pts.rescale(self.writer.clock_rate);
        let mtu = self.writer.cfg.mtu;
        let mut i = 0;
        while let Some(first) = au.data.get(i) {
            let ts = self.writer.rtp_ts(Timestamp::new(
                base.ticks + i as i64 * AAC_FRAME_SAMPLES,
                base.clock_rate,
            ));
            if 4 + first.len() > mtu {
                self.fragment(ts, first, out);
                i += 1;
                continue;
            }
            let (mut n, mut len) = (0, 2);
            while let Some(f) = au.data.get(i + n).filter(|f| len + 2 + f.len() <= mtu) {
                len += 2 + f.len();
                n += 1;
            }
            let frames = &au.data[i..i + n];
            let header = au_header_section(&frames.iter().map(Bytes::len).collect::<Vec<_>>());
            out.push(self.writer.emit(ts, true, &header, frames));
            i += n;
        }
        Ok(())
    }

    fn next_sequence_number(&self) -> u16 {
        self.writer.seq
    }
}

/// Case table: decode tests and fuzz seeds.
pub(super) fn cases() -> Vec<Case> {
    let two = [0, 32, 0, 3 << 3, 0, 2 << 3, 1, 2, 3, 4, 5];
    vec![
        Case {
            name: "two_frames_one_packet",
            packets: vec![rtp(1, 1000, true, &two)],
            want: vec![(1000, true, vec![3, 2])],
            errors: 0,
        },
        Case {
            name: "fragmented_frame",
            packets: vec![
                rtp(1, 0, false, &[0, 16, 0, 5 << 3, 1, 2, 3]),
                rtp(2, 0, true, &[0, 16, 0, 5 << 3, 4, 5]),
                rtp(3, 1024, true, &[0, 16, 0, 1 << 3, 9]),
            ],
            want: vec![(0, true, vec![5]), (1024, true, vec![1])],
            errors: 0,
        },
        Case {
            name: "loss_mid_fragment",
            packets: vec![
                rtp(1, 0, false, &[0, 16, 0, 5 << 3, 1, 2, 3]),
                rtp(3, 1024, true, &[0, 16, 0, 1 << 3, 9]),
            ],
            want: vec![(1024, true, vec![1])],
            errors: 0,
        },
        Case {
            name: "headers_length_not_multiple_of_16",
            packets: vec![rtp(1, 0, true, &[0, 13, 0, 8, 1])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "headers_past_end",
            packets: vec![rtp(1, 0, true, &[0, 64, 0, 8])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "sizes_exceed_payload",
            packets: vec![rtp(1, 0, true, &[0, 32, 0, 8, 0, 8, 1])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "ffmpeg_aac_capture",
            packets: fixture(include_bytes!("testdata/aac.bin")),
            // The first two frames are fragmented over two packets each.
            want: vec![
                (1_726_306_102, true, vec![316]),
                (1_726_307_126, true, vec![386]),
                (1_726_308_150, true, vec![227]),
                (1_726_309_174, true, vec![233]),
                (1_726_310_198, true, vec![264]),
                (1_726_311_222, true, vec![249]),
            ],
            errors: 0,
        },
    ]
}

#[cfg(test)]
mod tests {
    use vigia_media::model::{AacParams, CodecParams, Track};

    use super::*;
    use crate::payload::{round_trip, run_cases};

    #[test]
    fn case_table() {
        run_cases(&cases(), || Box::new(AacDepacketizer::new(0, 16_000)));
    }

    fn track() -> Track {
        let p = AacParams {
            config: Bytes::from_static(&[0x14, 0x08]),
            sample_rate: 16_000,
            channels: 1,
        };
        Track {
            codec: CodecParams::Aac(p),
            clock_rate: 16_000,
        }
    }

    #[test]
    fn round_trip_packed_frames() {
        let frames: Vec<Bytes> = (1..=3u8).map(|i| Bytes::from(vec![i; 100])).collect();
        let au = AccessUnit::new(0, Timestamp::new(2048, 16_000), true, frames.clone());
        let out = round_trip(&track(), &au, 1450);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].chunks[1].as_ptr(), frames[0].as_ptr());
    }

    #[test]
    fn round_trip_fragmented_frame() {
        let frame = Bytes::from(vec![7u8; 3000]);
        let au = AccessUnit::new(0, Timestamp::new(0, 16_000), true, vec![frame]);
        let out = round_trip(&track(), &au, 1450);
        assert_eq!(out.len(), 3);
        assert_eq!(
            out.iter().map(|p| p.marker).collect::<Vec<_>>(),
            [false, false, true]
        );
    }
}
