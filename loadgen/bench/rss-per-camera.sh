#!/usr/bin/env bash
# Memory per publishing camera (issue 11: "≤ 2.5 MiB RSS per camera including its HLS window"):
# N vigia-loadgen cameras publish the 720p 2 Mbit/s clip of whep-viewers.sh over RTSP/TCP to a
# fresh release vigia, no readers, LL-HLS always muxed with its window in memory (HLS=no leaves
# the muxer off; HLS_DIR=dir puts the window on disk). vigia's live heap and jemalloc's resident
# pages (`vigia_heap_*` at /metrics) and its VmRSS are read with no camera, then three times 2 s
# apart once every window is full (35–39 s after the first camera); per camera = (loaded − idle) / N.
#
#   loadgen/bench/rss-per-camera.sh [N]       (default 40; RUNS=1 OUT=dir BASE=24000)
#
# Needs ffmpeg (the clip is made once) and release builds:
#   cargo build --release -j2 --bin vigia --bin vigia-loadgen
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/loadgen/bench/common.sh"
VIGIA_BIN=${VIGIA_BIN:-$ROOT/target/release/vigia}
LOADGEN_BIN=${LOADGEN_BIN:-$ROOT/target/release/vigia-loadgen}
CAMERAS=${1:-40}
RUNS=${RUNS:-1}
HLS=${HLS:-yes}
HLS_DIR=${HLS_DIR:-}
OUT=${OUT:-$ROOT/target/bench-rss}
CLIP=$ROOT/target/loadgen/synthetic-720p.h264
BASE=${BASE:-24000}
RTSP=$((BASE + 554)) HLS_PORT=$((BASE + 888)) METRICS=$((BASE + 998))

mkdir -p "$OUT"
make_720p_clip "$CLIP"
write_metrics_config "$OUT/vigia.yml" "$BASE" "$HLS" "$HLS_DIR"

# "heap resident rss" in bytes, from /metrics and /proc.
sample() {
  echo "$(heap_figures "$METRICS") $(awk '$1 == "VmRSS:" {print $2 * 1024}' "/proc/$1/status")"
}

run() {
  (cd "$OUT" && exec "$VIGIA_BIN" vigia.yml >"$OUT/vigia.log" 2>&1) &
  local pid=$!
  wait_listening "$RTSP"
  sleep 1
  local idle loaded=()
  idle=$(sample "$pid")
  "$LOADGEN_BIN" --target 127.0.0.1 --rtsp-port $RTSP --hls-port $HLS_PORT \
    --cameras "$CAMERAS" --readers-per-camera 0 --protocol rtsp --clip "$CLIP" \
    --duration 42s --ramp 5s --quiet --report "$OUT/loadgen.json" >/dev/null &
  local loadgen=$!
  sleep 35
  for _ in 1 2 3; do loaded+=("$(sample "$pid")"); sleep 2; done
  wait "$loadgen"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$CAMERAS" "$idle" "${loaded[@]}" "$OUT/loadgen.json" <<'PY'
import json, sys
n = int(sys.argv[1])
idle = [float(v) for v in sys.argv[2].split()]
loaded = [[float(v) for v in s.split()] for s in sys.argv[3:6]]
s = json.load(open(sys.argv[6]))["summary"]
per = lambda i: " / ".join(f"{(row[i] - idle[i]) / n / 2**20:.2f}" for row in loaded)
print(f"{n} cameras: live heap {per(0)}, jemalloc resident {per(1)}, RSS {per(2)} MiB per camera "
      f"(idle RSS {idle[2] / 2**20:.1f} MiB); loadgen errors {s['errors']}")
PY
}

for _ in $(seq "$RUNS"); do run; done
