//! The shared UDP RTP/RTCP sockets (`rtpAddress`, `rtcpAddress`): packets from UDP publishers
//! are routed by source address to their publisher; packets to UDP readers go out from here.

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::publisher::Publisher;
use crate::paths::lock;

/// Largest UDP datagram read.
const MAX_DATAGRAM: usize = 65_536;
/// Receive buffer refill size: one allocation serves many packets.
const RECV_BUFFER: usize = 256 * 1024;

/// Where a datagram from a given address goes.
#[derive(Clone)]
pub(crate) enum Route {
    /// RTP or RTCP of a publisher's track (announced media index).
    Publish {
        /// The publisher.
        publisher: Arc<Mutex<Publisher>>,
        /// Media index in the announced SDP.
        media: usize,
        /// Whether this address sends RTCP.
        rtcp: bool,
    },
    /// RTCP receiver reports of a UDP reader: they keep its session alive.
    Read {
        /// Last time the reader was heard from.
        activity: Arc<Mutex<Instant>>,
    },
}

/// The two shared UDP sockets and the routing table.
pub(crate) struct UdpTransport {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    routes: Mutex<HashMap<SocketAddr, Route>>,
}

impl UdpTransport {
    /// Binds the RTP and RTCP sockets.
    pub(crate) async fn bind(rtp: &str, rtcp: &str) -> Result<Arc<Self>, String> {
        let rtp_socket = UdpSocket::bind(rtp)
            .await
            .map_err(|e| format!("can't listen on {rtp} (rtpAddress): {e}"))?;
        let rtcp_socket = UdpSocket::bind(rtcp)
            .await
            .map_err(|e| format!("can't listen on {rtcp} (rtcpAddress): {e}"))?;
        Ok(Arc::new(Self {
            rtp: rtp_socket,
            rtcp: rtcp_socket,
            routes: Mutex::default(),
        }))
    }

    /// The RTP and RTCP ports, as stated in `server_port=`.
    pub(crate) fn ports(&self) -> (u16, u16) {
        let port = |s: &UdpSocket| s.local_addr().map_or(0, |a| a.port());
        (port(&self.rtp), port(&self.rtcp))
    }

    /// Starts the two receive loops.
    pub(crate) fn spawn_receivers(self: Arc<Self>) -> Vec<JoinHandle<()>> {
        vec![
            tokio::spawn(self.clone().receive(false)),
            tokio::spawn(self.receive(true)),
        ]
    }

    /// Routes datagrams from `from` to `route` until [`UdpTransport::remove`].
    pub(crate) fn add(&self, from: SocketAddr, route: Route) {
        lock(&self.routes).insert(from, route);
    }

    /// Removes the routes of `addrs`.
    pub(crate) fn remove(&self, addrs: &[SocketAddr]) {
        let mut routes = lock(&self.routes);
        for addr in addrs {
            routes.remove(addr);
        }
    }

    /// Sends one RTP packet (its chunks in one vectored datagram) to a reader. A full socket
    /// buffer drops the packet: UDP readers get what the network can carry.
    pub(crate) fn send_rtp(&self, chunks: &[Bytes], to: SocketAddr) -> io::Result<()> {
        send_chunks(&self.rtp, chunks, to)
    }

    /// Sends one RTCP compound packet to a reader, from the server's RTCP port.
    pub(crate) fn send_rtcp(&self, packet: &Bytes, to: SocketAddr) -> io::Result<()> {
        send_chunks(&self.rtcp, std::slice::from_ref(packet), to)
    }

    async fn receive(self: Arc<Self>, rtcp: bool) {
        let socket = if rtcp { &self.rtcp } else { &self.rtp };
        let mut buf = BytesMut::with_capacity(RECV_BUFFER);
        loop {
            if buf.capacity() - buf.len() < MAX_DATAGRAM {
                buf = BytesMut::with_capacity(RECV_BUFFER.max(MAX_DATAGRAM));
            }
            let from = match socket.recv_buf_from(&mut buf).await {
                Ok((_, from)) => from,
                Err(e) => {
                    tracing::debug!("[RTSP] UDP receive error: {e}");
                    buf.clear();
                    continue;
                }
            };
            let datagram = buf.split().freeze();
            self.deliver(from, datagram, rtcp);
        }
    }

    fn deliver(&self, from: SocketAddr, datagram: Bytes, is_rtcp_socket: bool) {
        let route = lock(&self.routes).get(&from).cloned();
        match route {
            Some(Route::Publish {
                publisher,
                media,
                rtcp,
            }) if rtcp == is_rtcp_socket => {
                let mut publisher = lock(&publisher);
                let now = Instant::now();
                if rtcp {
                    publisher.on_rtcp(media, datagram, now);
                } else {
                    publisher.on_udp_rtp(media, &datagram, now);
                }
            }
            Some(Route::Read { activity }) => *lock(&activity) = Instant::now(),
            _ => tracing::trace!("[RTSP] UDP datagram from unknown {from} dropped"),
        }
    }
}

/// Sends `chunks` as one datagram with a vectored write (no copy into a staging buffer).
pub(crate) fn send_chunks(socket: &UdpSocket, chunks: &[Bytes], to: SocketAddr) -> io::Result<()> {
    const MAX_CHUNKS: usize = 8;
    let mut slices = [IoSlice::new(&[]); MAX_CHUNKS];
    if chunks.len() > MAX_CHUNKS {
        return Err(io::Error::other("packet has too many chunks"));
    }
    for (slot, chunk) in slices.iter_mut().zip(chunks) {
        *slot = IoSlice::new(chunk);
    }
    let slices = &slices[..chunks.len()];
    socket.try_io(Interest::WRITABLE, || {
        SockRef::from(socket)
            .send_to_vectored(slices, &to.into())
            .map(|_| ())
    })
}
