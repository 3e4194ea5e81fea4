//! The one task that owns the ICE UDP socket (`webrtcLocalUDPAddress`) and every session's
//! sans-IO [`Rtc`]: it demultiplexes datagrams to sessions (`Rtc::accepts`: the ICE ufrag of a
//! STUN request, then the nominated remote address), writes the path's access units into each
//! reading session, hands what publishing sessions receive to their path, sends what the
//! sessions transmit (in batches, [`super::send`]) and drives their timers. Nothing here awaits
//! a peer: a datagram that does not fit the socket's send buffer is dropped (SRTP tolerates
//! loss).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::Codec;
use str0m::media::{Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use vigia_media::AccessUnit;

use super::media::{AudioCodec, Feed};
use super::publish::Publication;
use super::rtp::PacketCache;
use super::send::Outbox;
use super::sessions::EntryGuard;
use crate::paths::ReaderGuard;

/// Units waiting for the driver, all sessions together; beyond that a session skips to its
/// next keyframe.
pub(super) const UNIT_QUEUE: usize = 1024;
/// Largest datagram read.
const DATAGRAM_MAX: usize = 2048;

/// What the HTTP side asks of the driver.
pub(super) enum Command {
    /// A new session whose offer was accepted; the driver answers whether it can go on.
    Add(Box<NewSession>),
    /// `DELETE` of a session: `true` if it existed.
    Remove {
        /// The session's id (the last segment of its `Location`).
        id: String,
        /// Whether it existed.
        done: oneshot::Sender<bool>,
    },
    /// `PATCH` of a session with trickled candidates: `true` if it existed.
    Candidates {
        /// The session's id.
        id: String,
        /// The peer's candidates to add.
        candidates: Vec<Candidate>,
        /// Whether the session existed.
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
    /// Reading or publishing.
    pub(super) role: NewRole,
    /// Its entry in the API's list of sessions.
    pub(super) entry: EntryGuard,
    /// `Ok(())` if the session can carry media, else why not.
    pub(super) accepted: oneshot::Sender<Result<(), String>>,
}

/// What a new session does.
pub(super) enum NewRole {
    /// WHEP: sends `feed`.
    Read {
        /// The media to send once connected.
        feed: Feed,
        /// The reader slot, released when the session ends.
        guard: ReaderGuard,
        /// The answer's media that sends video, if any.
        video_mid: Option<Mid>,
        /// The answer's media that sends audio, if any.
        audio_mid: Option<Mid>,
    },
    /// WHIP: publishes what it receives.
    Publish(Publication),
}

/// A unit for one session, from its feeder task.
pub(super) struct UnitFor {
    /// The session's key in the driver.
    pub(super) key: u64,
    /// The access unit; `None` when the path's stream ended (its publisher left), which
    /// closes the session as MediaMTX closes a path's readers.
    pub(super) unit: Option<Arc<AccessUnit>>,
}

struct Session {
    id: String,
    path: String,
    rtc: Rtc,
    local: SocketAddr,
    role: Role,
    entry: EntryGuard,
    created: Instant,
    timeout: Instant,
}

enum Role {
    Read(Reader),
    Publish(Publication),
}

/// A WHEP session's sending state.
struct Reader {
    feed: Feed,
    feeder: Option<tokio::task::JoinHandle<()>>,
    /// Where the H.264 track goes.
    video: Option<Sending>,
    /// Where the audio track goes.
    audio: Option<Sending>,
    /// Keeps the reader counted (and an on-demand source running) while the session lives.
    _guard: ReaderGuard,
    /// No video unit is written before the first keyframe.
    want_keyframe: bool,
}

/// One track a WHEP session sends: its media, payload type and sequence numbers.
struct Sending {
    /// Index of the track in the stream.
    track: usize,
    mid: Mid,
    pt: Pt,
    /// Extended sequence number of the next packet (from a random 16-bit start, RFC 3550 §5.1).
    next_seq: u64,
}

impl Sending {
    fn new(track: usize, mid: Mid, pt: Pt) -> Sending {
        Sending {
            track,
            mid,
            pt,
            next_seq: u64::from(rand::random::<u16>()),
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(feeder) = self.feeder.take() {
            feeder.abort();
        }
    }
}

/// Runs the driver until the command channel closes. A session not connected within `handshake_timeout` (`webrtcHandshakeTimeout`) is dropped.
pub(super) async fn run(
    socket: UdpSocket,
    mut commands: mpsc::Receiver<Command>,
    (units_tx, mut units): (mpsc::Sender<UnitFor>, mpsc::Receiver<UnitFor>),
    handshake_timeout: Duration,
) {
    let mut driver = Driver {
        socket,
        sessions: HashMap::new(),
        next_key: 0,
        units_tx,
        handshake_timeout,
        packets: PacketCache::default(),
        outbox: Outbox::default(),
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
            Some(UnitFor { key, unit }) = units.recv() => match unit {
                Some(unit) => driver.unit(key, unit),
                None => driver.stream_ended(key),
            },
            () = tokio::time::sleep_until(deadline.into()) => driver.timeouts(),
        }
        driver.outbox.flush(&driver.socket);
    }
}

struct Driver {
    socket: UdpSocket,
    sessions: HashMap<u64, Session>,
    next_key: u64,
    units_tx: mpsc::Sender<UnitFor>,
    handshake_timeout: Duration,
    /// RTP payloads of the last units, shared by the sessions that send them.
    packets: PacketCache,
    /// Datagrams of this turn, sent together at its end.
    outbox: Outbox,
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

    fn key_of(&self, id: &str) -> Option<u64> {
        self.sessions
            .iter()
            .find(|(_, s)| s.id == id)
            .map(|(k, _)| *k)
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Add(new) => self.add(*new),
            Command::Remove { id, done } => {
                let key = self.key_of(&id);
                if let Some(session) = key.and_then(|k| self.sessions.remove(&k)) {
                    tracing::info!(path = %session.path, session = %session.id, "[WebRTC] session closed by DELETE");
                }
                let _ = done.send(key.is_some());
            }
            Command::Candidates {
                id,
                candidates,
                done,
            } => {
                let key = self.key_of(&id);
                if let Some(session) = key.and_then(|k| self.sessions.get_mut(&k)) {
                    for candidate in candidates {
                        session.rtc.add_remote_candidate(candidate);
                    }
                }
                let _ = done.send(key.is_some());
                if let Some(key) = key {
                    self.after_input(key);
                }
            }
        }
    }

    fn add(&mut self, new: NewSession) {
        let NewSession {
            id,
            path,
            mut rtc,
            local,
            role,
            entry,
            accepted,
        } = new;
        let role = match role {
            NewRole::Read {
                feed,
                guard,
                video_mid,
                audio_mid,
            } => match reader(&mut rtc, feed, guard, video_mid, audio_mid) {
                Ok(reader) => Role::Read(reader),
                Err(problem) => {
                    let _ = accepted.send(Err(problem));
                    return;
                }
            },
            NewRole::Publish(publication) => Role::Publish(publication),
        };
        let now = Instant::now();
        let mut session = Session {
            id,
            path,
            rtc,
            local,
            role,
            entry,
            created: now,
            timeout: now,
        };
        poll(&mut self.outbox, &mut session);
        let _ = accepted.send(Ok(()));
        tracing::info!(path = %session.path, session = %session.id, "[WebRTC] session created");
        self.sessions.insert(self.next_key, session);
        self.next_key += 1;
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
        session.entry.received(data.len(), source);
        if let Err(e) = session.rtc.handle_input(input) {
            tracing::debug!(session = %session.id, "[WebRTC] input refused: {e}");
        }
        self.after_input(key);
    }

    fn unit(&mut self, key: u64, unit: Arc<AccessUnit>) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let Role::Read(reader) = &mut session.role else {
            return;
        };
        reader.write(&mut session.rtc, &unit, &mut self.packets);
        self.after_input(key);
    }

    /// Closes session `key` because its path's stream ended.
    fn stream_ended(&mut self, key: u64) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        tracing::info!(path = %session.path, session = %session.id, "[WebRTC] the path's stream ended; session closed");
        session.rtc.disconnect();
        self.after_input(key);
    }

    /// Runs every session's due timers and periodic checks; polls only the sessions that had
    /// something to do.
    fn timeouts(&mut self) {
        let now = Instant::now();
        let handshake_timeout = self.handshake_timeout;
        let touched: Vec<u64> = self
            .sessions
            .iter_mut()
            .filter_map(|(key, session)| session.tick(now, handshake_timeout).then_some(*key))
            .collect();
        for key in touched {
            self.after_input(key);
        }
    }

    /// Polls session `key` after it got input; starts reading or publishing once connected,
    /// drops it once dead.
    fn after_input(&mut self, key: u64) {
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        poll(&mut self.outbox, session);
        if session.rtc.is_alive() && session.rtc.is_connected() {
            session.connected(key, &self.units_tx);
        }
        if !session.rtc.is_alive() {
            tracing::info!(path = %session.path, session = %session.id, "[WebRTC] session ended");
            self.sessions.remove(&key);
        }
    }
}

