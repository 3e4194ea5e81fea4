//! One timeline across a source reconnect, with real wall-clock time. An edge `vigia` pulls a
//! path from an origin `vigia`; the origin's publisher stops for 10 s and comes back, so the
//! edge's source is away for 10 s or more (its reconnect backoff adds a few). Then:
//! - the edge's HLS media playlist has an `EXT-X-DISCONTINUITY` where the source came back, and the
//!   segment after it is dated by the real length of the outage: its `PROGRAM-DATE-TIME` is at
//!   least 9 s after the end of the segment before, and segments on both sides are dated
//!   within 2 s of when the edge really produced them;
//! - a reader of the edge's RTSP stream, connected throughout, gets sender reports whose
//!   NTP-to-RTP mapping stays the same across the outage (RTP time advanced by the outage too),
//!   and maps the video packets it just received to the time they arrived, before and after.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use vigia_conformance::clips::Clip;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Background, Ports, Vigia, eventually};
use vigia_protocol::hls::check::{Naming, ParsedSegment, check_with};
use vigia_protocol::rtcp::{RtcpPacket, SenderReport, parse_compound};

const OUTAGE: Duration = Duration::from_secs(10);
/// How far a date may be from the wall clock of the moment it describes.
const SLACK_US: i64 = 2_000_000;

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn publisher(ports: &Ports) -> Background {
    Clip::H264Aac.publish(&ports.rtsp_url("cam1"), "tcp")
}

/// The body of `GET url` on 127.0.0.1:`port`, if it answers 200.
fn http_get(port: u16, target: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Every segment the edge listed, by MSN, with the UNIX µs when it was first seen complete.
#[derive(Default)]
struct Segments(BTreeMap<u64, (ParsedSegment, i64)>);

impl Segments {
    fn poll(&mut self, ports: &Ports) {
        let Some(text) = http_get(ports.hls, "/proxied/stream.m3u8") else {
            return;
        };
        let now = unix_micros();
        let (parsed, _) = check_with(&text, &Naming::default());
        for segment in parsed.map(|p| p.segments).unwrap_or_default() {
            self.0.entry(segment.msn).or_insert((segment, now));
        }
    }

    /// The first segment after a discontinuity, and the one before it.
    fn around_discontinuity(&self) -> Option<(&ParsedSegment, &ParsedSegment, i64)> {
        let (&msn, (after, seen)) = self.0.iter().find(|(_, (s, _))| s.discontinuity)?;
        let (before, _) = self.0.get(&msn.checked_sub(1)?)?;
        Some((before, after, *seen))
    }
}

/// The end of `segment` on its own dates: `PROGRAM-DATE-TIME` + `EXTINF`.
fn end_of(segment: &ParsedSegment) -> i64 {
    segment
        .program_date_time_us
        .expect("every segment is dated")
        + (segment.duration * 1e6) as i64
}

/// A video sender report, with the RTP timestamp of the last video packet before it and the
/// UNIX µs when that packet arrived.
type Report = (SenderReport, u32, i64);

/// Reads the edge's stream over TCP from a thread, keeping the video track's sender reports.
struct ReportReader {
    reports: Arc<Mutex<Vec<Report>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<Result<(), String>>>,
}

impl ReportReader {
    fn start(ports: &Ports) -> Self {
        let reports: Arc<Mutex<Vec<Report>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (port, url) = (ports.rtsp, ports.rtsp_url("proxied"));
        let (out, halt) = (reports.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut client = RtspClient::connect(port, &url).map_err(|e| e.to_string())?;
            client.play_tcp().map_err(|e| e.to_string())?;
            let mut last_packet = None;
            while !halt.load(Ordering::Relaxed) {
                let frame = match client.read_frame() {
                    Ok(frame) => frame,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(e) => return Err(format!("reader lost its session: {e}")),
                };
                if frame.channel == 0 {
                    let p = &frame.packet;
                    let rtp = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                    last_packet = Some((rtp, unix_micros()));
                }
                let (1, Some((rtp, arrived))) = (frame.channel, last_packet) else {
                    continue;
                };
                let packets =
                    parse_compound(&Bytes::from(frame.packet)).map_err(|e| e.to_string())?;
                let mut out = out.lock().unwrap();
                out.extend(packets.into_iter().filter_map(|p| match p {
                    RtcpPacket::SenderReport(sr) => Some((sr, rtp, arrived)),
                    _ => None,
                }));
            }
            Ok(())
        });
        Self {
            reports,
            stop,
            thread: Some(thread),
        }
    }

    fn reports(&self) -> Vec<Report> {
        self.reports.lock().unwrap().clone()
    }

    fn finish(mut self) -> Result<Vec<Report>, String> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("joined once");
        thread.join().map_err(|_| "reader panicked".to_string())??;
        Ok(self.reports())
    }
}

