//! Connection limits under abuse (issue 13 item 4): 2,000 idle connections and 100 slowloris
//! clients on each of the RTSP and HLS listeners are closed after `readTimeout` while a normal
//! client gets the playlist in under 50 ms (the median of five requests); a playing RTSP reader
//! over TCP that sends nothing is not closed; `maxConnectionsPerIP` refuses the excess; and RSS
//! comes back within 10 % of where it started after ten bursts of 4,000 idle connections.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Ports, Vigia, eventually, http};

const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long after opening an idle connection the server must have closed it.
const CLOSED_WITHIN: Duration = Duration::from_secs(4);
/// Idle connections of each flood: the 2,000 on each of the RTSP and HLS ports.
const IDLE: usize = 2000;
const SLOWLORIS: usize = 100;
/// The floods come from one IP: above the default cap of 256 per IP.
const FLOOD_CAP: &str = "maxConnectionsPerIP: 3000\n";
/// What a normal client waits for the playlist during a flood, at most (issue 13).
const PLAYLIST_WITHIN: Duration = Duration::from_millis(50);
/// Playlist requests timed during a flood; the median is held to [`PLAYLIST_WITHIN`].
const PLAYLIST_SAMPLES: usize = 5;
/// How long a connect may wait for the server before it is tried again (see [`connect_soon`]).
const CONNECT_RETRY: Duration = Duration::from_millis(100);

fn start(extra: &str) -> (Vigia, Ports) {
    start_with_read_timeout("2s", extra)
}

/// [`start`] with another `readTimeout`.
fn start_with_read_timeout(read_timeout: &str, extra: &str) -> (Vigia, Ports) {
    Vigia::start_on_fresh_ports(&format!(
        "readTimeout: {read_timeout}\n{extra}paths:\n  cam1:\n    source: synthetic\n  pub1:\n"
    ))
}

/// `VmRSS` of the process, in KiB.
fn rss_kib(vigia: &Vigia) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", vigia.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Opens `count` TCP connections to `port` that send nothing, one after another.
fn open_idle(port: u16, count: usize) -> Vec<TcpStream> {
    (0..count).map(|_| connect_soon(port)).collect()
}

/// A TCP connection to `port`. A connect that finds the listener's accept queue full has its
/// SYN dropped and would wait a second for the kernel to send it again: it is given up after
/// [`CONNECT_RETRY`] and tried anew, so that a burst takes the time the server needs to accept
/// it, not the kernel's retransmission timer.
fn connect_soon(port: u16) -> TcpStream {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    for _ in 0..100 {
        match TcpStream::connect_timeout(&addr, CONNECT_RETRY) {
            Ok(stream) => return stream,
            Err(e) if e.kind() == ErrorKind::TimedOut => continue,
            Err(e) => panic!("connect to {addr}: {e}"),
        }
    }
    panic!("no connection to {addr} within 100 attempts");
}

