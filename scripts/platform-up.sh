#!/usr/bin/env bash
# The whole platform on this machine in one command: builds (release) and starts Vigia,
# vigia-cidades and vigia-admin against the local PostgreSQL, Redis and RabbitMQ, seeds a demo
# city whose cameras are Vigia's synthetic sources (pulled over RTSP and recorded) and a demo
# operator, prints the console's URL and login, and runs until Ctrl-C or SIGTERM, when it stops
# the three processes it started. docs/platform.md explains what runs where.
#
# usage: scripts/platform-up.sh
#
# Environment (defaults):
#   PLATFORM_DIR=./platform-state   keys, configs, logs, Vigia's spool and recordings (kept
#                                   between runs: delete it and the databases to start afresh)
#   PLATFORM_BUILD=1                0: use the binaries already in PLATFORM_BIN_DIR
#   PLATFORM_BIN_DIR=target/release where vigia, vigia-cidades and vigia-admin are
#   PLATFORM_HOST=127.0.0.1         the address every listener binds and the console links to
#   PLATFORM_PORTS_BASE=            empty: standard ports (Admin 8082, Cidades 8081, RTSP 8554,
#                                   HLS 8888, playback 9996, WebRTC 8889 with ICE on UDP 8189,
#                                   RTP/RTCP 8000/8001, multicast 8002/8003); a number B: B, B+1,
#                                   … B+9 in the same order, WebRTC and its ICE UDP both on B+5
#                                   (WebRTC reaches the browser only at a non-loopback
#                                   PLATFORM_HOST: Chromium ignores 127.0.0.1 candidates, and the
#                                   console then falls back to LL-HLS)
#   PLATFORM_CAMERAS=4              cameras of the demo city (synthetic paths demo1…demoN)
#   PLATFORM_SEGMENT=10s            recordSegmentDuration (the timeline shows complete segments)
#   PLATFORM_DB_PREFIX=vigia_platform   databases <prefix>_cidades and <prefix>_admin
#   PLATFORM_PG=postgres://postgres@127.0.0.1:5432   PostgreSQL (trust auth, as on CI)
#   PLATFORM_BROKER=amqp://guest:guest@127.0.0.1:5672/%2f
#   PLATFORM_NAME=platform          queue names (<name>-cidades, <name>-admin), Vigia's node,
#                                   the Redis key prefix
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

dir="$(mkdir -p "${PLATFORM_DIR:-./platform-state}" && cd "${PLATFORM_DIR:-./platform-state}" && pwd)"
host="${PLATFORM_HOST:-127.0.0.1}"
cameras="${PLATFORM_CAMERAS:-4}"
segment="${PLATFORM_SEGMENT:-10s}"
prefix="${PLATFORM_DB_PREFIX:-vigia_platform}"
pg="${PLATFORM_PG:-postgres://postgres@127.0.0.1:5432}"
broker="${PLATFORM_BROKER:-amqp://guest:guest@127.0.0.1:5672/%2f}"
name="${PLATFORM_NAME:-platform}"
if [ -n "${PLATFORM_PORTS_BASE:-}" ]; then
  b="$PLATFORM_PORTS_BASE"
  read -r admin cidades rtsp hls playback webrtc ice rtp rtcp mrtp mrtcp <<<"$b $((b+1)) $((b+2)) $((b+3)) $((b+4)) $((b+5)) $((b+5)) $((b+6)) $((b+7)) $((b+8)) $((b+9))"
else
  read -r admin cidades rtsp hls playback webrtc ice rtp rtcp mrtp mrtcp <<<"8082 8081 8554 8888 9996 8889 8189 8000 8001 8002 8003"
fi
admin_url="http://$host:$admin"
cidades_url="http://$host:$cidades"
bin="${PLATFORM_BIN_DIR:-$here/target/release}"

# Demo identities (printed at the end; change them for anything but a demo).
root_email="admin@demo.vigia.br" root_password="vigia-admin-2026" root_cpf="52998224725"
user_email="operador@demo.vigia.br" user_password="vigia-demo-2026" user_cpf="11144477735"

say() { printf '[platform] %s\n' "$*"; }
fail() { say "error: $*" >&2; exit 1; }

