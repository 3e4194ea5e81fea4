#!/usr/bin/env python3
"""Vigia side by side with peers that install here (issue 11): nginx + libnginx-mod-rtmp for push
ingest -> HLS, gst-rtsp-server for RTSP re-serve. Prints a Markdown table for BENCHMARKS.md.

What it measures, each run against a fresh server, one server at a time, A B B A order:

1. Push ingest -> HLS, no viewers. N cameras push the same looped 720p 2 Mbit/s clip with the same
   pusher, `ffmpeg -re -stream_loop -1 -i clip.mp4 -c copy`: RTSP (TCP) to Vigia
   (`hlsAlwaysRemux: true`, LL-HLS: 1 s segments, 200 ms parts, 7 segments), RTMP to nginx-rtmp
   (`hls on`, 1 s fragments, 7 s playlist, MPEG-TS files on disk). Server CPU-s (utime + stime of
   the server's process tree, from /proc) per stream-minute over a steady window, and RSS per
   camera (RSS at the end of the window minus RSS before the first camera, over N). The ffmpeg
   pushers' own CPU is measured too: where it eats most of the machine the figures are noisy.
   At 100 and 500 cameras Vigia alone is fed by vigia-loadgen cameras (one process, same
   clip), stated as such in the table: ~500 ffmpeg processes do not fit on a 2-core machine.
2. RTSP re-serve. R readers (vigia-loadgen, RTSP over TCP) of one 2 Mbit/s stream: Vigia fed by a
   vigia-loadgen camera, gst-rtsp-server (gst_rtsp_relay.py) fed with RTP from
   `ffmpeg -c copy -f rtp`. Readers per core = R / (server CPU as a fraction of one core).
   vigia-loadgen's camera also tries to publish to gst-rtsp-server and is refused (1 error).
3. LL-HLS viewers per core, Vigia alone (nginx-rtmp's HLS is not LL-HLS: no parts, no blocking
   reloads, so there is no like-for-like peer here).
4. Cameras pulled over RTSP (Vigia's `source:`, through retina), HLS on, no viewers: N
   vigia-loadgen cameras publish to a second Vigia that stands in for them, and the Vigia under
   test pulls each one into a path of its own (`cam0`...). Only the pulling Vigia's CPU-s per
   stream-minute and RSS per camera count. No peer here pulls RTSP cameras like-for-like; with
   --baseline the older build pulls in the B runs.
5. Latency percentiles: vigia-loadgen's (SEI wall-clock stamps its cameras put in every frame) for
   Vigia's RTSP and LL-HLS readers; the streams pushed with ffmpeg carry no stamp, so none for
   the peers.

usage:
    cargo build --release -j2 -p vigia -p vigia-loadgen --bin vigia --bin vigia-loadgen
    python3 benches/compare/compare.py [--quick] [--seconds 40] [--cameras 10,40,100]
        [--loadgen-cameras 100,500] [--pull-cameras 40] [--rtsp-readers 500] [--hls-viewers 200] [--base 21000]
        [--baseline path/to/older/vigia]   # before/after: that build instead of nginx-rtmp
        [--hls-directory]                  # Vigia's HLS window on disk, like nginx-rtmp's

Installs nginx-light, libnginx-mod-rtmp, gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins
with apt-get when they are missing. Ports: BASE..BASE+999 (default 21000-21999), all on
127.0.0.1. Clips, configs, logs and JSON reports go to a temp dir, removed at the end unless
--keep; every process it starts is stopped by its pid.
"""
import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
SYSTEM_PYTHON = "/usr/bin/python3"
APT_PACKAGES = [
    "nginx-light", "libnginx-mod-rtmp", "python3-gi", "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-plugins-base", "gstreamer1.0-plugins-good", "gstreamer1.0-plugins-bad",
    "ffmpeg",
]

STARTED = []  # every Popen this script started, stopped by pid in stop_all()


# --- processes -----------------------------------------------------------------------------

def spawn(args, log, **kw):
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, **kw)
    STARTED.append(p)
    return p


def stop(p, timeout=5):
    """SIGTERM to the process group of a process we started (its own session), then SIGKILL."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    else:
        # nginx's workers may outlive a dead master: same process group, started by us.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if p in STARTED:
        STARTED.remove(p)


def stop_all():
    for p in list(STARTED):
        stop(p)


def tree(pid):
    """pid and its descendants (nginx: master, worker, cache manager)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError):
            pass
    return total


