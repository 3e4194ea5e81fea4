//! Headless Chromium (Debian's, driven by playwright-core) against Vigia's WebRTC pages
//! (issue 9): the player page `/<path>/` plays the built-in `demo` stream over WHEP with no
//! freeze and low glass-to-glass latency, and sends the credentials the browser used for the
//! page with its WHEP request; the publish page `/<path>/publish` publishes the fake camera over
//! WHIP and ffmpeg reads it back over RTSP and HLS; the player keeps playing through 5 % packet
//! loss.
//!
//! Chromium never uses loopback candidates, so each test makes a network namespace of its own
//! (`unshare --net`, a veth pair 10.213.<n>.1/.2, a /24 per test) and runs vigia, Chromium and
//! ffmpeg inside it (`nsenter`). Vigia mostly runs on its built-in defaults there (no config
//! file: the `demo` path, `all_others`, MediaMTX's ports), which nothing outside the namespace
//! can see.
//! Every process started in a namespace is killed, by pid, when the test ends.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use vigia_conformance::{TempDir, eventually, run_with_timeout, vigia_bin};

/// One browser at a time: two decoding at once on a 2-core machine measure the machine.
static BROWSER: Mutex<()> = Mutex::new(());

/// Seconds of playback measured by the player tests.
const PLAY_SECONDS: u32 = 20;

fn browser_script(name: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser");
    dir.join(name).display().to_string()
}

/// A private network namespace with loopback and a veth pair `10.213.<net>.1` / `.2`, held
/// by a `sleep` process; processes enter it with `nsenter`.
struct Netns {
    holder: Child,
    /// `/proc/<holder>/ns/net`.
    path: String,
    /// The namespace's identity (`net:[inode]`), to find the processes inside it.
    id: PathBuf,
    net: u8,
}