impl Session {
    /// The session's share of a timer turn: the handshake limit, an API kick, another
    /// publisher, keyframe requests, str0m's own timer. Whether it must be polled now.
    fn tick(&mut self, now: Instant, handshake_timeout: Duration) -> bool {
        let mut touched = false;
        if !self.rtc.is_connected() && now - self.created > handshake_timeout {
            tracing::info!(path = %self.path, session = %self.id, "[WebRTC] no connection within {handshake_timeout:?}; session dropped");
            self.rtc.disconnect();
            touched = true;
        } else if self.entry.is_kicked() {
            tracing::info!(path = %self.path, session = %self.id, "[WebRTC] session kicked through the API");
            self.rtc.disconnect();
            touched = true;
        } else if let Role::Publish(publication) = &mut self.role {
            if publication.kicked() {
                tracing::info!(path = %self.path, session = %self.id, "[WebRTC] another publisher took the path over; session closed");
                self.rtc.disconnect();
                touched = true;
            } else {
                touched |= publication.request_keyframes(&mut self.rtc, now);
            }
        }
        if self.timeout <= now && self.rtc.is_alive() {
            if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                tracing::debug!(session = %self.id, "[WebRTC] timer: {e}");
            }
            touched = true;
        }
        touched
    }

    /// Starts the session's feeder (a reader) or registers it on its path (a publisher), once.
    fn connected(&mut self, key: u64, units: &mpsc::Sender<UnitFor>) {
        self.entry.established();
        match &mut self.role {
            Role::Read(reader) if reader.feeder.is_none() => {
                tracing::info!(path = %self.path, session = %self.id, "[WebRTC] connected; sending media");
                let feeder = reader.feed.clone().run(key, units.clone());
                reader.feeder = Some(tokio::spawn(feeder));
            }
            Role::Publish(publication) if !publication.is_connected() => {
                match publication.connect() {
                    Ok(()) => {
                        tracing::info!(path = %self.path, session = %self.id, "[WebRTC] connected; publishing from the first keyframe");
                    }
                    Err(e) => {
                        tracing::info!(path = %self.path, session = %self.id, "[WebRTC] can't publish: {e}");
                        self.rtc.disconnect();
                    }
                }
                publication.request_keyframes(&mut self.rtc, Instant::now());
            }
            _ => {}
        }
    }
}

