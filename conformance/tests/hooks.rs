//! `runOn*` hooks with real processes: `runOnReady` (MediaMTX's old name of `runOnAvailable`)
//! starts when a publisher's stream is available, with `MTX_PATH` and `RTSP_PORT`, and is
//! stopped when it ends — even a command that ignores SIGINT is gone within 10 s; then
//! `runOnNotReady` runs. A crash-looping `runOnInit` with restart is paced (one start per 5 s)
//! and the server keeps serving. The recorded-segment hooks name each segment file.

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