/// Whether the server closed `stream` (a read gives end of file or an error, not "would block").
fn closed_by_server(mut stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1024];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Waits until every stream is closed by the server or `deadline`; returns how many are open.
fn still_open_at(streams: &[TcpStream], deadline: Instant) -> usize {
    loop {
        let open = streams.iter().filter(|s| !closed_by_server(s)).count();
        if open == 0 || Instant::now() >= deadline {
            return open;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Connections that send `head` one byte every 500 ms and never finish it; returns how many the
/// server left open `within` after they were all opened.
fn slowloris(port: u16, head: &'static [u8], within: Duration) -> thread::JoinHandle<usize> {
    let mut streams = open_idle(port, SLOWLORIS);
    let until = Instant::now() + within;
    thread::spawn(move || {
        let mut closed = vec![false; streams.len()];
        let mut sent = 0;
        while Instant::now() < until && closed.contains(&false) {
            for (stream, closed) in streams.iter_mut().zip(closed.iter_mut()) {
                let byte = &head[sent % head.len()..][..1];
                *closed = *closed || closed_by_server(stream) || stream.write_all(byte).is_err();
            }
            sent += 1;
            thread::sleep(Duration::from_millis(500));
        }
        closed.iter().filter(|c| !**c).count()
    })
}

/// A TCP reader that plays and then only reads; returns how many RTP frames it got after
/// `quiet` had passed.
fn silent_reader(ports: Ports, quiet: Duration) -> thread::JoinHandle<usize> {
    let mut client = RtspClient::connect(ports.rtsp, &ports.rtsp_url("cam1")).expect("connect");
    client.play_tcp().expect("play");
    let start = Instant::now();
    thread::spawn(move || {
        let mut late = 0;
        while start.elapsed() < quiet + Duration::from_secs(1) {
            match client.read_frame() {
                Ok(_) if start.elapsed() > quiet => late += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        late
    })
}

fn describe_works(ports: Ports) {
    let url = ports.rtsp_url("cam1");
    let started = Instant::now();
    let mut client = RtspClient::connect(ports.rtsp, &url).expect("connect during the flood");
    let answer = client.request("DESCRIBE", &url, &[]).expect("DESCRIBE");
    assert_eq!(answer.status, 200, "DESCRIBE during the flood");
    println!("DESCRIBE during the flood: {:?}", started.elapsed());
}

#[test]
fn idle_and_slowloris_rtsp_connections_are_closed_and_a_silent_player_is_not() {
    let (vigia, ports) = start(FLOOD_CAP);
    playlist_works(ports, Duration::from_secs(20));
    let reader = silent_reader(ports, READ_TIMEOUT * 3);
    let before = rss_kib(&vigia);
    let idle = open_idle(ports.rtsp, IDLE);
    let opened = Instant::now();
    let trickle = slowloris(
        ports.rtsp,
        b"OPTIONS rtsp://127.0.0.1/cam1 RTSP/1.0\r\nCSeq: 1\r\n",
        CLOSED_WITHIN + Duration::from_secs(1),
    );
    let during = rss_kib(&vigia);
    playlist_answers_quickly(ports, "RTSP");
    describe_works(ports);

    let open = still_open_at(&idle, opened + CLOSED_WITHIN);
    assert_eq!(
        open, 0,
        "idle RTSP connections still open after {CLOSED_WITHIN:?}"
    );
    let open = trickle.join().unwrap();
    assert_eq!(open, 0, "slowloris RTSP connections still open");
    let late = reader.join().unwrap();
    assert!(
        late > 10,
        "the silent TCP reader got {late} frames after 3× readTimeout"
    );
    thread::sleep(Duration::from_secs(1));
    println!(
        "RSS (KiB): before {before}, with {IDLE}+{SLOWLORIS} idle {during}, after {}",
        rss_kib(&vigia)
    );
    assert!(
        vigia.logs_soon_contain(
            "closed connections that sent no complete request",
            Duration::from_secs(12)
        ),
        "the closes are summarized in the log:\n{}",
        vigia.logs()
    );
}

/// The HLS playlist answers 200 (within `limit`, a muxer being started on the first request).
fn playlist_works(ports: Ports, limit: Duration) -> Duration {
    let started = Instant::now();
    let answered = eventually(limit, || {
        let started = Instant::now();
        let r = http::get(ports.hls, "/cam1/index.m3u8", &[])?;
        (r.status == 200).then(|| started.elapsed())
    });
    answered.unwrap_or_else(|| panic!("no playlist within {:?}", started.elapsed()))
}

/// A normal client gets the playlist within [`PLAYLIST_WITHIN`] during a flood of the `flood`
/// listener: [`PLAYLIST_SAMPLES`] requests one after another, each on a new connection as a
/// player's first one, and the median of their times (from connect to the end of the answer)
/// is held to the bound.
fn playlist_answers_quickly(ports: Ports, flood: &str) {
    let mut times: Vec<Duration> = (0..PLAYLIST_SAMPLES)
        .map(|_| {
            let started = Instant::now();
            let answer = http::get(ports.hls, "/cam1/index.m3u8", &[]);
            let status = answer.map_or(0, |a| a.status);
            assert_eq!(status, 200, "playlist during the {flood} flood");
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!("HLS playlist during the {flood} flood: {times:?}, median {median:?}");
    assert!(
        median < PLAYLIST_WITHIN,
        "playlist during the {flood} flood: median {median:?} of {times:?}"
    );
}

#[test]
fn idle_and_slowloris_hls_connections_are_closed_while_the_playlist_is_served() {
    let (vigia, ports) = start(FLOOD_CAP);
    playlist_works(ports, Duration::from_secs(20));
    let before = rss_kib(&vigia);
    let idle = open_idle(ports.hls, IDLE);
    let opened = Instant::now();
    let trickle = slowloris(
        ports.hls,
        b"GET /cam1/index.m3u8 HTTP/1.1\r\nHost: x\r\n",
        CLOSED_WITHIN + Duration::from_secs(1),
    );
    let during = rss_kib(&vigia);
    playlist_answers_quickly(ports, "HLS");

    let open = still_open_at(&idle, opened + CLOSED_WITHIN);
    assert_eq!(
        open, 0,
        "idle HLS connections still open after {CLOSED_WITHIN:?}"
    );
    let open = trickle.join().unwrap();
    assert_eq!(open, 0, "slowloris HLS connections still open");
    thread::sleep(Duration::from_secs(1));
    println!(
        "RSS (KiB): before {before}, with {IDLE}+{SLOWLORIS} idle HLS {during}, after {}",
        rss_kib(&vigia)
    );
    assert!(
        vigia.logs_soon_contain(
            "[HLS] closed connections that sent no complete request head",
            Duration::from_secs(12)
        ),
        "the closes are summarized in the log:\n{}",
        vigia.logs()
    );
}

#[test]
fn max_connections_per_ip_refuses_the_excess_on_rtsp_and_hls() {
    const CAP: usize = 50;
    // Idle connections under the cap must outlive the test's own pace under load, so they
    // are not closed by readTimeout instead.
    let (vigia, ports) = start_with_read_timeout("30s", "maxConnectionsPerIP: 50\n");
    // The harness's readiness probe holds a place until vigia has read its close; the cap
    // counts connections at accept, before their tasks have run.
    thread::sleep(Duration::from_millis(500));
    for port in [ports.rtsp, ports.hls] {
        let held = open_idle(port, CAP);
        let extra = open_idle(port, 10);
        // Accepted by the kernel, closed by vigia right after accept.
        let open = still_open_at(&extra, Instant::now() + Duration::from_secs(1));
        assert_eq!(open, 0, "connections past the cap on port {port} stay open");
        let open = held.iter().filter(|s| !closed_by_server(s)).count();
        assert_eq!(
            open, CAP,
            "connections under the cap on port {port} are kept"
        );
        drop(held);
    }
    // Closing frees the places: a normal client is served again.
    thread::sleep(Duration::from_millis(200));
    describe_works(ports);
    playlist_works(ports, Duration::from_secs(20));
    for listener in ["[RTSP]", "[HLS]"] {
        let line = format!(
            "{listener} refused connections past maxConnectionsPerIP (50) from 127.0.0.1: 10 in the last 10s"
        );
        assert!(
            vigia.logs_soon_contain(&line, Duration::from_secs(12)),
            "one summarized line per listener and IP:\n{}",
            vigia.logs()
        );
    }
}

#[test]
fn a_publisher_that_stops_sending_is_closed_after_read_timeout() {
    let (vigia, ports) = start("");
    let stream = TcpStream::connect(("127.0.0.1", ports.rtsp)).expect("connect");
    let mut client = RtspClient::from_stream(stream.try_clone().unwrap(), &ports.rtsp_url("pub1"));
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";
    client.record_tcp(sdp).expect("record");
    let recording = Instant::now();
    let open = still_open_at(
        &[stream],
        recording + READ_TIMEOUT + Duration::from_millis(1500),
    );
    assert_eq!(open, 0, "a silent publisher is still connected");
    assert!(
        recording.elapsed() >= READ_TIMEOUT - Duration::from_millis(100),
        "closed too early"
    );
    assert!(
        vigia.logs_soon_contain(
            "closing publisher: no data for 2s (readTimeout)",
            Duration::from_secs(2)
        ),
        "{}",
        vigia.logs()
    );
}

/// Bounded memory per connection, returned after bursts (issue 13): vigia's RSS after ten bursts
/// of 4,000 idle connections (2,000 RTSP + 2,000 HLS), each closed by `readTimeout`, comes back
/// within [`ALLOWED_GROWTH_PERCENT`] of where it started (the issue saw 44 MB grow to 108 MB and
/// stay there; glibc's malloc kept about 60 MB of the freed memory, jemalloc returns it).
///
/// The server is the issue's: built-in defaults with the synthetic `demo` stream running
/// (`BUILT_IN_YAML`'s paths), but for `readTimeout: 1s` (so that a burst is closed in a second,
/// not ten) and `maxConnectionsPerIP: 0` (the bursts come from one IP).
///
/// "Where it started" is RSS after [`WARM_UP_BURSTS`] warm-up bursts of the same size, once it
/// has stopped falling. The warm-up starts the runtime's threads and the allocator's own
/// bookkeeping, fills the `demo` stream's ring, and sizes the structures that keep the capacity
/// of the most connections ever open at once (the log's span slab and the connection registry's
/// map, about 0.7 MB for 4,000, measured with heaptrack). One burst was not always enough: in a
/// CI run the first burst peaked at 17 MB (the server had accepted few of its connections when
/// the client's last connect returned, the kernel completing handshakes ahead of `accept`) while
/// later ones peaked at 48–97 MB, and RSS settled 11.6 % above the level after that first burst
/// and stayed there, flat over the nine bursts that followed: one-time sizing to the larger peak,
/// not growth per burst. With two warm-up bursts (their peaks 43–62 then 80–86 MB here), four
/// runs ended −1.4 to +4.2 %. The allocator hands freed pages back on its own schedule
/// (jemalloc's background thread, about a second), so the figure after the bursts is polled for
/// up to [`SETTLE`].
///
/// Measured (2-core machine, the file's other tests running alongside): start 17.9 to 22.4 MB
/// (the `demo` stream's ring moves it by a few MB), peaks 60 to 82 MB with 4,000 connections
/// open, and -0.8 to +6.5 % after the bursts in five runs. Before an idle RTSP connection's task
/// was shrunk from 13.2 to 3.5 KB (the RTSPS handshake and request handling boxed off it), peaks
/// were 94 to 120 MB and one run ended +9.3 %; without the stream (a 14 MB start) the plateau
/// left behind, 1.5 to 3 MB, was 10 to 20 %.
#[test]
fn rss_returns_near_where_it_started_after_bursts_of_idle_connections() {
    const BURSTS: usize = 10;
    const WARM_UP_BURSTS: usize = 2;
    const PER_PORT: usize = 2000;
    const SETTLE: Duration = Duration::from_secs(10);
    const ALLOWED_GROWTH_PERCENT: u64 = 10;
    let (vigia, ports) = Vigia::start_on_fresh_ports(
        "readTimeout: 1s\nmaxConnectionsPerIP: 0\npaths:\n  demo:\n    source: synthetic\n  all_others:\n",
    );
    let fresh = rss_kib(&vigia);
    let began = Instant::now();
    let warm_peaks: Vec<u64> = (0..WARM_UP_BURSTS)
        .map(|_| idle_burst(&vigia, ports, PER_PORT))
        .collect();
    let start = settled_rss_kib(&vigia, Duration::from_secs(3));
    let peaks: Vec<u64> = (0..BURSTS)
        .map(|_| idle_burst(&vigia, ports, PER_PORT))
        .collect();
    let bursts_took = began.elapsed();
    let limit = start + start * ALLOWED_GROWTH_PERCENT / 100;
    let settling = Instant::now();
    let mut after = rss_kib(&vigia);
    while after > limit && settling.elapsed() < SETTLE {
        thread::sleep(Duration::from_millis(200));
        after = rss_kib(&vigia);
    }
    let settled = settled_rss_kib(&vigia, Duration::from_secs(2));
    println!(
        "RSS (KiB): fresh {fresh}, warm-up peaks {warm_peaks:?}, after the warm-up bursts {start}, right after each of {BURSTS} bursts of {PER_PORT} RTSP + {PER_PORT} HLS idle connections {peaks:?} ({bursts_took:?} for all bursts), {after} {:?} after the last ({:+.1} %), then {settled} ({:+.1} %)",
        settling.elapsed(),
        (after as f64 / start as f64 - 1.0) * 100.0,
        (settled as f64 / start as f64 - 1.0) * 100.0
    );
    assert!(
        after <= limit,
        "RSS {after} KiB after {BURSTS} bursts, more than {ALLOWED_GROWTH_PERCENT} % above the {start} KiB it started at"
    );
}

/// vigia's RSS (KiB) once it has stopped falling (two readings 500 ms apart within 2 %), or
/// after `limit`.
fn settled_rss_kib(vigia: &Vigia, limit: Duration) -> u64 {
    let until = Instant::now() + limit;
    let mut last = rss_kib(vigia);
    loop {
        thread::sleep(Duration::from_millis(500));
        let now = rss_kib(vigia);
        if now + now / 50 >= last || Instant::now() >= until {
            return now;
        }
        last = now;
    }
}

/// Opens `per_port` idle connections to each of the RTSP and HLS listeners (both at once, one
/// connect after another on each), waits until the server has closed them all, and returns
/// vigia's RSS (KiB) right after the last connect.
fn idle_burst(vigia: &Vigia, ports: Ports, per_port: usize) -> u64 {
    let hls = thread::spawn(move || open_idle(ports.hls, per_port));
    let mut burst = open_idle(ports.rtsp, per_port);
    burst.extend(hls.join().unwrap());
    let peak = rss_kib(vigia);
    // Measured from the last connect, the first ones having been closed already.
    let open = still_open_at(&burst, Instant::now() + CLOSED_WITHIN);
    assert_eq!(open, 0, "idle connections of a burst still open");
    peak
}
