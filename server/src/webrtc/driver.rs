//! The one task that owns the ICE UDP socket (`webrtcLocalUDPAddress`) and every session's
//! sans-IO [`Rtc`]: it demultiplexes datagrams to sessions (`Rtc::accepts`: the ICE ufrag of a
//! STUN request, then the nominated remote address), writes the path's access units into each
//! session, sends what the sessions transmit and drives their timers. Nothing here awaits a
//! peer: a datagram that does not fit the socket's send buffer is dropped (SRTP tolerates loss).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::Codec;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use vigia_media::AccessUnit;

use super::media::{Feed, annex_b};
use crate::paths::ReaderGuard;

/// A session not connected by then is dropped (MediaMTX's `webrtcHandshakeTimeout`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Units waiting for the driver, all sessions together; beyond that a session skips to its
/// next keyframe.
pub(super) const UNIT_QUEUE: usize = 1024;
/// Largest datagram read.
const DATAGRAM_MAX: usize = 2048;

/// What the HTTP side asks of the driver.
pub(super) enum Command {
    /// A new session whose offer was accepted; the driver answers whether it can send H.264.
    Add(Box<NewSession>),
    /// `DELETE` of a session: `true` if it existed.
    Remove {
        /// The session's id (the last segment of its `Location`).
        id: String,
        /// Whether it existed.
        done: oneshot::Sender<bool>,
    },
}

/// A session the HTTP side created.
pub(super) struct NewSession {
    /// The session's secret id.
    pub(super) id: String,
    /// Its path's name, for logs.
    pub(super) path: String,
    /// The state machine, offer accepted, local candidate added.
    pub(super) rtc: Rtc,
    /// The address its host candidate announces (packets for it are handed in as sent there).
    pub(super) local: SocketAddr,
    /// The media to send once connected.
    pub(super) feed: Feed,
    /// The reader slot, released when the session ends.
    pub(super) guard: ReaderGuard,
    /// The answer's video media that sends H.264, if any.
    pub(super) video_mid: Option<Mid>,
    /// `Ok(())` if the answer offers H.264 to send, else why not.
    pub(super) accepted: oneshot::Sender<Result<(), String>>,
}

/// A unit for one session, from its feeder task.
pub(super) struct UnitFor {
    /// The session's key in the driver.
    pub(super) key: u64,
    /// The access unit.
    pub(super) unit: Arc<AccessUnit>,
}

struct Session {
    id: String,
    path: String,
    rtc: Rtc,
    local: SocketAddr,
    /// The video media and the H.264 payload type chosen for it.
    video: Option<(Mid, Pt)>,
    feed: Option<Feed>,
    feeder: Option<tokio::task::JoinHandle<()>>,
    /// Keeps the reader counted (and an on-demand source running) while the session lives.
    _guard: ReaderGuard,
    created: Instant,
    timeout: Instant,
    /// No unit is written before the first keyframe (and after a lost unit).
    want_keyframe: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(feeder) = self.feeder.take() {
            feeder.abort();
        }
    }
}

/// Runs the driver until the command channel closes.
pub(super) async fn run(
    socket: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    units_tx: mpsc::Sender<UnitFor>,
    mut units: mpsc::Receiver<UnitFor>,
) {
    let mut driver = Driver {
        socket,
        sessions: HashMap::new(),
        next_key: 0,
        units_tx,
    };
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        let deadline = driver.next_deadline();
        tokio::select! {
            received = driver.socket.recv_from(&mut buf) => match received {
                Ok((n, source)) => driver.datagram(&buf[..n.min(buf.len())], source),
                Err(e) => tracing::debug!("[WebRTC] UDP read: {e}"),
            },
            command = commands.recv() => match command {
                Some(command) => driver.command(command),
                None => return,
            },
            Some(UnitFor { key, unit }) = units.recv() => driver.unit(key, &unit),
            () = tokio::time::sleep_until(deadline.into()) => driver.timeouts(),
        }
    }
}

struct Driver {
    socket: UdpSocket,
    sessions: HashMap<u64, Session>,
    next_key: u64,
    units_tx: mpsc::Sender<UnitFor>,
}

