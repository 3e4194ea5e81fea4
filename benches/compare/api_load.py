#!/usr/bin/env python3
"""Open-loop load on the control API (:9997) while synthetic paths stream; latency percentiles.

Starts `$VIGIA_BIN` (default `target/release/vigia`) with `--paths` synthetic paths (`cam000`…)
and the API on, waits until every path is ready, then sends `--rate` requests per second for
`--seconds` over a mix of `/v3/paths/list`, `/v3/paths/get/camNNN`, `/v3/rtspsessions/list` and
`/v3/config/paths/list` (round robin; the camera of each get is the next one in turn).

Open loop: request *i* is due at `start + i / rate`, whatever happened to the earlier ones, and
its latency is counted from that due time to the last byte of the answer, so a stalled server
shows as latency of every request due during the stall (no coordinated omission). Requests go
over a pool of keep-alive HTTP/1.1 connections; a request with no idle connection opens a new
one (up to `--max-conns`, then waits for one, the wait counted). Also reports the server's CPU
(utime + stime from /proc over the window) and the client's own, since both share the machine.

usage: python3 benches/compare/api_load.py [--rate 1000] [--seconds 30] [--paths 100]
       [--api-port 19997] [--rtsp-port 18554] [--warmup 5] [--routes paths,get,sessions,config]
"""
import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    p.add_argument("--seconds", type=float, default=30.0, help="measured window")
    p.add_argument("--warmup", type=float, default=5.0, help="load before the window, not counted")
    p.add_argument("--paths", type=int, default=100, help="synthetic paths")
    p.add_argument("--api-port", type=int, default=19997)
    p.add_argument("--rtsp-port", type=int, default=18554)
    p.add_argument("--max-conns", type=int, default=256)
    p.add_argument("--routes", default="paths,get,sessions,config",
                   help="which of the four routes to mix: paths,get,sessions,config")
    return p.parse_args()


def config(args):
    """The server's config: ports below 32768, API on, HLS/metrics/playback off, N paths."""
    lines = [
        "logLevel: warn",
        f"rtspAddress: 127.0.0.1:{args.rtsp_port}",
        f"rtpAddress: :{args.rtsp_port + 2}",
        f"rtcpAddress: :{args.rtsp_port + 3}",
        f"multicastRTPPort: {args.rtsp_port + 4}",
        f"multicastRTCPPort: {args.rtsp_port + 5}",
        "hls: no",
        "api: yes",
        f"apiAddress: 127.0.0.1:{args.api_port}",
        "paths:",
    ]
    lines += [f"  {name}:\n    source: synthetic" for name in cams(args.paths)]
    return "\n".join(lines) + "\n"


def cams(n):
    return [f"cam{i:03d}" for i in range(n)]


def targets(args):
    """The request mix: each of the four routes in turn, gets cycling over the cameras."""
    names = cams(args.paths)
    chosen = args.routes.split(",")
    out = []
    for name in names:
        routes = {
            "paths": "/v3/paths/list",
            "get": f"/v3/paths/get/{name}",
            "sessions": "/v3/rtspsessions/list",
            "config": "/v3/config/paths/list",
        }
        out += [routes[r] for r in chosen]
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def wait_ready(args, deadline_s=30):
    """Until `/v3/paths/list` shows every path ready."""
    url = f"http://127.0.0.1:{args.api_port}/v3/paths/list?itemsPerPage=1000"
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                body = r.read().decode()
            if body.count('"ready":true') >= args.paths:
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit("the server did not get every path ready in time")


class Pool:
    """Idle keep-alive connections; a request takes one or opens one."""

    def __init__(self, port, most):
        self.port, self.most, self.open = port, most, 0
        self.idle = asyncio.Queue()

    async def take(self):
        if self.idle.empty() and self.open < self.most:
            self.open += 1
            return await asyncio.open_connection("127.0.0.1", self.port)
        return await self.idle.get()

    def give(self, conn):
        self.idle.put_nowait(conn)

    def drop(self):
        self.open -= 1