def rss_mib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wait_port(port, proc, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} not listening on {port} after {timeout} s")


# --- setup ---------------------------------------------------------------------------------

def have_gst_rtsp_server():
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


def ensure_packages():
    if shutil.which("nginx") and os.path.exists(RTMP_MODULE) and shutil.which("ffmpeg") \
            and have_gst_rtsp_server():
        return
    print("installing the peers with apt-get ...", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=True, env=env)


def make_clip(work):
    """The 720p 2 Mbit/s clip of loadgen/bench/common.sh (Annex B, SPS/PPS on every IDR, 1 s
    GOP) for vigia-loadgen, and the same bytes in MP4 for the ffmpeg pushers."""
    h264, mp4 = os.path.join(work, "clip.h264"), os.path.join(work, "clip.mp4")
    common = os.path.join(ROOT, "loadgen/bench/common.sh")
    subprocess.run(["bash", "-c", '. "$0" && make_720p_clip "$1"', common, h264], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-r", "25", "-i", h264, "-c", "copy",
                    mp4], check=True)
    return h264, mp4


class Ports:
    def __init__(self, base):
        self.vigia_rtsp, self.vigia_hls, self.vigia_webrtc = base + 554, base + 888, base + 889
        self.vigia_ice, self.vigia_rtp = base + 189, base
        self.nginx_rtmp = base + 935
        self.gst_rtsp, self.gst_udp = base + 600, base + 610


# --- servers -------------------------------------------------------------------------------

def start_vigia(args, work, ports, name, binary=None, paths="  all_others:\n"):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    p = ports
    with open(os.path.join(d, "vigia.yml"), "w") as f:
        f.write(f"""logLevel: warn
rtspAddress: 127.0.0.1:{p.vigia_rtsp}
rtpAddress: :{p.vigia_rtp}
rtcpAddress: :{p.vigia_rtp + 1}
multicastRTPPort: {p.vigia_rtp + 2}
multicastRTCPPort: {p.vigia_rtp + 3}
hlsAddress: 127.0.0.1:{p.vigia_hls}
hlsAlwaysRemux: true
{"hlsDirectory: hls" if args.hls_directory and not binary else ""}
webrtcAddress: 127.0.0.1:{p.vigia_webrtc}
webrtcLocalUDPAddress: 127.0.0.1:{p.vigia_ice}
paths:
{paths}""")
    proc = spawn([binary or args.vigia, "vigia.yml"], open(os.path.join(d, "vigia.log"), "w"), cwd=d)
    wait_port(p.vigia_rtsp, proc, "vigia")
    return proc


def start_nginx(work, ports, name):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "hls"), exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"""daemon off;
master_process on;
worker_processes 1;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
load_module {RTMP_MODULE};
events {{ worker_connections 8192; }}
rtmp {{
  server {{
    listen 127.0.0.1:{ports.nginx_rtmp};
    chunk_size 4096;
    application live {{
      live on;
      record off;
      hls on;
      hls_path {d}/hls;
      hls_fragment 1s;
      hls_playlist_length 7s;
    }}
  }}
}}
""")
    proc = spawn(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf")],
                 open(os.path.join(d, "nginx.log"), "w"))
    wait_port(ports.nginx_rtmp, proc, "nginx")
    return proc


def start_gst(work, ports, name):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    proc = spawn([SYSTEM_PYTHON, os.path.join(HERE, "gst_rtsp_relay.py"), str(ports.gst_rtsp),
                  "/loadgen-cam0", str(ports.gst_udp)], open(os.path.join(d, "gst.log"), "w"))
    wait_port(ports.gst_rtsp, proc, "gst-rtsp-server")
    return proc


def ffmpeg_pusher(mp4, out_args, log):
    return spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
                  "-i", mp4, "-c", "copy", *out_args], log)


