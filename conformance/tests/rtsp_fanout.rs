//! 50 RTSP readers of one stream receive identical RTP payloads (packetized once), and one reader
//! that stops reading does not delay the others.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use vigia_conformance::Vigia;
use vigia_conformance::rtsp_client::RtspClient;

const READERS: usize = 50;
const WINDOW: Duration = Duration::from_secs(10);

/// What one reader saw on the video channel: seq → (payload hash, arrival since start).
struct Seen {
    packets: HashMap<u16, (u64, Duration)>,
    max_gap: Duration,
}

fn hash(bytes: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn read_video(port: u16, url: String, start: Instant, barrier: Arc<Barrier>) -> Seen {
    let mut client = RtspClient::connect(port, &url).expect("connect");
    client.play_tcp().expect("play");
    barrier.wait();
    let mut seen = Seen {
        packets: HashMap::new(),
        max_gap: Duration::ZERO,
    };
    let mut last = Instant::now();
    while start.elapsed() < WINDOW {
        let frame = client.read_frame().expect("read a frame");
        if frame.channel != 0 {
            continue;
        }
        let now = Instant::now();
        seen.max_gap = seen.max_gap.max(now - last);
        last = now;
        seen.packets
            .insert(frame.seq(), (hash(frame.payload()), start.elapsed()));
    }
    seen
}

/// A reader with a 4 KiB receive buffer that plays and then never reads.
fn stalled_reader(port: u16, url: &str) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    let mut client = RtspClient::from_stream(stream.try_clone().unwrap(), url);
    client.play_tcp().expect("stalled reader plays");
    stream
}

#[test]
fn fifty_readers_get_identical_payloads_and_a_stalled_one_delays_nobody() {
    let (vigia, ports) = Vigia::start_on_fresh_ports(
        "writeTimeout: 3s\nwriteQueueSize: 64\npaths:\n  cam1:\n    source: synthetic\n",
    );
    let url = ports.rtsp_url("cam1");
    let _stalled = stalled_reader(ports.rtsp, &url);

    let start = Instant::now();
    let barrier = Arc::new(Barrier::new(READERS));
    let handles: Vec<_> = (0..READERS)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            thread::spawn(move || read_video(ports.rtsp, url, start, barrier))
        })
        .collect();
    let seen: Vec<Seen> = handles
        .into_iter()
        .map(|h| h.join().expect("reader thread"))
        .collect();

    let reference = &seen[0].packets;
    let mut common = 0;
    for (seq, (digest, _)) in reference {
        let all = seen
            .iter()
            .all(|s| s.packets.get(seq).is_some_and(|(d, _)| d == digest));
        let any_differs = seen
            .iter()
            .any(|s| s.packets.get(seq).is_some_and(|(d, _)| d != digest));
        assert!(!any_differs, "readers got different payloads for seq {seq}");
        common += usize::from(all);
    }
    assert!(common > 200, "only {common} packets seen by every reader");

    // Nobody waited on the stalled reader: every healthy reader kept receiving video with no
    // gap over 500 ms (the clip has a frame every 40 ms) and the same packet reached every
    // reader within a short spread.
    for (i, s) in seen.iter().enumerate() {
        assert!(
            s.max_gap < Duration::from_millis(500),
            "reader {i} stalled for {:?}",
            s.max_gap
        );
    }
    let mut spreads: Vec<Duration> = reference
        .keys()
        .filter_map(|seq| {
            let times: Vec<Duration> = seen
                .iter()
                .filter_map(|s| s.packets.get(seq).map(|p| p.1))
                .collect();
            (times.len() == READERS)
                .then(|| *times.iter().max().unwrap() - *times.iter().min().unwrap())
        })
        .collect();
    spreads.sort();
    let p95 = spreads[spreads.len() * 95 / 100];
    println!(
        "arrival spread across {READERS} readers: p50 {:?}, p95 {p95:?}",
        spreads[spreads.len() / 2]
    );
    assert!(
        p95 < Duration::from_millis(250),
        "p95 arrival spread {p95:?}"
    );
    // The stalled reader made no progress for writeTimeout (3 s): it was disconnected, and
    // the log says why.
    let logs = vigia.logs();
    assert!(
        logs.contains("closing reader: write timed out (writeTimeout)"),
        "the stalled reader is dropped and logged:\n{logs}"
    );
}
