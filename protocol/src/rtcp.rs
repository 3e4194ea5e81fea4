//! RTCP (RFC 3550 §6): sender/receiver reports and statistics.