#[test]
fn a_reconnect_is_a_dated_gap_in_hls_and_rtcp() {
    let (origin, origin_ports) = Vigia::start_on_fresh_ports("paths:\n  all_others:\n");
    let mut camera = publisher(&origin_ports);
    let (edge, edge_ports) = Vigia::start_on_fresh_ports(&format!(
        "paths:\n  proxied:\n    source: {}\n",
        origin_ports.rtsp_url("cam1")
    ));
    let mut segments = Segments::default();
    eventually(Duration::from_secs(30), || {
        segments.poll(&edge_ports);
        (segments.0.len() >= 4).then_some(())
    })
    .unwrap_or_else(|| panic!("the edge serves HLS:\n{}", edge.logs()));
    let reader = ReportReader::start(&edge_ports);
    eventually(Duration::from_secs(10), || {
        segments.poll(&edge_ports);
        (!reader.reports().is_empty()).then_some(())
    })
    .expect("the RTSP reader gets a sender report");

    camera.stop();
    let stopped_at = unix_micros();
    let back_at = stopped_at + OUTAGE.as_micros() as i64;
    let around = eventually(Duration::from_secs(40), || {
        segments.poll(&edge_ports);
        if !camera.is_running() && unix_micros() >= back_at {
            camera = publisher(&origin_ports);
        }
        segments.around_discontinuity().map(|_| ())
    });
    assert!(
        around.is_some(),
        "no EXT-X-DISCONTINUITY after the source came back:\n{}",
        edge.logs()
    );
    let (before, after, after_seen) = segments.around_discontinuity().unwrap();

    // Dates are the real wall clock: the segment before ends when the camera stopped, and the
    // one after is dated when it was produced (it is listed as soon as it is complete).
    let end_before = end_of(before);
    assert!(
        (end_before - stopped_at).abs() <= SLACK_US,
        "the segment before the outage ends {} ms from when the camera stopped",
        (end_before - stopped_at) / 1000
    );
    let produced = end_of(after) - after_seen;
    assert!(
        produced.abs() <= SLACK_US,
        "the segment after the outage is dated {} ms from when it was listed",
        produced / 1000
    );
    let previous = segments.0.range(..before.msn).next_back().map(|(_, v)| v);
    if let Some((earlier, seen)) = previous {
        assert!(
            (end_of(earlier) - seen).abs() <= SLACK_US,
            "a segment before the outage is dated {} ms from when it was listed",
            (end_of(earlier) - seen) / 1000
        );
    }
    // …so the gap between them is the outage the edge saw: at least the 10 s the camera was
    // away, at most until the edge's reconnect delivered the segment.
    let gap = after.program_date_time_us.unwrap() - end_before;
    let seen_gap = after_seen - stopped_at - (after.duration * 1e6) as i64;
    assert!(
        gap >= OUTAGE.as_micros() as i64 - 1_000_000 && gap <= seen_gap + SLACK_US,
        "PROGRAM-DATE-TIME shows a gap of {} ms; the camera was away {} ms and the edge came back after {} ms",
        gap / 1000,
        OUTAGE.as_millis(),
        seen_gap / 1000
    );

    // A sender report after the outage maps RTP time to wall time as the ones before did.
    let reports = eventually(Duration::from_secs(10), || {
        let reports = reader.reports();
        let last = reports.last()?.0.ntp.to_unix_micros();
        (last > back_at).then_some(())
    });
    assert!(reports.is_some(), "no sender report after the outage");
    let reports = reader.finish().expect("the RTSP reader keeps its session");
    for pair in reports.windows(2) {
        let (a, b) = (&pair[0].0, &pair[1].0);
        let wall_us = b.ntp.to_unix_micros() - a.ntp.to_unix_micros();
        let ticks = i64::from(b.rtp_timestamp.wrapping_sub(a.rtp_timestamp) as i32);
        let rtp_us = ticks * 1_000_000 / 90_000;
        assert!(
            (rtp_us - wall_us).abs() < 300_000,
            "between two sender reports {} ms apart, RTP time advanced {} ms",
            wall_us / 1000,
            rtp_us / 1000
        );
    }
    for (sr, rtp, arrived) in &reports {
        let ticks = i64::from(rtp.wrapping_sub(sr.rtp_timestamp) as i32);
        let mapped = sr.ntp.to_unix_micros() + ticks * 1_000_000 / 90_000;
        assert!(
            (mapped - arrived).abs() <= SLACK_US,
            "a sender report maps a packet that arrived at {arrived} µs to {mapped} µs"
        );
    }
    drop(camera);
    drop(origin);
}
