#!/usr/bin/env python3
"""Open-loop load on Cidades' camera list; latency percentiles, achieved rate and CPU.

Starts `$CIDADES_BIN` (default `target/release/vigia-cidades`) on a fresh PostgreSQL database
(created, dropped after), with Redis as configured by `--cache` and no broker, seeds `--cities`
cities of `--per-city` cameras each through the API (the seed's scale: 100 x 10), then sends
`--rate` requests per second for `--seconds` after `--warmup` over the lists the console and
other clients ask for, in turn:

- `/v1/cameras?cityId=<city>&perPage=500` (what the console polls), cycling over the cities;
- `/v1/cameras?page=<n>&perPage=50`, cycling over the 20 pages of the whole list;
- `/v1/cameras?cityId=<city>&status=unknown`.

With the cache on, `--invalidate N` makes every cached page stale N times a second, as N camera
status transitions consumed from `stream.health_check` would (each bumps the pages' generation).

Open loop, as benches/compare/api_load.py (whose connection pool and request code this
reuses): request i is due at start + i / rate and its latency runs from that due time to the
answer's last byte, so a stall counts against every request due during it. Reports the
Cidades process's CPU and that of PostgreSQL and Redis (all their processes), and the client's.

usage: python3 sidecars/cidades/bench/camera_list_load.py [--rate 1000] [--seconds 30]
       [--warmup 5] [--cache on|off] [--invalidate 0] [--port 18081]
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "benches", "compare"))
from api_load import Pool, cpu_seconds, one, own_cpu_seconds, percentile  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    p.add_argument("--seconds", type=float, default=30.0, help="measured window")
    p.add_argument("--warmup", type=float, default=5.0, help="load before the window, not counted")
    p.add_argument("--cities", type=int, default=100)
    p.add_argument("--per-city", type=int, default=10)
    p.add_argument("--cache", choices=["on", "off"], default="on", help="Redis in front of the lists")
    p.add_argument("--invalidate", type=float, default=0.0,
                   help="cache invalidations per second (as many camera status transitions)")
    p.add_argument("--port", type=int, default=18081)
    p.add_argument("--max-conns", type=int, default=256)
    return p.parse_args()


def psql(sql):
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, stdout=subprocess.DEVNULL)


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def wait_ready(base, deadline_s=30):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("vigia-cidades did not get ready in time")


def seed(base, cities, per_city):
    """`cities` cities of `per_city` cameras each; the city ids."""
    plan = call(base, "POST", "/v1/plans", {"name": "Bench", "retentionDays": 30, "quotaGb": 100})
    ids = []
    for c in range(cities):
        city = call(base, "POST", "/v1/cities", {
            "ibgeCode": f"35{c:05d}", "name": f"Cidade {c:03d}", "uf": "SP",
            "cnpj": "11222333000181", "storagePlanId": plan["id"]})
        ids.append(city["id"])
        for k in range(per_city):
            call(base, "POST", "/v1/cameras", {
                "cityId": city["id"], "name": f"Câmera {k:02d}", "location": "Centro",
                "rtspUrl": f"rtsp://10.{c // 250}.{c % 250}.{k + 1}/stream", "record": True})
    return ids


def targets(city_ids, total):
    out = []
    pages = max(1, total // 50)
    for i, city in enumerate(city_ids):
        out.append(f"/v1/cameras?cityId={city}&perPage=500")
        out.append(f"/v1/cameras?page={i % pages + 1}&perPage=50")
        out.append(f"/v1/cameras?cityId={city}&status=unknown")
    return out


def kind(target):
    if "status=" in target:
        return "cameras?cityId=&status="
    return "cameras?cityId=" if "cityId=" in target else "cameras?page=&perPage=50"


def processes_cpu(names):
    """CPU seconds of every process whose command is one of `names`."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() not in names:
                    continue
            total += cpu_seconds(pid)
        except OSError:
            continue
    return total


def cpu_marks(pid):
    return (cpu_seconds(pid), processes_cpu({"postgres"}), processes_cpu({"redis-server"}),
            own_cpu_seconds())


async def invalidate(args, prefix):
    """Bumps the camera pages' generation `--invalidate` times a second, as Cidades does at
    every camera status transition it consumes: every cached page misses once after each."""
    if args.invalidate <= 0 or args.cache == "off":
        return
    key = f"{prefix}:gen:cameras"
    command = f"*2\r\n$4\r\nINCR\r\n${len(key)}\r\n{key}\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", 6379)
    while True:
        writer.write(command)
        await reader.readline()
        await asyncio.sleep(1 / args.invalidate)


