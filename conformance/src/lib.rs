//! Helpers for conformance tests: starting vigia, running ffmpeg/ffprobe/GStreamer.
