//! The writing half of an RTSP connection: responses, and while playing, the stream's shared RTP
//! packets — interleaved on the TCP connection (one vectored write per access unit) or sent to
//! the reader's UDP ports — with an RTCP sender report per track every few seconds. A reader too
//! slow for its socket falls behind in the hub, skips to the newest keyframe and is counted; after
//! `writeTimeout` without progress it is disconnected.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use socket2::SockRef;
use tokio::io::{AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use vigia_media::hub::{Cursor, Next};
use vigia_protocol::JOIN_AT_SENDING;
use vigia_protocol::rtp_session::SenderReports;
use vigia_protocol::rtsp::interleaved_header;

use super::publisher::WarnSummary;
use super::reports;
use super::udp::UdpTransport;
use crate::stream::RtpBatch;

/// What the reading half asks the writing half to do, in order.
pub(crate) enum Outgoing {
    /// Write these bytes (a serialized response).
    Bytes(Vec<u8>),
    /// Start sending the stream's RTP as `plan` says.
    Play(PlayPlan),
    /// Stop sending RTP (PAUSE, TEARDOWN).
    Stop,
}

/// Where a playing session's packets go.
pub(crate) struct PlayPlan {
    /// The reader's position in the stream's RTP hub.
    pub(crate) cursor: Cursor<RtpBatch>,
    /// Batches already taken from the cursor (to state `RTP-Info`), sent first.
    pub(crate) pending: Vec<Arc<RtpBatch>>,
    /// Per stream track: where its packets go (`None`: not set up).
    pub(crate) targets: Vec<Option<Target>>,
    /// Path name, for logs.
    pub(crate) path: String,
    /// The shared UDP sockets, for UDP targets.
    pub(crate) udp: Option<Arc<UdpTransport>>,
    /// This reader's RTCP sender reports.
    pub(crate) reports: SenderReports,
}

/// The destination of one track's packets.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// Interleaved on the RTSP connection, on these channels.
    Tcp {
        /// Channel of the RTP packets.
        rtp: u8,
        /// Channel of the RTCP packets.
        rtcp: u8,
    },
    /// To the reader's UDP ports.
    Udp {
        /// Where RTP packets go.
        rtp: SocketAddr,
        /// Where RTCP packets go.
        rtcp: SocketAddr,
    },
    /// Multicast: the stream's multicast sender handles it.
    Multicast,
}

/// The writing half of a connection, which can bound its socket's kernel send buffer.
pub(crate) trait BoundSendBuffer {
    /// Sets the socket's send buffer to `bytes` (best effort).
    fn bound_send_buffer(&self, bytes: usize);
}

impl BoundSendBuffer for OwnedWriteHalf {
    fn bound_send_buffer(&self, bytes: usize) {
        let _ = SockRef::from(self.as_ref()).set_send_buffer_size(bytes);
    }
}

impl BoundSendBuffer for WriteHalf<TlsStream<TcpStream>> {
    /// Nothing: the split TLS stream gives no access to its socket, whose buffer the RTSPS
    /// listener bounds at accept instead.
    fn bound_send_buffer(&self, _bytes: usize) {}
}

/// Why the writer stopped.
pub(crate) enum WriterEnd {
    /// The connection is closing normally.
    Closed,
    /// The stream being played ended (the publisher left).
    StreamEnded,
    /// The client went away.
    Disconnected,
    /// The socket made no progress within `writeTimeout`, or failed unexpectedly.
    Failed(String),
}