async def load(args, pid, mix, prefix):
    loop = asyncio.get_running_loop()
    bumps = asyncio.ensure_future(invalidate(args, prefix))
    pool = Pool(args.port, args.max_conns)
    results, tasks, marks = [], set(), {}
    start = loop.time() + 0.1
    count = int((args.warmup + args.seconds) * args.rate)
    for i in range(count):
        due = start + i / args.rate
        if i == int(args.warmup * args.rate):
            marks["begin"] = (due, cpu_marks(pid))
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(one(pool, mix[i % len(mix)], due, results))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    bumps.cancel()
    last_answer = max(r[0] + r[1] for r in results)
    marks["end"] = (start + count / args.rate, cpu_marks(pid))
    measured = [r for r in results if r[0] >= marks["begin"][0]]
    return measured, marks, pool.open, last_answer - marks["begin"][0]


def report(args, measured, marks, conns, span):
    lat = sorted(r[1] * 1000 for r in measured)
    bad = [r for r in measured if r[2] != 200]
    (t0, cpu0), (t1, cpu1) = marks["begin"], marks["end"]
    window = t1 - t0
    bumps = f", {args.invalidate:g} invalidations/s" if args.cache == "on" else ""
    print(f"cache {args.cache}{bumps}: {len(measured)} requests due over {window:.1f} s "
          f"(offered {args.rate:.0f}/s, answered {len(measured) / span:.0f}/s), non-200: {len(bad)}, "
          f"connections opened: {conns}")
    print("  " + ", ".join(f"{name} {percentile(lat, q):.2f} ms" for q, name in
                           [(0.5, "p50"), (0.95, "p95"), (0.99, "p99"), (0.999, "p99.9")])
          + f", max {lat[-1]:.2f} ms")
    names = ["vigia-cidades", "postgres", "redis", "load client"]
    print("  CPU (% of one core): " + ", ".join(
        f"{n} {(b - a) / window * 100:.0f}" for n, a, b in zip(names, cpu0, cpu1)))
    by_kind = {}
    for r in measured:
        by_kind.setdefault(kind(r[4]), []).append(r[1] * 1000)
    for name, values in sorted(by_kind.items()):
        values.sort()
        print(f"  {name}: p50 {percentile(values, 0.5):.2f} ms, p95 {percentile(values, 0.95):.2f} ms, "
              f"p99 {percentile(values, 0.99):.2f} ms ({len(values)} requests)")
    if bad:
        print("  first failures:", bad[:5])


def main():
    args = parse_args()
    binary = os.environ.get("CIDADES_BIN", os.path.join(ROOT, "target/release/vigia-cidades"))
    run = uuid.uuid4().hex[:10]
    db = f"cidades_bench_{run}"
    prefix = f"cidades-bench-{run}"
    work = tempfile.mkdtemp(prefix="cidades-bench-")
    psql(f"CREATE DATABASE {db}")
    env = dict(os.environ, CIDADES_DATABASE_URL=f"{PG}/{db}", CIDADES_ADDRESS=f"127.0.0.1:{args.port}",
               VIGIA_EVENTSURL="", CIDADES_STATE_DIR=os.path.join(work, "state"),
               CIDADES_REDIS_PREFIX=prefix, RUST_LOG="warn",
               CIDADES_REDIS_URL="redis://127.0.0.1:6379" if args.cache == "on" else "")
    log = open(os.path.join(work, "cidades.log"), "w")
    server = subprocess.Popen([binary], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_ready(base)
        t = time.monotonic()
        cities = seed(base, args.cities, args.per_city)
        total = args.cities * args.per_city
        print(f"seeded {args.cities} cities, {total} cameras in {time.monotonic() - t:.1f} s")
        measured, marks, conns, span = asyncio.run(
            load(args, server.pid, targets(cities, total), prefix))
        report(args, measured, marks, conns, span)
    finally:
        server.terminate()
        server.wait(timeout=10)
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        subprocess.run(["bash", "-c", f"redis-cli --scan --pattern '{prefix}:*' | "
                        "xargs -r redis-cli del"], stdout=subprocess.DEVNULL)
        print(f"server log: {log.name}")


if __name__ == "__main__":
    main()