async def read_response(reader):
    """Status and body length of one HTTP/1.1 answer (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        return status, len(await reader.readexactly(int(headers["content-length"])))
    size = 0
    while True:  # chunked
        n = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(n + 2)
        size += n
        if n == 0:
            return status, size


async def one(pool, target, due, results):
    """One request due at `due` (loop time); appends (due, latency s, status, bytes, target)."""
    reader, writer = await pool.take()
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    try:
        writer.write(request)
        status, size = await read_response(reader)
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        pool.drop()
        writer.close()
        results.append((due, asyncio.get_running_loop().time() - due, 0, repr(e), target))
        return
    results.append((due, asyncio.get_running_loop().time() - due, status, size, target))
    pool.give((reader, writer))


async def load(args, pid):
    loop = asyncio.get_running_loop()
    pool = Pool(args.api_port, args.max_conns)
    mix, results, tasks = targets(args), [], set()
    total_s = args.warmup + args.seconds
    start = loop.time() + 0.1
    count = int(total_s * args.rate)
    marks = {}
    for i in range(count):
        due = start + i / args.rate
        if i == int(args.warmup * args.rate):
            marks["begin"] = (due, cpu_seconds(pid), own_cpu_seconds())
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(one(pool, mix[i % len(mix)], due, results))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    end_due = start + count / args.rate
    marks["end"] = (end_due, cpu_seconds(pid), own_cpu_seconds())
    measured = [r for r in results if r[0] >= marks["begin"][0]]
    return measured, marks, pool.open


def route(target):
    """`/v3/paths/get/cam007` → `/v3/paths/get/{name}`."""
    return "/v3/paths/get/{name}" if target.startswith("/v3/paths/get/") else target


def percentile(sorted_values, q):
    i = min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values))) - 1))
    return sorted_values[i]


def report(args, measured, marks, conns):
    lat = sorted(r[1] * 1000 for r in measured)
    bad = [r for r in measured if r[2] != 200]
    (t0, cpu0, own0), (t1, cpu1, own1) = marks["begin"], marks["end"]
    window = t1 - t0
    print(f"requests measured: {len(measured)} over {window:.1f} s "
          f"({len(measured) / window:.0f}/s offered {args.rate:.0f}/s), non-200: {len(bad)}, "
          f"connections opened: {conns}")
    for q, name in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99"), (0.999, "p99.9")]:
        print(f"{name}: {percentile(lat, q):.2f} ms")
    print(f"max: {lat[-1]:.2f} ms")
    print(f"vigia CPU: {(cpu1 - cpu0) / window * 100:.0f} % of one core; "
          f"load client CPU: {(own1 - own0) / window * 100:.0f} %")
    by_route = {}
    for r in measured:
        by_route.setdefault(route(r[4]), []).append(r[1] * 1000)
    for name, values in sorted(by_route.items()):
        values.sort()
        print(f"  {name}: p50 {percentile(values, 0.5):.2f} ms, p95 {percentile(values, 0.95):.2f} ms, "
              f"max {values[-1]:.2f} ms ({len(values)} requests)")
    if bad:
        print("first failures:", bad[:5])


def main():
    args = parse_args()
    binary = os.environ.get("VIGIA_BIN", os.path.join(ROOT, "target/release/vigia"))
    work = tempfile.mkdtemp(prefix="vigia-api-load-")
    conf = os.path.join(work, "vigia.yml")
    with open(conf, "w") as f:
        f.write(config(args))
    log = open(os.path.join(work, "vigia.log"), "w")
    server = subprocess.Popen([binary, conf], cwd=work, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(args)
        measured, marks, conns = asyncio.run(load(args, server.pid))
        report(args, measured, marks, conns)
    finally:
        server.terminate()
        server.wait(timeout=10)
        print(f"server log: {log.name}")


if __name__ == "__main__":
    main()
