#!/usr/bin/env bash
# Soak: N cameras with readers against one release vigia for a long time, and the slope of
# vigia's resident memory over it (issue 11: "a 60-minute soak of 100 cameras with readers: RSS
# slope ≈ 0"). vigia runs on its own ports with LL-HLS always muxed (`hlsAlwaysRemux`), so every
# camera also keeps an HLS window; vigia-loadgen publishes the built-in 360p clip over RTSP/TCP
# and pulls each camera back over RTSP, sampling vigia's RSS once a second.
#
# The slope is a least-squares line through the RSS samples after the warm-up (WARMUP minutes
# after the ramp, when every window is full), in MiB per hour, with the RSS at the start and the
# end of that window; the JSON and HTML reports stay in $OUT. The same line is drawn through
# vigia's live heap and jemalloc's resident pages (`vigia_heap_allocated_bytes` and
# `vigia_heap_resident_bytes`, scraped every 5 s into $OUT/heap.tsv): RSS rising with the live
# heap flat is the allocator (with the resident pages rising too) or memory outside it (with
# them flat); both rising is data the server keeps. The kernel's split of the RSS (`RssAnon`:
# heap, stacks and other private memory; `RssFile`: the binary's and libraries' pages) is sampled
# with them, so a creep outside jemalloc can be told from code pages touched late.
#
# usage: loadgen/bench/soak.sh            (CAMERAS=100 READERS=1 DURATION=60m WARMUP=5 BASE=24000)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/loadgen/bench/common.sh"
VIGIA_BIN=${VIGIA_BIN:-$ROOT/target/release/vigia}
LOADGEN_BIN=${LOADGEN_BIN:-$ROOT/target/release/vigia-loadgen}
CAMERAS=${CAMERAS:-100}
READERS=${READERS:-1}
DURATION=${DURATION:-60m}
WARMUP=${WARMUP:-5}
OUT=${OUT:-$ROOT/target/bench-soak}
BASE=${BASE:-24000}
RTSP=$((BASE + 554)) HLS=$((BASE + 888)) METRICS=$((BASE + 998))

mkdir -p "$OUT"
write_metrics_config "$OUT/vigia.yml" "$BASE" yes ""

(cd "$OUT" && exec "$VIGIA_BIN" vigia.yml >"$OUT/vigia.log" 2>&1) &
pid=$!
# Seconds since start, the live heap, jemalloc's resident bytes, then RssAnon and RssFile in
# bytes, every 5 s while vigia runs.
(
  start=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    # A scrape that fails (vigia still starting) is skipped, not the end of the sampler (set -e).
    heap=$(heap_figures "$METRICS") || true
    rss=$(awk '$1 == "RssAnon:" {a = $2} $1 == "RssFile:" {f = $2}
      END {if (a != "" && f != "") print a * 1024, f * 1024}' "/proc/$pid/status" 2>/dev/null) || true
    if [ -n "$heap" ] && [ -n "$rss" ]; then echo "$(($(date +%s) - start)) $heap $rss"; fi
    sleep 5
  done
) >"$OUT/heap.tsv" &
sampler=$!
trap 'kill "$pid" "$sampler" 2>/dev/null || true' EXIT
wait_listening "$RTSP"
echo "vigia $pid ($(git -C "$ROOT" rev-parse --short HEAD)), $CAMERAS cameras x $READERS RTSP readers, $DURATION"
"$LOADGEN_BIN" --target 127.0.0.1 --rtsp-port "$RTSP" --hls-port "$HLS" \
  --cameras "$CAMERAS" --readers-per-camera "$READERS" --protocol rtsp \
  --duration "$DURATION" --ramp 10s --server-pid "$pid" --quiet --report "$OUT/soak.json" >/dev/null

python3 - "$OUT/soak.json" "$WARMUP" "$OUT/heap.tsv" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
warmup_s = float(sys.argv[2]) * 60


def slope_of(pts):
    """Least-squares slope of (seconds, MiB) points, in MiB per second."""
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


ticks = [t for t in report["series"] if t.get("server_rss_mib") is not None]
xs = [t["t_s"] for t in ticks]
start = xs[0] + 10 + warmup_s
pts = [(x, t["server_rss_mib"]) for x, t in zip(xs, ticks) if x >= start]
n = len(pts)
slope = slope_of(pts)
scrapes = [[float(v) for v in line.split()] for line in open(sys.argv[3])]
scrapes = [row for row in scrapes if row[0] >= start]
columns = ((1, "live heap"), (2, "jemalloc resident"), (3, "RssAnon"), (4, "RssFile"))
for column, name in columns:
    series = [(row[0], row[column] / 2**20) for row in scrapes if len(row) > column]
    if len(series) > 2:
        print(f"{name} {series[0][1]:.1f} -> {series[-1][1]:.1f} MiB ({len(series)} scrapes); "
              f"slope {slope_of(series) * 3600:+.2f} MiB/hour")
s = report["summary"]
print(f"samples {n} over {(pts[-1][0] - pts[0][0]) / 60:.1f} min after warm-up; "
      f"RSS {pts[0][1]:.1f} -> {pts[-1][1]:.1f} MiB (min {min(y for _, y in pts):.1f}, "
      f"max {max(y for _, y in pts):.1f}); slope {slope * 3600:+.2f} MiB/hour; "
      f"gaps {s['gaps']} stalls {s['stalls']} errors {s['errors']}")
PY
