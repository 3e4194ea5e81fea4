//! NAL-unit access-unit assembly and fragmentation shared by H.264 (RFC 6184) and H.265
//! (RFC 7798). The codec modules parse their packet types and call into [`NalAssembler`];
//! [`NalPacketizer`] does single-NAL / fragmentation-unit packetization given the codec's FU
//! header layout.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use vigia_media::model::{AccessUnit, CodecParams, Nals, VideoParams, join_chunks, leading_bytes};
use vigia_media::time::Timestamp;

use super::{
    DepacketizeError, DepacketizeErrorKind, DepacketizeStats, MAX_AU_SIZE, OutPacket, PacketWriter,
    PacketizeError, PacketizerConfig, ReadyQueue, RtpTimeline, SeqEvent,
};
use crate::rtp::RtpPacket;

/// Most NAL units one access unit may hold (bounds memory on hostile input).
const MAX_NALS_PER_AU: usize = 4096;

/// What differs between H.264 and H.265 for assembly.
pub(super) trait NalSyntax: Sized {
    /// NAL header length (1 for H.264, 2 for H.265); also the length of the payload header of
    /// an aggregation packet.
    const HEADER_LEN: usize;
    /// Adds the NAL units of one RTP payload to `asm`, by the codec's packet types.
    fn add_payload(asm: &mut NalAssembler<Self>, payload: &Bytes) -> Result<(), Fail>;
    /// NAL unit type from the first header byte.
    fn nal_type(first: u8) -> u8;
    /// Whether a NAL unit of this type makes its access unit a random access point.
    fn is_keyframe(nal_type: u8) -> bool;
    /// Whether an RTP payload visibly begins an access unit: its first NAL unit is a parameter
    /// set, AUD or SEI, or the first slice of a picture. Used to resume right after loss.
    fn starts_access_unit(payload: &[u8]) -> bool;
    /// Whether a NAL unit of this type carries picture data (a VCL NAL unit).
    fn is_vcl(nal_type: u8) -> bool;
    /// Whether a NAL unit of this type may appear in an access unit (not an RTP packet type
    /// such as STAP-A/FU, nor reserved/unspecified by the payload format).
    fn is_media_type(nal_type: u8) -> bool;
    /// Index into `[vps, sps, pps]` if this type is a parameter set.
    fn param_slot(nal_type: u8) -> Option<usize>;
    /// Wraps updated parameters in the codec's variant.
    fn wrap(params: VideoParams) -> CodecParams;
}

pub(super) type Fail = DepacketizeErrorKind;

/// The access unit being built: its NAL units as chunks, slices of the received packets
/// (never copied, issue 11).
#[derive(Clone, Debug)]
struct Building {
    ts: i64,
    chunks: Vec<Bytes>,
    /// Where each NAL unit ends in `chunks` ([`AccessUnit::nal_ends`]); empty while every NAL
    /// unit is one chunk, so a unit without fragmentation units costs no allocation for it.
    ends: Vec<u32>,
    size: usize,
    keyframe: bool,
    params_changed: bool,
}

impl Building {
    fn new(ts: i64) -> Self {
        Self {
            ts,
            chunks: Vec::new(),
            ends: Vec::new(),
            size: 0,
            keyframe: false,
            params_changed: false,
        }
    }

    /// Adds a NAL unit of `chunks` (at least one) of `len` bytes in all.
    fn push(&mut self, chunks: impl Iterator<Item = Bytes>, len: usize) {
        let before = self.chunks.len();
        self.chunks.extend(chunks);
        if self.chunks.len() - before > 1 || !self.ends.is_empty() {
            self.chunks_before_as_nal_units(before);
            self.ends.push(chunk_end(self.chunks.len()));
        }
        self.size += len;
    }

    /// Makes `ends` explicit when it is empty: each of the first `count` chunks is a NAL unit.
    fn chunks_before_as_nal_units(&mut self, count: usize) {
        if self.ends.is_empty() {
            self.ends.extend((1..=count).map(chunk_end));
        }
    }

