//! RTP payload formats: packetizers and depacketizers per codec.