/// Runs the writer until the reading half drops its sender or a write fails.
///
/// `send_buffer` bounds the kernel's send buffer once playing starts: without a bound, Linux
/// autotuning lets megabytes pile up in the kernel for a stalled reader, hiding the backlog from
/// the hub (where it would be skipped and counted) and from `writeTimeout`.
pub(crate) async fn run(
    mut socket: impl AsyncWrite + BoundSendBuffer + Unpin,
    mut requests: mpsc::Receiver<Outgoing>,
    write_timeout: Duration,
    send_buffer: usize,
    sent: Arc<AtomicU64>,
) -> WriterEnd {
    let mut play: Option<PlayPlan> = None;
    let count = |n: usize| sent.fetch_add(n as u64, Ordering::Relaxed);
    let mut slow = WarnSummary::default();
    loop {
        let step = tokio::select! {
            biased;
            msg = requests.recv() => match msg {
                None => return WriterEnd::Closed,
                Some(Outgoing::Bytes(bytes)) => {
                    count(bytes.len());
                    timed(write_timeout, write_flushed(&mut socket, &bytes)).await
                }
                Some(Outgoing::Play(mut plan)) => {
                    socket.bound_send_buffer(send_buffer);
                    let pending = std::mem::take(&mut plan.pending);
                    count(pending.iter().map(|b| rtp_bytes(b)).sum());
                    play = Some(plan);
                    send_all(&mut socket, play.as_mut(), &pending, write_timeout).await
                }
                Some(Outgoing::Stop) => { play = None; Ok(()) }
            },
            next = next_batch(&mut play) => match next {
                Next::Item(batch) => {
                    count(rtp_bytes(&batch));
                    send_batch(&mut socket, play.as_mut(), &batch, write_timeout).await
                }
                Next::Lagged { skipped } => {
                    let path = play.as_ref().map_or("", |p| p.path.as_str());
                    slow.warn(path, format_args!("reader is too slow for its connection: skipped {skipped} units, resuming at the newest keyframe"));
                    Ok(())
                }
                Next::Closed => return WriterEnd::StreamEnded,
                Next::Pending => Ok(()),
            },
        };
        match step {
            Ok(()) => {}
            Err(e) if is_disconnect(&e) => return WriterEnd::Disconnected,
            Err(e) => return WriterEnd::Failed(e.to_string()),
        }
    }
}

/// Bytes of the RTP packets of `batch` (what `outboundBytes` counts, with RTSP responses).
fn rtp_bytes(batch: &RtpBatch) -> usize {
    batch.packets.iter().map(|p| p.len()).sum()
}

fn is_disconnect(e: &io::Error) -> bool {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, WriteZero};
    matches!(
        e.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | WriteZero
    )
}

async fn next_batch(play: &mut Option<PlayPlan>) -> Next<RtpBatch> {
    match play {
        Some(plan) => plan.cursor.next().await,
        None => std::future::pending().await,
    }
}

async fn timed(limit: Duration, write: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "write timed out (writeTimeout)",
        )),
    }
}

async fn send_all(
    socket: &mut (impl AsyncWrite + Unpin),
    mut plan: Option<&mut PlayPlan>,
    batches: &[Arc<RtpBatch>],
    write_timeout: Duration,
) -> io::Result<()> {
    for batch in batches {
        send_batch(socket, plan.as_deref_mut(), batch, write_timeout).await?;
    }
    Ok(())
}

/// Sends `batch` to its track's target, preceded by that track's sender report when one is due
/// (so a reader has each track's wall-clock mapping from its first packet on; see
/// [`SenderReports`]).
async fn send_batch(
    socket: &mut (impl AsyncWrite + Unpin),
    plan: Option<&mut PlayPlan>,
    batch: &RtpBatch,
    write_timeout: Duration,
) -> io::Result<()> {
    let Some(plan) = plan else { return Ok(()) };
    let target = plan.targets.get(batch.track).copied().flatten();
    let report = match target {
        Some(Target::Tcp { .. } | Target::Udp { .. }) => {
            reports::on_sent(&mut plan.reports, batch, Instant::now())
        }
        Some(Target::Multicast) | None => None,
    };
    match target {
        Some(Target::Tcp { rtp, rtcp }) => {
            if let Some(report) = report {
                timed(write_timeout, write_rtcp(socket, rtcp, &report)).await?;
            }
            timed(write_timeout, write_interleaved(socket, rtp, batch)).await
        }
        Some(Target::Udp { rtp, rtcp }) => {
            if let Some(udp) = &plan.udp {
                if let Some(report) = report {
                    let _ = udp.send_rtcp(&report, rtcp);
                }
                for packet in &batch.packets {
                    let _ = udp.send_rtp(&packet.chunks, rtp);
                }
            }
            Ok(())
        }
        Some(Target::Multicast) | None => Ok(()),
    }
}

/// Writes one RTCP compound packet as a `$ channel len` frame.
async fn write_rtcp(
    socket: &mut (impl AsyncWrite + Unpin),
    channel: u8,
    rtcp: &[u8],
) -> io::Result<()> {
    let header = frame_header(channel, rtcp.len())?;
    let mut slices = [IoSlice::new(&header), IoSlice::new(rtcp)];
    write_all_vectored(socket, &mut slices).await
}

/// The interleaved frame header for `len` bytes; an error for a packet too long to frame.
fn frame_header(channel: u8, len: usize) -> io::Result<[u8; 4]> {
    interleaved_header(channel, len).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len}-byte packet does not fit an interleaved frame"),
        )
    })
}