impl Driver {
    fn next_deadline(&self) -> Instant {
        let idle = Instant::now() + Duration::from_secs(1);
        self.sessions
            .values()
            .map(|s| s.timeout)
            .min()
            .map_or(idle, |t| t.min(idle))
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Add(new) => self.add(*new),
            Command::Remove { id, done } => {
                let key = self
                    .sessions
                    .iter()
                    .find(|(_, s)| s.id == id)
                    .map(|(k, _)| *k);
                if let Some(session) = key.and_then(|k| self.sessions.remove(&k)) {
                    tracing::info!(path = %session.path, session = %session.id, "[WebRTC] session closed by DELETE");
                }
                let _ = done.send(key.is_some());
            }
        }
    }

    fn add(&mut self, new: NewSession) {
        let NewSession {
            id,
            path,
            rtc,
            local,
            feed,
            guard,
            video_mid,
            accepted,
        } = new;
        let now = Instant::now();
        let mut session = Session {
            id,
            path,
            rtc,
            local,
            video: None,
            feed: Some(feed),
            feeder: None,
            _guard: guard,
            created: now,
            timeout: now,
            want_keyframe: true,
        };
        if let Some(mid) = video_mid {
            session.video = choose_h264(&mut session.rtc, mid).map(|pt| (mid, pt));
        }
        poll(&self.socket, &mut session);
        let chosen = session.video.ok_or_else(|| {
            "the offer has no H.264 video (packetization-mode 1) Vigia can send; only H.264 \
             video is served over WebRTC so far"
                .to_string()
        });
        let ok = chosen.is_ok();
        let _ = accepted.send(chosen.map(|_| ()));
        if ok {
            tracing::info!(path = %session.path, session = %session.id, "[WebRTC] session created");
            self.sessions.insert(self.next_key, session);
            self.next_key += 1;
        }
    }

    fn datagram(&mut self, data: &[u8], source: SocketAddr) {
        let now = Instant::now();
        // `accepts` looks at the source and a STUN request's ufrag, not at the destination.
        let probe = |destination| {
            let contents = data.try_into().ok()?;
            Some(Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination,
                    contents,
                },
            ))
        };
        let Some(input) = probe(source) else {
            return;
        };
        let found = self.sessions.iter().find(|(_, s)| s.rtc.accepts(&input));
        let Some((&key, session)) = found else {
            tracing::trace!(%source, "[WebRTC] datagram for no session");
            return;
        };
        // Its host candidate's address: the socket is bound to all addresses.
        let Some(input) = probe(session.local) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        if let Err(e) = session.rtc.handle_input(input) {
            tracing::debug!(session = %session.id, "[WebRTC] input refused: {e}");
        }
        self.after_input(key);
    }

    fn unit(&mut self, key: u64, unit: &AccessUnit) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let Some((mid, pt)) = session.video else {
            return;
        };
        if session.want_keyframe && !unit.keyframe {
            return;
        }
        let Some(feed) = session.feed.as_ref() else {
            return;
        };
        if unit.track != feed.track {
            return;
        }
        session.want_keyframe = false;
        let data = annex_b(unit, &feed.params);
        let ticks = u64::try_from(unit.pts.ticks).unwrap_or(0);
        let clock = Frequency::new(unit.pts.clock_rate).unwrap_or(Frequency::NINETY_KHZ);
        let rtp_time = MediaTime::new(ticks, clock);
        if let Some(writer) = session.rtc.writer(mid)
            && let Err(e) = writer.write(pt, Instant::now(), rtp_time, data)
        {
            tracing::debug!(session = %session.id, "[WebRTC] write: {e}");
        }
        self.after_input(key);
    }

    fn timeouts(&mut self) {
        let now = Instant::now();
        let due: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.timeout <= now || (!s.rtc.is_connected() && now - s.created > HANDSHAKE_TIMEOUT)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some(session) = self.sessions.get_mut(&key) {
                if !session.rtc.is_connected() && now - session.created > HANDSHAKE_TIMEOUT {
                    tracing::info!(path = %session.path, session = %session.id, "[WebRTC] no connection within {HANDSHAKE_TIMEOUT:?}; session dropped");
                    session.rtc.disconnect();
                } else if let Err(e) = session.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!(session = %session.id, "[WebRTC] timer: {e}");
                }
            }
            self.after_input(key);
        }
    }

    /// Polls session `key` after it got input; starts its feeder once connected, drops it
    /// once dead.
    fn after_input(&mut self, key: u64) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        poll(&self.socket, session);
        if !session.rtc.is_alive() {
            tracing::info!(path = %session.path, session = %session.id, "[WebRTC] session ended");
            self.sessions.remove(&key);
            return;
        }
        if session.rtc.is_connected()
            && session.feeder.is_none()
            && let Some(feed) = session.feed.as_ref()
        {
            tracing::info!(path = %session.path, session = %session.id, "[WebRTC] connected; sending video");
            let feeder = feed.clone().run(key, self.units_tx.clone());
            session.feeder = Some(tokio::spawn(feeder));
        }
    }
}

/// Drains `session`'s outputs: transmits, events, then its next timeout.
fn poll(socket: &UdpSocket, session: &mut Session) {
    loop {
        match session.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                session.timeout = t;
                return;
            }
            Ok(Output::Transmit(t)) => {
                if let Err(e) = socket.try_send_to(&t.contents, t.destination) {
                    tracing::trace!("[WebRTC] datagram dropped: {e}");
                }
            }
            Ok(Output::Event(event)) => on_event(session, event),
            Err(e) => {
                tracing::info!(session = %session.id, "[WebRTC] session failed: {e}");
                session.rtc.disconnect();
                return;
            }
        }
    }
}

fn on_event(session: &mut Session, event: Event) {
    match event {
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
            session.rtc.disconnect();
        }
        Event::KeyframeRequest(_) => {
            // The hub's streams have periodic keyframes and a camera cannot be asked for one:
            // the viewer's decoder recovers at the next keyframe, which arrives on its own.
            tracing::debug!(session = %session.id, "[WebRTC] keyframe request (PLI/FIR): next keyframe follows");
        }
        _ => {}
    }
}

/// The negotiated H.264 payload type with packetization-mode 1 on `mid`, if any.
fn choose_h264(rtc: &mut Rtc, mid: Mid) -> Option<Pt> {
    let writer = rtc.writer(mid)?;
    let mut h264 = writer
        .payload_params()
        .filter(|p| p.spec().codec == Codec::H264)
        .filter(|p| p.spec().format.packetization_mode == Some(1));
    h264.next().map(|p| p.pt())
}
