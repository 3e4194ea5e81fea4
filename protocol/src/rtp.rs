//! RTP packets (RFC 3550 §5).
