//! UDP multicast for readers: one group address per stream track from `multicastIPRange`, and
//! one sender per stream that sends its shared RTP packets to the groups while any multicast
//! reader plays.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use vigia_media::hub::Next;

use super::reports;
use super::udp::send_chunks;
use crate::config::{Config, IpNet};
use crate::paths::lock;
use crate::stream::PathStream;

/// Time-to-live of multicast packets (hops), as MediaMTX.
pub(crate) const MULTICAST_TTL: u8 = 16;

/// Multicast groups and their senders.
pub(crate) struct Multicast {
    range: IpNet,
    rtp_port: u16,
    rtcp_port: u16,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_offset: u32,
    /// Keyed by the stream's address: a stream keeps its groups while it lives.
    groups: HashMap<usize, Group>,
}

struct Group {
    stream: Weak<PathStream>,
    addresses: Vec<Ipv4Addr>,
    readers: usize,
    sender: Option<JoinHandle<()>>,
}

/// A multicast reader's hold on its stream's sender; dropping it may stop the sender.
pub(crate) struct Lease {
    multicast: Arc<Multicast>,
    key: usize,
}

impl Multicast {
    /// Multicast settings from the config.
    pub(crate) fn new(config: &Config) -> Arc<Self> {
        Arc::new(Self {
            range: config.multicast_ip_range,
            rtp_port: config.multicast_rtp_port,
            rtcp_port: config.multicast_rtcp_port,
            state: Mutex::default(),
        })
    }

    /// The RTP and RTCP ports readers listen on.
    pub(crate) fn ports(&self) -> (u16, u16) {
        (self.rtp_port, self.rtcp_port)
    }

    /// The group address of `track` of `stream`, allocated on first use.
    pub(crate) fn address(&self, stream: &Arc<PathStream>, track: usize) -> Option<Ipv4Addr> {
        let mut state = lock(&self.state);
        state.groups.retain(|_, g| g.stream.strong_count() > 0);
        let key = Arc::as_ptr(stream) as usize;
        if !state.groups.contains_key(&key) {
            let addresses = (0..stream.tracks().len())
                .map(|_| self.allocate(&mut state))
                .collect::<Option<Vec<_>>>()?;
            let group = Group {
                stream: Arc::downgrade(stream),
                addresses,
                readers: 0,
                sender: None,
            };
            state.groups.insert(key, group);
        }
        state.groups.get(&key)?.addresses.get(track).copied()
    }

    /// Registers a multicast reader of `stream`, starting its sender if needed.
    pub(crate) fn join(self: &Arc<Self>, stream: &Arc<PathStream>) -> Option<Lease> {
        self.address(stream, 0)?;
        let key = Arc::as_ptr(stream) as usize;
        let mut state = lock(&self.state);
        let group = state.groups.get_mut(&key)?;
        group.readers += 1;
        if group.sender.as_ref().is_none_or(JoinHandle::is_finished) {
            let targets = group
                .addresses
                .iter()
                .map(|a| GroupTarget {
                    rtp: SocketAddr::from((*a, self.rtp_port)),
                    rtcp: SocketAddr::from((*a, self.rtcp_port)),
                })
                .collect();
            group.sender = Some(tokio::spawn(send_loop(stream.clone(), targets)));
        }
        Some(Lease {
            multicast: self.clone(),
            key,
        })
    }

    fn allocate(&self, state: &mut State) -> Option<Ipv4Addr> {
        let std::net::IpAddr::V4(base) = self.range.addr() else {
            return None;
        };
        let size = 1u32
            .checked_shl(32 - u32::from(self.range.prefix()))
            .unwrap_or(0)
            .max(2);
        let offset = state.next_offset % size;
        state.next_offset = state.next_offset.wrapping_add(1);
        Some(Ipv4Addr::from(u32::from(base).wrapping_add(offset)))
    }

    fn leave(&self, key: usize) {
        let mut state = lock(&self.state);
        let Some(group) = state.groups.get_mut(&key) else {
            return;
        };
        group.readers = group.readers.saturating_sub(1);
        if group.readers == 0
            && let Some(sender) = group.sender.take()
        {
            sender.abort();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.multicast.leave(self.key);
    }
}

/// Where one track's multicast packets go.
struct GroupTarget {
    rtp: SocketAddr,
    rtcp: SocketAddr,
}

/// Sends the stream's RTP packets to the groups, with a sender report per track now and then.
async fn send_loop(stream: Arc<PathStream>, targets: Vec<GroupTarget>) {
    let socket = match multicast_socket().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("[RTSP] can't open a multicast socket: {e}");
            return;
        }
    };
    let mut cursor = stream.subscribe_rtp();
    let mut sender_reports = reports::for_reader(stream.rtp_sources());
    drop(stream);
    loop {
        match cursor.next().await {
            Next::Item(batch) => {
                let Some(target) = targets.get(batch.track) else {
                    continue;
                };
                if let Some(report) = reports::on_sent(&mut sender_reports, &batch, Instant::now())
                {
                    let _ = send_chunks(&socket, std::slice::from_ref(&report), target.rtcp);
                }
                for packet in &batch.packets {
                    let _ = send_chunks(&socket, &packet.chunks, target.rtp);
                }
            }
            Next::Lagged { skipped } => {
                tracing::warn!("[RTSP] multicast sender skipped {skipped} units")
            }
            Next::Closed | Next::Pending => return,
        }
    }
}

async fn multicast_socket() -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind("0.0.0.0:0").await?;
    socket.set_multicast_ttl_v4(u32::from(MULTICAST_TTL))?;
    socket.set_multicast_loop_v4(true)?;
    Ok(socket)
}