build() {
  [ "${PLATFORM_BUILD:-1}" = 0 ] && return
  say "building vigia, vigia-cidades, vigia-admin (release)"
  (cd "$here" && cargo build --release -j2 --workspace --bin vigia --bin vigia-cidades --bin vigia-admin)
}

# Databases exist (the services migrate them at start).
databases() {
  for db in "${prefix}_cidades" "${prefix}_admin"; do
    if ! psql "$pg/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
      psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
    fi
  done
}

# Keys made once and kept: at rest (Cidades, Admin) and on the bus (Cidades -> Vigia).
keys() {
  if [ ! -f "$dir/keys.env" ]; then
    key() { head -c32 /dev/urandom | base64; }
    umask 077
    cat >"$dir/keys.env" <<EOF
CIDADES_SECRET_KEYS=rest1:$(key)
ADMIN_SECRET_KEYS=seal1:$(key)
VIGIA_EVENTS_KEYS=bus1:$(key)
EOF
  fi
  # shellcheck disable=SC1091
  . "$dir/keys.env"
}

vigia_config() {
  mkdir -p "$dir/vigia"
  {
    cat <<EOF
rtspAddress: $host:$rtsp
rtpAddress: :$rtp
rtcpAddress: :$rtcp
multicastRTPPort: $mrtp
multicastRTCPPort: $mrtcp
hlsAddress: $host:$hls
webrtcAddress: $host:$webrtc
webrtcLocalUDPAddress: $host:$ice
playback: yes
playbackAddress: $host:$playback
eventsURL: $broker
eventsHealthInterval: 2s
authMethod: http
authHTTPAddress: $admin_url/v1/auth/mediamtx
# The synthetic "cameras" are read by this Vigia's own camera paths without a token.
authHTTPExclude:
  - action: read
    path: "~^demo[0-9]+$"
recordSpoolDirectory: ./spool
pathDefaults:
  recordPath: ./recordings/%path/%Y-%m-%d_%H-%M-%S-%f
  recordSegmentDuration: $segment
paths:
EOF
    for i in $(seq 1 "$cameras"); do printf '  demo%d:\n    source: synthetic\n' "$i"; done
  } >"$dir/vigia/vigia.yml"
}

pids=()
stop() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    say "stopping"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}

# start NAME COMMAND...: runs it in the background, its output in logs/NAME.log.
start() {
  local what="$1"
  shift
  "$@" >>"$dir/logs/$what.log" 2>&1 &
  pids+=("$!")
}

wait_http() {
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  fail "$1 does not answer; see $dir/logs"
}

services() {
  mkdir -p "$dir/logs"
  start admin env ADMIN_ADDRESS="$host:$admin" ADMIN_DATABASE_URL="$pg/${prefix}_admin" \
    ADMIN_SECRET_KEYS="$ADMIN_SECRET_KEYS" VIGIA_EVENTSURL="$broker" ADMIN_QUEUE="$name-admin" \
    ADMIN_STATE_DIR="$dir/admin-state" ADMIN_CONSOLE_CIDADES_URL=":$cidades" \
    ADMIN_CONSOLE_HLS_URL=":$hls" ADMIN_CONSOLE_PLAYBACK_URL=":$playback" ADMIN_CONSOLE_WEBRTC_URL=":$webrtc" \
    ADMIN_BOOTSTRAP_EMAIL="$root_email" ADMIN_BOOTSTRAP_CPF="$root_cpf" \
    ADMIN_BOOTSTRAP_PASSWORD="$root_password" "$bin/vigia-admin"
  start cidades env CIDADES_ADDRESS="$host:$cidades" CIDADES_DATABASE_URL="$pg/${prefix}_cidades" \
    CIDADES_SECRET_KEYS="$CIDADES_SECRET_KEYS" VIGIA_EVENTS_KEYS="$VIGIA_EVENTS_KEYS" \
    VIGIA_EVENTSURL="$broker" CIDADES_QUEUE="$name-cidades" CIDADES_STATE_DIR="$dir/cidades-state" \
    CIDADES_REDIS_PREFIX="$name-cidades" CIDADES_AUTH_JWKS="$admin_url/.well-known/jwks.json" \
    "$bin/vigia-cidades"
  wait_http "$admin_url/readyz"
  wait_http "$cidades_url/readyz"
  start vigia env -C "$dir/vigia" VIGIA_NODE="$name" VIGIA_EVENTS_KEYS="$VIGIA_EVENTS_KEYS" \
    "$bin/vigia" vigia.yml
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$host/$hls") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "vigia does not listen on $host:$hls; see $dir/logs/vigia.log"
}

