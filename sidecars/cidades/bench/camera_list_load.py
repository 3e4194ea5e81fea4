#!/usr/bin/env python3
"""Open-loop load on Cidades' camera list, authenticated; latency percentiles, rate and CPU.

Starts `$CIDADES_BIN` (default `target/release/vigia-cidades`) on a fresh PostgreSQL database
(created, dropped after), with Redis as configured by `--cache` and no broker, seeds `--cities`
cities of `--per-city` cameras each through the API (the seed's scale: 100 x 10), then sends
`--rate` requests per second for `--seconds` after `--warmup` over the lists the console and
other clients ask for, in turn:

- `/v1/cameras?cityId=<city>&perPage=500` (what the console polls), cycling over the cities;
- `/v1/cameras?page=<n>&perPage=50`, cycling over the 20 pages of the whole list;
- `/v1/cameras?cityId=<city>&status=unknown`.

Authentication as deployed: the script plays Admin. It generates a P-256 key, serves its JWKS
(`{"keys":[{"kty":"EC","crv":"P-256","kid":…,"x":…,"y":…}]}`) from a thread on
`127.0.0.1:--jwks-port`, starts Cidades with `CIDADES_AUTH_JWKS` pointing there
(`CIDADES_AUTH_ISSUER=vigia-admin`) and signs its own ES256 access tokens (claims `iss`, `sub`,
`iat`, `exp`, `cities`, `superadmin`; valid for an hour past the run). Seeding uses a
superadmin's token; the load sends, on every request, the token `--auth` names:

- `scoped` (default): a user with the `viewer` role in every seeded city (`cities` holds all
  100), so every list is limited to the caller's cities (`city_id = ANY(…)`, and the scope's
  100 ids in the cache key) — the realistic and costlier path;
- `superadmin`: `"superadmin": true`, no city list; lists are not scoped;
- `none`: Cidades started with `CIDADES_AUTH_JWKS=none` and no token sent (no verification at
  all; the configuration before authentication, to measure what verification costs).

Before the load it checks that a request without a token is refused (401) and that the load's
token sees every seeded camera. Cidades verifies the token (ES256 signature, issuer, expiry)
on every request; the JWKS is fetched once, at the first token.

With the cache on, `--invalidate N` makes every cached page stale N times a second, as N camera
status transitions consumed from `stream.health_check` would (each bumps the pages' generation).

Open loop, as benches/compare/api_load.py (whose connection pool and response reader this
reuses): request i is due at start + i / rate and its latency runs from that due time to the
answer's last byte, so a stall counts against every request due during it. Reports the
Cidades process's CPU and that of PostgreSQL and Redis (all their processes), and the client's.

usage: python3 sidecars/cidades/bench/camera_list_load.py [--rate 1000] [--seconds 30]
       [--warmup 5] [--cache on|off] [--invalidate 0] [--auth scoped|superadmin|none]
       [--port 18081] [--jwks-port 18082]

Needs PostgreSQL (127.0.0.1:5432, trust), Redis (127.0.0.1:6379) for `--cache on`, and Python's
`cryptography` package. Both ports stay below 32768, outside the kernel's ephemeral range. The
target (issue 14) is p95 < 20 ms at 1,000 req/s; figures in BENCHMARKS.md, "Cidades camera list".
"""
import argparse
import asyncio
import base64
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "benches", "compare"))
from api_load import Pool, cpu_seconds, own_cpu_seconds, percentile, read_response  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
ISSUER = "vigia-admin"


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
    p.add_argument("--auth", choices=["scoped", "superadmin", "none"], default="scoped",
                   help="the load's token: a viewer of every city (lists scoped), a superadmin, "
                   "or no authentication at all (CIDADES_AUTH_JWKS=none)")
    p.add_argument("--port", type=int, default=18081)
    p.add_argument("--jwks-port", type=int, default=18082, help="where the script serves its JWKS")
    p.add_argument("--max-conns", type=int, default=256)
    return p.parse_args()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """Admin's part: a P-256 key, its JWKS, and ES256 access tokens signed with it."""

    def __init__(self, kid):
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0

    def jwks(self):
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
                          "x": b64url(numbers.x.to_bytes(32, "big")),
                          "y": b64url(numbers.y.to_bytes(32, "big"))}]}

    def token(self, lifetime_s, cities=None, superadmin=False):
        """An access token: `cities` maps city id -> role."""
        now = int(time.time())
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        claims = {"iss": ISSUER, "sub": str(uuid.uuid4()), "iat": now, "exp": now + int(lifetime_s),
                  "cities": cities or {}, "superadmin": superadmin}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JWS wants raw r || s, 32 bytes each
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def serve(self, port):
        """Serves the JWKS at http://127.0.0.1:`port`/jwks.json from a daemon thread."""
        issuer, body = self, json.dumps(self.jwks()).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                issuer.fetches += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def psql(sql):
    subprocess.run(["psql", f"{PG}/postgres", "-qc", sql], check=True, stdout=subprocess.DEVNULL)


