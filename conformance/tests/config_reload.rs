//! Hot reload of the config file (issue 12): editing the file removes and adds paths while a
//! reader of another path keeps receiving without a gap; an invalid edit changes nothing and
//! the log says why; SIGHUP applies an edit the file watcher could not see.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Ports, TempDir, Vigia, eventually, free_port, http, run_with_timeout};

/// The longest a reader of an untouched path may go without a packet.
const MAX_GAP: Duration = Duration::from_secs(1);
/// How soon an edit must show.
const APPLIED_WITHIN: Duration = Duration::from_secs(5);

/// What the reader saw: video packets and the longest silence between two.
struct Seen {
    packets: usize,
    max_gap: Duration,
}

/// Plays `path` over TCP and counts video packets until `stop`.
fn reader(ports: Ports, path: &str, stop: Arc<AtomicBool>) -> JoinHandle<Seen> {
    let url = ports.rtsp_url(path);
    thread::spawn(move || {
        let mut client = RtspClient::connect(ports.rtsp, &url).expect("connect");
        client.play_tcp().expect("play");
        let mut seen = Seen {
            packets: 0,
            max_gap: Duration::ZERO,
        };
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let frame = client.read_frame().expect("read a frame");
            if frame.channel != 0 {
                continue;
            }
            seen.max_gap = seen.max_gap.max(last.elapsed());
            last = Instant::now();
            seen.packets += 1;
        }
        seen
    })
}

/// The status DESCRIBE of `path` gets.
fn describe(ports: &Ports, path: &str) -> u16 {
    let url = ports.rtsp_url(path);
    let mut client = RtspClient::connect(ports.rtsp, &url).expect("connect");
    let answer = client.request("DESCRIBE", &url, &["Accept: application/sdp"]);
    answer.expect("DESCRIBE answered").status
}

/// Asserts that DESCRIBE of `path` answers `status` within [`APPLIED_WITHIN`].
fn assert_soon(vigia: &Vigia, ports: &Ports, path: &str, status: u16) {
    let got = eventually(APPLIED_WITHIN, || {
        (describe(ports, path) == status).then_some(())
    });
    assert!(
        got.is_some(),
        "DESCRIBE {path}: expected {status}\n{}",
        vigia.logs()
    );
}

/// The config file with the API on `api` and synthetic paths `names`.
fn config(ports: &Ports, api: u16, names: &[&str]) -> String {
    let mut yaml = ports.yaml();
    yaml.push_str(&format!("api: yes\napiAddress: 127.0.0.1:{api}\n"));
    yaml.push_str("paths:\n");
    for name in names {
        yaml.push_str(&format!("  {name}:\n    source: synthetic\n"));
    }
    yaml
}

/// Replaces `file` with `text` (of the same size) modified at `mtime`, in one rename, so the
/// file watcher sees no change and only SIGHUP can tell the server.
fn write_unseen(file: &Path, text: &str, mtime: SystemTime) {
    let next = file.with_extension("next");
    std::fs::write(&next, text).unwrap();
    let f = std::fs::File::options().write(true).open(&next).unwrap();
    f.set_modified(mtime).unwrap();
    std::fs::rename(&next, file).unwrap();
}

#[test]
fn edits_add_and_remove_paths_without_interrupting_another_reader() {
    let ports = Ports::fresh();
    let api = free_port();
    let dir = TempDir::new("vigia-reload");
    let file = dir.path().join("vigia.yml");
    std::fs::write(&file, config(&ports, api, &["a", "b"])).unwrap();
    let vigia = Vigia::spawn(dir, &["vigia.yml"], &[], ports.rtsp);
    assert_soon(&vigia, &ports, "a", 200);
    let stop = Arc::new(AtomicBool::new(false));
    let reading = reader(ports, "a", stop.clone());
    thread::sleep(Duration::from_secs(1));

    std::fs::write(&file, config(&ports, api, &["a", "c"])).unwrap();
    assert_soon(&vigia, &ports, "b", 404);
    assert_soon(&vigia, &ports, "c", 200);
    let shown = |name: &str| {
        let target = format!("/v3/config/paths/get/{name}");
        http::get(api, &target, &[]).map_or(0, |r| r.status)
    };
    assert_eq!(
        (shown("b"), shown("c")),
        (404, 200),
        "the API shows the new file"
    );

    std::fs::write(&file, "paths:\n  a: [\n").unwrap();
    assert!(
        vigia.logs_soon_contain("config not reloaded", APPLIED_WITHIN),
        "{}",
        vigia.logs()
    );
    assert!(vigia.logs().contains("vigia.yml"), "{}", vigia.logs());
    thread::sleep(Duration::from_secs(1));
    assert_eq!(describe(&ports, "a"), 200);
    assert_eq!(describe(&ports, "c"), 200);

    std::fs::write(&file, config(&ports, api, &["a", "c"])).unwrap();
    thread::sleep(Duration::from_secs(2));
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    write_unseen(&file, &config(&ports, api, &["a", "d"]), mtime);
    thread::sleep(Duration::from_secs(2));
    assert_eq!(describe(&ports, "d"), 404, "the watcher saw no change");
    let pid = vigia.pid().to_string();
    let hup = run_with_timeout("kill", &["-HUP", &pid], Duration::from_secs(5));
    assert!(hup.status.success(), "kill -HUP {pid}");
    assert_soon(&vigia, &ports, "d", 200);
    assert_soon(&vigia, &ports, "c", 404);
    assert!(
        vigia.logs().contains("SIGHUP: reloading"),
        "{}",
        vigia.logs()
    );

    stop.store(true, Ordering::Relaxed);
    let seen = reading.join().expect("the reader of a ran to the end");
    assert!(seen.packets > 100, "{} packets", seen.packets);
    assert!(
        seen.max_gap <= MAX_GAP,
        "the reader of a waited {:?} for a packet\n{}",
        seen.max_gap,
        vigia.logs()
    );
}

/// `logLevel` applies on reload: debug lines (an RTSP connection opening) appear only after
/// the file says `logLevel: debug`.
#[test]
fn log_level_applies_on_reload() {
    let ports = Ports::fresh();
    let dir = TempDir::new("vigia-reload-level");
    let file = dir.path().join("vigia.yml");
    let yaml = |level: &str| format!("{}logLevel: {level}\npaths:\n  all_others:\n", ports.yaml());
    std::fs::write(&file, yaml("info")).unwrap();
    let vigia = Vigia::spawn(dir, &["vigia.yml"], &[], ports.rtsp);
    describe(&ports, "x");
    thread::sleep(Duration::from_millis(500));
    assert!(
        !vigia.logs().contains("connection opened"),
        "no debug lines at info"
    );
    std::fs::write(&file, yaml("debug")).unwrap();
    assert!(
        vigia.logs_soon_contain("logLevel is now Debug", APPLIED_WITHIN),
        "{}",
        vigia.logs()
    );
    assert!(!vigia.logs().contains("restart vigia to apply"));
    describe(&ports, "x");
    assert!(
        vigia.logs_soon_contain("connection opened", APPLIED_WITHIN),
        "{}",
        vigia.logs()
    );
}
