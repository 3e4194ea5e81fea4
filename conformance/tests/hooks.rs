//! `runOn*` hooks with real processes: `runOnReady` (MediaMTX's old name of `runOnAvailable`)
//! starts when a publisher's stream is available, with `MTX_PATH` and `RTSP_PORT`, and is
//! stopped when it ends — even a command that ignores SIGINT is gone within 10 s; then
//! `runOnNotReady` runs. A crash-looping `runOnInit` with restart is paced (one start per 5 s)
//! and the server keeps serving. The recorded-segment hooks name each segment file.
//! `runOnDemand` publishes a path while RTSP and HLS readers want it, then `runOnUnDemand` runs.

use std::path::Path;
use std::time::{Duration, Instant};

use vigia_conformance::clips::Clip;
use vigia_conformance::rtsp_client::RtspClient;
use vigia_conformance::{Ports, TempDir, Vigia, eventually};

#[test]
fn hooks_start_and_stop_with_the_stream_and_a_crash_loop_is_harmless() {
    let files = TempDir::new("vigia-hooks");
    let f = |name: &str| files.path().join(name);
    let ports = Ports::fresh();
    let available = format!(
        "sh -c 'echo \"$MTX_PATH $RTSP_PORT $$\" > {}; trap \"\" INT; while true; do sleep 0.1; done'",
        f("available").display()
    );
    let unavailable = format!("sh -c 'echo $MTX_PATH > {}'", f("unavailable").display());
    let crash = format!("sh -c 'echo start >> {}; exit 1'", f("init").display());
    let config = format!(
        "{}paths:\n  demo:\n    source: synthetic\n    runOnInit: {crash:?}\n    runOnInitRestart: yes\n  cam:\n    runOnReady: {available:?}\n    runOnNotReady: {unavailable:?}\n",
        ports.yaml()
    );
    let vigia = Vigia::start(&config, ports.rtsp);
    let since_start = Instant::now();
    assert!(
        vigia.logs().contains("deprecated; read as runOnAvailable"),
        "{}",
        vigia.logs()
    );

    let mut publisher = Clip::H264Aac.publish(&ports.rtsp_url("cam"), "tcp");
    let started = eventually(Duration::from_secs(15), || read(&f("available")));
    let started = started.unwrap_or_else(|| panic!("runOnReady did not run:\n{}", vigia.logs()));
    let fields: Vec<&str> = started.split_whitespace().collect();
    assert_eq!(fields[..2], ["cam", &ports.rtsp.to_string()], "{started}");
    let pid = fields[2].to_owned();
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    publisher.stop();
    let gone = eventually(Duration::from_secs(12), || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    assert!(
        gone.is_some(),
        "a hook ignoring SIGINT is killed:\n{}",
        vigia.logs()
    );
    let ended = eventually(Duration::from_secs(5), || read(&f("unavailable")));
    assert_eq!(ended.as_deref(), Some("cam\n"), "runOnNotReady ran");

    let starts = read(&f("init")).unwrap_or_default().lines().count() as u64;
    let most = since_start.elapsed().as_secs() / 5 + 2;
    assert!(
        (1..=most).contains(&starts),
        "a crash-looping runOnInit is restarted every 5 s, not in a busy loop: {starts} starts"
    );
    let url = ports.rtsp_url("demo");
    let mut client = RtspClient::connect(ports.rtsp, &url).expect("the server still serves");
    let describe = client.request("DESCRIBE", &url, &["Accept: application/sdp"]);
    assert_eq!(describe.map(|r| r.status).ok(), Some(200));
}

/// The file's text, if it exists and is not empty.
fn read(file: &Path) -> Option<String> {
    std::fs::read_to_string(file).ok().filter(|s| !s.is_empty())
}

/// `runOnRecordSegmentCreate` / `runOnRecordSegmentComplete` on a synthetic path recorded in
/// 1 s segments to a local directory: every completed segment was created first, with the same
/// `MTX_SEGMENT_PATH` (the final file, which then exists), and a duration in seconds.
#[test]
fn segment_hooks_name_each_segment_file_and_its_duration() {
    let files = TempDir::new("vigia-segment-hooks");
    let log = files.path().join("hooks");
    let rec = files.path().join("rec");
    let ports = Ports::fresh();
    let create = format!(
        "sh -c 'echo \"create $MTX_PATH $RTSP_PORT $MTX_SEGMENT_PATH\" >> {}'",
        log.display()
    );
    let complete = format!(
        "sh -c 'echo \"complete $MTX_PATH $MTX_SEGMENT_PATH $MTX_SEGMENT_DURATION\" >> {}'",
        log.display()
    );
    let config = format!(
        "{}recordSpoolDirectory: {}\npaths:\n  rec:\n    source: synthetic\n    record: yes\n    recordSegmentDuration: 1s\n    recordPath: {}/%path/%s-%f\n    runOnRecordSegmentCreate: {create:?}\n    runOnRecordSegmentComplete: {complete:?}\n",
        ports.yaml(),
        files.path().join("spool").display(),
        rec.display()
    );
    let vigia = Vigia::start(&config, ports.rtsp);
    let lines = eventually(Duration::from_secs(30), || {
        let text = read(&log)?;
        let completed = text.lines().filter(|l| l.starts_with("complete")).count();
        (completed >= 2).then_some(text)
    });
    let lines = lines.unwrap_or_else(|| panic!("no two segments completed:\n{}", vigia.logs()));
    let created: Vec<&str> = lines.lines().filter(|l| l.starts_with("create")).collect();
    let prefix = format!("{}/rec/", rec.display());
    for line in lines.lines().filter(|l| l.starts_with("complete")) {
        let [_, path, file, duration] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("{line:?}");
        };
        assert_eq!(path, "rec");
        assert!(
            file.starts_with(&prefix) && file.ends_with(".mp4"),
            "{line}"
        );
        let expected = format!("create rec {} {file}", ports.rtsp);
        assert!(
            created.contains(&expected.as_str()),
            "{expected:?} in {lines}"
        );
        let seconds: f64 = duration.parse().unwrap_or_else(|_| panic!("{line}"));
        assert!((0.5..=5.0).contains(&seconds), "{line}");
        let stored = eventually(Duration::from_secs(10), || {
            Path::new(file).exists().then_some(())
        });
        assert!(stored.is_some(), "{file} is uploaded");
    }
}

