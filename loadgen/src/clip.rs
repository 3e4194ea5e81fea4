//! The clip every camera plays: a built-in H.264 clip (360p by default) or a file, packetized once into RTP payload
//! templates (RFC 6184 single NAL unit and FU-A payloads, `Bytes` shared by all cameras).
//!
//! Per frame a camera only writes 12-byte RTP headers (its SSRC, sequence numbers and
//! timestamp) in front of the shared payloads, after one extra single-NAL packet: an SEI
//! carrying the wall-clock send time ([`vigia_media::codec::sei`]), placed before the frame's
//! first slice so every reader can measure latency on every frame.

use std::sync::Arc;

use bytes::{BufMut, Bytes};
use vigia_media::codec::h264::NalType;
use vigia_media::codec::sei;
use vigia_media::synthetic::{self, Clip, Player};
use vigia_media::{AccessUnit, Track};
use vigia_protocol::payload::{DEFAULT_MTU_PAYLOAD, H264Packetizer, Packetizer, PacketizerConfig};
use vigia_protocol::rtp::{FIXED_HEADER_LEN, RtpHeader};

use crate::Error;
use crate::error::Context;

/// RTP payload type the cameras announce for H.264.
pub const PAYLOAD_TYPE: u8 = 96;

/// One frame's RTP payloads.
#[derive(Clone, Debug)]
pub struct FrameTemplate {
    /// RTP payloads in order (no RTP header); the last one carries the marker bit.
    pub payloads: Vec<Bytes>,
    /// Whether the frame is an IDR.
    pub keyframe: bool,
}

/// A clip ready to send: video track only, one template per frame of one loop.
#[derive(Clone, Debug)]
pub struct PacketizedClip {
    /// The video track (for the SDP).
    pub track: Track,
    /// Templates of one loop.
    pub frames: Arc<[FrameTemplate]>,
    /// Frame duration in 90 kHz ticks.
    pub frame_ticks: u32,
}

impl PacketizedClip {
    /// The built-in 360p clip (25 fps), packetized.
    pub fn builtin() -> Self {
        Self::from_clip(synthetic::builtin_360p())
    }

    /// The clip `--clip` names: `360p` or `1080p` (built in), else the path of an Annex B
    /// H.264 file (SPS and PPS before every IDR, as `media/assets/README.md` makes them).
    pub fn load(spec: &str) -> Result<Self, Error> {
        let clip = match spec {
            "360p" => synthetic::builtin_360p(),
            "1080p" => synthetic::builtin_1080p(),
            path => {
                let ctx = || format!("clip {path}");
                let bytes = std::fs::read(path).context(ctx)?;
                Clip::parse(Bytes::from(bytes), None)
                    .map_err(|e| Error::protocol(ctx(), format!("{e}")))?
            }
        };
        Ok(Self::from_clip(clip))
    }

    /// `clip`'s video track, packetized.
    pub fn from_clip(clip: Clip) -> Self {
        let track = clip.tracks()[0].clone();
        let frame_ticks = u32::try_from(clip.video_frame_ticks()).unwrap_or(3600);
        let mut player = Player::new(clip.clone());
        let mut packetizer = H264Packetizer::new(template_config(), synthetic::VIDEO_CLOCK);
        let mut frames = Vec::with_capacity(clip.video_frames());
        while frames.len() < clip.video_frames() {
            let au = player.next_unit(0);
            if au.track == 0 {
                frames.push(template(&mut packetizer, without_sei(au)));
            }
        }
        Self {
            track,
            frames: frames.into(),
            frame_ticks,
        }
    }

    /// Frame duration.
    pub fn frame_duration(&self) -> std::time::Duration {
        std::time::Duration::from_micros(u64::from(self.frame_ticks) * 1_000_000 / 90_000)
    }

    /// The template of frame `n` (counting across loops).
    pub fn frame(&self, n: u64) -> &FrameTemplate {
        let len = self.frames.len().max(1) as u64;
        &self.frames[usize::try_from(n % len).unwrap_or(0)]
    }
}

/// Sequence numbers and SSRC of one camera's RTP stream.
#[derive(Clone, Copy, Debug)]
pub struct RtpState {
    /// SSRC.
    pub ssrc: u32,
    /// Next sequence number.
    pub seq: u16,
}

