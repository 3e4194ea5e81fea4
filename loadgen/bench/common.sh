# Shared by the scripts in loadgen/bench (sourced, not run): the 720p clip, a vigia config with
# metrics on its own ports, and jemalloc's figures from /metrics.

# Makes the 720p 2 Mbit/s clip at $1 once (libx264 Main, 25 fps, GOP 25, no B-frames, SPS/PPS on
# every IDR, Annex B), as media/assets/README.md makes the built-in ones.
make_720p_clip() {
  mkdir -p "$(dirname "$1")"
  [ -s "$1" ] && return
  ffmpeg -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=25 -t 10 \
    -c:v libx264 -profile:v main -bf 0 -g 25 -keyint_min 25 -sc_threshold 0 \
    -b:v 2000k -maxrate 2000k -bufsize 4000k -pix_fmt yuv420p \
    -x264-params repeat-headers=1 -f h264 "$1"
}

# Writes $1: vigia on ports from BASE=$2 (RTP BASE..BASE+3, RTSP +554, HLS +888, metrics +998),
# `hlsAlwaysRemux: $3`, `hlsDirectory: $4` (empty: in memory), no WebRTC, API or playback.
write_metrics_config() {
  cat > "$1" <<YAML
rtspAddress: 127.0.0.1:$(($2 + 554))
rtpAddress: :$2
rtcpAddress: :$(($2 + 1))
multicastRTPPort: $(($2 + 2))
multicastRTCPPort: $(($2 + 3))
hlsAddress: 127.0.0.1:$(($2 + 888))
hlsAlwaysRemux: $3
hlsDirectory: "$4"
webrtc: no
api: no
metrics: yes
metricsAddress: 127.0.0.1:$(($2 + 998))
playback: no
logLevel: warn
paths:
  all_others:
YAML
}

# "allocated resident": vigia's live heap and jemalloc's resident bytes from /metrics on port $1;
# nothing while vigia does not answer.
heap_figures() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '
    $1 == "vigia_heap_allocated_bytes" {a = $2}
    $1 == "vigia_heap_resident_bytes" {r = $2}
    END {if (a != "" && r != "") print a, r}'
}

# Waits (up to 10 s) until something listens on TCP port $1.
wait_listening() {
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done
}