    /// How many NAL units the unit holds.
    fn nal_count(&self) -> usize {
        if self.ends.is_empty() {
            self.chunks.len()
        } else {
            self.ends.len()
        }
    }

    /// The first byte of each NAL unit.
    fn first_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        Nals::new(&self.chunks, &self.ends).filter_map(|nal| nal[0].first().copied())
    }

    /// Sizes and NAL unit ends agree with the chunks.
    fn check_invariants(&self) {
        assert_eq!(self.size, self.chunks.iter().map(Bytes::len).sum::<usize>());
        if !self.ends.is_empty() {
            assert!(self.ends.windows(2).all(|w| w[0] < w[1]) && self.ends[0] > 0);
            assert_eq!(
                self.ends.last().map(|&e| e as usize),
                Some(self.chunks.len())
            );
        }
    }

    /// Appends `next`'s NAL units after this unit's.
    fn append(&mut self, mut next: Building) {
        if !next.ends.is_empty() || !self.ends.is_empty() {
            self.chunks_before_as_nal_units(self.chunks.len());
            next.chunks_before_as_nal_units(next.chunks.len());
            let base = self.chunks.len();
            let shifted = next.ends.iter().map(|&e| chunk_end(base + e as usize));
            self.ends.extend(shifted);
        }
        self.chunks.extend(next.chunks);
        self.size += next.size;
        self.ts = next.ts;
        self.keyframe |= next.keyframe;
        self.params_changed |= next.params_changed;
    }
}

