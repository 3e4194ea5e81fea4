//! RTCP both ways. RTSP publishers get receiver reports (RFC 3550 §6.4.2) about what arrived,
//! with LSR from their last sender report. RTSP readers get RTCP sender reports (RFC 3550 §6.4.1) for every track, over TCP-interleaved
//! and UDP: the SSRC of the track's RTP packets, an NTP time that is now, packet and octet counts
//! equal to what this reader was sent, an RTP clock that advances with the wall clock, and a
//! mapping that puts every track's `RTP-Info` time at the same wall-clock instant (so players
//! that switch from `RTP-Info` to sender reports for lip sync see no jump). Each track's first
//! report comes before its first packet, so a player never has to re-time packets it got
//! before the report (ffmpeg did, and its audio stepped back).

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Vigia, free_udp_pair};
use vigia_protocol::rtcp::{NtpTimestamp, RtcpPacket, SenderReport, parse_compound};

/// How long a reader listens: long enough for a second report on every track (5 s apart).
const LISTEN: Duration = Duration::from_secs(8);

const CONFIG: &str = "paths:\n  cam:\n    source: synthetic\n";

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn ssrc_of(rtp: &[u8]) -> u32 {
    u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]])
}

/// The sender reports in one compound RTCP packet, which must also carry an SDES (§6.1).
fn sender_reports(rtcp: &[u8]) -> Vec<SenderReport> {
    let packets = parse_compound(&Bytes::copy_from_slice(rtcp)).expect("valid compound RTCP");
    assert!(
        packets
            .iter()
            .any(|p| matches!(p, RtcpPacket::SourceDescription(_))),
        "compound RTCP without SDES: {packets:?}"
    );
    packets
        .into_iter()
        .filter_map(|p| match p {
            RtcpPacket::SenderReport(sr) => Some(sr),
            _ => None,
        })
        .collect()
}

/// What one track's reader saw: RTP packets and payload octets so far, the reports, and how
/// many packets had come when the first report did.
#[derive(Default, Debug)]
struct TrackLog {
    ssrc: Option<u32>,
    packets: u32,
    octets: u32,
    reports: Vec<SenderReport>,
    packets_before_first_report: Option<u32>,
}

impl TrackLog {
    fn on_report(&mut self, sr: SenderReport) {
        self.packets_before_first_report.get_or_insert(self.packets);
        self.reports.push(sr);
    }
}

/// Checks one report against what the reader had received when it arrived.
fn check_report(track: &TrackLog, sr: &SenderReport, exact_counts: bool) {
    let age_us = unix_micros() - sr.ntp.to_unix_micros();
    assert!(
        (-100_000..1_000_000).contains(&age_us),
        "SR NTP time is {age_us} µs old"
    );
    if exact_counts {
        assert_eq!(
            (sr.packet_count, sr.octet_count),
            (track.packets, track.octets),
            "SR counts what this reader was sent"
        );
    } else {
        assert!(sr.packet_count <= track.packets + 50);
    }
}

/// Two reports of a track: RTP time advanced like wall-clock time.
fn check_clock(reports: &[SenderReport], clock_rate: u32) {
    let (first, last) = (&reports[0], &reports[reports.len() - 1]);
    let wall_us = last.ntp.to_unix_micros() - first.ntp.to_unix_micros();
    let rtp_ticks = last.rtp_timestamp.wrapping_sub(first.rtp_timestamp);
    let rtp_us = i64::from(rtp_ticks) * 1_000_000 / i64::from(clock_rate);
    assert!(wall_us >= 4_000_000, "reports {wall_us} µs apart");
    assert!(
        (rtp_us - wall_us).abs() < 100_000,
        "RTP clock ({clock_rate} Hz) advanced {rtp_us} µs over {wall_us} µs of wall clock"
    );
}

fn check_tracks(logs: &HashMap<usize, TrackLog>) {
    for (track, clock_rate) in [(0, 90_000), (1, 48_000)] {
        let log = &logs[&track];
        assert!(log.reports.len() >= 2, "track {track}: {log:?}");
        assert!(
            log.reports.iter().all(|sr| Some(sr.ssrc) == log.ssrc),
            "track {track}: SR SSRC is the RTP SSRC: {log:?}"
        );
        check_clock(&log.reports, clock_rate);
    }
}

/// `rtptime` of each `trackID=N` in an `RTP-Info` header.
fn rtp_info_times(header: &str) -> HashMap<usize, u32> {
    header
        .split(',')
        .filter_map(|entry| {
            let field = |name: &str| {
                entry
                    .split(';')
                    .find_map(|f| f.trim().strip_prefix(name).map(str::to_string))
            };
            let track = field("url=")?.rsplit("trackID=").next()?.parse().ok()?;
            Some((track, field("rtptime=")?.parse().ok()?))
        })
        .collect()
}

/// The wall-clock time (µs) a report's mapping gives to RTP time `rtp`.
fn wall_of(sr: &SenderReport, rtp: u32, clock_rate: u32) -> i64 {
    let ticks = i64::from(rtp.wrapping_sub(sr.rtp_timestamp) as i32);
    sr.ntp.to_unix_micros() + ticks * 1_000_000 / i64::from(clock_rate)
}

