//! A second `vigia` pulls a stream from the first (the retina path). When the publisher stops and
//! comes back, the puller reconnects with backoff and a reader of the second server keeps its
//! session and gets video again.

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use vigia_conformance::clips::Clip;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Background, Ports, Vigia, eventually};

fn publisher(ports: &Ports) -> Background {
    Clip::H264Aac.publish(&ports.rtsp_url("cam1"), "tcp")
}

/// Counts video packets a reader receives, from a thread, until told to stop.
struct CountingReader {
    video_packets: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<Result<(), String>>>,
}

impl CountingReader {
    fn start(port: u16, url: String) -> Self {
        let video_packets = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (video_packets.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut client = RtspClient::connect(port, &url).map_err(|e| e.to_string())?;
            client.play_tcp().map_err(|e| e.to_string())?;
            while !halt.load(Ordering::Relaxed) {
                let frame = match client.read_frame() {
                    Ok(frame) => frame,
                    // Silence while the source is away is expected; the session must survive it.
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        continue;
                    }
                    Err(e) => return Err(format!("reader lost its session: {e}")),
                };
                if frame.channel == 0 {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        });
        Self {
            video_packets,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> u64 {
        self.video_packets.load(Ordering::Relaxed)
    }

    fn finish(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .unwrap()
            .join()
            .map_err(|_| "reader panicked".to_string())?
    }
}

#[test]
fn puller_reconnects_and_its_reader_keeps_the_session() {
    let (origin, origin_ports) = Vigia::start_on_fresh_ports("paths:\n  all_others:\n");
    let mut camera = publisher(&origin_ports);

    let (edge, edge_ports) = Vigia::start_on_fresh_ports(&format!(
        "paths:\n  proxied:\n    source: {}\n",
        origin_ports.rtsp_url("cam1")
    ));
    let reader = eventually(Duration::from_secs(30), || {
        let r = CountingReader::start(edge_ports.rtsp, edge_ports.rtsp_url("proxied"));
        thread::sleep(Duration::from_secs(2));
        if r.count() > 0 {
            Some(r)
        } else {
            r.finish().ok();
            None
        }
    })
    .expect("the edge server re-serves the pulled stream");

    camera.stop();
    thread::sleep(Duration::from_secs(6));
    let during_outage = reader.count();
    camera = publisher(&origin_ports);
    let resumed = eventually(Duration::from_secs(40), || {
        (reader.count() > during_outage + 50).then_some(())
    });
    let logs = edge.logs();
    assert!(
        resumed.is_some(),
        "no video after the publisher came back:\n{logs}\n---origin---\n{}",
        origin.logs()
    );
    reader
        .finish()
        .expect("reader kept its session across the reconnect");
    assert!(
        logs.contains("reconnecting to the source in"),
        "backoff is logged:\n{logs}"
    );
    drop(camera);
}
