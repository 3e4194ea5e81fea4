//! Pulling a camera over RTSP with `retina`, reconnecting with backoff.
//!
//! Readers of the path stay connected across a reconnect: the path keeps its stream when the
//! camera comes back with the same tracks, and the outage becomes a gap of its real length on
//! the stream's one timeline (see [`crate::stream`]).
//!
//! Frames carry the camera's wall clock, mapped from its RTCP sender reports by
//! [`SourceClock`]; before a track's first report, ingest stamps the arrival time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use retina::client::{
    Credentials, InitialTimestampPolicy, PlayOptions, Session, SessionOptions, SetupOptions,
    Transport,
};
use retina::codec::{
    CodecItem, FrameFormat, ParameterSetInsertion, ParametersRef, VideoParametersCodec,
};
use url::Url;
use vigia_media::model::{AacParams, G711Params, OpusParams, VideoParams};
use vigia_media::{AccessUnit, CodecParams, Timestamp, Track};
use vigia_protocol::rtp_session::{Ignored, SourceClock};

use super::unix_micros;
use super::{Backoff, SkewWarning};
use crate::config::SourceTransport;
use crate::ingest::Ingest;
use crate::paths::Path;

/// A session that delivered media this long resets the backoff to its initial delay.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Pulls `url` into `path` until the task is aborted.
pub(crate) async fn run(path: Arc<Path>, url: String) {
    // At most 5 s between attempts, as MediaMTX retries its sources: a camera that comes back
    // is recorded again within 5 s, so a recording gap is never much longer than the outage.
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
    loop {
        let started = Instant::now();
        match pull_once(&path, &url).await {
            Ok(()) => {
                path.source_failed("the source ended the stream");
                tracing::warn!(path = %path.name, "source {} ended the stream", redact(&url))
            }
            Err(e) => {
                path.source_failed(&e);
                tracing::warn!(path = %path.name, "source {} failed: {e}", redact(&url))
            }
        }
        if started.elapsed() >= HEALTHY_AFTER {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::info!(path = %path.name, "reconnecting to the source in {:.1} s", delay.as_secs_f64());
        tokio::time::sleep(delay).await;
    }
}

/// The URL with its password hidden, for logs.
fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// One connection: DESCRIBE, SETUP every supported stream, PLAY, then frames until an error.
async fn pull_once(path: &Arc<Path>, url: &str) -> Result<(), String> {
    let (url, creds) = split_credentials(url)?;
    let options = SessionOptions::default()
        .creds(creds)
        .user_agent(format!("vigia/{}", env!("CARGO_PKG_VERSION")));
    let mut session = Session::describe(url, options)
        .await
        .map_err(|e| e.to_string())?;
    let chosen = choose_streams(session.streams());
    if chosen.is_empty() {
        return Err(format!(
            "unsupported codec: the source offers only {}",
            offered_codecs(session.streams())
        ));
    }
    for (stream_index, _) in &chosen {
        let setup = SetupOptions::default()
            .transport(transport(&path.conf.rtsp_transport))
            .frame_format(frame_format());
        session
            .setup(*stream_index, setup)
            .await
            .map_err(|e| e.to_string())?;
    }
    let tracks: Vec<Track> = chosen.iter().map(|(_, t)| t.clone()).collect();
    // Permissive: a server whose PLAY answer lacks `rtptime` for a stream that has sent nothing
    // yet (Vigia's own, for an audio track; many cameras) is played, not refused, as MediaMTX
    // does; NPT then starts at that stream's first packet.
    let play = PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive);
    let playing = session.play(play).await.map_err(|e| e.to_string())?;
    let mut demuxed = playing.demuxed().map_err(|e| e.to_string())?;
    let stream = path.source_ready(tracks.clone());
    path.source_connected();
    let mut ingest = Ingest::new(&tracks);
    let mut clock = SourceClock::new(tracks.iter().map(|t| t.clock_rate));
    let mut skew_warning = SkewWarning::default();
    let index_of = |stream_id: usize| chosen.iter().position(|(i, _)| *i == stream_id);
    while let Some(item) = demuxed.next().await {
        let item = item.map_err(|e| e.to_string())?;
        if let CodecItem::Rtcp(rtcp) = &item {
            let Some(track) = index_of(rtcp.stream_id()) else {
                continue;
            };
            skew_warning.on_report(&path.name, on_rtcp(&mut clock, track, rtcp));
            continue;
        }
        let Some(unit) = to_access_unit(item, index_of, &clock) else {
            continue;
        };
        if let Some(unit) = ingest.finish(unit) {
            stream.publish(unit);
        }
    }
    Ok(())
}

/// Feeds the sender reports of one compound RTCP packet of `track` to `clock`.
fn on_rtcp(
    clock: &mut SourceClock,
    track: usize,
    rtcp: &retina::rtcp::ReceivedCompoundPacket,
) -> Result<(), Ignored> {
    let mut result = Ok(());
    for packet in rtcp.pkts() {
        if let Ok(Some(sr)) = packet.as_sender_report() {
            let arrival_us = unix_micros();
            result =
                clock.on_sender_report(track, sr.rtp_timestamp(), sr.ntp_timestamp().0, arrival_us);
        }
    }
    result
}

