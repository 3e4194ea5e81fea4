//! RTP payloads packetized once per access unit and shared by every WHEP session that sends
//! it: sessions run str0m in RTP mode and only write their own header (sequence number, SSRC,
//! payload type) and encrypt. The payloads are `Arc<[u8]>`, so the NACK history str0m keeps
//! per session holds references to the same bytes, not copies.
//!
//! The driver keeps the payloads of the last [`CACHED_UNITS`] units, keyed by the address of
//! the hub's `Arc<AccessUnit>` — every session's feeder hands the driver the same `Arc`, so
//! the first session to send a unit packetizes it and the others find it.

use std::collections::VecDeque;
use std::sync::Arc;

use vigia_media::{AccessUnit, Track};
use vigia_protocol::payload::{OutPacket, PacketizerConfig, packetizer_for};

use super::media::Feed;
use super::media::with_parameter_sets;

/// Largest RTP payload sent over WebRTC: 1200-byte datagrams (what browsers assume safe)
/// less the RTP header, its extensions and the SRTP tag.
const WEBRTC_PAYLOAD_MTU: usize = 1100;
/// Units whose payloads are kept: enough for sessions whose feeders are a few units apart.
const CACHED_UNITS: usize = 64;

/// One RTP packet's part shared between sessions.
pub(super) struct Payload {
    /// RTP timestamp (the unit's time in the track's clock, wrapped to 32 bits).
    pub(super) time: u32,
    /// Marker bit (last packet of a picture).
    pub(super) marker: bool,
    /// The payload, without header.
    pub(super) bytes: Arc<[u8]>,
}

/// Recently packetized units.
#[derive(Default)]
pub(super) struct PacketCache {
    recent: VecDeque<(Arc<AccessUnit>, Arc<[Payload]>)>,
}

impl PacketCache {
    /// The payloads of `unit` (a track of `feed`), packetized now if no session sent it yet.
    pub(super) fn payloads(&mut self, unit: &Arc<AccessUnit>, feed: &Feed) -> Arc<[Payload]> {
        if let Some((_, payloads)) = self.recent.iter().find(|(u, _)| Arc::ptr_eq(u, unit)) {
            return payloads.clone();
        }
        let payloads: Arc<[Payload]> = packetize(unit, feed).into();
        if self.recent.len() >= CACHED_UNITS {
            self.recent.pop_front();
        }
        self.recent.push_back((unit.clone(), payloads.clone()));
        payloads
    }
}

/// `unit`'s RTP payloads: video with the track's SPS/PPS before a keyframe that lacks them.
fn packetize(unit: &AccessUnit, feed: &Feed) -> Vec<Payload> {
    let Some(track) = feed.stream.tracks().get(unit.track) else {
        return Vec::new();
    };
    let mut out: Vec<OutPacket> = Vec::new();
    let result = match &feed.video {
        Some((index, params)) if *index == unit.track => {
            packetizer(track).packetize(&with_parameter_sets(unit, params), &mut out)
        }
        _ => packetizer(track).packetize(unit, &mut out),
    };
    if let Err(e) = result {
        tracing::debug!(
            "[WebRTC] can't packetize a unit of track {}: {e}",
            unit.track
        );
    }
    out.into_iter().map(payload).collect()
}

fn packetizer(track: &Track) -> Box<dyn vigia_protocol::payload::Packetizer> {
    let config = PacketizerConfig {
        payload_type: 0,
        ssrc: 0,
        initial_seq: 0,
        timestamp_offset: 0,
        mtu: WEBRTC_PAYLOAD_MTU,
    };
    packetizer_for(track, config)
}

/// Length of the fixed RTP header the packetizers write (RFC 3550 §5.1, no CSRC, no extension).
const RTP_HEADER_LEN: usize = 12;

/// The shared part of a packet: its payload (the first chunk's payload-format header after the
/// RTP header, then the other chunks) joined once.
fn payload(packet: OutPacket) -> Payload {
    let prefix = packet
        .chunks
        .first()
        .and_then(|c| c.get(RTP_HEADER_LEN..))
        .unwrap_or_default();
    let body = packet.chunks.get(1..).unwrap_or_default();
    let mut bytes = Vec::with_capacity(prefix.len() + body.iter().map(|c| c.len()).sum::<usize>());
    bytes.extend_from_slice(prefix);
    for chunk in body {
        bytes.extend_from_slice(chunk);
    }
    Payload {
        time: packet.timestamp,
        marker: packet.marker,
        bytes: bytes.into(),
    }
}