def loadgen(args, ports, clip, server, cameras, readers, protocol, seconds, ramp, report, log):
    return spawn([args.loadgen, "--target", "127.0.0.1", "--rtsp-port", str(ports.vigia_rtsp
                  if protocol != "gst" else ports.gst_rtsp), "--hls-port", str(ports.vigia_hls),
                  "--webrtc-port", str(ports.vigia_webrtc), "--cameras", str(cameras),
                  "--readers-per-camera", str(readers),
                  "--protocol", "rtsp" if protocol == "gst" else protocol, "--clip", clip,
                  "--duration", f"{seconds}s", "--ramp", f"{ramp}s", "--server-pid",
                  str(server.pid), "--quiet", "--report", report], log)


def window(server, seconds, others=()):
    """Server CPU-s (its process tree) and the others' CPU-s over `seconds`, RSS at the end."""
    pids, other_pids = tree(server.pid), [q for o in others for q in tree(o.pid)]
    c0, o0, t0 = cpu_seconds(pids), cpu_seconds(other_pids), time.time()
    time.sleep(seconds)
    pids = tree(server.pid)
    c1, o1, t1 = cpu_seconds(pids), cpu_seconds(other_pids), time.time()
    return {"cpu_s": c1 - c0, "others_cpu_s": o1 - o0, "wall_s": t1 - t0, "rss_mib": rss_mib(pids)}


# --- measurements --------------------------------------------------------------------------

def ingest_ffmpeg(args, work, ports, mp4, kind, n, run):
    """N ffmpeg pushers -> Vigia (RTSP) or nginx-rtmp (RTMP), HLS on, no viewers."""
    name = f"ingest-{kind}-{n}-{run}"
    if kind == "nginx":
        server = start_nginx(work, ports, name)
    else:
        server = start_vigia(args, work, ports, name,
                             args.baseline if kind == "vigia-baseline" else None)
    pushers = []
    try:
        time.sleep(1)
        rss0 = rss_mib(tree(server.pid))
        log = open(os.path.join(work, name, "ffmpeg.log"), "w")
        for i in range(n):
            if kind != "nginx":
                out = ["-f", "rtsp", "-rtsp_transport", "tcp",
                       f"rtsp://127.0.0.1:{ports.vigia_rtsp}/cam{i}"]
            else:
                out = ["-f", "flv", f"rtmp://127.0.0.1:{ports.nginx_rtmp}/live/cam{i}"]
            pushers.append(ffmpeg_pusher(mp4, out, log))
            time.sleep(args.ramp / n)
        time.sleep(args.settle)
        w = window(server, args.seconds, pushers)
        live = count_live(kind, work, name, ports, n)
        alive = sum(p.poll() is None for p in pushers)
    finally:
        for p in pushers:
            stop(p)
        stop(server)
    minutes = n * w["wall_s"] / 60
    return {"server": kind, "pusher": "ffmpeg", "cameras": n, "run": run,
            "cpu_s_per_stream_minute": w["cpu_s"] / minutes,
            "server_cpu_pct": 100 * w["cpu_s"] / w["wall_s"],
            "pushers_cpu_pct": 100 * w["others_cpu_s"] / w["wall_s"],
            "rss_idle_mib": rss0, "rss_mib": w["rss_mib"],
            "rss_per_camera_mib": (w["rss_mib"] - rss0) / n,
            "streams_live": live, "pushers_alive": alive}


def count_live(kind, work, name, ports, n, prefix="cam"):
    """Streams whose HLS playlist is there and fresh at the end of the window."""
    if kind == "nginx":
        now, live = time.time(), 0
        for i in range(n):
            try:
                live += now - os.stat(os.path.join(work, name, "hls", f"cam{i}.m3u8")).st_mtime < 5
            except OSError:
                pass
        return live
    # One source address per request, as vigia-loadgen does: from one address Vigia's default
    # httpRateLimit (100/s per IP) answers most of 500 quick requests with 429.
    live = 0
    for i in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", ports.vigia_hls, timeout=3,
                                          source_address=(f"127.0.0.{2 + i % 253}", 0))
        try:
            conn.request("GET", f"/{prefix}{i}/index.m3u8")
            live += conn.getresponse().status == 200
        except OSError:
            pass
        finally:
            conn.close()
    return live