fn split_credentials(url: &str) -> Result<(Url, Option<Credentials>), String> {
    let mut url = Url::parse(url).map_err(|e| format!("bad source URL: {e}"))?;
    if url.username().is_empty() {
        return Ok((url, None));
    }
    let decode = |s: &str| {
        url::form_urlencoded::parse(s.as_bytes())
            .map(|(k, _)| k)
            .collect::<String>()
    };
    let creds = Credentials {
        username: decode(url.username()),
        password: decode(url.password().unwrap_or_default()),
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url, Some(creds)))
}

fn transport(conf: &SourceTransport) -> Transport {
    match conf {
        SourceTransport::Udp => Transport::Udp(Default::default()),
        _ => Transport::Tcp(Default::default()),
    }
}

fn frame_format() -> FrameFormat {
    FrameFormat {
        parameter_set_insertion: ParameterSetInsertion::EachKeyFrame,
        ..FrameFormat::MP4
    }
}

/// The streams worth pulling, with the track each becomes.
fn choose_streams(streams: &[retina::client::Stream]) -> Vec<(usize, Track)> {
    streams
        .iter()
        .enumerate()
        .filter_map(|(i, s)| track_of(s).map(|t| (i, t)))
        .collect()
}

/// The codecs of `streams` as people name them (`MJPEG`, `H264`, `MPEG4-GENERIC`), for errors.
fn offered_codecs(streams: &[retina::client::Stream]) -> String {
    let names: Vec<String> = streams
        .iter()
        .map(|s| match s.encoding_name() {
            "jpeg" => "MJPEG".to_owned(),
            other => other.to_ascii_uppercase(),
        })
        .collect();
    if names.is_empty() {
        "no stream".to_owned()
    } else {
        names.join(", ")
    }
}

fn track_of(stream: &retina::client::Stream) -> Option<Track> {
    let clock_rate = stream.clock_rate_hz();
    let channels = stream.channels().map_or(1, |c| c.get());
    let codec = match (stream.media(), stream.encoding_name()) {
        ("video", "h264") => CodecParams::H264(video_params(stream)),
        ("video", "h265") => CodecParams::H265(video_params(stream)),
        ("audio", "mpeg4-generic") => CodecParams::Aac(aac_params(stream)?),
        ("audio", "pcmu") | ("audio", "pcma") => CodecParams::G711(G711Params {
            mu_law: stream.encoding_name() == "pcmu",
            sample_rate: clock_rate,
            channels,
        }),
        ("audio", "opus") => CodecParams::Opus(OpusParams { channels }),
        _ => return None,
    };
    Some(Track { codec, clock_rate })
}

fn video_params(stream: &retina::client::Stream) -> VideoParams {
    let Some(ParametersRef::Video(v)) = stream.parameters() else {
        return VideoParams::default();
    };
    match v.codec_params() {
        VideoParametersCodec::H264 { sps, pps } => VideoParams {
            vps: None,
            sps: Some(sps.clone()),
            pps: Some(pps.clone()),
        },
        VideoParametersCodec::H265 { vps, sps, pps } => VideoParams {
            vps: Some(vps.clone()),
            sps: Some(sps.clone()),
            pps: Some(pps.clone()),
        },
        _ => VideoParams::default(),
    }
}

fn aac_params(stream: &retina::client::Stream) -> Option<AacParams> {
    let Some(ParametersRef::Audio(a)) = stream.parameters() else {
        return None;
    };
    Some(AacParams {
        config: Bytes::copy_from_slice(a.extra_data()),
        sample_rate: a.clock_rate(),
        channels: a.channels().get(),
    })
}

/// The access unit of a frame, dated by `clock` when a sender report of its track is known.
fn to_access_unit(
    item: CodecItem,
    index_of: impl Fn(usize) -> Option<usize>,
    clock: &SourceClock,
) -> Option<AccessUnit> {
    let (track, ts, keyframe, data) = match item {
        CodecItem::VideoFrame(frame) => {
            let track = index_of(frame.stream_id())?;
            let ts = frame.timestamp();
            let keyframe = frame.is_random_access_point();
            let data = split_length_prefixed(Bytes::from(frame.into_data()));
            (track, ts, keyframe, data)
        }
        CodecItem::AudioFrame(frame) => {
            let track = index_of(frame.stream_id())?;
            let data = vec![Bytes::copy_from_slice(frame.data())];
            (track, frame.timestamp(), true, data)
        }
        _ => return None,
    };
    let pts = Timestamp::new(ts.elapsed(), ts.clock_rate().get());
    let mut unit = AccessUnit::new(track, pts, keyframe, data);
    // The low 32 bits of retina's extended timestamp are the packet's RTP timestamp.
    unit.wallclock_us = clock.wallclock_us(track, ts.timestamp() as u32);
    Some(unit)
}

/// NAL units of a 4-byte-length-prefixed buffer, as slices of it (no copy).
fn split_length_prefixed(buf: Bytes) -> Vec<Bytes> {
    let mut nalus = Vec::new();
    let mut pos = 0usize;
    while let Some(len_bytes) = buf.get(pos..pos + 4) {
        let len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        let start = pos + 4;
        let Some(end) = start.checked_add(len).filter(|&e| e <= buf.len()) else {
            break;
        };
        nalus.push(buf.slice(start..end));
        pos = end;
    }
    nalus
}
