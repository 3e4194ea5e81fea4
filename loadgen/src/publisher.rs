//! One synthetic camera: RTSP ANNOUNCE/SETUP/RECORD, then the clip's frames at their frame rate
//! over TCP (interleaved) or UDP, each with a wall-clock SEI stamp.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};
use vigia_protocol::rtsp::headers::Transport as TransportHeader;
use vigia_protocol::rtsp::message::Method;
use vigia_protocol::sdp::sdp_for_tracks;

use crate::cli::Transport;
use crate::clip::{PacketizedClip, RtpState};
use crate::error::Context;
use crate::rtsp_conn::RtspConn;
use crate::stats::Stats;
use crate::{Error, wallclock_us};

/// What a camera needs to run.
#[derive(Clone, Debug)]
pub struct Camera {
    /// Index, used in the path name and the SSRC.
    pub index: usize,
    /// `rtsp://host:port/<prefix><index>`.
    pub url: String,
    /// Server host and RTSP port.
    pub host: String,
    /// RTSP port.
    pub port: u16,
    /// RTP transport.
    pub transport: Transport,
}

/// Publishes until `until`; errors are counted in `stats` by the caller.
pub async fn run(
    cam: Camera,
    clip: PacketizedClip,
    stats: Arc<Stats>,
    until: Instant,
) -> Result<(), Error> {
    let who = format!("camera {}", cam.index);
    let source = crate::net::loopback_source(&cam.host, cam.index);
    let mut conn = RtspConn::connect(&cam.host, cam.port, source, who.clone()).await?;
    let sdp = sdp_for_tracks(std::slice::from_ref(&clip.track), "vigia-loadgen").to_bytes();
    conn.request(
        Method::Announce,
        &cam.url,
        &[],
        Some(("application/sdp", sdp)),
    )
    .await?;
    let udp = match cam.transport {
        Transport::Tcp => None,
        Transport::Udp => Some(bind_udp(source, &who).await?),
    };
    let transport = transport_header(udp.as_ref().map(|(_, port)| *port));
    let setup_url = format!("{}/trackID=0", cam.url);
    let resp = conn
        .request(Method::Setup, &setup_url, &[("Transport", transport)], None)
        .await?;
    conn.request(Method::Record, &cam.url, &[], None).await?;
    let udp = match udp {
        Some((sock, _)) => Some(connect_udp(sock, &cam.host, &resp, &who).await?),
        None => None,
    };
    Stats::add(&stats.cameras_up, 1);
    let result = send_loop(&cam, &mut conn, udp.as_ref(), &clip, &stats, until).await;
    stats
        .cameras_up
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    result
}

/// The SETUP `Transport` header: interleaved channels 0-1, or our UDP port pair.
fn transport_header(udp_port: Option<u16>) -> String {
    match udp_port {
        None => "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record".into(),
        Some(p) => format!("RTP/AVP;unicast;client_port={p}-{};mode=record", p + 1),
    }
}

async fn bind_udp(source: Option<IpAddr>, who: &str) -> Result<(UdpSocket, u16), Error> {
    let ip = source.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let sock = UdpSocket::bind((ip, 0))
        .await
        .context(|| format!("{who} bind UDP"))?;
    let port = sock
        .local_addr()
        .context(|| format!("{who} bind UDP"))?
        .port();
    Ok((sock, port))
}

async fn connect_udp(
    sock: UdpSocket,
    host: &str,
    setup: &vigia_protocol::rtsp::message::Response,
    who: &str,
) -> Result<UdpSocket, Error> {
    let server_port = setup
        .headers
        .get("Transport")
        .and_then(|t| TransportHeader::parse(t).ok())
        .and_then(|t| t.server_port)
        .ok_or_else(|| Error::protocol(who, "SETUP answer has no server_port"))?;
    sock.connect((host, server_port.0))
        .await
        .context(|| format!("{who} connect UDP"))?;
    Ok(sock)
}

/// Sends frame after frame on a per-camera interval; reads (and drops) what the server sends
/// (RTCP receiver reports, keep-alive answers) so its socket buffer never fills.
async fn send_loop(
    cam: &Camera,
    conn: &mut RtspConn,
    udp: Option<&UdpSocket>,
    clip: &PacketizedClip,
    stats: &Stats,
    until: Instant,
) -> Result<(), Error> {
    let mut tick = tokio::time::interval(clip.frame_duration());
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut rtp = RtpState {
        ssrc: 0x5649_0000 ^ cam.index as u32,
        seq: (cam.index as u16).wrapping_mul(7919),
    };
    let mut out = Vec::with_capacity(64 * 1024);
    let mut ends = Vec::with_capacity(64);
    let mut keepalive = Instant::now();
    for n in 0u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            r = conn.read_item() => { r?; continue; }
        }
        if Instant::now() >= until {
            break;
        }
        out.clear();
        let sent = match udp {
            None => send_tcp(conn, &mut rtp, clip, n, &mut out).await?,
            Some(sock) => send_udp(sock, &mut rtp, clip, n, &mut out, &mut ends).await?,
        };
        Stats::add(&stats.bytes_sent, sent as u64);
        Stats::add(&stats.frames_sent, 1);
        if keepalive.elapsed().as_secs() >= 20 {
            keepalive = Instant::now();
            conn.send(Method::Options, &cam.url, &[], None).await?;
        }
    }
    let _ = conn.send(Method::Teardown, &cam.url, &[], None).await;
    Ok(())
}

async fn send_tcp(
    conn: &mut RtspConn,
    rtp: &mut RtpState,
    clip: &PacketizedClip,
    n: u64,
    out: &mut Vec<u8>,
) -> Result<usize, Error> {
    rtp.write_interleaved(clip, n, wallclock_us(), 0, out);
    conn.write_all(out).await?;
    Ok(out.len())
}

/// Sends frame `n` as datagrams, built back to back in `out` (no allocation per packet).
async fn send_udp(
    sock: &UdpSocket,
    rtp: &mut RtpState,
    clip: &PacketizedClip,
    n: u64,
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<usize, Error> {
    ends.clear();
    rtp.frame_packets(clip, n, wallclock_us(), |h, p| {
        out.extend_from_slice(h);
        out.extend_from_slice(p);
        ends.push(out.len());
    });
    let mut start = 0;
    for &end in ends.iter() {
        sock.send(&out[start..end])
            .await
            .context(|| format!("camera {} send UDP", rtp.ssrc & 0xFFFF))?;
        start = end;
    }
    Ok(out.len())
}