/// A chunk index as stored in [`AccessUnit::nal_ends`] (chunks are bounded far below `u32`).
fn chunk_end(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// Every byte value, then every pair of byte values: the header chunk of a reassembled NAL
/// unit is a slice of this (one byte for H.264, two for H.265), so it costs no allocation.
static HEADER_BYTES: [u8; 2 * 65_536] = {
    let mut table = [0u8; 2 * 65_536];
    let mut i = 0;
    while i < 65_536 {
        table[2 * i] = (i >> 8) as u8;
        table[2 * i + 1] = i as u8;
        i += 1;
    }
    table
};

/// `header` (one or two bytes) as a chunk of [`HEADER_BYTES`].
fn header_chunk(header: &[u8]) -> Bytes {
    let range = match *header {
        [one] => 2 * usize::from(one) + 1..2 * usize::from(one) + 2,
        [a, b, ..] => {
            let at = 2 * (usize::from(a) << 8 | usize::from(b));
            at..at + 2
        }
        [] => 0..0,
    };
    Bytes::from_static(&HEADER_BYTES[range])
}

/// A fragmented NAL unit being reassembled: the fragments stay slices of their packets and
/// become the NAL unit's chunks, after a chunk holding its reconstructed header.
#[derive(Clone, Debug)]
struct Fragment {
    nal_type: u8,
    /// The reconstructed NAL header (a chunk of [`HEADER_BYTES`]), then the fragments.
    pieces: Vec<Bytes>,
    /// NAL unit length so far, header included.
    len: usize,
}

/// Per-track state for assembling NAL units of codec `S` into access units.
#[derive(Clone, Debug)]
pub(super) struct NalAssembler<S> {
    track: usize,
    clock_rate: u32,
    params: VideoParams,
    timeline: RtpTimeline,
    cur: Option<Building>,
    frag: Option<Fragment>,
    /// The last fragment list, emptied, reused by the next fragmented NAL unit.
    spare_pieces: Vec<Bytes>,
    /// Timestamp of an access unit being skipped after loss or an error.
    skip_ts: Option<i64>,
    /// Parameter sets/SEI closed by a marker on their own (some cameras do this), held to be
    /// prepended to the next picture so no access unit lacks a picture.
    held: Option<Building>,
    ready: ReadyQueue,
    stats: DepacketizeStats,
    syntax: PhantomData<fn() -> S>,
}

impl<S: NalSyntax> NalAssembler<S> {
    pub(super) fn new(track: usize, clock_rate: u32, params: VideoParams) -> Self {
        Self {
            track,
            clock_rate,
            params,
            timeline: RtpTimeline::default(),
            cur: None,
            frag: None,
            spare_pieces: Vec::new(),
            skip_ts: None,
            held: None,
            ready: ReadyQueue::default(),
            stats: DepacketizeStats::default(),
            syntax: PhantomData,
        }
    }

    /// Handles one received packet (the [`super::Depacketizer::push`] of H.264 and H.265).
    pub(super) fn push(&mut self, pkt: &RtpPacket) -> Result<(), DepacketizeError> {
        self.handle(pkt).map_err(|kind| kind.at(pkt))
    }

    pub(super) fn pull(&mut self) -> Option<AccessUnit> {
        self.ready.pop()
    }

    pub(super) fn stats(&self) -> DepacketizeStats {
        self.stats
    }

    fn handle(&mut self, pkt: &RtpPacket) -> Result<(), Fail> {
        if !self.begin(pkt)? {
            return Ok(());
        }
        S::add_payload(self, &pkt.payload)?;
        self.end(pkt.marker)
    }

    /// Starts handling `pkt`: sequence/loss checks and access-unit boundaries by timestamp.
    /// Returns `false` if the packet must be ignored.
    fn begin(&mut self, pkt: &RtpPacket) -> Result<bool, Fail> {
        let Some((event, ts)) = self.timeline.admit(pkt, &mut self.stats) else {
            return Ok(false);
        };
        if let SeqEvent::Gap(_) = event {
            self.drop_au();
            // Resume at once if this packet visibly starts a picture; else skip its unit.
            self.skip_ts = (!S::starts_access_unit(&pkt.payload)).then_some(ts);
        }
        if self.skip_ts.is_some_and(|s| s != ts) {
            self.skip_ts = None;
        }
        if self.skip_ts.is_some() {
            self.stats.packets_discarded += 1;
            if pkt.marker {
                self.skip_ts = None;
            }
            return Ok(false);
        }
        self.boundary_by_timestamp(ts)?;
        Ok(true)
    }

    /// Finishes the access unit if the timestamp moved on (cameras that never set the marker).
    fn boundary_by_timestamp(&mut self, ts: i64) -> Result<(), Fail> {
        if self.cur.as_ref().is_some_and(|c| c.ts != ts) {
            if self.frag.is_some() {
                self.drop_au();
                self.skip_ts = Some(ts); // this packet is dropped, so its unit is incomplete
                return Err(Fail::Invalid(
                    "timestamp changed inside a fragmented NAL unit",
                ));
            }
            self.finish();
        }
        self.begin_au(ts);
        Ok(())
    }

    fn begin_au(&mut self, ts: i64) {
        if self.cur.is_none() {
            self.cur = Some(Building::new(ts));
        }
    }

    /// Adds a complete NAL unit (a slice of the packet) to the current access unit.
    pub(super) fn add_nal(&mut self, nal: Bytes) -> Result<(), Fail> {
        let len = nal.len();
        self.add(std::slice::from_ref(&nal), len)
    }

    /// Adds a complete NAL unit of `chunks` (`len` bytes in all, its header first).
    fn add(&mut self, chunks: &[Bytes], len: usize) -> Result<(), Fail> {
        if len < S::HEADER_LEN {
            return Err(self.fail(Fail::Invalid("NAL unit shorter than its header")));
        }
        let nal_type = S::nal_type(leading_bytes::<1>(chunks).0[0]);
        if !S::is_media_type(nal_type) {
            return Err(self.fail(Fail::Invalid("NAL unit type not allowed inside a packet")));
        }
        let Some(cur) = self.cur.as_mut() else {
            return Err(Fail::Invalid("NAL unit outside an access unit"));
        };
        let size = cur.size + len;
        if size > MAX_AU_SIZE || cur.nal_count() >= MAX_NALS_PER_AU {
            return Err(self.fail(Fail::TooLarge {
                size,
                max: MAX_AU_SIZE,
            }));
        }
        cur.keyframe |= S::is_keyframe(nal_type);
        if let Some(slot) = S::param_slot(nal_type) {
            let known = [
                &mut self.params.vps,
                &mut self.params.sps,
                &mut self.params.pps,
            ];
            let nal = join_chunks(chunks);
            if let Some(p) = known
                .into_iter()
                .nth(slot)
                .filter(|p| p.as_ref() != Some(&nal))
            {
                // A copy: a slice would keep the whole receive buffer alive with the stream.
                *p = Some(Bytes::copy_from_slice(&nal));
                cur.params_changed = true;
            }
        }
        cur.push(chunks.iter().cloned(), len);
        Ok(())
    }

    /// Adds the NAL units of an aggregation packet (RFC 6184 §5.7.1 STAP-A, RFC 7798 §4.4.2
    /// AP): after the payload header, a 16-bit size and a NAL unit, repeated; each NAL unit is a
    /// slice of the packet. `empty` and `bad_size` are the codec's error texts.
    pub(super) fn aggregation(
        &mut self,
        p: &Bytes,
        empty: &'static str,
        bad_size: &'static str,
    ) -> Result<(), Fail> {
        let mut pos = S::HEADER_LEN;
        if pos == p.len() {
            return Err(self.fail(Fail::Invalid(empty)));
        }
        while pos < p.len() {
            let size = p
                .get(pos..pos + 2)
                .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
                .filter(|&n| n > 0 && pos + 2 + n <= p.len());
            let Some(size) = size else {
                return Err(self.fail(Fail::Invalid(bad_size)));
            };
            self.add_nal(p.slice(pos + 2..pos + 2 + size))?;
            pos += 2 + size;
        }
        Ok(())
    }

    /// Handles one fragmentation unit: `header` is the reconstructed NAL header, `fu_header`
    /// the FU header (S and E bits first in both codecs), `data` the fragment after the FU
    /// headers (RFC 6184 §5.8, RFC 7798 §4.4.3).
    pub(super) fn fragment(
        &mut self,
        header: &[u8],
        fu_header: u8,
        data: Bytes,
    ) -> Result<(), Fail> {
        let (start, end) = (fu_header & 0x80 != 0, fu_header & 0x40 != 0);
        if start && end {
            return Err(self.fail(Fail::Invalid(
                "fragmentation unit with both start and end bits",
            )));
        }
        let nal_type = header.first().map_or(0, |&b| S::nal_type(b));
        if start && !S::is_media_type(nal_type) {
            return Err(self.fail(Fail::Invalid("fragmented NAL unit of a packet type")));
        }
        if start {
            if self.frag.is_some() {
                return Err(self.fail(Fail::Invalid(
                    "fragment start before the previous one ended",
                )));
            }
            let len = header.len().min(S::HEADER_LEN);
            let mut pieces = std::mem::take(&mut self.spare_pieces);
            pieces.push(header_chunk(&header[..len]));
            self.frag = Some(Fragment {
                nal_type,
                pieces,
                len,
            });
        }
        let Some(frag) = self.frag.as_mut() else {
            // Joined mid-NAL (stream start): nothing to attach to.
            self.stats.packets_discarded += 1;
            return Ok(());
        };
        if frag.nal_type != nal_type {
            return Err(self.fail(Fail::Invalid(
                "NAL type changed inside a fragmented NAL unit",
            )));
        }
        let size = self.cur.as_ref().map_or(0, |c| c.size) + frag.len + data.len();
        if size > MAX_AU_SIZE {
            return Err(self.fail(Fail::TooLarge {
                size,
                max: MAX_AU_SIZE,
            }));
        }
        frag.len += data.len();
        if !data.is_empty() {
            frag.pieces.push(data);
        }
        if !end {
            return Ok(());
        }
        let Some(mut frag) = self.frag.take() else {
            return Ok(());
        };
        let result = self.add(&frag.pieces, frag.len);
        frag.pieces.clear();
        self.spare_pieces = frag.pieces; // kept for the next fragmented NAL unit
        result
    }

    /// Ends handling of a packet: the marker bit closes the access unit (RFC 6184 §5.1).
    fn end(&mut self, marker: bool) -> Result<(), Fail> {
        if !marker {
            return Ok(());
        }
        if self.frag.is_some() {
            return Err(self.fail(Fail::Invalid("marker bit set inside a fragmented NAL unit")));
        }
        self.finish();
        Ok(())
    }

    /// Drops the partial access unit after an error and skips the rest of it.
    pub(super) fn fail(&mut self, kind: Fail) -> Fail {
        self.skip_ts = self.cur.as_ref().map(|c| c.ts);
        self.drop_au();
        kind
    }

    fn drop_au(&mut self) {
        self.frag = None;
        if self.cur.take().is_some_and(|c| !c.chunks.is_empty()) {
            self.stats.access_units_dropped += 1;
        }
    }

    fn finish(&mut self) {
        let Some(cur) = self.cur.take() else { return };
        if cur.chunks.is_empty() {
            return;
        }
        let Some(cur) = self.merge_held(cur) else {
            return;
        };
        let pts = Timestamp::new(cur.ts, self.clock_rate);
        let au = AccessUnit {
            nal_ends: cur.ends,
            new_params: cur
                .params_changed
                .then(|| Arc::new(S::wrap(self.params.clone()))),
            ..AccessUnit::new(self.track, pts, cur.keyframe, cur.chunks)
        };
        self.ready.push(au, &mut self.stats);
    }

    /// Holds an access unit without a picture (VCL NAL unit) for the next one, or prepends what
    /// is held to a picture. Returns the access unit to emit, if any.
    fn merge_held(&mut self, cur: Building) -> Option<Building> {
        let has_picture = cur.first_bytes().any(|b| S::is_vcl(S::nal_type(b)));
        let Some(mut held) = self.held.take() else {
            if has_picture {
                return Some(cur);
            }
            self.held = Some(cur);
            return None;
        };
        if held.size + cur.size > MAX_AU_SIZE
            || held.nal_count() + cur.nal_count() > MAX_NALS_PER_AU
        {
            self.stats.access_units_dropped += 1;
            self.held = (!has_picture).then_some(cur.clone());
            return has_picture.then_some(cur);
        }
        held.append(cur);
        if has_picture {
            return Some(held);
        }
        self.held = Some(held);
        None
    }

    pub(super) fn check_invariants(&self) {
        self.ready.check_invariants();
        assert!(
            self.skip_ts.is_none() || self.cur.is_none(),
            "building while skipping"
        );
        if let Some(h) = &self.held {
            assert!(
                !h.chunks.is_empty() && h.nal_count() <= MAX_NALS_PER_AU && h.size <= MAX_AU_SIZE
            );
            h.check_invariants();
        }
        if let Some(cur) = &self.cur {
            assert!(cur.size <= MAX_AU_SIZE && cur.nal_count() <= MAX_NALS_PER_AU);
            cur.check_invariants();
        }
        if let Some(f) = &self.frag {
            assert!(self.cur.is_some(), "fragment without an access unit");
            assert!(f.len <= MAX_AU_SIZE);
            let pieces: usize = f.pieces.iter().map(Bytes::len).sum();
            assert_eq!(f.len, pieces, "fragment length");
        }
    }
}

/// How a codec builds fragmentation-unit headers.
pub(super) trait FuSyntax {
    /// NAL header length.
    const HEADER_LEN: usize;
    /// Length of the FU headers (payload header + FU header); the payload header is one byte
    /// shorter.
    const PREFIX_LEN: usize;
    /// Payload header of an aggregation packet holding `nals` (first `PREFIX_LEN - 1` bytes used).
    fn aggregation_header(nals: &[Bytes]) -> [u8; 2];
    /// FU headers for a fragment of a NAL with header `nal_header`; the first
    /// [`FuSyntax::PREFIX_LEN`] bytes are used.
    fn fu_prefix(nal_header: &[u8], start: bool, end: bool) -> [u8; 3];
}

/// Single-NAL / aggregation / fragmentation-unit packetizer shared by H.264 and H.265, for
/// the codec whose FU header layout is `F`.
#[derive(Clone, Debug)]
pub(super) struct NalPacketizer<F> {
    writer: PacketWriter,
    syntax: PhantomData<fn() -> F>,
}

impl<F: FuSyntax> NalPacketizer<F> {
    pub(super) fn new(cfg: PacketizerConfig, clock_rate: u32) -> Self {
        Self {
            writer: PacketWriter::new(cfg, clock_rate),
            syntax: PhantomData,
        }
    }

    pub(super) fn next_sequence_number(&self) -> u16 {
        self.writer.seq
    }

    pub(super) fn packetize(
        &mut self,
        au: &AccessUnit,
        out: &mut Vec<OutPacket>,
    ) -> Result<(), PacketizeError> {
        let nals: Vec<&[Bytes]> = au.nals().collect();
        if nals.iter().map(|n| n.len()).sum::<usize>() != au.data.len() {
            return Err(PacketizeError::Invalid(
                "NAL unit ends do not match the chunks",
            ));
        }
        if nals.iter().any(|n| chunks_len(n) < F::HEADER_LEN) {
            return Err(PacketizeError::Invalid("NAL unit shorter than its header"));
        }
        let ts = self.writer.rtp_ts(au.pts);
        let mtu = self.writer.cfg.mtu;
        let mut i = 0;
        while let Some(&nal) = nals.get(i) {
            let n = aggregate_count::<F>(&nals[i..], mtu);
            let last_nal = i + n.max(1) == nals.len();
            if n >= 2 {
                let group: Vec<Bytes> = nals[i..i + n]
                    .iter()
                    .flat_map(|c| c.iter().cloned())
                    .collect();
                self.aggregate(ts, &group, last_nal, out);
            } else if chunks_len(nal) <= mtu && nal.len() > MAX_PAYLOAD_SLICES {
                let joined = join_chunks(nal);
                out.push(self.writer.emit(ts, last_nal, &[], &[joined]));
            } else if chunks_len(nal) <= mtu {
                out.push(self.writer.emit(ts, last_nal, &[], nal));
            } else {
                self.fragment(ts, nal, last_nal, out);
            }
            i += n.max(1);
        }
        Ok(())
    }

    /// STAP-A / AP packet (RFC 6184 §5.7.1, RFC 7798 §4.4.2):
    /// `[RTP header + aggregation header + size, NAL, size, NAL, ...]`; NALs are not copied.
    fn aggregate(&mut self, ts: u32, nals: &[Bytes], marker: bool, out: &mut Vec<OutPacket>) {
        let mut prefix = [0u8; 4];
        let agg = F::aggregation_header(nals);
        let agg_len = F::PREFIX_LEN - 1; // the payload header: 1 byte (H.264) or 2 (H.265)
        prefix[..agg_len].copy_from_slice(&agg[..agg_len]);
        let mut payload = Vec::with_capacity(nals.len() * 2);
        for (k, nal) in nals.iter().enumerate() {
            let size = (nal.len() as u16).to_be_bytes();
            if k == 0 {
                prefix[agg_len..agg_len + 2].copy_from_slice(&size);
            } else {
                payload.push(self.writer.small(&size));
            }
            payload.push(nal.clone());
        }
        out.push(
            self.writer
                .emit(ts, marker, &prefix[..agg_len + 2], &payload),
        );
    }

    /// FU packets: `[RTP header + FU headers, slices of the NAL's chunks]` — the NAL is not
    /// copied, whether it is one chunk or several.
    fn fragment(&mut self, ts: u32, nal: &[Bytes], last_nal: bool, out: &mut Vec<OutPacket>) {
        let (header, _) = leading_bytes::<2>(nal);
        let header = &header[..F::HEADER_LEN];
        let total = chunks_len(nal);
        let step = self.writer.cfg.mtu - F::PREFIX_LEN;
        let mut cursor = ChunkCursor::new(nal);
        cursor.skip(F::HEADER_LEN);
        let mut pos = F::HEADER_LEN;
        let mut piece = Vec::with_capacity(2);
        while pos < total {
            let end = pos + cursor.next_packet_len(step).clamp(1, total - pos);
            let (first, last) = (pos == F::HEADER_LEN, end == total);
            let prefix = F::fu_prefix(header, first, last);
            piece.clear();
            cursor.take(end - pos, &mut piece);
            bound_slices(&mut piece);
            out.push(
                self.writer
                    .emit(ts, last && last_nal, &prefix[..F::PREFIX_LEN], &piece),
            );
            pos = end;
        }
    }
}

/// Most payload slices one packet carries: a NAL unit reassembled from many tiny fragments
/// would otherwise give packets of more slices than a vectored send takes (UDP sends at most 8
/// with the header); such a payload is joined into one slice (a copy of at most one MTU).
const MAX_PAYLOAD_SLICES: usize = 4;

/// Joins `payload` into one slice if it has more than [`MAX_PAYLOAD_SLICES`].
fn bound_slices(payload: &mut Vec<Bytes>) {
    if payload.len() > MAX_PAYLOAD_SLICES {
        let joined = payload.concat();
        payload.clear();
        payload.push(joined.into());
    }
}

/// Total length of a NAL unit's chunks.
fn chunks_len(chunks: &[Bytes]) -> usize {
    chunks.iter().map(Bytes::len).sum()
}

/// A read position in a NAL unit given as chunks, handing out slices of them.
struct ChunkCursor<'a> {
    chunks: &'a [Bytes],
    index: usize,
    offset: usize,
}

