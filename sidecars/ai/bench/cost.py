#!/usr/bin/env python3
"""CPU cost of `vigia-ai run` per camera (issue 10, BENCHMARKS.md "AI sidecar: licence plates
per core").

A real release `vigia` (target/release/vigia) is fed by ffmpeg publishers, each looping a clip
with `-re -c copy` (no encoding), and a release `vigia-ai run` (target/release/vigia-ai) reads
N of those paths at its default sampling. After a warm-up, the CPU time of vigia-ai (utime +
stime from /proc/<pid>/stat) over the window is divided by the window and by N; the means of
decode, detection and recognition come from its own "camera figures" / "OCR figures" log lines
(every 20 pictures, cumulative since start), and the pictures it read in the window from the
number of "picture read" debug lines.

Scenes:
- traffic: clips/make_clips.py at its defaults (1280x720, 25 fps, a keyframe a second, 2 Mbit/s,
  a car every 3.4 s, seed 3000): every keyframe changes, so every one is read;
- static: the traffic clip's first frame (an empty street) encoded for the same length with
  the same settings: the sampler skips all but one picture every 10 s.

    bench/cost.py [--cameras 1,4] [--scenes traffic,static] [--seconds 60] [--warmup 15]

Needs ffmpeg with libx264, the clip generator's Python (scripts/install-deps.sh), the OCR models
(setup-models.sh) and release builds: `cargo build -j2 --release -p vigia -p vigia-ai`. Ports:
127.0.0.1:23554 (RTSP), 23560-23563 (RTP/RTCP, multicast), 23570 (HLS), 23580 (vigia-ai HTTP).
Events go to a file (VIGIA_EVENTSURL empty), no broker needed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
AI = ROOT / "sidecars" / "ai"
RTSP_PORT, RTP_PORT, HLS_PORT, AI_HTTP_PORT = 23554, 23560, 23570, 23580
CLK_TCK = os.sysconf("SC_CLK_TCK")
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
        "-bf", "0", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-b:v", "2M",
        "-x264-params", "repeat-headers=1"]


def cpu_seconds(pid):
    """utime + stime of `pid` and its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def python():
    tools = Path(os.environ.get("VIGIA_TOOLS", Path.home() / ".cache/vigia-tools"))
    return os.environ.get("VIGIA_CLIPS_PYTHON", str(tools / "clips/bin/python"))


def render(work, seconds):
    """(traffic clip, static clip) of `seconds` each."""
    out = work / "clips"
    subprocess.run([python(), str(AI / "clips/make_clips.py"), "--out", str(out), "--clips", "1",
                    "--seed", "3000", "--seconds", str(seconds), "--night", "0"],
                   check=True, stdout=subprocess.DEVNULL)
    traffic = out / "clip-000.mp4"
    still = out / "still.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(traffic), "-frames:v", "1",
                    str(still)], check=True)
    static = out / "static.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "25", "-i",
                    str(still), "-t", str(seconds), *X264, str(static)], check=True)
    return traffic, static


def wait_port(port, proc, name, timeout=20):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{name} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{name} does not listen on {port}")


def start_vigia(args, work):
    d = work / "vigia"
    d.mkdir(parents=True, exist_ok=True)
    (d / "vigia.yml").write_text(f"""logLevel: warn
rtspAddress: 127.0.0.1:{RTSP_PORT}
rtpAddress: :{RTP_PORT}
rtcpAddress: :{RTP_PORT + 1}
multicastRTPPort: {RTP_PORT + 2}
multicastRTCPPort: {RTP_PORT + 3}
hlsAddress: 127.0.0.1:{HLS_PORT}
webrtc: no
paths:
  all_others:
""")
    proc = subprocess.Popen([args.vigia, "vigia.yml"], cwd=d, stdout=open(d / "vigia.log", "w"),
                            stderr=subprocess.STDOUT)
    wait_port(RTSP_PORT, proc, "vigia")
    return proc


def publish(clip, path):
    return subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-re", "-stream_loop", "-1",
                             "-i", str(clip), "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
                             f"rtsp://127.0.0.1:{RTSP_PORT}/{path}"], stdin=subprocess.DEVNULL)


def figures(log_path):
    """The last camera and OCR figure lines of a vigia-ai log, and its picture-read times."""
    cams, ocr, reads = {}, None, []
    for line in Path(log_path).read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        f = e.get("fields", {})
        msg = f.get("message")
        if msg == "camera figures":
            cams[f.get("path")] = f
        elif msg == "OCR figures":
            ocr = f
        elif msg == "picture read":
            reads.append(e.get("timestamp"))
    return cams, ocr, reads


def run_case(args, work, clip, scene, cameras):
    name = f"{scene}-{cameras}"
    paths = [f"{name}-cam{i}" for i in range(cameras)]
    pubs = [publish(clip, p) for p in paths]
    time.sleep(2)
    log = work / f"{name}.log"
    env = dict(os.environ, VIGIA_AI_CAMERAS=",".join(paths),
               VIGIA_AI_RTSP=f"rtsp://127.0.0.1:{RTSP_PORT}", VIGIA_EVENTSURL="",
               VIGIA_AI_STATE_DIR=str(work / f"{name}-state"),
               VIGIA_AI_HTTP=f"127.0.0.1:{AI_HTTP_PORT}", RUST_LOG="info,vigia_ai::live=debug")
    ai = subprocess.Popen([args.vigia_ai, "run"], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        time.sleep(args.warmup)
        if ai.poll() is not None:
            sys.exit(f"vigia-ai exited with {ai.returncode}; see {log}")
        _, _, reads0 = figures(log)
        c0, t0 = cpu_seconds(ai.pid), time.time()
        time.sleep(args.seconds)
        c1, t1 = cpu_seconds(ai.pid), time.time()
        cams, ocr, reads1 = figures(log)
    finally:
        ai.terminate()
        ai.wait()
        for p in pubs:
            p.terminate()
            p.wait()
    cpu = (c1 - c0) / (t1 - t0)
    pictures = len(reads1) - len(reads0)
    decode = [c["mean_decode_ms"] for c in cams.values()]
    row = {
        "scene": scene, "cameras": cameras, "seconds": round(t1 - t0, 1),
        "cpu_cores": round(cpu, 3), "cpu_per_camera_pct": round(100 * cpu / cameras, 1),
        "pictures_per_s": round(pictures / (t1 - t0), 2),
        "cpu_s_per_picture": round((c1 - c0) / pictures, 3) if pictures else None,
        "decode_ms": round(sum(decode) / len(decode), 1) if decode else None,
        "det_ms": round(ocr["mean_det_ms"], 0) if ocr else None,
        "rec_ms": round(ocr["mean_rec_ms"], 0) if ocr else None,
        "static_skipped": sum(c.get("static_skipped", 0) for c in cams.values()),
        "processed": sum(c.get("processed", 0) for c in cams.values()),
    }
    print(json.dumps(row), flush=True)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", default="1,4")
    p.add_argument("--scenes", default="traffic,static")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--warmup", type=float, default=15)
    p.add_argument("--vigia", default=str(ROOT / "target/release/vigia"))
    p.add_argument("--vigia-ai", default=str(ROOT / "target/release/vigia-ai"))
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigia-ai-cost-"))
    traffic, static = render(work, 30)
    clips = {"traffic": traffic, "static": static}
    vigia = start_vigia(args, work)
    try:
        for scene in args.scenes.split(","):
            for n in (int(c) for c in args.cameras.split(",")):
                run_case(args, work, clips[scene], scene, n)
    finally:
        vigia.terminate()
        vigia.wait()
        if args.keep:
            print(f"work directory: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
