//! The driver's datagrams leave in batches: every datagram a driver turn produces (a keyframe
//! for one viewer is ~50) is queued and written with `sendmmsg`, up to [`BATCH`] per system
//! call, instead of one `sendto` each. Nothing waits for the socket: what does not fit its send
//! buffer is dropped, as SRTP over UDP allows (NACK recovers video).

use std::io::IoSlice;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
use tokio::net::UdpSocket;

/// Datagrams per `sendmmsg` call.
const BATCH: usize = 64;

/// Datagrams waiting for the end of the driver's turn.
#[derive(Default)]
pub(super) struct Outbox {
    queue: Vec<(SockaddrStorage, Vec<u8>)>,
}

impl Outbox {
    /// Queues `datagram` for `destination`.
    pub(super) fn push(&mut self, destination: SocketAddr, datagram: Vec<u8>) {
        self.queue
            .push((SockaddrStorage::from(destination), datagram));
    }

    /// Writes every queued datagram; returns how many were dropped.
    pub(super) fn flush(&mut self, socket: &UdpSocket) -> usize {
        let dropped = self
            .queue
            .chunks(BATCH)
            .map(|chunk| send_chunk(socket, chunk))
            .sum();
        self.queue.clear();
        dropped
    }
}

/// Sends `chunk` (at most [`BATCH`] datagrams) with as few calls as the socket allows; returns
/// how many were dropped (a full send buffer, or an error).
/// (The message headers hold raw pointers, so they are made per call, not kept in the
/// driver's future, which must be `Send`.)
fn send_chunk(socket: &UdpSocket, chunk: &[(SockaddrStorage, Vec<u8>)]) -> usize {
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(chunk.len(), None);
    let mut sent = 0;
    while sent < chunk.len() {
        let rest = &chunk[sent..];
        let slices: Vec<[IoSlice<'_>; 1]> = rest.iter().map(|(_, d)| [IoSlice::new(d)]).collect();
        let addresses: Vec<Option<SockaddrStorage>> = rest.iter().map(|(a, _)| Some(*a)).collect();
        let result = sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            &slices,
            &addresses,
            [],
            MsgFlags::MSG_DONTWAIT,
        );
        match result.map(Iterator::count) {
            Ok(n) if n > 0 => sent += n,
            Ok(_) => break,
            Err(e) => {
                tracing::trace!("[WebRTC] {} datagrams dropped: {e}", rest.len());
                break;
            }
        }
    }
    chunk.len() - sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queued_datagrams_arrive_in_order_in_batches() {
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let to = receiver.local_addr().unwrap();
        let mut outbox = Outbox::default();
        for i in 0..150u8 {
            outbox.push(to, vec![i; 100]);
        }
        assert_eq!(outbox.flush(&sender), 0);
        let mut buf = [0u8; 200];
        for i in 0..150u8 {
            let (n, _) = receiver.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 100][..]);
        }
        assert_eq!(outbox.flush(&sender), 0, "an empty outbox sends nothing");
    }
}