# api METHOD URL [JSON] [TOKEN]: the answer's body; fails on anything but 2xx and 409.
api() {
  local out code
  out="$(mktemp)"
  code="$(curl -s -o "$out" -w '%{http_code}' -X "$1" "$2" -H 'content-type: application/json' \
    ${4:+-H "authorization: Bearer $4"} ${3:+--data "$3"})"
  cat "$out"
  rm -f "$out"
  case "$code" in 2*|409) ;; *) fail "$1 $2 answered $code" ;; esac
}

seed() {
  local plan city i
  ROOT_TOKEN="$(api POST "$admin_url/v1/auth/login" "{\"email\":\"$root_email\",\"password\":\"$root_password\"}" | jq -r .accessToken)"
  local token="$ROOT_TOKEN"
  api POST "$cidades_url/v1/plans" '{"name":"Demonstração","retentionDays":7,"quotaGb":100}' "$token" >/dev/null
  plan="$(api GET "$cidades_url/v1/plans?name=Demonstra" "" "$token" | jq -r '.items[0].id')"
  api POST "$cidades_url/v1/cities" "{\"ibgeCode\":\"3509502\",\"name\":\"Campinas\",\"uf\":\"SP\",\"cnpj\":\"11222333000181\",\"storagePlanId\":\"$plan\"}" "$token" >/dev/null
  city="$(api GET "$cidades_url/v1/cities?name=Campinas&uf=SP" "" "$token" | jq -r '.items[0].id')"
  local names=("Praça Central" "Terminal Rodoviário" "Av. Norte-Sul" "Parque Taquaral" "Estação Cultura" "Largo do Rosário")
  for i in $(seq 1 "$cameras"); do
    local label="${names[$(((i - 1) % ${#names[@]}))]}"
    [ "$i" -gt "${#names[@]}" ] && label="$label $i"
    api POST "$cidades_url/v1/cameras" "$(jq -nc --arg c "$city" --arg n "$label" \
      --arg u "rtsp://$host:$rtsp/demo$i" \
      '{cityId: $c, name: $n, location: "Campinas, SP", rtspUrl: $u, record: true}')" "$token" >/dev/null
  done
  api POST "$admin_url/v1/users" "$(jq -nc --arg c "$city" --arg e "$user_email" --arg p "$user_password" \
    --arg cpf "$user_cpf" '{email: $e, cpf: $cpf, name: "Operador de demonstração", password: $p,
    roles: [{cityId: $c, role: "operator"}]}')" "$token" >/dev/null
  SEEDED_CITY="$city"
}

# Until every camera is online by a health check of this run (a status kept from an earlier
# run does not count).
wait_online() {
  local online=0
  for _ in $(seq 1 60); do
    online="$(api GET "$cidades_url/v1/cameras?cityId=$SEEDED_CITY&status=online&perPage=500" "" "$ROOT_TOKEN" |
      jq --arg since "$STARTED" '[.items[] | select(.statusAt >= $since)] | length')"
    [ "$online" -ge "$cameras" ] && return 0
    sleep 1
  done
  fail "$online of $cameras cameras online after 60 s; see $dir/logs"
}

STARTED="$(date -u +%Y-%m-%dT%H:%M:%S)"
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
build
for tool in psql curl jq; do command -v "$tool" >/dev/null || fail "$tool is needed"; done
databases
keys
vigia_config
services
seed
wait_online
say "ready: $cameras cameras of Campinas (SP) online"
say "console: $admin_url/console/"
say "login:   $user_email / $user_password   (superadmin: $root_email / $root_password)"
say "logs:    $dir/logs; Ctrl-C stops everything"
wait
