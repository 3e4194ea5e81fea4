//! One WHEP reader (RFC 9725 §4.2 as MediaMTX serves it): a receive-only H.264 offer POSTed to
//! `http://host:port/<path>/whep`, ICE, DTLS and SRTP over one UDP socket with a sans-IO
//! `str0m` peer in RTP mode, every video packet depacketized by `vigia-protocol` through the
//! RTSP reader's [`ReaderState`] (same frame, gap, stall and SEI latency accounting), and a
//! `DELETE` of the session's `Location` at the end.
//!
//! Each reader is one tokio task owning its socket and its `Rtc`; it sleeps until a datagram
//! or the `Rtc`'s next timeout, so hundreds share a runtime. The per-packet cost is SRTP
//! decryption and depacketizing, the same work a browser does.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Once};

use bytes::Bytes;
use socket2::{Domain, Socket, Type};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use vigia_media::model::VideoParams;
use vigia_protocol::payload::H264Depacketizer;
use vigia_protocol::rtp::RtpPacket;

use crate::Error;
use crate::error::Context;
use crate::http::HttpConn;
use crate::reader::ReaderState;
use crate::stats::Stats;

/// Largest datagram read (str0m sends at most ~1200-byte datagrams).
const DATAGRAM_MAX: usize = 2048;
/// Receive buffer of a reader's socket. The server writes a keyframe to every viewer at once
/// (~50 datagrams each at 720p 2 Mbit/s); the default 208 KiB (`net.core.rmem_default`) lost
/// datagrams whenever the load generator's task ran late on a busy machine (counted by the
/// kernel as UDP `RcvbufErrors`), which is the load generator's limit, not the server's.
/// Capped by `net.core.rmem_max` (4 MiB here).
const RECV_BUFFER: usize = 2 * 1024 * 1024;
/// A reader not connected (ICE and DTLS) this long after its answer has failed (the server's
/// own handshake timeout is 10 s).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a WHEP reader reads from.
#[derive(Clone, Debug)]
pub struct WhepTarget {
    /// Server host (name or IP).
    pub host: String,
    /// WHEP HTTP port (`webrtcAddress`).
    pub port: u16,
    /// The path's name (`loadgen-cam0`).
    pub path: String,
    /// Source address of the HTTP connections, if any (see [`crate::net::loopback_source`]).
    pub source: Option<IpAddr>,
}

/// Reads `target` until `until`; `who` names it in errors (`reader 3/1`).
pub async fn run(
    target: WhepTarget,
    who: String,
    stats: Arc<Stats>,
    until: Instant,
) -> Result<(), Error> {
    install_crypto();
    let socket = bind_udp(&target.host, target.port, &who).await?;
    let local = socket.local_addr().context(|| format!("{who} UDP"))?;
    let (mut rtc, offer, pending) = offer(local, &who)?;
    let (answer, location) = post_offer(&target, &offer, &who).await?;
    let answer = SdpAnswer::from_sdp_string(&answer)
        .map_err(|e| Error::protocol(&who, format!("WHEP answer: {e}")))?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| Error::protocol(&who, format!("WHEP answer refused: {e}")))?;
    let mut peer = Peer {
        rtc,
        socket,
        local,
        state: None,
        who,
    };
    let result = peer.drive(&stats, until).await;
    if let Some(state) = &peer.state {
        state.finish(&stats);
        stats
            .readers_up
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    delete(&target, &location, &peer.who).await;
    result
}

/// str0m's crypto (aws-lc-rs, as the server) installed once for the process.
fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// A UDP socket on the local address that routes to `host:port` (the IP the host candidate
/// announces must be one the server can reach, not `0.0.0.0`), with a [`RECV_BUFFER`] receive
/// buffer.
async fn bind_udp(host: &str, port: u16, who: &str) -> Result<UdpSocket, Error> {
    let ctx = || format!("{who} UDP towards {host}:{port}");
    let probe = UdpSocket::bind("0.0.0.0:0").await.context(ctx)?;
    probe.connect((host, port)).await.context(ctx)?;
    let local = SocketAddr::new(probe.local_addr().context(ctx)?.ip(), 0);
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, None).context(ctx)?;
    socket.set_recv_buffer_size(RECV_BUFFER).context(ctx)?;
    socket.set_nonblocking(true).context(ctx)?;
    socket.bind(&local.into()).context(ctx)?;
    UdpSocket::from_std(socket.into()).context(ctx)
}

/// A peer with one host candidate at `local` and a receive-only video media: the offer's SDP.
fn offer(local: SocketAddr, who: &str) -> Result<(Rtc, String, SdpPendingOffer), Error> {
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_h264(true)
        .set_rtp_mode(true)
        .build(std::time::Instant::now());
    let candidate = Candidate::host(local, "udp")
        .map_err(|e| Error::protocol(who, format!("host candidate {local}: {e}")))?;
    rtc.add_local_candidate(candidate);
    let mut changes = rtc.sdp_api();
    changes.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    let (offer, pending) = changes
        .apply()
        .ok_or_else(|| Error::protocol(who, "str0m made no offer"))?;
    Ok((rtc, offer.to_sdp_string(), pending))
}