def ingest_loadgen(args, work, ports, clip, n, run):
    """N vigia-loadgen cameras -> Vigia, HLS on, no viewers."""
    name = f"ingest-vigia-loadgen-{n}-{run}"
    server = start_vigia(args, work, ports, name)
    report = os.path.join(work, name, "report.json")
    try:
        time.sleep(1)
        rss0 = rss_mib(tree(server.pid))
        lg = loadgen(args, ports, clip, server, n, 0, "rtsp", args.seconds + args.settle + 5,
                     args.ramp, report, open(os.path.join(work, name, "loadgen.log"), "w"))
        lg_started = time.time()
        time.sleep(args.ramp + args.settle)
        t0 = time.time() - lg_started
        w = window(server, args.seconds, [lg])
        live = count_live("vigia", work, name, ports, n, "loadgen-cam")
        lg.wait(args.seconds + 60)
        s = json.load(open(report))["summary"]
    finally:
        stop(server)
    # Cameras Vigia dropped during the window (readTimeout under load) publish no more
    # stream-minutes: count the cameras up in each second of the window.
    inside = [x["cameras"] for x in json.load(open(report))["series"]
              if t0 < x["t_s"] <= t0 + w["wall_s"] + 0.5]
    up = sum(inside) / len(inside) if inside else n
    minutes = up * w["wall_s"] / 60
    return {"server": "vigia", "pusher": "vigia-loadgen", "cameras": n, "run": run,
            "cpu_s_per_stream_minute": w["cpu_s"] / minutes,
            "server_cpu_pct": 100 * w["cpu_s"] / w["wall_s"],
            "pushers_cpu_pct": 100 * w["others_cpu_s"] / w["wall_s"],
            "rss_idle_mib": rss0, "rss_mib": w["rss_mib"],
            "rss_per_camera_mib": (w["rss_mib"] - rss0) / n,
            "cameras_up_in_window": up, "cameras_up_at_end": inside[-1] if inside else None,
            "streams_live": live, "cameras_peak": s["cameras_peak"], "errors": s["errors"],
            "send_schedule_ratio": s["send_schedule_ratio"]}


def pull(args, work, ports, clip, kind, n, run):
    """N cameras pulled by Vigia over RTSP (`source:`, through retina), HLS on, no viewers. The
    cameras are vigia-loadgen's, published to a second Vigia that stands in for them; only the
    pulling Vigia is measured."""
    name = f"pull-{kind}-{n}-{run}"
    camera_ports = Ports(args.base + 10)
    cameras = start_vigia(args, work, camera_ports, name + "-cameras")
    report = os.path.join(work, name + "-cameras", "report.json")
    server = None
    try:
        lg = loadgen(args, camera_ports, clip, cameras, n, 0, "rtsp",
                     args.ramp + args.settle + args.seconds + 30, args.ramp, report,
                     open(os.path.join(work, name + "-cameras", "loadgen.log"), "w"))
        time.sleep(args.ramp + 2)
        paths = "".join(f"  cam{i}:\n    source: rtsp://127.0.0.1:{camera_ports.vigia_rtsp}"
                        f"/loadgen-cam{i}\n" for i in range(n))
        server = start_vigia(args, work, ports, name,
                             args.baseline if kind == "vigia-baseline" else None, paths)
        rss0 = rss_mib(tree(server.pid))
        time.sleep(args.settle + 3)
        w = window(server, args.seconds, [cameras, lg])
        live = count_live("vigia", work, name, ports, n)
    finally:
        if server:
            stop(server)
        stop(cameras)
    minutes = n * w["wall_s"] / 60
    return {"server": kind, "cameras": n, "run": run,
            "cpu_s_per_stream_minute": w["cpu_s"] / minutes,
            "server_cpu_pct": 100 * w["cpu_s"] / w["wall_s"],
            "rss_per_camera_mib": (w["rss_mib"] - rss0) / n, "streams_live": live}


