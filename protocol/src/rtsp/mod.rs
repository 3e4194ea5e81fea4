//! RTSP 1.0 (RFC 2326): messages, interleaved frames, server session state machine.
