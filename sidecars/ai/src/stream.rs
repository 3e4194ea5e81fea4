//! Keyframes of one Vigia path, read over RTSP with `retina`, reconnecting with backoff.
//!
//! [`read_keyframes`] plays `rtsp://<vigia>/<path>` once over TCP (interleaved: no UDP ports to
//! open, no loss on a loaded host) and hands each H.264 IDR access unit to its caller as a
//! [`Keyframe`]: Annex B (start codes) with the SPS and PPS prepended, so a decoder needs
//! nothing else, and the frame's wall-clock time from the sender's RTCP reports when Vigia sends
//! them, else its arrival time ([`clock`]). Other frames are dropped as soon as they are
//! reassembled: only keyframes are read. A path whose video is not H.264 (or that has no video)
//! is [`StreamError::UnsupportedCodec`], naming what it offers.
//!
//! [`run`] keeps a path read for as long as someone takes its keyframes: after a failure it
//! waits ([`Backoff`]: 1 s doubling to 30 s, back to 1 s after a session that lasted) and plays
//! again. It logs once per change of state (reading, offline for a given reason), not once per
//! attempt, so a camera that stays offline for a day writes one line. Keyframes go to a bounded
//! channel; when the reader of that channel is behind, a keyframe is dropped and counted rather
//! than queued, so what is decoded is always recent.

pub mod clock;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use retina::client::{
    Demuxed, InitialTimestampPolicy, PlayOptions, Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat};
use tokio::sync::mpsc;
use url::Url;

use clock::{ClockSource, FrameClock, Ignored};

/// A session that delivered keyframes for this long resets the backoff to its first delay.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// One H.264 IDR access unit and when it was shot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyframe {
    /// The Vigia path it came from.
    pub path: String,
    /// Keyframes of this path before it, since the reader started (across reconnects): the
    /// frame reference of the reads made in it.
    pub index: u64,
    /// Wall-clock time of the frame.
    pub at: DateTime<Utc>,
    /// Where [`Keyframe::at`] came from.
    pub clock: ClockSource,
    /// The access unit in Annex B form (start codes), SPS and PPS first.
    pub data: Vec<u8>,
}

/// Why a path could not be read, with the URL and the step that failed. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The RTSP URL cannot be parsed.
    #[error("{url}: not an RTSP URL: {cause}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// The parser's message.
        cause: String,
    },
    /// The RTSP exchange or the media failed; `status` is the RTSP status of an error answer
    /// (404: nobody publishes the path).
    #[error("{url}: {step}: {cause}")]
    Rtsp {
        /// The URL read.
        url: String,
        /// `DESCRIBE`, `SETUP`, `PLAY` or `reading`.
        step: &'static str,
        /// The RTSP status of an error answer.
        status: Option<u16>,
        /// retina's message, with its connection and packet context.
        cause: String,
    },
    /// The path has no H.264 video.
    #[error("{url}: the stream is {offered}, not H.264; vigia-ai reads only H.264")]
    UnsupportedCodec {
        /// The URL read.
        url: String,
        /// What the path offers, as people name codecs (`H265`, `MJPEG`, `MPEG4-GENERIC`).
        offered: String,
    },
    /// The server ended the session.
    #[error("{url}: the server ended the stream")]
    Ended {
        /// The URL read.
        url: String,
    },
}

impl StreamError {
    /// The reason as a short state name for logs: errors with the same key are the same state
    /// (retina's messages carry ports and times that differ on every attempt).
    pub fn state(&self) -> String {
        match self {
            StreamError::BadUrl { .. } => "bad URL".to_owned(),
            StreamError::Rtsp {
                status: Some(404), ..
            } => "not found (nobody publishes the path)".to_owned(),
            StreamError::Rtsp {
                status: Some(s), ..
            } => format!("RTSP status {s}"),
            StreamError::Rtsp { step, cause, .. } if cause.starts_with("Unable to connect") => {
                format!("{step}: cannot connect")
            }
            StreamError::Rtsp { step, .. } => format!("{step} failed"),
            StreamError::UnsupportedCodec { offered, .. } => format!("not H.264 ({offered})"),
            StreamError::Ended { .. } => "ended".to_owned(),
        }
    }
}

