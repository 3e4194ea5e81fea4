//! Opus over RTP (RFC 7587): one Opus packet per RTP packet (§4.2), timestamps in a 48 kHz clock
//! whatever the coded rate (§4.1).

use vigia_media::model::AccessUnit;
use vigia_media::time::Timestamp;

use super::unit_per_packet::UnitPerPacket;
use super::{
    Case, OutPacket, PacketWriter, PacketizeError, Packetizer, PacketizerConfig, fixture,
    forward_depacketizer, rtp,
};

/// Duration of an Opus packet in 48 kHz samples, from its TOC byte and frame count
/// (RFC 6716 §3.1); `None` if the packet is empty or malformed.
pub fn opus_packet_duration_48k(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 48 kHz samples: SILK 10/20/40/60 ms, Hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3F),
    };
    let total = frame * frames;
    (frames > 0 && total <= 5760).then_some(total) // at most 120 ms (RFC 6716 §3.2.5)
}

/// Depacketizer for Opus: one access unit per packet, its payload as the only chunk.
#[derive(Clone, Debug)]
pub struct OpusDepacketizer {
    units: UnitPerPacket,
}

impl OpusDepacketizer {
    /// A depacketizer for track `track` with RTP clock `clock_rate` (48 kHz per RFC 7587).
    pub fn new(track: usize, clock_rate: u32) -> Self {
        Self {
            units: UnitPerPacket::new(track, clock_rate, 1, "empty Opus packet"),
        }
    }
}

forward_depacketizer!(OpusDepacketizer, units);

/// Packetizer for Opus: one RTP packet per chunk (Opus packet), timestamps advanced by each
/// packet's TOC duration.
#[derive(Clone, Debug)]
pub struct OpusPacketizer {
    writer: PacketWriter,
}

impl OpusPacketizer {
    /// A packetizer stamping packets per `cfg`, with RTP clock `clock_rate` (48 kHz).
    pub fn new(cfg: PacketizerConfig, clock_rate: u32) -> Self {
        Self {
            writer: PacketWriter::new(cfg, clock_rate),
        }
    }
}

impl Packetizer for OpusPacketizer {
    fn packetize(
        &mut self,
        au: &AccessUnit,
        out: &mut Vec<OutPacket>,
    ) -> Result<(), PacketizeError> {
        let base = au.pts.rescale(self.writer.clock_rate);
        let mut offset = 0i64;
        for chunk in &au.data {
            let dur = opus_packet_duration_48k(chunk)
                .ok_or(PacketizeError::Invalid("malformed Opus packet"))?;
            let ts = self
                .writer
                .rtp_ts(Timestamp::new(base.ticks + offset, base.clock_rate));
            out.push(
                self.writer
                    .emit(ts, false, &[], std::slice::from_ref(chunk)),
            );
            offset += i64::from(dur) * i64::from(self.writer.clock_rate) / 48_000;
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
            name: "one_frame",
            packets: vec![rtp(1, 960, true, &[0x78, 1, 2])],
            want: vec![(960, true, vec![3])],
            errors: 0,
        },
        Case {
            name: "empty",
            packets: vec![rtp(1, 0, true, &[])],
            want: vec![],
            errors: 1,
        },
        Case {
            name: "ffmpeg_libopus_capture",
            packets: fixture(include_bytes!("testdata/opus.bin")),
            want: vec![
                (2_521_012_221, true, vec![89]),
                (2_521_013_181, true, vec![62]),
                (2_521_014_141, true, vec![62]),
                (2_521_015_101, true, vec![64]),
                (2_521_016_061, true, vec![66]),
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
        run_cases(&cases(), || Box::new(OpusDepacketizer::new(0, 48_000)));
    }

    #[test]
    fn toc_durations() {
        assert_eq!(opus_packet_duration_48k(&[0x78]), Some(960)); // CELT FB 20 ms, 1 frame
        assert_eq!(opus_packet_duration_48k(&[0x79]), Some(1920)); // two frames
        assert_eq!(opus_packet_duration_48k(&[0x1B, 0x02]), Some(5760)); // SILK 60 ms x2
        assert_eq!(opus_packet_duration_48k(&[0x1B, 0x03]), None); // 180 ms: too long
        assert_eq!(opus_packet_duration_48k(&[]), None);
    }

    #[test]
    fn round_trip_two_packets() {
        let track = FuzzCodec::Opus.track(); // stereo, 48 kHz
        let data = vec![
            Bytes::from_static(&[0x78, 1]),
            Bytes::from_static(&[0x78, 2]),
        ];
        let au = AccessUnit::new(0, Timestamp::new(48_000, 48_000), true, data);
        let out = round_trip(&track, &au, 1450);
        assert_eq!(
            out.iter().map(|p| p.timestamp).collect::<Vec<_>>(),
            [48_000, 48_960]
        );
    }
}