impl RtpState {
    /// Calls `emit` with each packet (header and payload, which must be sent back to back) of
    /// frame `n`, preceded by an SEI stamping `wallclock_us`.
    pub fn frame_packets(
        &mut self,
        clip: &PacketizedClip,
        n: u64,
        wallclock_us: i64,
        mut emit: impl FnMut(&[u8; FIXED_HEADER_LEN], &[u8]),
    ) {
        let timestamp = (n as u32).wrapping_mul(clip.frame_ticks);
        let stamp = sei::wallclock_sei_h264(wallclock_us);
        let frame = clip.frame(n);
        let count = frame.payloads.len();
        let payloads = std::iter::once(&stamp).chain(&frame.payloads);
        for (i, payload) in payloads.enumerate() {
            let header = RtpHeader {
                marker: i == count,
                payload_type: PAYLOAD_TYPE,
                sequence_number: self.seq,
                timestamp,
                ssrc: self.ssrc,
            };
            self.seq = self.seq.wrapping_add(1);
            emit(&header.fixed_bytes(), payload);
        }
    }

    /// Appends frame `n` as RTSP interleaved frames on `channel` (RFC 2326 §10.12) to `out`.
    pub fn write_interleaved(
        &mut self,
        clip: &PacketizedClip,
        n: u64,
        wallclock_us: i64,
        channel: u8,
        out: &mut Vec<u8>,
    ) {
        self.frame_packets(clip, n, wallclock_us, |header, payload| {
            let len = (header.len() + payload.len()).min(usize::from(u16::MAX)) as u16;
            out.put_u8(b'$');
            out.put_u8(channel);
            out.put_u16(len);
            out.put_slice(header);
            out.put_slice(payload);
        });
    }
}

fn template_config() -> PacketizerConfig {
    PacketizerConfig {
        payload_type: PAYLOAD_TYPE,
        ssrc: 0,
        initial_seq: 0,
        timestamp_offset: 0,
        mtu: DEFAULT_MTU_PAYLOAD,
    }
}

/// The unit without SEI NAL units (the synthetic player stamps keyframes; we stamp every frame).
fn without_sei(mut au: AccessUnit) -> AccessUnit {
    au.data.retain(|n| NalType::of(n) != Some(NalType::SEI));
    au
}

fn template(packetizer: &mut H264Packetizer, au: AccessUnit) -> FrameTemplate {
    let mut packets = Vec::new();
    // The built-in clip's NAL units all fit the packetizer's limits.
    let _ = packetizer.packetize(&au, &mut packets);
    let payloads = packets
        .iter()
        .map(|p| p.to_bytes().slice(FIXED_HEADER_LEN..))
        .collect();
    FrameTemplate {
        payloads,
        keyframe: au.keyframe,
    }
}

#[cfg(test)]
mod tests {
    use vigia_protocol::payload::{Depacketizer, H264Depacketizer};
    use vigia_protocol::rtp::RtpPacket;

    use super::*;

    #[test]
    fn clips_by_name_and_a_bad_file() {
        let big = PacketizedClip::load("1080p").unwrap();
        assert!(big.frames[0].payloads.len() > PacketizedClip::builtin().frames[0].payloads.len());
        let err = PacketizedClip::load("/nonexistent/clip.h264").unwrap_err();
        assert!(
            err.to_string().contains("clip /nonexistent/clip.h264"),
            "{err}"
        );
    }

    #[test]
    fn a_frame_depacketizes_with_its_stamp() {
        let clip = PacketizedClip::builtin();
        assert_eq!(clip.frame_ticks, 3600);
        assert!(clip.frames[0].keyframe);
        let mut state = RtpState {
            ssrc: 7,
            seq: 65_534,
        };
        let params = match &clip.track.codec {
            vigia_media::CodecParams::H264(p) => p.clone(),
            _ => unreachable!("the clip is H.264"),
        };
        let mut depack = H264Depacketizer::new(0, 90_000, params);
        for n in 0..3 {
            state.frame_packets(&clip, n, 1_000 + n as i64, |h, p| {
                let raw = Bytes::from([h.as_slice(), p].concat());
                depack.push(&RtpPacket::parse(raw).unwrap()).unwrap();
            });
        }
        let stamps: Vec<_> = std::iter::from_fn(|| depack.pull())
            .map(|au| sei::unit_wallclock(&au))
            .collect();
        assert_eq!(&stamps[..2], &[Some(1_000), Some(1_001)]);
        assert_eq!(
            state.seq,
            65_534u16.wrapping_add(depack.stats().packets as u16)
        );
    }
}