/// POSTs `offer`; the answer's SDP and the session's `Location`.
async fn post_offer(
    target: &WhepTarget,
    offer: &str,
    who: &str,
) -> Result<(String, String), Error> {
    let mut conn = HttpConn::connect(&target.host, target.port, target.source, who.into()).await?;
    let path = format!("/{}/whep", target.path);
    let headers = [("Content-Type", "application/sdp")];
    let resp = conn
        .request("POST", &path, &headers, offer.as_bytes())
        .await?;
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    if resp.status != 201 {
        return Err(Error::protocol(
            who,
            format!("POST {path}: {} {}", resp.status, body.trim()),
        ));
    }
    let location = resp
        .header("Location")
        .ok_or_else(|| Error::protocol(who, format!("POST {path}: 201 without Location")))?;
    Ok((body, location.to_owned()))
}

/// Ends the session (best effort: the server also drops it when ICE times out).
async fn delete(target: &WhepTarget, location: &str, who: &str) {
    if let Ok(mut conn) =
        HttpConn::connect(&target.host, target.port, target.source, who.into()).await
    {
        let _ = conn.request("DELETE", location, &[], &[]).await;
    }
}

/// The running peer: its state machine, socket and the reader's accounting.
struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// From the moment ICE and DTLS connect: media flows from then on, so frames stamped
    /// earlier (the GOP the server starts a viewer with) are catch-up, not latency samples.
    state: Option<ReaderState>,
    who: String,
}

impl Peer {
    /// Input → transmit → timer → events until `until`, or an error of the peer.
    async fn drive(&mut self, stats: &Stats, until: Instant) -> Result<(), Error> {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        let connect_by = Instant::now() + CONNECT_TIMEOUT;
        loop {
            let deadline = self.poll(stats)?;
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let (n, source) = received.context(|| format!("{} UDP read", self.who))?;
                    Stats::add(&stats.bytes_received, n as u64);
                    self.receive(&buf[..n.min(buf.len())], source)?;
                }
                () = tokio::time::sleep_until(Instant::from_std(deadline)) => {
                    self.input(Input::Timeout(std::time::Instant::now()))?;
                }
                () = tokio::time::sleep_until(until) => return Ok(()),
                () = tokio::time::sleep_until(connect_by), if self.state.is_none() => {
                    return Err(Error::protocol(
                        &self.who,
                        format!("no ICE/DTLS connection within {CONNECT_TIMEOUT:?}"),
                    ));
                }
            }
        }
    }

    /// Drains the peer's outputs (sending its datagrams, handling its events); its next
    /// timeout.
    fn poll(&mut self, stats: &Stats) -> Result<std::time::Instant, Error> {
        loop {
            let output = self
                .rtc
                .poll_output()
                .map_err(|e| Error::protocol(&self.who, format!("WebRTC: {e}")))?;
            match output {
                Output::Timeout(t) => return Ok(t),
                // A full socket buffer drops the datagram; ICE, DTLS and RTCP retransmit.
                Output::Transmit(t) => {
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(e) => self.event(e, stats)?,
            }
        }
    }

    fn event(&mut self, event: Event, stats: &Stats) -> Result<(), Error> {
        match event {
            Event::Connected => {
                let depack = H264Depacketizer::new(0, 90_000, VideoParams::default());
                self.state = Some(ReaderState::new(Box::new(depack)));
                Stats::add(&stats.readers_up, 1);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Err(Error::protocol(&self.who, "ICE disconnected"));
            }
            Event::RtpPacket(p) => {
                if let Some(state) = &mut self.state {
                    state.on_packet(&to_rtp(&p), stats);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn receive(&mut self, data: &[u8], source: SocketAddr) -> Result<(), Error> {
        let Ok(contents) = data.try_into() else {
            return Ok(()); // not STUN, DTLS or (S)RTP: ignored
        };
        let receive = Receive {
            proto: Protocol::Udp,
            source,
            destination: self.local,
            contents,
        };
        self.input(Input::Receive(std::time::Instant::now(), receive))
    }

    fn input(&mut self, input: Input<'_>) -> Result<(), Error> {
        self.rtc
            .handle_input(input)
            .map_err(|e| Error::protocol(&self.who, format!("WebRTC: {e}")))
    }
}

/// A packet str0m decrypted and parsed, as `vigia-protocol`'s RTP packet (payload shared).
pub fn to_rtp(p: &str0m::rtp::RtpPacket) -> RtpPacket {
    RtpPacket {
        marker: p.header.marker,
        payload_type: *p.header.payload_type,
        sequence_number: p.header.sequence_number,
        timestamp: p.header.timestamp,
        ssrc: *p.header.ssrc,
        csrc: Bytes::new(),
        extension: None,
        payload: Bytes::from_owner(p.payload.clone()),
        padding: 0,
    }
}