impl<'a> ChunkCursor<'a> {
    fn new(chunks: &'a [Bytes]) -> Self {
        Self {
            chunks,
            index: 0,
            offset: 0,
        }
    }

    /// How many bytes the next packet of at most `max` takes: whole chunks from here while
    /// they fit, so that a reassembled NAL unit goes out as the fragments it came in (one slice
    /// per packet, not two), or `max` bytes of a chunk longer than that.
    fn next_packet_len(&self, max: usize) -> usize {
        let mut len = 0;
        let mut offset = self.offset;
        for chunk in self.chunks.iter().skip(self.index) {
            let rest = chunk.len() - offset;
            offset = 0;
            if len + rest > max {
                return if len == 0 { max } else { len };
            }
            len += rest;
        }
        len
    }

    /// Moves past `n` bytes.
    fn skip(&mut self, n: usize) {
        self.walk(n, |_| {});
    }

    /// Appends the next `n` bytes to `out` as slices (one per chunk they touch).
    fn take(&mut self, n: usize, out: &mut Vec<Bytes>) {
        self.walk(n, |slice| out.push(slice));
    }

    fn walk(&mut self, mut n: usize, mut each: impl FnMut(Bytes)) {
        while n > 0 {
            let Some(chunk) = self.chunks.get(self.index) else {
                return;
            };
            let take = (chunk.len() - self.offset).min(n);
            if take > 0 {
                each(chunk.slice(self.offset..self.offset + take));
            }
            self.offset += take;
            n -= take;
            if self.offset == chunk.len() {
                self.index += 1;
                self.offset = 0;
            }
        }
    }
}

/// How many of `nals` (from the first) fit one aggregation packet within `mtu`; 0 or 1 means
/// "do not aggregate".
/// A NAL unit in chunks (reassembled from fragments) is never aggregated: it is large.
fn aggregate_count<F: FuSyntax>(nals: &[&[Bytes]], mtu: usize) -> usize {
    let mut len = F::PREFIX_LEN - 1;
    let mut n = 0;
    for nal in nals {
        let [one] = nal else { break };
        len += 2 + one.len();
        if len > mtu || one.len() > usize::from(u16::MAX) {
            break;
        }
        n += 1;
    }
    n
}
