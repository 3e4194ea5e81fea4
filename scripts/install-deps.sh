#!/usr/bin/env bash
# Installs the outside tools the test suite drives, if they are missing: ffmpeg, GStreamer (with
# the RTSP client and server), the Python GI bindings used to emulate cameras, Chromium with
# playwright-core (browser tests), iproute2 and nftables (the WebRTC browser tests' network
# namespaces and packet loss), hls.js (embedded in the player page), a RabbitMQ broker (and it
# starts RabbitMQ, PostgreSQL and Redis again if one has stopped), and, in a tools cache outside
# the repository, s3s-fs (the S3-protocol server of the recording tests) and schemathesis
# (checks the control API against api/openapi.yaml); for the AI sidecar's test-clip generator,
# the DejaVu and Liberation fonts and (in the same cache) Pillow and numpy.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v gst-launch-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
# nft drops packets in the WebRTC packet-loss test (the CI kernel has no netem); nsenter/unshare
# (util-linux) and ip (iproute2) make its network namespaces.
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The AI sidecar's keyframe decoder (the openh264 crate, built from source) uses OpenH264's
# x86 assembly only when nasm is there at build time; without it, it is plain C and silently so.
command -v nasm >/dev/null 2>&1 || need+=(nasm)
# Fonts the AI sidecar's test-clip generator draws plates with (sidecars/ai/clips/make_clips.py).
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
for pkg in gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
           gstreamer1.0-libav gstreamer1.0-rtsp python3-gi gir1.2-gst-rtsp-server-1.0; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

here="$(cd "$(dirname "$0")/.." && pwd)"
for dir in conformance/browser server/web; do
  if [ ! -d "$here/$dir/node_modules" ]; then
    echo "npm ci in $dir"
    (cd "$here/$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# The services the bus, recording-index and platform tests use run on every machine of this
# project and CI uses them as the machine has them; one that has stopped (an OOM kill, a reboot)
# is started again here with the command the machine's notes give, so the suite does not fail on
# "connection refused" from a service it does not own.
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# ensure_service NAME PORT START-COMMAND...: starts NAME if nothing answers on PORT, waits up to
# 120 s for it, and says so if it never comes up.
ensure_service() {
  local name="$1" port="$2"
  shift 2
  answers "$port" && return 0
  echo "$name is not answering on 127.0.0.1:$port; starting it"
  "$@" || true
  for _ in $(seq 1 120); do
    answers "$port" && return 0
    sleep 1
  done
  echo "$name did not start on 127.0.0.1:$port; the tests that need it will fail" >&2
}
# A broker that answers is used as it is; the package is installed only to start one.
if ! answers 5672 && ! command -v rabbitmq-server >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi
ensure_service RabbitMQ 5672 rabbitmq-server -detached
if [ -d /etc/postgresql ]; then
  ensure_service PostgreSQL 5432 \
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
if command -v redis-server >/dev/null 2>&1; then
  ensure_service Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
    --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
# s3s-fs, pinned (newer releases need a newer Rust), built once per machine into a cache that
# survives between runs; conformance/src/s3.rs looks for it at the same place.
tools="${VIGIA_TOOLS:-$HOME/.cache/vigia-tools}"
if [ ! -x "${VIGIA_S3S_FS:-$tools/bin/s3s-fs}" ]; then
  echo "installing s3s-fs 0.14.1 into $tools (once per machine, several minutes)"
  cargo install s3s-fs@0.14.1 --features binary --locked --root "$tools" -j2
fi
# schemathesis (checks the API against api/openapi.yaml in conformance/tests/api.rs), pinned, in
# a virtualenv in the same cache; conformance/src/lib.rs finds it as $tools/bin/schemathesis.
if [ ! -x "$tools/bin/schemathesis" ]; then
  echo "installing schemathesis 4.32.5 into $tools"
  python3 -m venv "$tools/schemathesis"
  "$tools/schemathesis/bin/pip" install -q --disable-pip-version-check "schemathesis==4.32.5"
  mkdir -p "$tools/bin"
  ln -sf "$tools/schemathesis/bin/schemathesis" "$tools/bin/schemathesis"
fi
# Pillow and numpy for the AI sidecar's test-clip generator, pinned, in a virtualenv in the same
# cache; sidecars/ai/tests/clips.rs finds it as $tools/clips/bin/python.
if ! "$tools/clips/bin/python" -c "import PIL, numpy" >/dev/null 2>&1; then
  echo "installing Pillow 12.3.0 and numpy 2.4.6 into $tools/clips"
  python3 -m venv "$tools/clips"
  "$tools/clips/bin/pip" install -q --disable-pip-version-check "pillow==12.3.0" "numpy==2.4.6"
fi
# ONNX Runtime and the PP-OCRv4 models for the AI sidecar's OCR stage (sidecars/ai/tests/ocr.rs),
# pinned, in $tools/ai; the script does nothing when they are there.
VIGIA_AI_MODELS="${VIGIA_AI_MODELS:-$tools/ai}" "$here/sidecars/ai/setup-models.sh" -q
echo "outside tools: ok"
