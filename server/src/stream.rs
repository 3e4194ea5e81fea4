//! A path's live stream: its tracks, the hub of access units every reader shares, and the RTP
//! packets made once per stream for every RTSP reader.

use std::sync::{Arc, Mutex};

use vigia_media::hub::Hub;
use vigia_media::{AccessUnit, MediaKind, Timestamp, Track};
use vigia_protocol::payload::{self, OutPacket, Packetizer, PacketizerConfig};
use vigia_protocol::sdp::payload_type_for;

use crate::paths::lock;
use crate::sources::unix_micros;

/// Units the ring keeps at least (more when a GOP is longer), and at most.
const RING_MIN: usize = 256;
const RING_MAX: usize = 4096;
/// RTP payload size for packets made for readers (MediaMTX's udpMaxPayloadSize minus headers).
pub(crate) const RTP_MTU: usize = 1400;

/// The RTP packets of one access unit, made once and shared by every RTSP reader.
pub(crate) struct RtpBatch {
    /// Index of the track.
    pub(crate) track: usize,
    /// The packets, each a list of `Bytes` chunks (header, payload slices).
    pub(crate) packets: Vec<OutPacket>,
    /// Wall-clock UNIX microseconds of the packets' RTP timestamp, on a clock common to all the
    /// stream's tracks (PTS plus one offset), so that RTCP sender reports and `RTP-Info` align
    /// tracks exactly as their timestamps do.
    pub(crate) wallclock_us: i64,
}

/// How one track's RTP packets are sent: the numbers its sender reports carry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RtpSource {
    /// The track's SSRC.
    pub(crate) ssrc: u32,
    /// The track's RTP clock rate in Hz.
    pub(crate) clock_rate: u32,
}

/// A live stream: written by one publisher or source, read by any number of readers.
pub(crate) struct PathStream {
    path: String,
    tracks: Vec<Track>,
    units: Arc<Hub<AccessUnit>>,
    rtp: Arc<Hub<RtpBatch>>,
    rtp_sources: Vec<RtpSource>,
    writer: Mutex<Writer>,
    has_video: bool,
}

struct Writer {
    packetizers: Vec<Box<dyn Packetizer>>,
    rebase: Rebase,
    /// Wall clock minus PTS (µs), taken from the first unit and again after each reconnect.
    wall_offset_us: Option<i64>,
}

/// Keeps timestamps continuous when a source reconnects and starts again from another origin.
#[derive(Default)]
struct Rebase {
    offset_us: i64,
    pending: bool,
    last_pts_us: i64,
}

impl PathStream {
    /// A new stream of `tracks` for path `path`.
    pub(crate) fn new(path: &str, tracks: Vec<Track>) -> Arc<Self> {
        let rtp_sources: Vec<RtpSource> = tracks
            .iter()
            .map(|track| RtpSource {
                ssrc: rand::random(),
                clock_rate: track.clock_rate,
            })
            .collect();
        let packetizers = tracks
            .iter()
            .zip(&rtp_sources)
            .enumerate()
            .map(|(i, (track, source))| {
                let config = PacketizerConfig {
                    payload_type: payload_type_for(track, i),
                    ssrc: source.ssrc,
                    initial_seq: rand::random(),
                    timestamp_offset: rand::random(),
                    mtu: RTP_MTU,
                };
                payload::packetizer_for(track, config)
            })
            .collect();
        let has_video = tracks.iter().any(|t| t.kind() == MediaKind::Video);
        Arc::new(Self {
            path: path.to_string(),
            tracks,
            units: Hub::new(RING_MIN, RING_MAX),
            rtp: Hub::new(RING_MIN, RING_MAX),
            rtp_sources,
            writer: Mutex::new(Writer {
                packetizers,
                rebase: Rebase::default(),
                wall_offset_us: None,
            }),
            has_video,
        })
    }

    /// The stream's tracks.
    pub(crate) fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// The hub of access units (for HLS, WebRTC, the recorder).
    #[allow(dead_code)]
    pub(crate) fn units(&self) -> &Arc<Hub<AccessUnit>> {
        &self.units
    }

    /// The hub of RTP packets (for RTSP readers).
    pub(crate) fn rtp(&self) -> &Arc<Hub<RtpBatch>> {
        &self.rtp
    }

    /// Per track, the SSRC and clock rate of the packets in [`Self::rtp`].
    pub(crate) fn rtp_sources(&self) -> &[RtpSource] {
        &self.rtp_sources
    }

    /// A one-line description: `2 tracks (H264, MPEG-4 Audio)`.
    pub(crate) fn describe(&self) -> String {
        let names: Vec<&str> = self.tracks.iter().map(|t| t.codec.name()).collect();
        format!(
            "{} track{} ({})",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        )
    }

    /// Whether a source reconnecting with `tracks` can keep writing to this stream.
    pub(crate) fn accepts(&self, tracks: &[Track]) -> bool {
        tracks.len() == self.tracks.len()
            && tracks.iter().zip(&self.tracks).all(|(a, b)| {
                a.clock_rate == b.clock_rate
                    && std::mem::discriminant(&a.codec) == std::mem::discriminant(&b.codec)
            })
    }

    /// Marks a source reconnect: the next unit's timestamps are shifted to follow on from the last.
    pub(crate) fn resume(&self) {
        lock(&self.writer).rebase.pending = true;
    }

    /// Ends the stream: readers drain what is queued, then see it closed.
    pub(crate) fn close(&self) {
        self.units.close();
        self.rtp.close();
    }

    /// Publishes one access unit: into the unit hub, and packetized once into the RTP hub.
    /// Never waits for a reader.
    pub(crate) fn publish(&self, mut unit: AccessUnit) {
        let Some(track) = self.tracks.get(unit.track) else {
            return;
        };
        let join = unit.keyframe && (track.kind() == MediaKind::Video || !self.has_video);
        let mut writer = lock(&self.writer);
        if writer.rebase.pending {
            writer.wall_offset_us = None;
        }
        writer.rebase.apply(&mut unit);
        let pts_us = unit.pts.as_micros();
        let wall_offset_us = *writer
            .wall_offset_us
            .get_or_insert_with(|| unit.wallclock_us.unwrap_or_else(unix_micros) - pts_us);
        let mut packets = Vec::new();
        if let Some(packetizer) = writer.packetizers.get_mut(unit.track)
            && let Err(e) = packetizer.packetize(&unit, &mut packets)
        {
            tracing::warn!(path = %self.path, track = unit.track, "can't packetize unit: {e}");
        }
        drop(writer);
        let batch = RtpBatch {
            track: unit.track,
            packets,
            wallclock_us: pts_us + wall_offset_us,
        };
        self.units.publish(Arc::new(unit), join);
        if !batch.packets.is_empty() {
            self.rtp.publish(Arc::new(batch), join);
        }
    }
}

impl Rebase {
    fn apply(&mut self, unit: &mut AccessUnit) {
        let pts_us = unit.pts.as_micros();
        if self.pending {
            self.pending = false;
            // Follow on one 40 ms frame after the last unit written before the reconnect.
            self.offset_us = self.last_pts_us + 40_000 - pts_us;
        }
        if self.offset_us != 0 {
            let shift = Timestamp::new(self.offset_us, 1_000_000)
                .rescale(unit.pts.clock_rate)
                .ticks;
            unit.pts.ticks += shift;
            unit.dts.ticks += shift;
        }
        self.last_pts_us = self.last_pts_us.max(pts_us + self.offset_us);
    }
}