def call(base, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
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


def seed(base, token, cities, per_city):
    """`cities` cities of `per_city` cameras each, created with the superadmin's `token`; the
    city ids."""
    plan = call(base, "POST", "/v1/plans", token,
                {"name": "Bench", "retentionDays": 30, "quotaGb": 100})
    ids = []
    for c in range(cities):
        city = call(base, "POST", "/v1/cities", token, {
            "ibgeCode": f"35{c:05d}", "name": f"Cidade {c:03d}", "uf": "SP",
            "cnpj": "11222333000181", "storagePlanId": plan["id"]})
        ids.append(city["id"])
        for k in range(per_city):
            call(base, "POST", "/v1/cameras", token, {
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


def check_auth(base, token, total):
    """Refuses to measure unless authentication is on (no token: 401) and `token` sees every
    seeded camera."""
    try:
        call(base, "GET", "/v1/cameras?perPage=1", None)
        sys.exit("a request without a token was answered: authentication is off")
    except urllib.error.HTTPError as e:
        if e.code != 401:
            sys.exit(f"a request without a token was answered {e.code}, not 401")
    seen = call(base, "GET", "/v1/cameras?perPage=1", token)["total"]
    if seen != total:
        sys.exit(f"the load's token sees {seen} cameras, not the {total} seeded")


async def one(pool, target, request, due, results):
    """`request` (the bytes of one GET of `target`) due at `due` (loop time); appends
    (due, latency s, status, bytes, target). As api_load.one, with the Authorization header."""
    reader, writer = await pool.take()
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


def requests(mix, token):
    """Each target with the bytes of its GET, built once."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return [(t, f"GET {t} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()) for t in mix]


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
        target, request = mix[i % len(mix)]
        task = asyncio.ensure_future(one(pool, target, request, due, results))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    bumps.cancel()
    last_answer = max(r[0] + r[1] for r in results)
    marks["end"] = (start + count / args.rate, cpu_marks(pid))
    measured = [r for r in results if r[0] >= marks["begin"][0]]
    return measured, marks, pool.open, last_answer - marks["begin"][0]


def report(args, measured, marks, conns, span, token):
    lat = sorted(r[1] * 1000 for r in measured)
    bad = [r for r in measured if r[2] != 200]
    (t0, cpu0), (t1, cpu1) = marks["begin"], marks["end"]
    window = t1 - t0
    bumps = f", {args.invalidate:g} invalidations/s" if args.cache == "on" else ""
    auth = f"auth {args.auth}" + (f" ({len(token)}-byte token)" if token else "")
    print(f"{auth}, cache {args.cache}{bumps}: {len(measured)} requests due over {window:.1f} s "
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
    issuer = Issuer(f"bench-{run}")
    jwks = issuer.serve(args.jwks_port)
    lifetime = 3600 + args.warmup + args.seconds
    admin_token = issuer.token(lifetime, superadmin=True)
    if args.auth == "none":
        auth_env = {"CIDADES_AUTH_JWKS": "none"}
        admin_token = None
    else:
        auth_env = {"CIDADES_AUTH_JWKS": f"http://127.0.0.1:{args.jwks_port}/jwks.json",
                    "CIDADES_AUTH_ISSUER": ISSUER}
    psql(f"CREATE DATABASE {db}")
    env = dict(os.environ, **auth_env,
               CIDADES_DATABASE_URL=f"{PG}/{db}", CIDADES_ADDRESS=f"127.0.0.1:{args.port}",
               VIGIA_EVENTSURL="", CIDADES_STATE_DIR=os.path.join(work, "state"),
               CIDADES_REDIS_PREFIX=prefix, RUST_LOG="warn",
               CIDADES_REDIS_URL="redis://127.0.0.1:6379" if args.cache == "on" else "")
    log = open(os.path.join(work, "cidades.log"), "w")
    server = subprocess.Popen([binary], env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_ready(base)
        t = time.monotonic()
        cities = seed(base, admin_token, args.cities, args.per_city)
        total = args.cities * args.per_city
        print(f"seeded {args.cities} cities, {total} cameras in {time.monotonic() - t:.1f} s")
        token = {"scoped": lambda: issuer.token(lifetime, {c: "viewer" for c in cities}),
                 "superadmin": lambda: admin_token, "none": lambda: None}[args.auth]()
        if token:
            check_auth(base, token, total)
        mix = requests(targets(cities, total), token)
        measured, marks, conns, span = asyncio.run(load(args, server.pid, mix, prefix))
        report(args, measured, marks, conns, span, token)
        if token:
            print(f"  JWKS fetched {issuer.fetches} time(s)")
    finally:
        server.terminate()
        server.wait(timeout=10)
        jwks.shutdown()
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        subprocess.run(["bash", "-c", f"redis-cli --scan --pattern '{prefix}:*' | "
                        "xargs -r redis-cli del"], stdout=subprocess.DEVNULL)
        print(f"server log: {log.name}")


if __name__ == "__main__":
    main()
