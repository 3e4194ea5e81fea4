//! One RTSP reader: DESCRIBE/SETUP/PLAY over TCP (interleaved), then every video access unit is
//! depacketized with `vigia-protocol` and its wall-clock SEI turned into a latency sample.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use vigia_media::MediaKind;
use vigia_media::codec::sei;
use vigia_protocol::payload::{Depacketizer, depacketizer_for};
use vigia_protocol::rtp::RtpPacket;
use vigia_protocol::rtsp::message::Method;
use vigia_protocol::rtsp::url::resolve_control;
use vigia_protocol::sdp::{Sdp, tracks_from_sdp};

use crate::rtsp_conn::{Item, RtspConn};
use crate::stats::{STALL_AFTER_US, Stats};
use crate::{Error, wallclock_us};

/// Reads `url` until `until`, connecting from `source` if given; `who` names it in errors
/// (`reader 3/1`).
pub async fn run(
    host: &str,
    port: u16,
    url: &str,
    source: Option<IpAddr>,
    who: String,
    stats: Arc<Stats>,
    until: Instant,
) -> Result<(), Error> {
    let mut conn = RtspConn::connect(host, port, source, who.clone()).await?;
    let accept = [("Accept", "application/sdp".to_owned())];
    let desc = conn.request(Method::Describe, url, &accept, None).await?;
    let (control, depack) = video_track(&desc.body, &who)?;
    let base = desc.headers.get("Content-Base").unwrap_or(url).to_owned();
    let transport = [(
        "Transport",
        "RTP/AVP/TCP;unicast;interleaved=0-1".to_owned(),
    )];
    let setup_url = resolve_control(&base, &control);
    conn.request(Method::Setup, &setup_url, &transport, None)
        .await?;
    conn.request(Method::Play, url, &[("Range", "npt=0.000-".into())], None)
        .await?;
    Stats::add(&stats.readers_up, 1);
    let mut state = ReaderState::new(depack);
    let result = read_loop(&mut conn, url, &mut state, &stats, until).await;
    stats
        .readers_up
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    result
}

/// The first H.264/H.265 track of a DESCRIBE answer: its control and a depacketizer for it.
fn video_track(body: &Bytes, who: &str) -> Result<(String, Box<dyn Depacketizer>), Error> {
    let sdp = Sdp::parse(body).map_err(|e| Error::protocol(who, format!("SDP: {e:?}")))?;
    let tracks = tracks_from_sdp(&sdp).map_err(|e| Error::protocol(who, format!("SDP: {e:?}")))?;
    let (sdp_track, track) = tracks
        .iter()
        .find_map(|t| {
            t.track()
                .filter(|tr| tr.kind() == MediaKind::Video)
                .map(|tr| (t, tr))
        })
        .ok_or_else(|| Error::protocol(who, "DESCRIBE: no video track"))?;
    let control = sdp_track.control.clone().unwrap_or_default();
    Ok((control, depacketizer_for(track, 0)))
}

/// Per-reader bookkeeping shared by the RTSP and WHEP readers: the depacketizer, loss already
/// counted, last frame time, join time.
pub(crate) struct ReaderState {
    depack: Box<dyn Depacketizer>,
    lost_counted: u64,
    last_frame_us: Option<i64>,
    joined_us: i64,
}

impl ReaderState {
    /// A reader that joins now and depacketizes with `depack`.
    pub(crate) fn new(depack: Box<dyn Depacketizer>) -> Self {
        Self {
            depack,
            lost_counted: 0,
            last_frame_us: None,
            joined_us: wallclock_us(),
        }
    }

    /// Feeds one raw RTP packet (see [`Self::on_packet`]).
    fn on_rtp(&mut self, raw: Bytes, stats: &Stats) {
        if let Ok(pkt) = RtpPacket::parse(raw) {
            self.on_packet(&pkt, stats);
        }
    }

    /// Feeds one RTP packet; counts frames, gaps, stalls and latency samples.
    pub(crate) fn on_packet(&mut self, pkt: &RtpPacket, stats: &Stats) {
        let _ = self.depack.push(pkt);
        let lost = self.depack.stats().packets_lost;
        Stats::add(&stats.gaps, lost.saturating_sub(self.lost_counted));
        self.lost_counted = lost;
        while let Some(au) = self.depack.pull() {
            let now = wallclock_us();
            on_frame(&mut self.last_frame_us, now, stats);
            match sei::unit_wallclock(&au) {
                Some(stamp) => stats.frame_stamp(stamp, now, self.joined_us),
                None => Stats::add(&stats.unstamped, 1),
            }
        }
    }

    /// At the end of the run: a reader whose last frame is too old was stalled.
    pub(crate) fn finish(&self, stats: &Stats) {
        if self
            .last_frame_us
            .is_some_and(|last| wallclock_us() - last >= STALL_AFTER_US)
        {
            Stats::add(&stats.stalls, 1);
        }
    }
}

/// Counts a received frame at `now_us`, and a stall if the previous one is too old.
pub fn on_frame(last_frame_us: &mut Option<i64>, now_us: i64, stats: &Stats) {
    if last_frame_us.is_some_and(|last| now_us - last >= STALL_AFTER_US) {
        Stats::add(&stats.stalls, 1);
    }
    *last_frame_us = Some(now_us);
    Stats::add(&stats.frames_received, 1);
}

async fn read_loop(
    conn: &mut RtspConn,
    url: &str,
    state: &mut ReaderState,
    stats: &Stats,
    until: Instant,
) -> Result<(), Error> {
    let mut keepalive = Instant::now();
    loop {
        let item = match tokio::time::timeout_at(until, conn.read_item()).await {
            Ok(item) => item?,
            Err(_) => break,
        };
        if let Item::Frame(channel, payload) = item {
            Stats::add(&stats.bytes_received, payload.len() as u64 + 4);
            if channel == 0 {
                state.on_rtp(payload, stats);
            }
        }
        if keepalive.elapsed().as_secs() >= 20 {
            keepalive = Instant::now();
            conn.send(Method::Options, url, &[], None).await?;
        }
    }
    state.finish(stats);
    let _ = conn.send(Method::Teardown, url, &[], None).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_a_second_without_frames() {
        let stats = Stats::default();
        let mut last = None;
        for t in [0, 40_000, 80_000, 1_080_000, 1_120_000, 3_000_000] {
            on_frame(&mut last, t, &stats);
        }
        let snap = stats.snapshot();
        assert_eq!((snap.frames_received, snap.stalls), (6, 2));
    }
}