#[test]
fn tcp_reader_gets_sender_reports_with_its_own_counts() {
    let (_vigia, ports) = Vigia::start_on_fresh_ports(CONFIG);
    // Join at the keyframe at 2 s, where the first audio frame is 5.3 ms later (at 0 s both
    // tracks start together, which would hide a misaligned RTP-Info).
    std::thread::sleep(Duration::from_millis(2500));
    let mut client = RtspClient::connect(ports.rtsp, &ports.rtsp_url("cam")).unwrap();
    client.play_tcp().unwrap();
    let mut logs: HashMap<usize, TrackLog> = HashMap::new();
    let until = Instant::now() + LISTEN;
    while Instant::now() < until {
        let frame = client.read_frame().unwrap();
        let log = logs.entry(usize::from(frame.channel / 2)).or_default();
        if frame.channel.is_multiple_of(2) {
            log.ssrc = Some(ssrc_of(&frame.packet));
            log.packets += 1;
            log.octets += frame.payload().len() as u32;
        } else {
            for sr in sender_reports(&frame.packet) {
                check_report(log, &sr, true);
                log.on_report(sr);
            }
        }
    }
    check_tracks(&logs);
    for (track, log) in &logs {
        assert_eq!(
            log.packets_before_first_report,
            Some(0),
            "track {track}: the first sender report comes before the first packet"
        );
    }
    let info = rtp_info_times(client.rtp_info.as_deref().expect("PLAY has RTP-Info"));
    let video_start = wall_of(&logs[&0].reports[0], info[&0], 90_000);
    let audio_start = wall_of(&logs[&1].reports[0], info[&1], 48_000);
    assert!(
        (video_start - audio_start).abs() < 1_000,
        "RTP-Info names video at {video_start} µs and audio at {audio_start} µs"
    );
}

#[test]
fn udp_reader_gets_sender_reports_from_the_server_rtcp_port() {
    let (_vigia, ports) = Vigia::start_on_fresh_ports(CONFIG);
    let pairs = [free_udp_pair(), free_udp_pair()];
    let sockets: Vec<(UdpSocket, UdpSocket)> = pairs
        .iter()
        .map(|&p| {
            let bind = |port| {
                let s = UdpSocket::bind(("127.0.0.1", port)).unwrap();
                s.set_nonblocking(true).unwrap();
                s
            };
            (bind(p), bind(p + 1))
        })
        .collect();
    let mut client = RtspClient::connect(ports.rtsp, &ports.rtsp_url("cam")).unwrap();
    client
        .play_with(|i| {
            let p = pairs[i];
            format!("RTP/AVP;unicast;client_port={}-{}", p, p + 1)
        })
        .unwrap();
    let mut logs: HashMap<usize, TrackLog> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let until = Instant::now() + LISTEN;
    while Instant::now() < until {
        let mut idle = true;
        for (track, (rtp, rtcp)) in sockets.iter().enumerate() {
            let log = logs.entry(track).or_default();
            while let Ok(n) = rtp.recv(&mut buf) {
                idle = false;
                log.ssrc = Some(ssrc_of(&buf[..n]));
                log.packets += 1;
            }
            while let Ok((n, from)) = rtcp.recv_from(&mut buf) {
                idle = false;
                assert_eq!(from.port(), ports.rtp + 1, "SR comes from rtcpAddress");
                for sr in sender_reports(&buf[..n]) {
                    check_report(log, &sr, false);
                    log.on_report(sr);
                }
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    check_tracks(&logs);
}

/// An RTP packet of a small H.264 non-IDR slice.
fn rtp_packet(ssrc: u32, seq: u16, timestamp: u32) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend(seq.to_be_bytes());
    p.extend(timestamp.to_be_bytes());
    p.extend(ssrc.to_be_bytes());
    p.extend([0x41, 0x9a, 0x02, 0x04]);
    p
}

/// An RTCP sender report (no report blocks).
fn sender_report(ssrc: u32, ntp: NtpTimestamp, rtp_timestamp: u32) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend(ssrc.to_be_bytes());
    p.extend(ntp.0.to_be_bytes());
    p.extend(rtp_timestamp.to_be_bytes());
    p.extend([0; 8]);
    p
}

#[test]
fn tcp_publisher_gets_receiver_reports_about_its_packets() {
    let (_vigia, ports) = Vigia::start_on_fresh_ports("paths:\n  all_others:\n");
    let mut client = RtspClient::connect(ports.rtsp, &ports.rtsp_url("pub")).unwrap();
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";
    client.record_tcp(sdp).unwrap();
    let ssrc = 0x1122_3344;
    let ntp = NtpTimestamp::from_unix_micros(unix_micros());
    client
        .send_frame(1, &sender_report(ssrc, ntp, 1000))
        .unwrap();
    // Sequence numbers 100..=149 with 120 and 121 missing.
    for seq in (100u16..150).filter(|s| !(120..122).contains(s)) {
        let packet = rtp_packet(ssrc, seq, 1000 + u32::from(seq) * 3600);
        client.send_frame(0, &packet).unwrap();
    }
    let frame = client
        .read_frame()
        .expect("a receiver report within the read timeout");
    assert_eq!(frame.channel, 1, "RTCP comes on the RTCP channel");
    let packets = parse_compound(&Bytes::from(frame.packet)).expect("valid compound RTCP");
    let Some(RtcpPacket::ReceiverReport(rr)) = packets.first() else {
        panic!("RR first: {packets:?}");
    };
    let block = rr.reports.first().expect("a report block");
    assert_eq!(block.ssrc, ssrc);
    assert_eq!(block.reception.extended_highest_seq, 149);
    assert_eq!(block.reception.cumulative_lost, 2);
    assert_eq!(block.last_sr, ntp.middle32());
    assert!(
        block.delay_since_last_sr < 10 * 65_536,
        "DLSR {} / 65536 s",
        block.delay_since_last_sr
    );
}
