//! What a WebRTC session sends: the path's H.264 track, read from the stream's unit hub by a
//! cursor that starts at the hub's latest keyframe (a picture at once, no PLI round trip).
//!
//! Shortcut of this first step: each session packetizes the access units itself (str0m's
//! frame API, `Writer::write`) instead of sharing the RTP packets the stream packetizes once
//! for RTSP readers; see `docs/webrtc.md`.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use vigia_media::hub::Next;
use vigia_media::model::VideoParams;
use vigia_media::{AccessUnit, CodecParams};

use super::driver::UnitFor;
use crate::stream::PathStream;

/// Annex B start code (ITU-T H.264 Annex B.1), what str0m's H.264 packetizer splits on.
const START_CODE: &[u8] = &[0, 0, 0, 1];
/// NAL unit types (ITU-T H.264 Table 7-1).
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// The media of one session: the stream and its H.264 track.
#[derive(Clone)]
pub(super) struct Feed {
    /// The path's stream.
    pub(super) stream: Arc<PathStream>,
    /// Index of the H.264 track in the stream.
    pub(super) track: usize,
    /// Its SPS/PPS from the stream's description, put before keyframes that lack them.
    pub(super) params: VideoParams,
}

impl Feed {
    /// The feed of `stream`'s first H.264 track, or `None` if it has none.
    pub(super) fn new(stream: Arc<PathStream>) -> Option<Feed> {
        let (track, params) =
            stream
                .tracks()
                .iter()
                .enumerate()
                .find_map(|(i, t)| match &t.codec {
                    CodecParams::H264(params) => Some((i, params.clone())),
                    _ => None,
                })?;
        Some(Feed {
            stream,
            track,
            params,
        })
    }

    /// Sends the track's units to the driver as session `key`'s, from the latest keyframe on,
    /// until the stream ends or the task is aborted. A full queue skips to the next keyframe.
    pub(super) async fn run(self, key: u64, units: mpsc::Sender<UnitFor>) {
        let mut cursor = self.stream.units().subscribe();
        let mut skipping = false;
        loop {
            let unit = match cursor.next().await {
                Next::Item(unit) => unit,
                Next::Lagged { .. } => {
                    skipping = true;
                    continue;
                }
                Next::Closed => return,
                Next::Pending => continue,
            };
            if unit.track != self.track || (skipping && !unit.keyframe) {
                continue;
            }
            skipping = false;
            match units.try_send(UnitFor { key, unit }) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => skipping = true,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
    }
}

/// `unit` as an Annex B byte stream, with `params`' SPS and PPS before a keyframe that does not
/// carry its own (a viewer must be able to start decoding at any keyframe).
pub(super) fn annex_b(unit: &AccessUnit, params: &VideoParams) -> Vec<u8> {
    let has = |kind: u8| {
        unit.data
            .iter()
            .any(|nal| nal.first().is_some_and(|b| b & 0x1f == kind))
    };
    let mut prefix: Vec<&Bytes> = Vec::new();
    if unit.keyframe {
        let sps = unit
            .new_params
            .as_deref()
            .and_then(video_params)
            .unwrap_or(params);
        if !has(NAL_SPS) {
            prefix.extend(sps.sps.as_ref());
        }
        if !has(NAL_PPS) {
            prefix.extend(sps.pps.as_ref());
        }
    }
    let nals = prefix.into_iter().chain(unit.data.iter());
    let mut out = Vec::with_capacity(unit.data.iter().map(|n| n.len() + 4).sum::<usize>() + 64);
    for nal in nals {
        out.extend_from_slice(START_CODE);
        out.extend_from_slice(nal);
    }
    out
}

fn video_params(codec: &CodecParams) -> Option<&VideoParams> {
    match codec {
        CodecParams::H264(params) => Some(params),
        _ => None,
    }
}