/// The reading state of a WHEP session, with the payload types negotiated for `feed`'s tracks;
/// an error when the answer carries none of them.
fn reader(
    rtc: &mut Rtc,
    feed: Feed,
    guard: ReaderGuard,
    video_mid: Option<Mid>,
    audio_mid: Option<Mid>,
) -> Result<Reader, String> {
    let video = feed.video.as_ref().and_then(|(track, _)| {
        let mid = video_mid?;
        choose_pt(rtc, mid, Codec::H264).map(|pt| Sending::new(*track, mid, pt))
    });
    let audio = feed.audio.and_then(|(track, codec)| {
        let mid = audio_mid?;
        let wanted = match codec {
            AudioCodec::Opus => Codec::Opus,
            AudioCodec::Pcmu => Codec::PCMU,
            AudioCodec::Pcma => Codec::PCMA,
        };
        choose_pt(rtc, mid, wanted).map(|pt| Sending::new(track, mid, pt))
    });
    if feed.video.is_some() && video.is_none() {
        return Err(
            "the offer has no H.264 video (packetization-mode 1) to receive; Vigia \
                    sends H.264 over WebRTC"
                .to_string(),
        );
    }
    if video.is_none() && audio.is_none() {
        return Err("the offer receives none of the stream's codecs".to_string());
    }
    Ok(Reader {
        feed,
        feeder: None,
        video,
        audio,
        _guard: guard,
        want_keyframe: true,
    })
}

