//! One run: cameras started evenly over the ramp, readers a moment after their camera, a
//! sample of everything once a second (progress line and report), then both report files.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::cli::{Options, Protocol};
use crate::clip::PacketizedClip;
use crate::error::Context;
use crate::net::loopback_source;
use crate::publisher::{self, Camera};
use crate::report::{Report, ReportBuilder, Second, Tick};
use crate::stats::Stats;
use crate::whep::{self, WhepTarget};
use crate::{Error, html, procfs, reader};

/// How long after its camera a reader connects (the path must exist first).
const READER_DELAY: Duration = Duration::from_millis(1500);
/// Errors printed in full; later ones are only counted.
const ERRORS_SHOWN: u64 = 10;
/// How long cameras and readers go on after the last sample, which is taken at the run's
/// deadline, so that it sees them all rather than racing with their stop.
const STOP_AFTER_LAST_SAMPLE: Duration = Duration::from_millis(300);

/// Runs the load described by `opts`, writes both reports and returns the report.
pub async fn run(opts: Options) -> Result<Report, Error> {
    let clip = PacketizedClip::load(&opts.clip)?;
    let stats = Arc::new(Stats::default());
    let server = server_pid(&opts).and_then(|pid| Some((pid, procfs::sample(&pid.to_string())?)));
    let own = procfs::sample("self").unwrap_or_default();
    let fps = 1.0 / clip.frame_duration().as_secs_f64();
    let mut builder =
        ReportBuilder::new(opts.clone(), crate::wallclock_us() / 1000, fps, server, own);
    let start = Instant::now();
    let until = start + opts.ramp + opts.duration;
    let tasks = spawn_all(&opts, &clip, &stats, start, until + STOP_AFTER_LAST_SAMPLE);
    sample_loop(
        &opts,
        &stats,
        server.map(|(pid, _)| pid),
        &mut builder,
        start,
        until,
    )
    .await;
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let report = builder.finish();
    write_reports(&opts, &report)?;
    Ok(report)
}

/// The server process to sample: `--server-pid`, else the one local process named `vigia`
/// (none, with a warning, when there are several: the sample would be a guess).
fn server_pid(opts: &Options) -> Option<u32> {
    if opts.server_pid.is_some() {
        return opts.server_pid;
    }
    if !matches!(opts.target.as_str(), "127.0.0.1" | "localhost" | "::1") {
        return None;
    }
    match procfs::find_by_name("vigia").as_slice() {
        [pid] => Some(*pid),
        [] => None,
        pids => {
            eprintln!(
                "vigia-loadgen: several vigia processes {pids:?}; pass --server-pid to sample one"
            );
            None
        }
    }
}

fn spawn_all(
    opts: &Options,
    clip: &PacketizedClip,
    stats: &Arc<Stats>,
    start: Instant,
    until: Instant,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for i in 0..opts.cameras {
        let at = start + opts.ramp.mul_f64(i as f64 / opts.cameras as f64);
        let url = format!(
            "rtsp://{}:{}/{}{i}",
            opts.target, opts.rtsp_port, opts.path_prefix
        );
        let cam = Camera {
            index: i,
            url: url.clone(),
            host: opts.target.clone(),
            port: opts.rtsp_port,
            transport: opts.transport,
        };
        let (clip, s) = (clip.clone(), stats.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            report_error(&s, publisher::run(cam, clip, s.clone(), until).await);
        }));
        for r in 0..opts.readers_per_camera {
            tasks.push(spawn_reader(
                opts,
                i,
                r,
                url.clone(),
                stats,
                at + READER_DELAY,
                until,
            ));
        }
    }
    tasks
}

fn spawn_reader(
    opts: &Options,
    cam: usize,
    r: usize,
    rtsp_url: String,
    stats: &Arc<Stats>,
    at: Instant,
    until: Instant,
) -> tokio::task::JoinHandle<()> {
    let (host, s, who) = (
        opts.target.clone(),
        stats.clone(),
        format!("reader {cam}/{r}"),
    );
    let (protocol, rtsp_port) = (opts.protocol, opts.rtsp_port);
    let hls_url = format!(
        "http://{}:{}/{}{cam}/index.m3u8",
        host, opts.hls_port, opts.path_prefix
    );
    let hls_port = opts.hls_port;
    // Readers' sources follow the cameras' (camera i connects from source i).
    let source = loopback_source(&host, opts.cameras + cam * opts.readers_per_camera + r);
    let whep = WhepTarget {
        host: host.clone(),
        port: opts.webrtc_port,
        path: format!("{}{cam}", opts.path_prefix),
        source,
    };
    tokio::spawn(async move {
        tokio::time::sleep_until(at).await;
        let result = match protocol {
            Protocol::Hls => {
                crate::hls::run(&host, hls_port, &hls_url, source, who, s.clone(), until).await
            }
            Protocol::Webrtc => whep::run(whep, who, s.clone(), until).await,
            Protocol::Rtsp => {
                reader::run(&host, rtsp_port, &rtsp_url, source, who, s.clone(), until).await
            }
        };
        report_error(&s, result);
    })
}

fn report_error(stats: &Stats, result: Result<(), Error>) {
    if let Err(e) = result {
        let n = stats
            .errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n < ERRORS_SHOWN {
            eprintln!("\nvigia-loadgen: {e}");
        }
    }
}

async fn sample_loop(
    opts: &Options,
    stats: &Stats,
    server_pid: Option<u32>,
    builder: &mut ReportBuilder,
    start: Instant,
    until: Instant,
) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut prev = start;
    loop {
        // The last sample is taken at the deadline itself, not at the first whole second after it.
        let now = tokio::time::timeout_at(until, tick.tick())
            .await
            .unwrap_or(until);
        let t = Tick {
            t_s: (now - start).as_secs_f64(),
            dt_s: (now - prev).as_secs_f64(),
            snapshot: stats.snapshot(),
            server: server_pid.and_then(|p| procfs::sample(&p.to_string())),
            own: procfs::sample("self").unwrap_or_default(),
        };
        prev = now;
        let second = builder.push(t);
        if !opts.quiet {
            progress(
                second,
                opts,
                stats.errors.load(std::sync::atomic::Ordering::Relaxed),
            );
        }
        if now >= until {
            break;
        }
    }
    if !opts.quiet {
        eprintln!();
    }
}

/// The live progress line (rewritten in place on stderr).
fn progress(s: &Second, opts: &Options, errors: u64) {
    let server = match (s.server_cpu_pct, s.server_rss_mib) {
        (Some(c), Some(m)) => format!(" | vigia {c:.0}% {m:.0}MiB"),
        _ => String::new(),
    };
    eprint!(
        "\r[{:>4.0}s] cams {}/{} readers {} | rx {} fr/s {:.1} Mbit/s | lat p50 {:.0} p99 {:.0} ms \
         | gaps {} stalls {} err {errors}{server} | loadgen {:.0}%   ",
        s.t_s,
        s.cameras,
        opts.cameras,
        s.readers,
        s.frames_received,
        s.bytes_received as f64 * 8e-6,
        s.latency.p50_ms,
        s.latency.p99_ms,
        s.gaps,
        s.stalls,
        s.loadgen_cpu_pct
    );
    let _ = std::io::stderr().flush();
}

fn write_reports(opts: &Options, report: &Report) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other);
    let path = &opts.report;
    std::fs::write(path, json.context(|| format!("report {}", path.display()))?)
        .context(|| format!("report {}", path.display()))?;
    let html_path = opts.html_path();
    std::fs::write(&html_path, html::render(report))
        .context(|| format!("report {}", html_path.display()))
}