/// Writes every packet of `batch` as `$ channel len` frames: the first readers with one
/// vectored write of the packets' own chunks (repeated only when the socket takes part of it),
/// the next ones from the frames joined once (see [`crate::stream::FramedOnce`]).
async fn write_interleaved(
    socket: &mut (impl AsyncWrite + Unpin),
    channel: u8,
    batch: &RtpBatch,
) -> io::Result<()> {
    if let Some(frames) = joined_frames(channel, batch)? {
        return write_flushed(socket, &frames).await;
    }
    let headers = batch
        .packets
        .iter()
        .map(|p| frame_header(channel, p.len()))
        .collect::<io::Result<Vec<_>>>()?;
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(batch.packets.len() * 4);
    for (header, packet) in headers.iter().zip(&batch.packets) {
        slices.push(IoSlice::new(header));
        slices.extend(packet.chunks.iter().map(|c| IoSlice::new(c)));
    }
    write_all_vectored(socket, &mut slices).await
}

/// `batch` framed for `channel` in one buffer, from its [`JOIN_AT_SENDING`]th sending on when
/// it was joined for that channel; `None` before, or for another channel.
fn joined_frames(channel: u8, batch: &RtpBatch) -> io::Result<Option<Bytes>> {
    let framed = &batch.framed;
    if framed.sends.fetch_add(1, Ordering::Relaxed) + 1 < JOIN_AT_SENDING {
        return Ok(None);
    }
    let (joined_for, frames) = match framed.frames.get() {
        Some(joined) => joined,
        None => {
            let frames = frame_packets(channel, batch)?;
            framed.frames.get_or_init(|| (channel, frames))
        }
    };
    Ok((*joined_for == channel).then(|| frames.clone()))
}

/// Every packet of `batch` after its `$ channel len` header, in one buffer.
fn frame_packets(channel: u8, batch: &RtpBatch) -> io::Result<Bytes> {
    let len: usize = batch.packets.iter().map(|p| 4 + p.len()).sum();
    let mut frames = Vec::with_capacity(len);
    for packet in &batch.packets {
        frames.extend_from_slice(&frame_header(channel, packet.len())?);
        for chunk in &packet.chunks {
            frames.extend_from_slice(chunk);
        }
    }
    Ok(frames.into())
}

async fn write_all_vectored(
    socket: &mut (impl AsyncWrite + Unpin),
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    while !slices.is_empty() {
        let written = socket.write_vectored(slices).await?;
        if written == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "connection closed",
            ));
        }
        IoSlice::advance_slices(&mut slices, written);
    }
    socket.flush().await
}

/// Writes `bytes`, then flushes: a TLS stream may keep the end of a record until flushed (a
/// plain TCP socket's flush does nothing).
async fn write_flushed(socket: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> io::Result<()> {
    socket.write_all(bytes).await?;
    socket.flush().await
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vigia_protocol::JOIN_AT_SENDING;
    use vigia_protocol::payload::OutPacket;

    use super::write_interleaved;
    use crate::stream::{FramedOnce, RtpBatch};

    fn batch() -> RtpBatch {
        let packet = |seq: u16, chunks: &[&'static [u8]]| OutPacket {
            sequence_number: seq,
            timestamp: 9000,
            marker: seq == 2,
            chunks: chunks.iter().map(|c| Bytes::from_static(c)).collect(),
        };
        RtpBatch {
            track: 0,
            packets: vec![
                packet(1, &[b"head1", b"ab", b"cde"]),
                packet(2, &[b"head2", b"f"]),
            ],
            wallclock_us: 0,
            framed: FramedOnce::default(),
        }
    }

    async fn written(channel: u8, batch: &RtpBatch) -> Vec<u8> {
        let mut out = Vec::new();
        write_interleaved(&mut out, channel, batch)
            .await
            .expect("written");
        out
    }

    #[tokio::test]
    async fn many_readers_get_the_same_frames_from_one_joined_buffer() {
        let batch = batch();
        let expected = |channel: u8| {
            let mut frames = vec![b'$', channel, 0, 10];
            frames.extend_from_slice(b"head1abcde");
            frames.extend_from_slice(&[b'$', channel, 0, 6]);
            frames.extend_from_slice(b"head2f");
            frames
        };
        for _ in 1..JOIN_AT_SENDING {
            assert_eq!(written(0, &batch).await, expected(0), "vectored");
        }
        assert!(
            batch.framed.frames.get().is_none(),
            "a few readers: no copy"
        );
        assert_eq!(written(0, &batch).await, expected(0), "joined");
        assert_eq!(batch.framed.frames.get().map(|(c, _)| *c), Some(0));
        assert_eq!(written(2, &batch).await, expected(2), "another channel");
        assert_eq!(written(0, &batch).await, expected(0));
    }
}
