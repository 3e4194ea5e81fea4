//! A WHIP session's side of the hub: the tracks its answer agreed on become a path's stream
//! once the peer connects, and every frame str0m depacketizes becomes an access unit.
//!
//! The path is published at the first video keyframe, whose SPS and PPS become the track's
//! parameters (a WebRTC offer carries none, and readers that join later — an HLS muxer, an RTSP
//! DESCRIBE — need them); an audio-only publisher is published once connected.
//!
//! WebRTC encoders (browsers) send keyframes only when asked, so the publisher is asked for one
//! (PLI) every [`KEYFRAME_INTERVAL`] — HLS segments and new readers need them — and after any
//! gap in its video, whose frames are dropped until that keyframe (MediaMTX does the same).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use str0m::media::{KeyframeRequestKind, MediaData, Mid};
use str0m::{Rtc, RtcConfig};
use vigia_media::codec::annexb;
use vigia_media::model::{G711Params, OpusParams, VideoParams};
use vigia_media::{AccessUnit, CodecParams, Timestamp, Track};

use super::answer::{AnswerCodec, AnswerMedia, Direction};
use crate::ingest::Ingest;
use crate::paths::{Path, PathError, PublishGuard};

/// NAL unit types (ITU-T H.264 Table 7-1).
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
/// How often the publisher is asked for a keyframe.
pub(super) const KEYFRAME_INTERVAL: Duration = Duration::from_secs(2);

/// The codecs a WHIP publisher may send: those the hub carries and WebRTC has.
pub(super) fn rtc_config() -> RtcConfig {
    RtcConfig::new()
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .enable_pcmu(true, false)
        .enable_pcma(true, false)
}

/// One received media of the session: its `mid` and the hub track it feeds.
struct Incoming {
    mid: Mid,
    track: Track,
}

/// The publishing state of one WHIP session.
pub(super) struct Publication {
    path: Arc<Path>,
    incoming: Vec<Incoming>,
    /// Whether ICE and DTLS connected (keyframes are asked for from then on).
    connected: bool,
    /// Set once registered on the path.
    publishing: Option<Publishing>,
    next_keyframe_request: Instant,
}

struct Publishing {
    guard: PublishGuard,
    ingest: Ingest,
    /// Video frames are dropped until the next keyframe (after a gap).
    want_keyframe: bool,
}

impl Publication {
    /// The publication of the media `answer` receives on `path`; an error says why there is
    /// nothing to publish.
    pub(super) fn new(path: Arc<Path>, answer: &[AnswerMedia]) -> Result<Publication, String> {
        let incoming: Vec<Incoming> = answer
            .iter()
            .filter(|m| m.direction == Direction::Receive)
            .filter_map(|m| {
                let track = m.codec.as_ref().and_then(track_of)?;
                Some(Incoming {
                    mid: Mid::from(m.mid.as_str()),
                    track,
                })
            })
            .collect();
        if incoming.is_empty() {
            return Err(
                "the offer sends no H.264 video, Opus or G.711 audio Vigia can take".to_string(),
            );
        }
        Ok(Publication {
            path,
            incoming,
            connected: false,
            publishing: None,
            next_keyframe_request: Instant::now(),
        })
    }

    /// Whether the session connected already.
    pub(super) fn is_connected(&self) -> bool {
        self.connected
    }

    /// Marks the session connected; an audio-only publisher is registered on its path now.
    pub(super) fn connect(&mut self) -> Result<(), PathError> {
        self.connected = true;
        if self.incoming.iter().any(|i| is_video(&i.track)) {
            return Ok(());
        }
        self.start()
    }

    /// Registers the publisher on its path with the tracks as they are now.
    fn start(&mut self) -> Result<(), PathError> {
        let tracks: Vec<Track> = self.incoming.iter().map(|i| i.track.clone()).collect();
        let guard = self.path.publish(tracks)?;
        let ingest = Ingest::aligning(guard.stream.tracks());
        self.publishing = Some(Publishing {
            guard,
            ingest,
            want_keyframe: false,
        });
        Ok(())
    }

