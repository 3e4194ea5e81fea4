#!/usr/bin/env python3
"""Cost of LL-HLS per stream-minute with 0, 1 and 10 viewers, measured on the release binary.

Starts `target/release/vigia` with one synthetic stream, then for each viewer count runs that many
LL-HLS clients (blocking playlist reload with _HLS_msn/_HLS_part, then the part itself, as hls.js
does) for a fixed window, and reads the server's CPU time (utime + stime from /proc) before and
after. Prints CPU-seconds per stream-minute; the LL-HLS cost is the difference to 0 viewers.

usage: python3 benches/compare/hls_cost.py [SECONDS]
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.client
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part(\d+)\.(\d+)\.mp4"')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def viewer(port, path, stop, counters):
    """One LL-HLS client on one keep-alive connection, as a browser player does."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def fetch(target):
        conn.request("GET", f"/{path}/{target}")
        return conn.getresponse().read()

    playlist = fetch("stream.m3u8").decode()
    while not stop.is_set():
        m = HINT.search(playlist)
        if not m:
            playlist = fetch("stream.m3u8").decode()
            continue
        msn, part = m.group(1), m.group(2)
        playlist = fetch(f"stream.m3u8?_HLS_msn={msn}&_HLS_part={part}").decode()
        size = len(fetch(f"part{msn}.{part}.mp4"))
        counters["bytes"] += size
        counters["parts"] += 1
    conn.close()


def measure(pid, port, viewers, seconds):
    stop = threading.Event()
    counters = {"bytes": 0, "parts": 0}
    threads = [threading.Thread(target=viewer, args=(port, "cam", stop, counters)) for _ in range(viewers)]
    for t in threads:
        t.start()
    time.sleep(2)  # viewers settle at the live edge
    before = cpu_seconds(pid)
    time.sleep(seconds)
    spent = cpu_seconds(pid) - before
    stop.set()
    for t in threads:
        t.join()
    return spent / (seconds / 60.0), counters


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    binary = os.environ.get("VIGIA_BIN", os.path.join(ROOT, "target/release/vigia"))
    rtsp, hls = free_port(), free_port()
    work = tempfile.mkdtemp(prefix="vigia-hls-cost-")
    with open(os.path.join(work, "vigia.yml"), "w") as f:
        f.write(f"rtspAddress: 127.0.0.1:{rtsp}\nhlsAddress: 127.0.0.1:{hls}\nrtspTransports: [tcp]\n"
                "logLevel: warn\nhlsMuxerCloseAfter: 1h\npaths:\n  cam:\n    source: synthetic\n")
    server = subprocess.Popen([binary, "vigia.yml"], cwd=work)
    try:
        time.sleep(2)
        source, _ = measure(server.pid, hls, 0, seconds)
        print(f"synthetic source alone (no HLS muxer): {source:.4f} CPU-s per stream-minute")
        for _ in range(100):
            try:
                get(f"http://127.0.0.1:{hls}/cam/index.m3u8")
                break
            except OSError:
                time.sleep(0.1)
        idle, _ = measure(server.pid, hls, 0, seconds)
        print(f"+ HLS muxer, 0 viewers: {idle:.4f} CPU-s per stream-minute "
              f"(muxing adds {idle - source:.4f})")
        for n in (1, 10):
            cost, c = measure(server.pid, hls, n, seconds)
            print(f"{n} viewer(s): {cost:.4f} CPU-s per stream-minute "
                  f"(LL-HLS serving adds {cost - idle:.4f}; {c['parts']} parts, {c['bytes']} bytes)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
