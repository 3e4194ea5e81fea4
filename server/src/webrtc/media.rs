//! What a WHEP session sends: the path's H.264 track and its Opus or G.711 track, read from the
//! stream's unit hub by a cursor that starts at the hub's latest keyframe (a picture at once,
//! no PLI round trip). AAC, what most cameras send, has no WebRTC payload format: such a path
//! is answered with video only, and the log says why.
//!
//! Units are packetized once for all sessions ([`super::rtp`]); sessions run str0m in RTP mode.

use std::sync::Arc;

use bytes::Bytes;
use str0m::RtcConfig;
use tokio::sync::mpsc;
use vigia_media::hub::Next;
use vigia_media::model::VideoParams;
use vigia_media::{AccessUnit, CodecParams};

use super::driver::UnitFor;
use crate::stream::PathStream;

/// Video packets each session keeps for NACK retransmission (str0m's send buffer: ~1.3 s of a
/// 2 Mbit/s stream, many round trips; the payloads are shared between sessions, see [`super::rtp`]).
const NACK_HISTORY: usize = 256;
/// NAL unit types (ITU-T H.264 Table 7-1).
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// The audio codecs WebRTC carries that the hub can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AudioCodec {
    /// Opus, 48 kHz (RFC 7587).
    Opus,
    /// G.711 µ-law, 8 kHz mono (RFC 3551 PCMU).
    Pcmu,
    /// G.711 A-law, 8 kHz mono (RFC 3551 PCMA).
    Pcma,
}

impl AudioCodec {
    /// The WebRTC audio codec of `codec`, if it is one (G.711 only at 8 kHz mono: the only
    /// rate WebRTC's static payload types have).
    pub(super) fn of(codec: &CodecParams) -> Option<AudioCodec> {
        match codec {
            CodecParams::Opus(_) => Some(AudioCodec::Opus),
            CodecParams::G711(g) if g.sample_rate == 8000 && g.channels == 1 => Some(if g.mu_law {
                AudioCodec::Pcmu
            } else {
                AudioCodec::Pcma
            }),
            _ => None,
        }
    }

    /// Enables this codec (only) among `config`'s audio codecs.
    pub(super) fn enable(self, config: RtcConfig) -> RtcConfig {
        match self {
            AudioCodec::Opus => config.enable_opus(true, false),
            AudioCodec::Pcmu => config.enable_pcmu(true, false),
            AudioCodec::Pcma => config.enable_pcma(true, false),
        }
    }
}

/// The media of one WHEP session: the stream, its H.264 track and its WebRTC audio track.
#[derive(Clone)]
pub(super) struct Feed {
    /// The path's stream.
    pub(super) stream: Arc<PathStream>,
    /// Index of the H.264 track and its SPS/PPS from the stream's description (put before
    /// keyframes that lack them).
    pub(super) video: Option<(usize, VideoParams)>,
    /// Index of the Opus or G.711 track, and its codec.
    pub(super) audio: Option<(usize, AudioCodec)>,
}

impl Feed {
    /// The feed of `stream`'s first H.264 track and first Opus/G.711 track; an error says why
    /// nothing can be sent.
    pub(super) fn new(stream: Arc<PathStream>) -> Result<Feed, String> {
        let tracks = stream.tracks();
        let video = tracks.iter().enumerate().find_map(|(i, t)| match &t.codec {
            CodecParams::H264(params) => Some((i, params.clone())),
            _ => None,
        });
        let audio = tracks
            .iter()
            .enumerate()
            .find_map(|(i, t)| AudioCodec::of(&t.codec).map(|c| (i, c)));
        if video.is_none() && audio.is_none() {
            let codecs: Vec<&str> = tracks.iter().map(|t| t.codec.name()).collect();
            return Err(format!(
                "the stream has {codecs:?}; WebRTC readers get H.264 video and Opus or G.711 \
                 audio"
            ));
        }
        Ok(Feed {
            stream,
            video,
            audio,
        })
    }

    /// Names of the stream's tracks WebRTC cannot carry (AAC, H.265, a second video...), for
    /// the log.
    pub(super) fn left_out(&self) -> Vec<&'static str> {
        let sent = [self.video.as_ref().map(|v| v.0), self.audio.map(|a| a.0)];
        let tracks = self.stream.tracks().iter().enumerate();
        tracks
            .filter(|(i, _)| !sent.contains(&Some(*i)))
            .map(|(_, t)| t.codec.name())
            .collect()
    }

    /// A str0m configuration with exactly the codecs this feed sends.
    pub(super) fn rtc_config(&self) -> RtcConfig {
        let config = RtcConfig::new()
            .set_rtp_mode(true)
            .set_send_buffer_video(NACK_HISTORY)
            .clear_codecs()
            .enable_h264(self.video.is_some());
        match self.audio {
            Some((_, codec)) => codec.enable(config),
            None => config,
        }
    }

    /// Sends the feed's units to the driver as session `key`'s, from the latest keyframe on,
    /// until the stream ends (then says so) or the task is aborted. A full queue makes video
    /// skip to the next keyframe (audio units are dropped one by one).
    pub(super) async fn run(self, key: u64, units: mpsc::Sender<UnitFor>) {
        let mut cursor = self.stream.units().subscribe();
        let video = self.video.as_ref().map(|v| v.0);
        let audio = self.audio.map(|a| a.0);
        let mut skipping = false;
        loop {
            let unit = match cursor.next().await {
                Next::Item(unit) => unit,
                Next::Lagged { .. } => {
                    skipping = true;
                    continue;
                }
                Next::Closed => {
                    let _ = units.send(UnitFor { key, unit: None }).await;
                    return;
                }
                Next::Pending => continue,
            };
            let is_video = Some(unit.track) == video;
            if !is_video && Some(unit.track) != audio {
                continue;
            }
            if is_video && skipping && !unit.keyframe {
                continue;
            }
            if is_video {
                skipping = false;
            }
            match units.try_send(UnitFor {
                key,
                unit: Some(unit),
            }) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => skipping |= is_video,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    }
}

/// `unit` with `params`' SPS and PPS before a keyframe that does not carry its own (a viewer
/// must be able to start decoding at any keyframe).
pub(super) fn with_parameter_sets(unit: &AccessUnit, params: &VideoParams) -> AccessUnit {
    let has = |kind: u8| {
        unit.nals()
            .any(|nal| nal[0].first().is_some_and(|b| b & 0x1f == kind))
    };
    let mut prepended: Vec<Bytes> = Vec::with_capacity(2);
    if unit.keyframe {
        let sps = unit
            .new_params
            .as_deref()
            .and_then(video_params)
            .unwrap_or(params);
        if !has(NAL_SPS) {
            prepended.extend(sps.sps.clone());
        }
        if !has(NAL_PPS) {
            prepended.extend(sps.pps.clone());
        }
    }
    let mut out = unit.clone();
    if prepended.is_empty() {
        return out;
    }
    let shift = prepended.len();
    if !out.nal_ends.is_empty() {
        let ends = (1..=shift).chain(out.nal_ends.iter().map(|&e| e as usize + shift));
        out.nal_ends = ends.map(|e| u32::try_from(e).unwrap_or(u32::MAX)).collect();
    }
    prepended.extend(unit.data.iter().cloned());
    out.data = prepended;
    out
}

fn video_params(codec: &CodecParams) -> Option<&VideoParams> {
    match codec {
        CodecParams::H264(params) => Some(params),
        _ => None,
    }
}