impl Reader {
    /// Writes `unit`'s shared RTP payloads into the session, if it is one of its tracks (video
    /// from a keyframe on).
    fn write(&mut self, rtc: &mut Rtc, unit: &Arc<AccessUnit>, cache: &mut PacketCache) {
        let is_video = self.video.as_ref().is_some_and(|v| v.track == unit.track);
        let is_audio = self.audio.as_ref().is_some_and(|a| a.track == unit.track);
        if !is_video && !is_audio {
            return;
        }
        if is_video {
            if self.want_keyframe && !unit.keyframe {
                return;
            }
            self.want_keyframe = false;
        }
        let payloads = cache.payloads(unit, &self.feed);
        let sending = if is_video {
            self.video.as_mut()
        } else {
            self.audio.as_mut()
        };
        let Some(sending) = sending else {
            return;
        };
        let mut direct = rtc.direct_api();
        let Some(stream) = direct.stream_tx_by_mid(sending.mid, None) else {
            return;
        };
        let now = Instant::now();
        for payload in payloads.iter() {
            let seq = SeqNo::from(sending.next_seq);
            sending.next_seq += 1;
            let write = RtpWrite::new(sending.pt, seq, payload.time, now, payload.bytes.clone())
                .marker(payload.marker)
                .nackable(is_video);
            stream.write_rtp(write);
        }
    }
}

/// Drains `session`'s outputs: transmits (into `outbox`), events, then its next timeout.
fn poll(outbox: &mut Outbox, session: &mut Session) {
    loop {
        match session.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                session.timeout = t;
                return;
            }
            Ok(Output::Transmit(t)) => {
                session.entry.sent(t.contents.len());
                outbox.push(t.destination, t.contents.into());
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
        Event::MediaData(data) => {
            if let Role::Publish(publication) = &mut session.role
                && let Err(e) = publication.media(&data)
            {
                tracing::info!(path = %session.path, session = %session.id, "[WebRTC] can't publish: {e}");
                session.rtc.disconnect();
            }
        }
        Event::KeyframeRequest(_) => {
            // The hub's streams have periodic keyframes and a camera cannot be asked for one:
            // the viewer's decoder recovers at the next keyframe, which arrives on its own.
            tracing::debug!(session = %session.id, "[WebRTC] keyframe request (PLI/FIR): next keyframe follows");
        }
        _ => {}
    }
}

/// The negotiated payload type of `codec` on `mid` (H.264: packetization-mode 1), if any.
fn choose_pt(rtc: &Rtc, mid: Mid, codec: Codec) -> Option<Pt> {
    let media = rtc.media(mid)?;
    let remote = media.remote_pts();
    let params = rtc.codec_config().params().iter();
    let mut matching = params
        .filter(|p| remote.contains(&p.pt()))
        .filter(|p| p.spec().codec == codec)
        .filter(|p| codec != Codec::H264 || p.spec().format.packetization_mode == Some(1));
    matching.next().map(|p| p.pt())
}