def readers(args, work, ports, clip, mp4, kind, n, run):
    """N readers of one stream: RTSP from Vigia or gst-rtsp-server, or LL-HLS from Vigia."""
    name = f"readers-{kind}-{n}-{run}"
    feeder = None
    server = start_gst(work, ports, name) if kind == "gst" else \
        start_vigia(args, work, ports, name)
    report = os.path.join(work, name, "report.json")
    try:
        if kind == "gst":
            feeder = ffmpeg_pusher(mp4, ["-f", "rtp", f"rtp://127.0.0.1:{ports.gst_udp}"],
                                   open(os.path.join(work, name, "ffmpeg.log"), "w"))
        time.sleep(1)
        rss0 = rss_mib(tree(server.pid))
        protocol = {"gst": "gst", "vigia-rtsp": "rtsp", "vigia-hls": "hls"}[kind]
        lg = loadgen(args, ports, clip, server, 1, n, protocol, args.seconds + args.settle + 4,
                     0, report, open(os.path.join(work, name, "loadgen.log"), "w"))
        time.sleep(args.settle + 2)
        w = window(server, args.seconds, [lg])
        lg.wait(args.seconds + 60)
        rep = json.load(open(report))
    finally:
        if feeder:
            stop(feeder)
        stop(server)
    s = rep["summary"]
    steady = [x for x in rep["series"] if x["readers"] >= n]
    mbps = (sum(x["bytes_received"] for x in steady) * 8 / 1e6 / len(steady) / n) if steady else 0
    lat = next(iter(s.get("latency", {}).values()), None) or {}
    core = w["cpu_s"] / w["wall_s"]
    return {"server": kind, "readers": n, "run": run, "server_cpu_pct": 100 * core,
            "readers_per_core": n / core if core else None,
            "loadgen_cpu_pct": 100 * w["others_cpu_s"] / w["wall_s"],
            "rss_per_reader_kib": 1024 * (w["rss_mib"] - rss0) / n,
            "readers_peak": s.get("readers_peak"), "mbit_s_per_reader": mbps,
            "errors": s.get("errors"), "gaps": s.get("gaps"), "stalls": s.get("stalls"),
            "latency": lat}


# --- report --------------------------------------------------------------------------------

def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def fmt(x, spec):
    return "–" if x is None else format(x, spec)


def runs(rows, key, spec):
    vals = [r[key] for r in rows]
    m = mean(vals)
    each = "/".join(fmt(v, spec) for v in vals)
    return m, f"{fmt(m, spec)} ({each})" if len(vals) > 1 else fmt(m, spec)


