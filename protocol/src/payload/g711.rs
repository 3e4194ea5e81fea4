//! G.711 PCMA/PCMU over RTP (RFC 3551 §4.5.14): the payload is raw 8-bit samples, interleaved
//! by channel, and the timestamp counts sample periods.

use vigia_media::model::AccessUnit;
use vigia_media::time::Timestamp;

use super::unit_per_packet::UnitPerPacket;
use super::{
    Case, OutPacket, PacketWriter, PacketizeError, Packetizer, PacketizerConfig, fixture,
    forward_depacketizer, rtp,
};

/// Depacketizer for G.711: one access unit per packet, its payload as the only chunk.
#[derive(Clone, Debug)]
pub struct G711Depacketizer {
    units: UnitPerPacket,
}

impl G711Depacketizer {
    /// A depacketizer for track `track` at `clock_rate` Hz with `channels` interleaved channels.
    pub fn new(track: usize, clock_rate: u32, channels: u16) -> Self {
        let sample_bytes = usize::from(channels.max(1));
        let invalid = "payload empty or not whole samples";
        Self {
            units: UnitPerPacket::new(track, clock_rate, sample_bytes, invalid),
        }
    }
}

forward_depacketizer!(G711Depacketizer, units);

/// Packetizer for G.711: each chunk split at the MTU on sample boundaries, the timestamp
/// advancing by the samples already sent.
#[derive(Clone, Debug)]
pub struct G711Packetizer {
    writer: PacketWriter,
    channels: usize,
}

impl G711Packetizer {
    /// A packetizer stamping packets per `cfg`, at `clock_rate` Hz with `channels` channels.
    pub fn new(cfg: PacketizerConfig, clock_rate: u32, channels: u16) -> Self {
        Self {
            writer: PacketWriter::new(cfg, clock_rate),
            channels: usize::from(channels.max(1)),
        }
    }
}

impl Packetizer for G711Packetizer {
    fn packetize(
        &mut self,
        au: &AccessUnit,
        out: &mut Vec<OutPacket>,
    ) -> Result<(), PacketizeError> {
        let ch = self.channels;
        if au.data.iter().any(|c| !c.len().is_multiple_of(ch)) {
            return Err(PacketizeError::Invalid("G.711 chunk is not whole samples"));
        }
        let base = au.pts.rescale(self.writer.clock_rate);
        let step = self.writer.cfg.mtu / ch * ch;
        let mut sent = 0usize;
        for chunk in &au.data {
            let mut pos = 0;
            while pos < chunk.len() {
                let end = (pos + step).min(chunk.len());
                let at = Timestamp::new(base.ticks + ((sent + pos) / ch) as i64, base.clock_rate);
                let ts = self.writer.rtp_ts(at);
                out.push(self.writer.emit(ts, false, &[], &[chunk.slice(pos..end)]));
                pos = end;
            }
            sent += chunk.len();
        }
        Ok(())
    }

    fn next_sequence_number(&self) -> u16 {
        self.writer.seq
    }
}

/// Case table: decode tests and fuzz seeds.
pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "two_packets_with_gap",
            packets: vec![
                rtp(1, 0, true, &[0xD5; 160]),
                rtp(3, 320, false, &[0x55; 160]),
            ],
            want: vec![(0, true, vec![160]), (320, true, vec![160])],
            errors: 0,
        },
        Case {
            name: "late_duplicate_ignored",
            packets: vec![rtp(5, 0, false, &[1; 8]), rtp(5, 0, false, &[1; 8])],
            want: vec![(0, true, vec![8])],
            errors: 0,
        },
        Case {
            name: "empty",
            packets: vec![rtp(1, 0, false, &[])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "ffmpeg_pcma_capture",
            packets: fixture(include_bytes!("testdata/pcma.bin")),
            want: vec![
                (499_906_398, true, vec![1024]),
                (499_907_422, true, vec![576]),
            ],
            errors: 0,
        },
    ]
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::payload::{FuzzCodec, round_trip, run_cases};

    #[test]
    fn case_table() {
        run_cases(&cases(), || Box::new(G711Depacketizer::new(0, 8_000, 1)));
    }

    #[test]
    fn round_trip_splits_at_mtu() {
        let track = FuzzCodec::G711.track(); // PCMA, 8 kHz, mono
        let data = vec![Bytes::from(vec![0xD5u8; 300])];
        let au = AccessUnit::new(0, Timestamp::new(8000, 8000), true, data);
        let cfg = PacketizerConfig {
            payload_type: 8,
            ssrc: 1,
            initial_seq: 0,
            timestamp_offset: 0,
            mtu: 128,
        };
        let mut p = G711Packetizer::new(cfg, 8000, 1);
        let mut out = Vec::new();
        p.packetize(&au, &mut out).unwrap();
        assert_eq!(
            out.iter().map(|p| p.timestamp).collect::<Vec<_>>(),
            [8000, 8128, 8256]
        );
        let au = AccessUnit {
            data: vec![Bytes::from(vec![0xD5u8; 100])],
            ..au
        };
        round_trip(&track, &au, 1450);
    }
}