/// `runOnDemand` publishes a path only while it is read: nothing runs at start; an RTSP reader
/// starts the command (an ffmpeg publishing back to `rtsp://127.0.0.1:$RTSP_PORT/$MTX_PATH`) and
/// gets its frames; once the reader left, the command is stopped after `runOnDemandCloseAfter`
/// and `runOnUnDemand` runs. An HLS request starts it again the same way.
#[test]
fn run_on_demand_publishes_while_read_and_stops_when_unread() {
    let files = TempDir::new("vigia-on-demand");
    let f = |name: &str| files.path().join(name);
    let ports = Ports::fresh();
    let publish = format!(
        "sh -c 'echo $$ > {}; exec ffmpeg -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=25 -c:v libx264 -preset ultrafast -g 25 -f rtsp -rtsp_transport tcp rtsp://127.0.0.1:$RTSP_PORT/$MTX_PATH'",
        f("pid").display()
    );
    let un_demand = format!("sh -c 'echo $MTX_PATH >> {}'", f("undemand").display());
    let config = format!(
        "{}hlsMuxerCloseAfter: 2s\npaths:\n  ondemand:\n    runOnDemand: {publish:?}\n    runOnDemandStartTimeout: 30s\n    runOnDemandCloseAfter: 2s\n    runOnUnDemand: {un_demand:?}\n",
        ports.yaml()
    );
    let vigia = Vigia::start(&config, ports.rtsp);
    std::thread::sleep(Duration::from_secs(1));
    assert!(read(&f("pid")).is_none(), "nothing runs before a reader");

    let frames = read_frames(&ports.rtsp_url("ondemand"));
    assert!(frames >= 25, "{frames} frames read:\n{}", vigia.logs());
    let pid = read(&f("pid")).expect("runOnDemand ran");
    assert_stopped_then_un_demand(&pid, &f("undemand"), 1, &vigia);

    let _ = std::fs::remove_file(f("pid"));
    let playlist = vigia_conformance::http::get(ports.hls, "/ondemand/index.m3u8", &[]);
    assert_eq!(playlist.map(|r| r.status), Some(200), "{}", vigia.logs());
    let pid = read(&f("pid")).expect("an HLS request started runOnDemand");
    assert_stopped_then_un_demand(&pid, &f("undemand"), 2, &vigia);
}