impl Netns {
    fn new(net: u8) -> Self {
        let setup = format!(
            "set -e; ip link set lo up; ip link add v0 type veth peer name v1; \
             ip addr add 10.213.{net}.1/24 dev v0; ip addr add 10.213.{net}.2/24 dev v1; \
             ip link set v0 up; ip link set v1 up; ip route add default via 10.213.{net}.2 dev v0; \
             echo ready; exec sleep 1800"
        );
        let mut holder = Command::new("unshare")
            .args(["--net", "bash", "-c", &setup])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unshare (util-linux)");
        let mut line = String::new();
        let stdout = holder.stdout.take().expect("holder stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = holder.kill();
            let out = holder.wait_with_output().expect("holder output");
            panic!(
                "could not make a network namespace (needs root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let path = format!("/proc/{}/ns/net", holder.id());
        let id = std::fs::read_link(&path).expect("namespace id");
        Self {
            holder,
            path,
            id,
            net,
        }
    }

    /// The address vigia is reached at (the namespace's `v0`).
    fn ip(&self) -> String {
        format!("10.213.{}.1", self.net)
    }

    /// `program` to be run inside the namespace.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", self.path))
            .arg("--")
            .arg(program);
        command
    }

    /// Runs `program args…` inside the namespace to completion, killed after `limit`.
    fn run(&self, program: &str, args: &[&str], limit: Duration) -> Output {
        let net = format!("--net={}", self.path);
        let argv = [&[net.as_str(), "--", program][..], args].concat();
        run_with_timeout("nsenter", &argv, limit)
    }

    /// Drops `percent` % of the UDP packets vigia sends from `port`, where they arrive (an
    /// nftables rule on input; a drop on output would fail vigia's send instead). Not netem:
    /// the CI machines' kernel has no `sch_netem`, but it has nftables with `numgen`.
    fn lose_udp_from(&self, port: u16, percent: u32) {
        let script = format!(
            "set -e; nft add table inet vigia_loss; \
             nft add chain inet vigia_loss input '{{ type filter hook input priority 0; }}'; \
             nft add rule inet vigia_loss input udp sport {port} numgen random mod 100 lt \
             {percent} counter drop"
        );
        let out = self.run("bash", &["-c", &script], Duration::from_secs(10));
        assert!(
            out.status.success(),
            "nft (Debian nftables, scripts/install-deps.sh) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The packets the rule of [`Self::lose_udp_from`] dropped so far.
    fn dropped(&self) -> u64 {
        let out = self.run(
            "nft",
            &["list", "chain", "inet", "vigia_loss", "input"],
            Duration::from_secs(10),
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        listing
            .split("counter packets ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // The holder keeps the namespace, so its identity, alive: without it the identity
        // could already name another test's namespace.
        if !matches!(self.holder.try_wait(), Ok(None)) {
            return;
        }
        // Everything in the namespace was started by this test (vigia, node, Chromium, ffmpeg).
        let inside: Vec<String> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == Some(self.id.clone())
            })
            .collect();
        if !inside.is_empty() {
            let _ = Command::new("kill").arg("-KILL").args(&inside).status();
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// vigia inside a namespace, in a fresh working directory.
struct NsVigia {
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl NsVigia {
    /// On the built-in defaults (the `demo` path, `all_others`, MediaMTX's ports).
    fn start(ns: &Netns) -> Self {
        Self::start_with(ns, None)
    }

    /// With `config` as its `vigia.yml`, when given.
    fn start_with(ns: &Netns, config: Option<&str>) -> Self {
        let dir = TempDir::new("vigia-webrtc-browser");
        if let Some(config) = config {
            std::fs::write(dir.path().join("vigia.yml"), config).expect("write config");
        }
        let log = dir.path().join("vigia.log");
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let child = ns
            .command(vigia_bin())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn vigia");
        let mut vigia = Self {
            child,
            log,
            _dir: dir,
        };
        let listening = eventually(Duration::from_secs(15), || {
            let logs = vigia.logs();
            let all = [
                "[RTSP] listener opened",
                "[HLS] listener opened",
                "[WebRTC] listener opened",
            ];
            all.iter().all(|l| logs.contains(l)).then_some(())
        });
        if listening.is_none() || !matches!(vigia.child.try_wait(), Ok(None)) {
            panic!("vigia did not start in the namespace:\n{}", vigia.logs());
        }
        vigia
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NsVigia {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- vigia log ----\n{}", self.logs());
        }
    }
}

/// The last JSON line `script` printed.
fn report_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .unwrap_or_else(|| {
            panic!(
                "no report from the browser: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// Plays `url` with whep.mjs for `seconds` inside `ns`; then `not_found` if given.
fn whep(ns: &Netns, url: &str, seconds: u32, not_found: Option<&str>) -> Value {
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let script = browser_script("whep.mjs");
    let secs = seconds.to_string();
    // Chromium's profile goes under a directory removed even if node is killed.
    let tmp = TempDir::new("vigia-whep");
    let tmpdir = format!("TMPDIR={}", tmp.path().display());
    let mut args = vec![tmpdir.as_str(), "node", script.as_str(), url, &secs];
    args.extend(not_found);
    let out = ns.run("env", &args, Duration::from_secs(u64::from(seconds) + 90));
    report_of(&out)
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn numbers(report: &Value, key: &str) -> Vec<f64> {
    report[key]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// What the presented frames say: their count, the longest wall-clock gap (ms) between two of
/// them or the start or end of the measurement, and how many gaps were longer than `freeze_ms`.
fn frame_gaps(report: &Value, freeze_ms: f64) -> (usize, f64, usize) {
    let frames: Vec<f64> = report["frames"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["wall"].as_f64()).collect())
        .unwrap_or_default();
    let start = report["measureStart"].as_f64().unwrap_or(f64::NAN);
    let end = report["measureEnd"].as_f64().unwrap_or(f64::NAN);
    let walls: Vec<f64> = [&[start][..], &frames, &[end]].concat();
    let gaps: Vec<f64> = walls.windows(2).map(|w| w[1] - w[0]).collect();
    let longest = gaps.iter().copied().fold(0.0, f64::max);
    let freezes = gaps
        .iter()
        .filter(|g| g.is_nan() || **g > freeze_ms)
        .count();
    (frames.len(), longest, freezes)
}

/// How far `currentTime` moved over the samples (s).
fn advanced(report: &Value) -> f64 {
    let times: Vec<f64> = report["samples"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["t"].as_f64()).collect())
        .unwrap_or_default();
    times.last().unwrap_or(&0.0) - times.first().unwrap_or(&0.0)
}

fn inbound_summary(report: &Value) -> String {
    let v = &report["inboundVideo"];
    format!(
        "codec {}, frames decoded {}, dropped {}, freezes {} ({} s), packets lost {}, NACK sent {}, PLI sent {}",
        v["codec"],
        v["framesDecoded"],
        v["framesDropped"],
        v["freezeCount"],
        v["totalFreezesDuration"],
        v["packetsLost"],
        v["nackCount"],
        v["pliCount"]
    )
}

#[test]
fn the_player_page_plays_the_demo_stream_over_whep_without_freezes_and_with_low_latency() {
    let ns = Netns::new(1);
    let vigia = NsVigia::start(&ns);
    let query = "controls=no&disablepictureinpicture=yes";
    // Without the trailing slash: the page redirects to /demo/ as MediaMTX does.
    let url = format!("http://{}:8889/demo?{query}", ns.ip());
    let not_found = format!("http://{}:8889/nothing/", ns.ip());
    let report = whep(&ns, &url, PLAY_SECONDS, Some(&not_found));
    let logs = vigia.logs();
    assert!(report.get("failure").is_none(), "{report}\n{logs}");
    println!(
        "startup {} ms; {}",
        report["startupMs"],
        inbound_summary(&report)
    );

    // The page's options, and its query on the WHEP request.
    let video = &report["video"];
    assert_eq!(video["controls"], false, "{video}");
    assert_eq!(video["disablePictureInPicture"], true, "{video}");
    assert_eq!(video["muted"], true, "{video}");
    assert_eq!(video["autoplay"], true, "{video}");
    let post = report["fetches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["method"] == "POST")
        .cloned()
        .unwrap_or_default();
    assert_eq!(post["status"], 201, "{report}");
    assert_eq!(
        post["url"],
        format!("http://{}:8889/demo/whep?{query}", ns.ip()),
        "the WHEP request carries the page's query"
    );
    let codec = report["inboundVideo"]["codec"].as_str().unwrap_or_default();
    assert!(codec.starts_with("video/H264"), "codec {codec}");

    // Playback: a new frame in every second, time advancing over the whole run.
    let (frames, longest, freezes) = frame_gaps(&report, 1000.0);
    println!(
        "{frames} frames presented in {PLAY_SECONDS} s, longest gap {longest:.0} ms, \
         currentTime advanced {:.1} s",
        advanced(&report)
    );
    assert!(
        frames as f64 >= f64::from(PLAY_SECONDS) * 20.0,
        "{frames} frames presented in {PLAY_SECONDS} s (25 fps stream)"
    );
    assert_eq!(
        freezes, 0,
        "a second without a new frame (longest gap {longest} ms)"
    );
    assert!(
        advanced(&report) >= f64::from(PLAY_SECONDS) - 2.0,
        "currentTime advanced {} s",
        advanced(&report)
    );

    // Glass-to-glass: the synthetic source stamps every keyframe (one a second).
    let mut latencies = numbers(&report, "latencies");
    assert!(
        latencies.len() >= (PLAY_SECONDS as usize) / 2,
        "{} latency samples ({} stamped frames received, probe errors {})",
        latencies.len(),
        report["stampCount"],
        report["probeErrors"]
    );
    let (p50, p95) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.95),
    );
    println!(
        "glass-to-glass latency (Chromium, WHEP): p50 {p50:.0} ms, p95 {p95:.0} ms over {} keyframes",
        latencies.len()
    );
    assert!(p50 < 300.0, "p50 latency {p50} ms");

    // Leaving the page ended the session; a path with nothing to play shows why.
    assert_eq!(
        report["deleteAfterLeaving"], 404,
        "the page did not DELETE its session"
    );
    let message = report["notFoundMessage"].as_str().unwrap_or_default();
    assert!(message.contains("stream not found"), "message {message:?}");
}

#[test]
fn the_player_page_sends_the_credentials_the_browser_used_for_it_with_its_whep_request() {
    let ns = Netns::new(4);
    let config = "authInternalUsers:\n- user: viewer\n  pass: secret\n  ips: []\n  \
                  permissions:\n  - action: read\npaths:\n  cam:\n    source: synthetic\n";
    let vigia = NsVigia::start_with(&ns, Some(config));
    // Chromium takes the user and password out of the address, answers the page's 401 with
    // them, and sends them again with the page's requests under /cam/.
    let url = format!("http://viewer:secret@{}:8889/cam/", ns.ip());
    let report = whep(&ns, &url, 3, None);
    assert!(
        report.get("failure").is_none(),
        "{report}\n{}",
        vigia.logs()
    );
    let post = report["fetches"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["method"] == "POST"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(post["status"], 201, "{report}");
    let (frames, _, _) = frame_gaps(&report, 1000.0);
    assert!(frames > 25, "{frames} frames in 3 s");
}

/// ffprobe decodes 5 s of `url` inside `ns`: the video codec and the number of frames decoded.
fn decoded_frames(ns: &Netns, url: &str, input: &[&str]) -> (String, u64, String) {
    let args = [
        &["-v", "error"][..],
        input,
        &[
            "-select_streams",
            "v:0",
            "-count_frames",
            "-read_intervals",
            "%+5",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "json",
            url,
        ],
    ]
    .concat();
    let out = ns.run("ffprobe", &args, Duration::from_secs(40));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let stream = &json["streams"][0];
    let codec = stream["codec_name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let frames = stream["nb_read_frames"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (codec, frames, stderr)
}

#[test]
fn the_publish_page_publishes_the_camera_over_whip_and_rtsp_and_hls_read_it_back() {
    // Dropped last, once the namespace's processes are gone.
    let dir = TempDir::new("vigia-whip");
    let ns = Netns::new(2);
    let vigia = NsVigia::start(&ns);
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    // The fake camera at 640x360, 25 fps, 1.5 Mbit/s (the page's query options).
    let url = format!(
        "http://{}:8889/browser/publish?video-width=640&video-height=360&video-framerate=25\
         &video-bitrate=1500",
        ns.ip()
    );
    let stdout = dir.path().join("whip.out");
    let mut node = ns
        .command("node")
        .args([browser_script("whip.mjs"), url, "30".into()])
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("create whip.out"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node");
    let printed = || std::fs::read_to_string(&stdout).unwrap_or_default();
    let connected = eventually(Duration::from_secs(60), || {
        let exited = !matches!(node.try_wait(), Ok(None));
        (exited || printed().contains("\"connected\"")).then_some(())
    });
    assert!(
        connected.is_some() && printed().contains("\"connected\""),
        "the publish page did not connect: {}\n{}",
        printed(),
        vigia.logs()
    );

    let ip = ns.ip();
    let rtsp = format!("rtsp://{ip}:8554/browser");
    let (codec, rtsp_frames, rtsp_errors) = decoded_frames(&ns, &rtsp, &["-rtsp_transport", "tcp"]);
    println!("RTSP: {codec}, {rtsp_frames} frames decoded in 5 s; errors: {rtsp_errors}");
    assert_eq!(codec, "h264", "RTSP read: {rtsp_errors}\n{}", vigia.logs());
    assert!(
        rtsp_frames > 0,
        "RTSP read: no frame decoded: {rtsp_errors}"
    );
    let hls = format!("http://{ip}:8888/browser/index.m3u8");
    let (codec, hls_frames, hls_errors) = decoded_frames(&ns, &hls, &[]);
    println!("HLS: {codec}, {hls_frames} frames decoded in 5 s; errors: {hls_errors}");
    assert_eq!(codec, "h264", "HLS read: {hls_errors}\n{}", vigia.logs());
    assert!(hls_frames > 0, "HLS read: no frame decoded: {hls_errors}");

    let finished = eventually(Duration::from_secs(60), || {
        (!matches!(node.try_wait(), Ok(None))).then_some(())
    });
    if finished.is_none() {
        let _ = node.kill();
        let _ = node.wait();
    }
    let out = Output {
        status: node.wait().expect("wait node"),
        stdout: std::fs::read(&stdout).unwrap_or_default(),
        stderr: Vec::new(),
    };
    let report = report_of(&out);
    assert!(report.get("failure").is_none(), "{report}");
    let sent = &report["outboundVideo"];
    println!(
        "Chromium sent {} ({}x{}): {} frames encoded, {} bytes, PLI received {}, NACK received {}",
        sent["codec"],
        sent["frameWidth"],
        sent["frameHeight"],
        sent["framesEncoded"],
        sent["bytesSent"],
        sent["pliCount"],
        sent["nackCount"]
    );
    let codec = sent["codec"].as_str().unwrap_or_default();
    assert!(codec.starts_with("video/H264"), "Chromium sent {codec}");
    let audio = report["outboundAudio"]["codec"]
        .as_str()
        .unwrap_or_default();
    println!("and {audio} audio");
    assert!(
        audio.starts_with("audio/opus"),
        "Chromium sent audio {audio:?}"
    );
    // Chromium's fake camera makes ~20 frames a second here; 10 a second is plenty of proof.
    assert!(
        sent["framesEncoded"].as_u64().unwrap_or(0) > 10 * 30,
        "{sent}"
    );
}

#[test]
fn the_player_keeps_playing_through_five_percent_packet_loss() {
    let ns = Netns::new(3);
    let vigia = NsVigia::start(&ns);
    // Vigia's media leaves from webrtcLocalUDPAddress (:8189); one packet in 20 is dropped.
    ns.lose_udp_from(8189, 5);
    let url = format!("http://{}:8889/demo/", ns.ip());
    let report = whep(&ns, &url, PLAY_SECONDS, None);
    assert!(
        report.get("failure").is_none(),
        "{report}\n{}",
        vigia.logs()
    );
    let dropped = ns.dropped();
    let (frames, longest, freezes) = frame_gaps(&report, 1000.0);
    println!(
        "5 % loss ({dropped} packets dropped): {frames} frames presented in {PLAY_SECONDS} s, \
         longest gap {longest:.0} ms, {freezes} gaps over 1 s; {}",
        inbound_summary(&report)
    );
    let v = &report["inboundVideo"];
    assert!(dropped > 0, "nothing was dropped: {v}");
    assert!(
        v["nackCount"].as_f64().unwrap_or(0.0) > 0.0,
        "Chromium sent no NACK: {v}"
    );
    // Frames keep coming: at least 15 of the 25 a second, never a second without one.
    assert!(
        frames as f64 >= f64::from(PLAY_SECONDS) * 15.0,
        "{frames} frames presented in {PLAY_SECONDS} s"
    );
    assert_eq!(freezes, 0, "a gap of {longest} ms without a frame");
}
