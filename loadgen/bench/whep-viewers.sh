#!/usr/bin/env bash
# WHEP viewers per core (issue 9): one camera publishing a 720p 2 Mbit/s clip over RTSP, N WHEP
# readers of it, each N against a fresh vigia; then the same with N RTSP readers, whose latency
# is the reference the WHEP latency is compared with. Prints one line per run and keeps the
# reports in $OUT.
#
#   loadgen/bench/whep-viewers.sh [N ...]          (default: 25 50 100 200)
#   VIGIA_BIN=... LOADGEN_BIN=... DURATION=30s PROTOCOLS="webrtc rtsp" OUT=dir BASE=23000
#
# Needs ffmpeg (the clip is made once, as media/assets/README.md makes the built-in ones) and
# release builds: cargo build --release -j2 --bin vigia --bin vigia-loadgen
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/loadgen/bench/common.sh"
VIGIA_BIN=${VIGIA_BIN:-$ROOT/target/release/vigia}
LOADGEN_BIN=${LOADGEN_BIN:-$ROOT/target/release/vigia-loadgen}
DURATION=${DURATION:-30s}
PROTOCOLS=${PROTOCOLS:-webrtc rtsp}
OUT=${OUT:-$ROOT/target/bench-whep}
CLIP=$ROOT/target/loadgen/synthetic-720p.h264
# Below 32768 and away from vigia's defaults; BASE=24000 moves them all (RTP uses BASE..BASE+3).
BASE=${BASE:-23000}
RTSP=$((BASE + 554)) HLS=$((BASE + 888)) WHEP=$((BASE + 889)) ICE=$((BASE + 189)) RTP=$BASE

mkdir -p "$OUT"
make_720p_clip "$CLIP"

cat > "$OUT/vigia.yml" <<YAML
rtspAddress: 127.0.0.1:$RTSP
rtpAddress: :$RTP
rtcpAddress: :$((RTP + 1))
multicastRTPPort: $((RTP + 2))
multicastRTCPPort: $((RTP + 3))
hlsAddress: 127.0.0.1:$HLS
webrtcAddress: 127.0.0.1:$WHEP
webrtcLocalUDPAddress: 127.0.0.1:$ICE
logLevel: warn
paths:
  all_others:
YAML

run() { # protocol readers
  local report="$OUT/$1-$2.json"
  (cd "$OUT" && exec "$VIGIA_BIN" vigia.yml >"$OUT/vigia-$1-$2.log" 2>&1) &
  local pid=$!
  wait_listening "$RTSP"
  "$LOADGEN_BIN" --target 127.0.0.1 --rtsp-port $RTSP --hls-port $HLS --webrtc-port $WHEP \
    --cameras 1 --readers-per-camera "$2" --protocol "$1" --clip "$CLIP" \
    --duration "$DURATION" --ramp 0s --server-pid "$pid" --quiet --report "$report" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = r["summary"]; v = s["server"]; o = r["options"]
lat = next(iter(s["latency"].values()))
print(f'{o["protocol"]:6} N={o["readers_per_camera"]:4} up={s["readers_peak"]:4} '
      f'vigia {v["cpu_pct_all_readers_up"]:5.1f}% -> {v["readers_per_core"]:6.0f}/core '
      f'RSS {v["rss_start_mib"]:.0f}->{v["rss_peak_mib"]:.0f} MiB ({1024*v["rss_per_reader_mib"]:.0f} KiB/reader) | '
      f'lat p50 {lat["p50_ms"]:.1f} p95 {lat["p95_ms"]:.1f} p99 {lat["p99_ms"]:.1f} ms | '
      f'gaps {s["gaps"]} stalls {s["stalls"]} err {s["errors"]} | '
      f'loadgen {s["loadgen"]["cpu_pct_mean"]:.0f}% (peak {s["loadgen"]["cpu_pct_peak"]:.0f}%)')
PY
}

readers=("$@")
[ ${#readers[@]} -gt 0 ] || readers=(25 50 100 200)
for n in "${readers[@]}"; do
  for p in $PROTOCOLS; do run "$p" "$n"; done
done
