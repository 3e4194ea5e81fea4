//! SDP (RFC 8866) parsing and serialization for RTSP.