/// Reads `url` over RTSP/TCP with ffmpeg for 3 s; the number of video frames it decoded.
fn read_frames(url: &str) -> u64 {
    let args = [
        "-rtsp_transport",
        "tcp",
        "-i",
        url,
        "-t",
        "3",
        "-f",
        "null",
        "-",
    ];
    let out = vigia_conformance::run_with_timeout("ffmpeg", &args, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.rsplit("frame=").next().unwrap_or_default();
    let digits: String = last
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or(0)
}

/// The command `pid` ends within `runOnDemandCloseAfter` (2 s) plus the SIGINT grace, and
/// `runOnUnDemand` has then run `runs` times in all.
fn assert_stopped_then_un_demand(pid: &str, un_demand: &Path, runs: usize, vigia: &Vigia) {
    let pid = pid.trim();
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "running");
    let gone = eventually(Duration::from_secs(20), || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    assert!(gone.is_some(), "runOnDemand still runs:\n{}", vigia.logs());
    let ran = eventually(Duration::from_secs(5), || {
        let text = read(un_demand)?;
        (text.lines().count() == runs).then_some(text)
    });
    assert!(
        ran.is_some_and(|t| t.lines().all(|l| l == "ondemand")),
        "runOnUnDemand ran {runs} times:\n{}",
        vigia.logs()
    );
}

/// `runOnConnect` runs while an RTSP connection is open, with `MTX_CONN_TYPE`, `MTX_CONN_ID`
/// and `RTSP_PORT`; when the client disconnects it is interrupted and `runOnDisconnect` runs
/// with the same connection id.
#[test]
fn run_on_connect_lasts_as_long_as_the_connection() {
    let files = TempDir::new("vigia-conn-hooks");
    let f = |name: &str| files.path().join(name);
    let ports = Ports::fresh();
    let connect = format!(
        "sh -c 'echo \"$MTX_CONN_TYPE $MTX_CONN_ID $RTSP_PORT $$\" >> {}; exec sleep 60'",
        f("connect").display()
    );
    let disconnect = format!("sh -c 'echo $MTX_CONN_ID >> {}'", f("disconnect").display());
    let config = format!(
        "{}runOnConnect: {connect:?}\nrunOnDisconnect: {disconnect:?}\npaths:\n  demo:\n    source: synthetic\n",
        ports.yaml()
    );
    let vigia = Vigia::start(&config, ports.rtsp);
    // The harness's readiness probe connected and left: its hooks ran and ended.
    let probe_left = eventually(Duration::from_secs(10), || read(&f("disconnect")));
    assert!(probe_left.is_some(), "runOnDisconnect ran for the probe");
    let url = ports.rtsp_url("demo");
    let mut client = RtspClient::connect(ports.rtsp, &url).expect("connect");
    let options = client.request("OPTIONS", &url, &[]);
    assert_eq!(options.map(|r| r.status).ok(), Some(200));
    let line = eventually(Duration::from_secs(10), || {
        let left = read(&f("disconnect")).unwrap_or_default();
        let text = read(&f("connect"))?;
        let open = text.lines().find(|l| {
            let id = l.split_whitespace().nth(1).unwrap_or_default();
            !left.lines().any(|gone| gone == id)
        });
        open.map(str::to_owned)
    });
    let line = line.unwrap_or_else(|| panic!("runOnConnect did not run:\n{}", vigia.logs()));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [kind, id, port, pid] = fields[..] else {
        panic!("{line:?}");
    };
    assert_eq!((kind, port), ("rtspConn", ports.rtsp.to_string().as_str()));
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "runs while connected"
    );

    drop(client);
    let gone = eventually(Duration::from_secs(10), || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    assert!(gone.is_some(), "runOnConnect stopped:\n{}", vigia.logs());
    let down = eventually(Duration::from_secs(5), || {
        let text = read(&f("disconnect"))?;
        text.lines().any(|l| l == id).then_some(())
    });
    assert!(
        down.is_some(),
        "runOnDisconnect ran for {id}:\n{}",
        vigia.logs()
    );
}