    /// Whether another publisher took the path over (or it was removed).
    pub(super) fn kicked(&mut self) -> bool {
        let Some(publishing) = self.publishing.as_mut() else {
            return false;
        };
        !matches!(
            publishing.guard.kicked.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty)
        )
    }

    /// Asks for a keyframe when one is due (periodically, or wanted after a gap); whether it
    /// asked.
    pub(super) fn request_keyframes(&mut self, rtc: &mut Rtc, now: Instant) -> bool {
        if !self.connected || now < self.next_keyframe_request {
            return false;
        }
        self.next_keyframe_request = now + KEYFRAME_INTERVAL;
        let video = self.incoming.iter().filter(|i| is_video(&i.track));
        for incoming in video {
            if let Some(mut writer) = rtc.writer(incoming.mid)
                && writer.is_request_keyframe_possible(KeyframeRequestKind::Pli)
                && let Err(e) = writer.request_keyframe(None, KeyframeRequestKind::Pli)
            {
                tracing::trace!("[WebRTC] keyframe request: {e}");
            }
        }
        true
    }

    /// Publishes one depacketized frame; the first video keyframe registers the path. An
    /// error means the path refused the publisher.
    pub(super) fn media(&mut self, data: &MediaData) -> Result<(), PathError> {
        let Some(index) = self.incoming.iter().position(|i| i.mid == data.mid) else {
            return Ok(());
        };
        let video = is_video(&self.incoming[index].track);
        let keyframe = !video || data.is_keyframe();
        let payload = Bytes::from_owner(data.data.clone());
        let chunks = if video {
            annexb::split(&payload)
        } else {
            vec![payload]
        };
        if self.publishing.is_none() {
            if !(video && keyframe) {
                return Ok(());
            }
            self.incoming[index].track.codec = CodecParams::H264(parameter_sets(&chunks));
            self.start()?;
        }
        let Some(publishing) = self.publishing.as_mut() else {
            return Ok(());
        };
        if video && !data.contiguous {
            publishing.want_keyframe = true;
            self.next_keyframe_request = Instant::now();
        }
        if video && publishing.want_keyframe && !keyframe {
            return Ok(());
        }
        if video {
            publishing.want_keyframe = false;
        }
        let Ok(ticks) = i64::try_from(data.time.numer()) else {
            return Ok(());
        };
        let pts = Timestamp::new(ticks, data.time.denom());
        let unit = AccessUnit::new(index, pts, keyframe, chunks);
        if let Some(unit) = publishing.ingest.finish(unit) {
            publishing.guard.stream.publish(unit);
        }
        Ok(())
    }
}

/// The SPS and PPS among an H.264 keyframe's NAL units.
fn parameter_sets(nals: &[Bytes]) -> VideoParams {
    let find = |kind: u8| {
        nals.iter()
            .find(|n| n.first().is_some_and(|b| b & 0x1f == kind))
            .cloned()
    };
    VideoParams {
        vps: None,
        sps: find(NAL_SPS),
        pps: find(NAL_PPS),
    }
}

/// The hub track an answered codec feeds, if the hub carries it.
fn track_of(codec: &AnswerCodec) -> Option<Track> {
    let params = match codec.name.as_str() {
        "H264" => CodecParams::H264(VideoParams::default()),
        "OPUS" => CodecParams::Opus(OpusParams {
            channels: codec.channels,
        }),
        "PCMU" | "PCMA" => CodecParams::G711(G711Params {
            mu_law: codec.name == "PCMU",
            sample_rate: codec.clock_rate,
            channels: codec.channels,
        }),
        _ => return None,
    };
    Some(Track {
        codec: params,
        clock_rate: codec.clock_rate,
    })
}

fn is_video(track: &Track) -> bool {
    matches!(track.codec, CodecParams::H264(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(name: &str, clock_rate: u32, channels: u16) -> AnswerCodec {
        AnswerCodec {
            pt: 96,
            name: name.into(),
            clock_rate,
            channels,
        }
    }

    #[test]
    fn answered_codecs_become_hub_tracks() {
        let h264 = track_of(&codec("H264", 90_000, 1)).unwrap();
        assert!(matches!(h264.codec, CodecParams::H264(_)));
        let opus = track_of(&codec("OPUS", 48_000, 2)).unwrap();
        assert_eq!(opus.codec, CodecParams::Opus(OpusParams { channels: 2 }));
        let pcma = track_of(&codec("PCMA", 8000, 1)).unwrap();
        assert!(matches!(
            pcma.codec,
            CodecParams::G711(G711Params { mu_law: false, .. })
        ));
        assert!(track_of(&codec("VP8", 90_000, 1)).is_none());
    }
}