def table(results, args):
    out = ["| measure | load | Vigia | peer | Vigia / peer | goal (issue 11) |",
           "|---|---|---|---|---|---|"]
    ing = results["ingest"]
    peer, label = ("vigia-baseline", "baseline") if args.baseline else ("nginx", "nginx-rtmp")
    for n in sorted({r["cameras"] for r in ing}):
        v = [r for r in ing if r["cameras"] == n and r["server"] == "vigia" and r["pusher"] == "ffmpeg"]
        g = [r for r in ing if r["cameras"] == n and r["server"] == peer]
        lgv = [r for r in ing if r["cameras"] == n and r["pusher"] == "vigia-loadgen"]
        if v and g:
            vm, vs = runs(v, "cpu_s_per_stream_minute", ".4f")
            gm, gs = runs(g, "cpu_s_per_stream_minute", ".4f")
            out.append(f"| push ingest → HLS, no viewers: CPU-s per stream-minute | {n} cameras, "
                       f"ffmpeg pushers | {vs} | {label} {gs} | **{vm / gm:.2f}×** | "
                       f"≤ 0.03 and ≤ 0.5× |")
            vm, vs = runs(v, "rss_per_camera_mib", ".2f")
            gm, gs = runs(g, "rss_per_camera_mib", ".2f")
            window = "on disk (hlsDirectory)" if args.hls_directory else "in memory"
            out.append(f"| RSS per camera, MiB (Vigia: HLS window {window}; nginx: .ts files "
                       f"on disk) | {n} cameras | {vs} | {label} {gs} | {vm / gm:.2f}× | ≤ 2.5 |")
            _, vp = runs(v, "pushers_cpu_pct", ".0f")
            _, gp = runs(g, "pushers_cpu_pct", ".0f")
            _, vc = runs(v, "server_cpu_pct", ".1f")
            _, gc = runs(g, "server_cpu_pct", ".1f")
            out.append(f"| server CPU, % of a core / the ffmpeg pushers' CPU | {n} cameras | "
                       f"{vc} / {vp} | {gc} / {gp} | | |")
            out.append(f"| streams live at the end (playlist fresh) | {n} cameras | "
                       f"{'/'.join(str(r['streams_live']) for r in v)} | "
                       f"{'/'.join(str(r['streams_live']) for r in g)} | | |")
        if lgv:
            vm, vs = runs(lgv, "cpu_s_per_stream_minute", ".4f")
            rm, rs = runs(lgv, "rss_per_camera_mib", ".2f")
            _, lc = runs(lgv, "pushers_cpu_pct", ".0f")
            out.append(f"| push ingest → HLS, no viewers: CPU-s per stream-minute; RSS/camera MiB "
                       f"| {n} cameras, vigia-loadgen pusher ({lc} % of a core) | {vs}; {rs} "
                       f"| not run (no pusher of that size for RTMP here) | | ≤ 0.03; ≤ 2.5 |")
            ups = "/".join(f"{r['cameras_up_in_window']:.0f}, {r['cameras_up_at_end']}, "
                           f"{r['errors']}" for r in lgv)
            out.append(f"| cameras up in the window (mean), at its end; publisher errors | "
                       f"{n} cameras, vigia-loadgen pusher | {ups} | | | all {n}, 0 |")
    out += pull_rows(results["pull"], peer, label)
    rd = results["readers"]
    for n in sorted({r["readers"] for r in rd if r["server"] != "vigia-hls"}):
        v = [r for r in rd if r["readers"] == n and r["server"] == "vigia-rtsp"]
        g = [r for r in rd if r["readers"] == n and r["server"] == "gst"]
        if v and g:
            vm, vs = runs(v, "readers_per_core", ".0f")
            gm, gs = runs(g, "readers_per_core", ".0f")
            out.append(f"| RTSP readers per core of one 2 Mbit/s stream | {n} readers (TCP) | "
                       f"{vs} | gst-rtsp-server {gs} | **{vm / gm:.2f}×** | ≥ 2,000 |")
            _, vc = runs(v, "server_cpu_pct", ".1f")
            _, gc = runs(g, "server_cpu_pct", ".1f")
            _, vk = runs(v, "rss_per_reader_kib", ".0f")
            _, gk = runs(g, "rss_per_reader_kib", ".0f")
            _, vb = runs(v, "mbit_s_per_reader", ".2f")
            _, gb = runs(g, "mbit_s_per_reader", ".2f")
            out.append(f"| server CPU % of a core; RSS KiB per reader; Mbit/s each reader got | "
                       f"{n} readers | {vc}; {vk}; {vb} | {gc}; {gk}; {gb} | | |")
            out.append(latency_row(v, f"{n} RTSP readers", "not measured (ffmpeg feed has no "
                                                            "stamps)"))
    for n in sorted({r["readers"] for r in rd if r["server"] == "vigia-hls"}):
        v = [r for r in rd if r["readers"] == n and r["server"] == "vigia-hls"]
        _, vs = runs(v, "readers_per_core", ".0f")
        _, vc = runs(v, "server_cpu_pct", ".1f")
        out.append(f"| LL-HLS viewers per core (Vigia CPU % of a core) | {n} viewers of one "
                   f"2 Mbit/s stream | {vs} ({vc} %) | nginx-rtmp: no LL-HLS | | stated |")
        out.append(latency_row(v, f"{n} LL-HLS viewers", "–"))
    return "\n".join(out)


def pull_rows(rows, peer, label):
    """Table rows of the pull runs: Vigia, and the baseline build when there is one."""
    out = []
    for n in sorted({r["cameras"] for r in rows}):
        v = [r for r in rows if r["cameras"] == n and r["server"] == "vigia"]
        b = [r for r in rows if r["cameras"] == n and r["server"] == peer]
        vm, vs = runs(v, "cpu_s_per_stream_minute", ".4f")
        bm, bs = runs(b, "cpu_s_per_stream_minute", ".4f") if b else (None, "not run")
        ratio = f"{vm / bm:.2f}×" if bm else ""
        out.append(f"| cameras pulled over RTSP (retina) → HLS, no viewers: CPU-s per "
                   f"stream-minute | {n} cameras | {vs} | {label if b else ''} {bs} | {ratio} "
                   f"| ≤ 0.05 |")
        _, vr = runs(v, "rss_per_camera_mib", ".2f")
        _, vc = runs(v, "server_cpu_pct", ".1f")
        live = "/".join(str(r["streams_live"]) for r in v)
        out.append(f"| server CPU % of a core; RSS MiB per camera; streams live at the end | "
                   f"{n} pulled cameras | {vc}; {vr}; {live} | | | |")
    return out


