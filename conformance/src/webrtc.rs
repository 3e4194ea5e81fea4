//! A blocking WebRTC peer for tests (str0m over one loopback UDP socket): it makes an offer,
//! POSTs it to a WHEP or WHIP endpoint, and pumps ICE/DTLS/SRTP while the test reads frames
//! or writes its own.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use crate::http;

/// One test peer.
pub struct Peer {
    /// Its state machine, for writers and stats.
    pub rtc: Rtc,
    socket: UdpSocket,
    pending: Option<SdpPendingOffer>,
    /// The media of the offer, in order.
    pub mids: Vec<Mid>,
    /// Whether ICE and DTLS connected.
    pub connected: bool,
}

impl Peer {
    /// A peer with `config`'s codecs offering `media` (kind and direction each); returns it
    /// and the offer's text.
    pub fn offer(config: RtcConfig, media: &[(MediaKind, Direction)]) -> (Peer, String) {
        str0m::crypto::from_feature_flags().install_process_default();
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind peer UDP");
        let mut rtc = config.build(Instant::now());
        let local = socket.local_addr().expect("local address");
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("host candidate"));
        let mut changes = rtc.sdp_api();
        let mids = media
            .iter()
            .map(|(kind, direction)| changes.add_media(*kind, *direction, None, None, None))
            .collect();
        let (offer, pending) = changes.apply().expect("an offer");
        let peer = Peer {
            rtc,
            socket,
            pending: Some(pending),
            mids,
            connected: false,
        };
        (peer, offer.to_sdp_string())
    }

    /// Takes the server's answer.
    pub fn accept(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("a parsable SDP answer");
        let pending = self.pending.take().expect("an offer pending");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
    }

    /// Runs the peer until `until`, returning the events it produced (connection, media…).
    pub fn pump(&mut self, until: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        let mut buf = vec![0u8; 2048];
        loop {
            let timeout = self.drain(&mut events);
            let now = Instant::now();
            if now >= until {
                return events;
            }
            let wait = timeout
                .min(until)
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            self.socket.set_read_timeout(Some(wait)).expect("timeout");
            let now = Instant::now();
            let input = match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => receive(&self.socket, now, &buf[..n], source),
                Err(_) => Input::Timeout(now),
            };
            self.rtc.handle_input(input).expect("peer input");
        }
    }

    fn drain(&mut self, events: &mut Vec<Event>) -> Instant {
        loop {
            match self.rtc.poll_output().expect("peer poll") {
                Output::Timeout(t) => return t,
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => {
                    self.connected = true;
                    events.push(Event::Connected);
                }
                Output::Event(event) => events.push(event),
            }
        }
    }
}

fn receive<'a>(socket: &UdpSocket, now: Instant, data: &'a [u8], source: SocketAddr) -> Input<'a> {
    let destination = socket.local_addr().expect("local address");
    match data.try_into() {
        Ok(contents) => Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        ),
        Err(_) => Input::Timeout(now),
    }
}

/// POSTs `offer` to `http://127.0.0.1:<port>/<path>/<endpoint>` (`whep` or `whip`).
pub fn post_offer(port: u16, path: &str, endpoint: &str, offer: &str) -> http::Response {
    http::request(
        port,
        "POST",
        &format!("/{path}/{endpoint}"),
        &["Content-Type: application/sdp"],
        Some(offer.as_bytes()),
    )
    .expect("an answer to the offer")
}

/// NAL unit types of an Annex B access unit (ITU-T H.264 Table 7-1).
pub fn nal_types(frame: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < frame.len() {
        if frame[i] == 0 && frame[i + 1] == 0 && frame[i + 2] == 1 {
            types.push(frame[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

/// Splits an Annex B H.264 stream with access unit delimiters (NAL type 9) into access units,
/// each still in Annex B with its delimiter.
pub fn access_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 4 < stream.len() {
        let three = stream[i..i + 3] == [0, 0, 1];
        if three && stream[i + 3] & 0x1f == 9 {
            let start = if i > 0 && stream[i - 1] == 0 {
                i - 1
            } else {
                i
            };
            starts.push(start);
        }
        i += if three { 3 } else { 1 };
    }
    starts.push(stream.len());
    starts.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_units_split_at_delimiters() {
        let stream = [
            0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x65, 2, 0, 0, 0, 1, 9, 0xf0, 0, 0, 1,
            0x41, 3,
        ];
        let units = access_units(&stream);
        assert_eq!(units.len(), 2);
        assert_eq!(nal_types(units[0]), vec![9, 7, 5]);
        assert_eq!(nal_types(units[1]), vec![9, 1]);
    }
}
