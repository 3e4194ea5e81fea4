//! NAL-unit access-unit assembly and fragmentation shared by H.264 (RFC 6184) and H.265
//! (RFC 7798). The codec modules parse their packet types and call into [`NalAssembler`];
//! [`NalPacketizer`] does single-NAL / fragmentation-unit packetization given the codec's FU
//! header layout.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use vigia_media::model::{AccessUnit, CodecParams, VideoParams};
use vigia_media::time::Timestamp;

use super::{
    DepacketizeError, DepacketizeErrorKind, DepacketizeStats, MAX_AU_SIZE, OutPacket, PacketWriter,
    PacketizeError, PacketizerConfig, ReadyQueue, RtpTimeline, SeqEvent, copy_exact,
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

/// The access unit being built.
#[derive(Clone, Debug)]
struct Building {
    ts: i64,
    nals: Vec<Bytes>,
    /// Bit `i`: NAL unit `i` (of the first 64) is already a copy of its own (a reassembled
    /// fragmentation unit); the others are slices of received packets, copied when the unit is
    /// finished (a bitmask, not a list, so a unit costs no allocation for it; past 64 NAL units
    /// a reassembled one is copied a second time, which is only slower).
    copied: u64,
    size: usize,
    keyframe: bool,
    params_changed: bool,
}

/// A fragmented NAL unit being reassembled: the fragments stay slices of their packets until
/// the last one arrives, then are copied once into a buffer of exactly the NAL unit's size.
#[derive(Clone, Debug)]
struct Fragment {
    nal_type: u8,
    /// The reconstructed NAL header (its first `S::HEADER_LEN` bytes).
    header: [u8; 2],
    pieces: Vec<Bytes>,
    /// NAL unit length so far, header included.
    len: usize,
}

impl Fragment {
    /// The NAL unit in one buffer of exactly its length.
    fn assemble(&self, header_len: usize) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.len);
        buf.extend_from_slice(self.header.get(..header_len).unwrap_or_default());
        self.pieces.iter().for_each(|p| buf.extend_from_slice(p));
        buf.freeze()
    }
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
            self.cur = Some(Building {
                ts,
                nals: Vec::new(),
                copied: 0,
                size: 0,
                keyframe: false,
                params_changed: false,
            });
        }
    }

    /// Adds a complete NAL unit (a slice of the packet) to the current access unit.
    pub(super) fn add_nal(&mut self, nal: Bytes) -> Result<(), Fail> {
        self.add(nal, false)
    }

    /// Adds a complete NAL unit; `copied` tells it is a buffer of its own, not a packet slice.
    fn add(&mut self, nal: Bytes, copied: bool) -> Result<(), Fail> {
        if nal.len() < S::HEADER_LEN {
            return Err(self.fail(Fail::Invalid("NAL unit shorter than its header")));
        }
        let nal_type = nal.first().map_or(0, |&b| S::nal_type(b));
        if !S::is_media_type(nal_type) {
            return Err(self.fail(Fail::Invalid("NAL unit type not allowed inside a packet")));
        }
        let Some(cur) = self.cur.as_mut() else {
            return Err(Fail::Invalid("NAL unit outside an access unit"));
        };
        let size = cur.size + nal.len();
        if size > MAX_AU_SIZE || cur.nals.len() >= MAX_NALS_PER_AU {
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
        if copied && cur.nals.len() < 64 {
            cur.copied |= 1 << cur.nals.len();
        }
        cur.size = size;
        cur.nals.push(nal);
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
            let mut kept = [0; 2];
            let len = header.len().min(2);
            kept[..len].copy_from_slice(&header[..len]);
            self.frag = Some(Fragment {
                nal_type,
                header: kept,
                pieces: std::mem::take(&mut self.spare_pieces),
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
        self.stats.bytes_copied += data.len() as u64;
        if !data.is_empty() {
            frag.pieces.push(data);
        }
        if !end {
            return Ok(());
        }
        let Some(mut frag) = self.frag.take() else {
            return Ok(());
        };
        let nal = frag.assemble(S::HEADER_LEN);
        frag.pieces.clear();
        self.spare_pieces = frag.pieces; // kept for the next fragmented NAL unit
        self.add(nal, true)
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
        if self.cur.take().is_some_and(|c| !c.nals.is_empty()) {
            self.stats.access_units_dropped += 1;
        }
    }

    fn finish(&mut self) {
        let Some(cur) = self.cur.take() else { return };
        if cur.nals.is_empty() {
            return;
        }
        let Some(mut cur) = self.merge_held(cur) else {
            return;
        };
        let copied = cur.copied;
        let is_copied = |i: usize| i < 64 && (copied >> i) & 1 == 1;
        self.stats.bytes_copied += copy_exact(&mut cur.nals, |i| !is_copied(i)) as u64;
        let pts = Timestamp::new(cur.ts, self.clock_rate);
        let au = AccessUnit {
            new_params: cur
                .params_changed
                .then(|| Arc::new(S::wrap(self.params.clone()))),
            ..AccessUnit::new(self.track, pts, cur.keyframe, cur.nals)
        };
        self.ready.push(au, &mut self.stats);
    }

    /// Holds an access unit without a picture (VCL NAL unit) for the next one, or prepends what
    /// is held to a picture. Returns the access unit to emit, if any.
    fn merge_held(&mut self, cur: Building) -> Option<Building> {
        let has_picture = cur
            .nals
            .iter()
            .any(|n| n.first().is_some_and(|&b| S::is_vcl(S::nal_type(b))));
        let Some(mut held) = self.held.take() else {
            if has_picture {
                return Some(cur);
            }
            self.held = Some(cur);
            return None;
        };
        if held.size + cur.size > MAX_AU_SIZE || held.nals.len() + cur.nals.len() > MAX_NALS_PER_AU
        {
            self.stats.access_units_dropped += 1;
            self.held = (!has_picture).then_some(cur.clone());
            return has_picture.then_some(cur);
        }
        let shift = u32::try_from(held.nals.len()).unwrap_or(u32::MAX);
        held.copied |= cur.copied.checked_shl(shift).unwrap_or(0);
        held.nals.extend(cur.nals);
        let merged = Building {
            ts: cur.ts,
            nals: held.nals,
            copied: held.copied,
            size: held.size + cur.size,
            keyframe: held.keyframe || cur.keyframe,
            params_changed: held.params_changed || cur.params_changed,
        };
        if has_picture {
            return Some(merged);
        }
        self.held = Some(merged);
        None
    }

    pub(super) fn check_invariants(&self) {
        self.ready.check_invariants();
        assert!(
            self.skip_ts.is_none() || self.cur.is_none(),
            "building while skipping"
        );
        if let Some(h) = &self.held {
            assert!(!h.nals.is_empty() && h.nals.len() <= MAX_NALS_PER_AU && h.size <= MAX_AU_SIZE);
            assert_eq!(h.size, h.nals.iter().map(Bytes::len).sum::<usize>());
            assert!(h.nals.len() >= 64 || h.copied >> h.nals.len() == 0);
        }
        if let Some(cur) = &self.cur {
            assert_eq!(cur.size, cur.nals.iter().map(Bytes::len).sum::<usize>());
            assert!(cur.nals.len() >= 64 || cur.copied >> cur.nals.len() == 0);
            assert!(cur.size <= MAX_AU_SIZE && cur.nals.len() <= MAX_NALS_PER_AU);
        }
        if let Some(f) = &self.frag {
            assert!(self.cur.is_some(), "fragment without an access unit");
            assert!(f.len <= MAX_AU_SIZE);
            let pieces: usize = f.pieces.iter().map(Bytes::len).sum();
            assert_eq!(f.len, S::HEADER_LEN.min(2) + pieces, "fragment length");
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
        if au.data.iter().any(|n| n.len() < F::HEADER_LEN) {
            return Err(PacketizeError::Invalid("NAL unit shorter than its header"));
        }
        let ts = self.writer.rtp_ts(au.pts);
        let mtu = self.writer.cfg.mtu;
        let mut i = 0;
        while let Some(nal) = au.data.get(i) {
            let n = aggregate_count::<F>(&au.data[i..], mtu);
            let last_nal = i + n.max(1) == au.data.len();
            if n >= 2 {
                self.aggregate(ts, &au.data[i..i + n], last_nal, out);
            } else if nal.len() <= mtu {
                out.push(
                    self.writer
                        .emit(ts, last_nal, &[], std::slice::from_ref(nal)),
                );
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

    /// FU packets: `[RTP header + FU headers, slice of the NAL]` — the NAL is not copied.
    fn fragment(&mut self, ts: u32, nal: &Bytes, last_nal: bool, out: &mut Vec<OutPacket>) {
        let header = &nal[..F::HEADER_LEN];
        let step = self.writer.cfg.mtu - F::PREFIX_LEN;
        let mut pos = F::HEADER_LEN;
        while pos < nal.len() {
            let end = (pos + step).min(nal.len());
            let (first, last) = (pos == F::HEADER_LEN, end == nal.len());
            let prefix = F::fu_prefix(header, first, last);
            let prefix = &prefix[..F::PREFIX_LEN];
            out.push(
                self.writer
                    .emit(ts, last && last_nal, prefix, &[nal.slice(pos..end)]),
            );
            pos = end;
        }
    }
}

/// How many of `nals` (from the first) fit one aggregation packet within `mtu`; 0 or 1 means
/// "do not aggregate".
fn aggregate_count<F: FuSyntax>(nals: &[Bytes], mtu: usize) -> usize {
    let mut len = F::PREFIX_LEN - 1;
    let mut n = 0;
    for nal in nals {
        len += 2 + nal.len();
        if len > mtu || nal.len() > usize::from(u16::MAX) {
            break;
        }
        n += 1;
    }
    n
}