def latency_row(rows, load, peer):
    parts = []
    for r in rows:
        lat = r["latency"]
        if lat:
            parts.append(f"{lat['p50_ms']:.0f}/{lat['p95_ms']:.0f}/{lat['p99_ms']:.0f}")
    return f"| latency p50/p95/p99 ms (per run) | {load} | {', '.join(parts) or '–'} | {peer} | | |"


# --- main ----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke check: 10 s windows, small loads")
    ap.add_argument("--seconds", type=float, default=40, help="measured window per run")
    ap.add_argument("--cameras", default="10,40,100", help="ffmpeg-pushed ingest loads, both servers")
    ap.add_argument("--loadgen-cameras", default="100,500", help="vigia-loadgen-pushed loads (Vigia)")
    ap.add_argument("--pull-cameras", default="40", help="cameras Vigia pulls over RTSP")
    ap.add_argument("--rtsp-readers", default="500", help="RTSP readers of one stream")
    ap.add_argument("--hls-viewers", default="200", help="LL-HLS viewers of one stream (Vigia)")
    ap.add_argument("--ramp", type=float, default=5, help="seconds over which cameras start")
    ap.add_argument("--settle", type=float, default=5, help="seconds after the ramp before measuring")
    ap.add_argument("--base", type=int, default=21000, help="ports BASE..BASE+999")
    ap.add_argument("--vigia", default=os.path.join(ROOT, "target/release/vigia"))
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "target/release/vigia-loadgen"))
    ap.add_argument("--baseline", help="another vigia binary, measured instead of nginx-rtmp in the "
                    "ffmpeg ingest runs (A B B A): before/after figures of a change")
    ap.add_argument("--hls-directory", action="store_true", help="Vigia writes complete HLS "
                    "segments to disk (`hlsDirectory`), as nginx-rtmp writes its .ts files; not "
                    "the --baseline build, so --baseline with the same binary measures the setting")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs, reports)")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.cameras, args.loadgen_cameras = 10, "4", "20"
        args.pull_cameras = "4"
        args.rtsp_readers, args.hls_viewers, args.ramp, args.settle = "20", "10", 1, 3
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    for b in (args.vigia, args.loadgen):
        if not os.access(b, os.X_OK):
            sys.exit(f"{b} missing: cargo build --release -j2 -p vigia -p vigia-loadgen "
                     "--bin vigia --bin vigia-loadgen")
    ensure_packages()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = tempfile.mkdtemp(prefix="vigia-compare-")
    ports = Ports(args.base)
    results = {"ingest": [], "pull": [], "readers": [], "started": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                     time.gmtime())}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    def log(r):
        print(json.dumps(r), file=sys.stderr, flush=True)

    try:
        clip, mp4 = make_clip(work)

        def abba(loads, a, b, measure, into):
            for n in ints(loads):
                for run, kind in enumerate((a, b, b, a)):
                    r = measure(kind, n, run)
                    into.append(r)
                    log(r)

        peer = "vigia-baseline" if args.baseline else "nginx"
        abba(args.cameras, "vigia", peer,
             lambda kind, n, run: ingest_ffmpeg(args, work, ports, mp4, kind, n, run),
             results["ingest"])
        for n in ints(args.loadgen_cameras):
            r = ingest_loadgen(args, work, ports, clip, n, 0)
            results["ingest"].append(r)
            log(r)
        abba(args.pull_cameras, "vigia", "vigia-baseline" if args.baseline else "vigia",
             lambda kind, n, run: pull(args, work, ports, clip, kind, n, run), results["pull"])
        abba(args.rtsp_readers, "vigia-rtsp", "gst",
             lambda kind, n, run: readers(args, work, ports, clip, mp4, kind, n, run),
             results["readers"])
        for n in ints(args.hls_viewers):
            for run in range(2):
                r = readers(args, work, ports, clip, mp4, "vigia-hls", n, run)
                results["readers"].append(r)
                log(r)
    finally:
        stop_all()
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(table(results, args))


if __name__ == "__main__":
    main()