/// Delays between attempts: `initial` doubling up to `max`. No jitter: one sidecar's cameras
/// all read from the same Vigia, which restarts as one.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff starting at `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next attempt; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Back to the first delay, after a session that worked.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// Counters of one path's reader, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Sessions played.
    pub sessions: u64,
    /// Keyframes handed on.
    pub keyframes: u64,
    /// Keyframes dropped because the channel was full (decoding or OCR behind).
    pub dropped: u64,
}

/// Reads `path` at `url` until the receiver of `out` is dropped, reconnecting with backoff; see
/// the module doc. Returns the counters.
pub async fn run(path: String, url: String, out: mpsc::Sender<Keyframe>) -> ReaderStats {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut stats = ReaderStats::default();
    let mut index = 0u64;
    // The state last logged: None = reading, Some(reason) = offline for that reason.
    let mut logged: Option<Option<String>> = None;
    loop {
        let started = Instant::now();
        let mut playing = false;
        let result = read_keyframes(&path, &url, &mut index, |k| {
            if !playing {
                playing = true;
                if logged != Some(None) {
                    tracing::info!(path = %path, url = %url, clock = ?k.clock, "reading keyframes");
                    logged = Some(None);
                }
            }
            match out.try_send(k) {
                Ok(()) => stats.keyframes += 1,
                Err(mpsc::error::TrySendError::Full(_)) => stats.dropped += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
            true
        })
        .await;
        if out.is_closed() {
            return stats;
        }
        stats.sessions += u64::from(playing);
        let err = match result {
            Ok(()) => StreamError::Ended { url: url.clone() },
            Err(e) => e,
        };
        let state = err.state();
        if logged.as_ref() != Some(&Some(state.clone())) {
            tracing::warn!(path = %path, state = %state, error = %err, "camera offline; retrying with backoff (logged again only when this changes)");
            logged = Some(Some(state));
        }
        if playing && started.elapsed() >= HEALTHY_AFTER {
            backoff.reset();
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = out.closed() => return stats,
        }
    }
}

/// Plays `url` once (DESCRIBE, SETUP of the H.264 stream over TCP, PLAY) and gives each
/// keyframe to `on_keyframe` until the session fails or ends, or `on_keyframe` returns false
/// (then `Ok`). `index` numbers the keyframes and is advanced.
pub async fn read_keyframes(
    path: &str,
    url: &str,
    index: &mut u64,
    mut on_keyframe: impl FnMut(Keyframe) -> bool,
) -> Result<(), StreamError> {
    let (mut demuxed, clock_rate) = play(url).await?;
    let mut clock = FrameClock::new(clock_rate);
    let mut warned_skew = false;
    while let Some(item) = demuxed.next().await {
        match item.map_err(rtsp_error(url, "reading"))? {
            CodecItem::Rtcp(rtcp) => on_rtcp(path, &mut clock, &rtcp, &mut warned_skew),
            CodecItem::VideoFrame(frame) if frame.is_random_access_point() => {
                // The low 32 bits of retina's extended timestamp are the RTP timestamp.
                let rtp = frame.timestamp().timestamp() as u32;
                let (at, source) = clock.frame_time(rtp, Utc::now());
                let keyframe = Keyframe {
                    path: path.to_owned(),
                    index: *index,
                    at,
                    clock: source,
                    data: frame.into_data(),
                };
                *index += 1;
                if !on_keyframe(keyframe) {
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    Err(StreamError::Ended {
        url: url.to_owned(),
    })
}

/// DESCRIBE, SETUP of the H.264 stream over TCP in Annex B with parameter sets on keyframes,
/// PLAY: the demuxed session and the stream's RTP clock rate.
async fn play(url: &str) -> Result<(Demuxed, u32), StreamError> {
    let parsed = Url::parse(url).map_err(|e| StreamError::BadUrl {
        url: url.to_owned(),
        cause: e.to_string(),
    })?;
    let options =
        SessionOptions::default().user_agent(format!("vigia-ai/{}", env!("CARGO_PKG_VERSION")));
    let mut session = Session::describe(parsed, options)
        .await
        .map_err(rtsp_error(url, "DESCRIBE"))?;
    let video = session
        .streams()
        .iter()
        .position(|s| s.media() == "video" && s.encoding_name() == "h264")
        .ok_or_else(|| StreamError::UnsupportedCodec {
            url: url.to_owned(),
            offered: offered_codecs(session.streams()),
        })?;
    let clock_rate = session.streams()[video].clock_rate_hz();
    let setup = SetupOptions::default()
        .transport(Transport::Tcp(Default::default()))
        .frame_format(FrameFormat::SIMPLE);
    session
        .setup(video, setup)
        .await
        .map_err(rtsp_error(url, "SETUP"))?;
    // Permissive: a PLAY answer without `rtptime` (many cameras) is played, not refused.
    let options = PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive);
    let playing = session
        .play(options)
        .await
        .map_err(rtsp_error(url, "PLAY"))?;
    let demuxed = playing.demuxed().map_err(rtsp_error(url, "PLAY"))?;
    Ok((demuxed, clock_rate))
}

/// A retina error at `step` of reading `url`.
fn rtsp_error(url: &str, step: &'static str) -> impl Fn(retina::Error) -> StreamError {
    move |e| StreamError::Rtsp {
        url: url.to_owned(),
        step,
        status: e.status_code(),
        cause: e.to_string(),
    }
}

/// Feeds the sender reports of one compound RTCP packet to `clock`; logs the session's first
/// report used and its first ignored for a wrong clock (the others are ignored silently).
fn on_rtcp(
    path: &str,
    clock: &mut FrameClock,
    rtcp: &retina::rtcp::ReceivedCompoundPacket,
    warned_skew: &mut bool,
) {
    for packet in rtcp.pkts() {
        let Ok(Some(sr)) = packet.as_sender_report() else {
            continue;
        };
        let first = !clock.has_report();
        let result = clock.on_sender_report(sr.rtp_timestamp(), sr.ntp_timestamp().0, Utc::now());
        match result {
            Ok(()) if first => {
                tracing::info!(path = %path, "keyframes dated by the sender's RTCP reports from now on")
            }
            Err(Ignored::Skewed(skew)) if !std::mem::replace(warned_skew, true) => {
                tracing::warn!(path = %path, skew_s = skew.as_seconds_f64(), "the sender's clock is off; its reports are ignored and keyframes dated by arrival")
            }
            _ => {}
        }
    }
}

/// The codecs of `streams` as people name them, for errors: `H265, MPEG4-GENERIC`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let seen: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(seen, [1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn errors_of_one_kind_are_one_state() {
        let rtsp = |status, cause: &str| StreamError::Rtsp {
            url: "rtsp://127.0.0.1:8554/cam1".into(),
            step: "DESCRIBE",
            status,
            cause: cause.into(),
        };
        let cases = [
            (
                rtsp(Some(404), "Not Found\nconn: 127.0.0.1:40000"),
                "not found (nobody publishes the path)",
            ),
            (rtsp(Some(401), "Unauthorized"), "RTSP status 401"),
            (
                rtsp(None, "Unable to connect to RTSP server: Connection refused"),
                "DESCRIBE: cannot connect",
            ),
            (
                StreamError::UnsupportedCodec {
                    url: "rtsp://x/cam".into(),
                    offered: "H265".into(),
                },
                "not H.264 (H265)",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.state(), want, "{err}");
        }
        // Different ports and times in retina's context: still one state.
        assert_eq!(
            rtsp(Some(404), "conn: 127.0.0.1:40001").state(),
            rtsp(Some(404), "conn: 127.0.0.1:40002").state()
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_naming_the_url() {
        // Port 1 on loopback: nothing listens there.
        let mut index = 0;
        let err = read_keyframes("cam1", "rtsp://127.0.0.1:1/cam1", &mut index, |_| true)
            .await
            .unwrap_err();
        assert_eq!(err.state(), "DESCRIBE: cannot connect", "{err}");
        assert!(
            err.to_string()
                .starts_with("rtsp://127.0.0.1:1/cam1: DESCRIBE"),
            "{err}"
        );
        let err = read_keyframes("cam1", "not a url", &mut index, |_| true)
            .await
            .unwrap_err();
        assert!(matches!(err, StreamError::BadUrl { .. }), "{err}");
    }
}
