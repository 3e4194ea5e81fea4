//! A path's live stream: its tracks, the hub of access units every reader shares, and the RTP
//! packets made once per stream for every RTSP reader.
//!
//! # One timeline across source reconnects
//!
//! A stream outlives its source: when a pulled camera (or the synthetic source) reconnects with
//! the same tracks, the path keeps its stream and readers keep their sessions. The new source
//! starts its timestamps from an origin of its own, so [`Timeline`] shifts them onto the
//! stream's timeline. What every reader of [`PathStream::units`] can rely on:
//!
//! - PTS and DTS only move forward, across any number of reconnects;
//! - an outage is a *gap* of its real length: the first unit after a reconnect sits as far after
//!   the last unit before it as the wall clock says (at least one frame), so a 10 s outage is a
//!   10 s DTS jump (the HLS segmenter ends the segment there, a recorder records a gap);
//! - every unit has `wallclock_us = Some(..)`: the source's own (RTCP sender reports, else the
//!   arrival time ingest stamped), else PTS plus the stream's wall offset;
//! - the stream has one wall offset (wall clock minus PTS), fixed by its first unit and never
//!   changed, so PTS plus that offset — what RTCP sender reports and `RTP-Info` send to RTSP
//!   readers — maps the whole timeline, gaps included, to wall-clock time without a jump;
//! - [`PathStream::resumes_at`] names the first unit after each reconnect, for readers that mark
//!   it (HLS writes `EXT-X-DISCONTINUITY` there even when the outage was short).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use vigia_media::hub::{Cursor, Hub, Next};
use vigia_media::{AccessUnit, MediaKind, Timestamp, Track};
use vigia_protocol::payload::{self, OutPacket, Packetizer, PacketizerConfig};
use vigia_protocol::sdp::payload_type_for;

use crate::paths::lock;
use crate::sources::unix_micros;

/// Units the ring keeps at least per track (more when a GOP is longer), and at most in all.
///
/// The ring is what a new reader starts from (the last keyframe on) and what a reader that
/// falls behind catches up from: 96 units are ~3.8 s of 25 fps video, ~2.7 s of video with
/// 48 kHz AAC, about what MediaMTX's `writeQueueSize` of 512 packets gives a 2 Mbit/s reader.
/// The recorder, which must outlast longer stalls, has a backlog of its own
/// (`record::feed`).
const RING_MIN_PER_TRACK: usize = 96;
const RING_MAX: usize = 4096;
/// RTP payload size for packets made for readers (MediaMTX's udpMaxPayloadSize minus headers).
pub(crate) const RTP_MTU: usize = 1400;
/// Reconnects whose first unit [`PathStream::resumes_at`] remembers.
const RESUMES_KEPT: usize = 8;
/// The shortest gap a reconnect leaves, when the track's frame interval is not known yet.
const DEFAULT_FRAME_US: i64 = 40_000;

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
    /// The packets as interleaved frames in one buffer, for the readers after the first (see
    /// `rtsp::writer`).
    pub(crate) framed: FramedOnce,
}

/// The packets of an [`RtpBatch`] framed for RTSP over TCP (`$ channel len` before each) in one
/// buffer, made when the batch is sent for the [`JOIN_AT_SENDING`]th time: the kernel copies
/// one buffer to a socket faster than the ~4 small slices per packet of a vectored write, and
/// a stream read by a few readers makes no copy.
///
/// [`JOIN_AT_SENDING`]: vigia_protocol::JOIN_AT_SENDING
#[derive(Default)]
pub(crate) struct FramedOnce {
    /// How many readers were sent the batch over TCP.
    pub(crate) sends: std::sync::atomic::AtomicU32,
    /// The channel it was framed for, and the frames.
    pub(crate) frames: std::sync::OnceLock<(u8, bytes::Bytes)>,
}

/// A reader fed every unit by the publishing task itself, under the stream's writer lock,
/// instead of reading [`PathStream::units`] from a task of its own: one task wake-up less per
/// unit (the HLS muxer). Its work must be short and must never wait.
pub(crate) trait UnitSink: Send + Sync {
    /// Unit number `seq` of the unit hub; `resumed`: the first unit after a source reconnect;
    /// `join_point`: a reader may start at it (see [`PathStream::is_join_point`]).
    fn take(&self, seq: u64, unit: &Arc<AccessUnit>, resumed: bool, join_point: bool);
}

/// Keeps a [`UnitSink`] attached to its stream; dropping it detaches the sink.
pub(crate) struct Attached {
    stream: Arc<PathStream>,
    id: u64,
}

impl Drop for Attached {
    fn drop(&mut self) {
        lock(&self.stream.writer)
            .sinks
            .retain(|(id, _)| *id != self.id);
    }
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
    /// Woken when the stream closes, for attached sinks' owners.
    closed: tokio::sync::Notify,
    rtp_sources: Vec<RtpSource>,
    writer: Mutex<Writer>,
    /// Unit hub sequence numbers of the first unit after the last few reconnects.
    resumes: Mutex<VecDeque<u64>>,
    has_video: bool,
    counters: StreamCounters,
    created: chrono::DateTime<chrono::Utc>,
}

/// What a stream received, for health reports: plain counters, read by anyone.
#[derive(Default)]
pub(crate) struct StreamCounters {
    /// Access units of the leading track (video if there is one).
    pub(crate) frames: AtomicU64,
    /// Payload bytes of every track.
    pub(crate) bytes: AtomicU64,
    /// Wall-clock arrival of the last unit (UNIX µs); 0 before the first.
    pub(crate) last_unit_us: AtomicI64,
}

struct Writer {
    packetizers: Vec<Box<dyn Packetizer>>,
    timeline: Timeline,
    /// Whether units are packetized into the RTP hub as they come. Only while it has readers:
    /// a camera nobody reads over RTSP costs neither the packetizing nor the packets' memory.
    rtp_live: bool,
    /// Sinks fed every unit, by attachment number.
    sinks: Vec<(u64, Arc<dyn UnitSink>)>,
    /// The number of the next attachment.
    next_sink: u64,
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
        let ring_min = RING_MIN_PER_TRACK * tracks.len().max(1);
        Arc::new(Self {
            path: path.to_string(),
            tracks,
            units: Hub::new(ring_min, RING_MAX),
            rtp: Hub::new(ring_min, RING_MAX),
            closed: tokio::sync::Notify::new(),
            rtp_sources,
            writer: Mutex::new(Writer {
                packetizers,
                timeline: Timeline::default(),
                rtp_live: false,
                sinks: Vec::new(),
                next_sink: 0,
            }),
            resumes: Mutex::new(VecDeque::new()),
            has_video,
            counters: StreamCounters::default(),
            created: chrono::Utc::now(),
        })
    }

    /// When the stream began (the path became ready).
    pub(crate) fn created(&self) -> chrono::DateTime<chrono::Utc> {
        self.created
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

    /// The hub of RTP packets, for its counters. Readers subscribe with [`Self::subscribe_rtp`].
    pub(crate) fn rtp(&self) -> &Arc<Hub<RtpBatch>> {
        &self.rtp
    }

    /// A reader of the stream's RTP packets (RTSP readers, multicast), starting at the last
    /// keyframe. The packets are made only while someone reads them: the first reader has the
    /// units from the last keyframe packetized now, and units are packetized as they come until
    /// the last reader has gone.
    pub(crate) fn subscribe_rtp(&self) -> Cursor<RtpBatch> {
        let mut writer = lock(&self.writer);
        if !writer.rtp_live {
            // The hub is empty: it was cleared when the last reader left (or never fed).
            writer.rtp_live = true;
            self.for_each_unit_since_keyframe(|_, unit| {
                let wallclock_us = writer.timeline.rtp_wallclock_us(&unit);
                self.packetize(&mut writer, &unit, wallclock_us);
            });
        }
        self.rtp.subscribe()
    }

    /// Feeds `sink` every unit from the last keyframe in the ring on, then every unit as it is
    /// published, until the returned guard drops.
    pub(crate) fn attach(self: &Arc<Self>, sink: Arc<dyn UnitSink>) -> Attached {
        let mut writer = lock(&self.writer);
        self.for_each_unit_since_keyframe(|seq, unit| {
            sink.take(seq, &unit, self.resumes_at(seq), self.is_join_point(&unit));
        });
        let id = writer.next_sink;
        writer.next_sink += 1;
        writer.sinks.push((id, sink));
        Attached {
            stream: Arc::clone(self),
            id,
        }
    }

    /// Calls `each` with the number and unit of every unit in the ring from the last keyframe
    /// on. Called with the writer locked, so that no unit is published meanwhile.
    fn for_each_unit_since_keyframe(&self, mut each: impl FnMut(u64, Arc<AccessUnit>)) {
        let mut units = self.units.subscribe();
        while let Next::Item(unit) = units.try_next() {
            each(units.position() - 1, unit);
        }
    }

    /// Resolves once the stream has closed.
    pub(crate) async fn closed(&self) {
        loop {
            // Registered before the check: a close between the two still wakes it.
            let notified = self.closed.notified();
            if self.units.is_closed() {
                return;
            }
            notified.await;
        }
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

    /// Marks a source reconnect: the next unit's timestamps are shifted so that the outage
    /// becomes a gap of its real length (see the module doc).
    pub(crate) fn resume(&self) {
        lock(&self.writer).timeline.resume();
    }

    /// Whether the unit numbered `seq` in [`Self::units`] is the first one after a source
    /// reconnect (one of the last few). A reader that got it from a cursor knows its number as
    /// `cursor.position() - 1`.
    pub(crate) fn resumes_at(&self, seq: u64) -> bool {
        lock(&self.resumes).contains(&seq)
    }

    /// Ends the stream: readers drain what is queued, then see it closed.
    pub(crate) fn close(&self) {
        self.units.close();
        self.rtp.close();
        self.closed.notify_waiters();
    }

    fn count(&self, track: &Track, unit: &AccessUnit) {
        let c = &self.counters;
        if track.kind() == MediaKind::Video || !self.has_video {
            c.frames.fetch_add(1, Ordering::Relaxed);
        }
        let bytes: usize = unit.data.iter().map(|d| d.len()).sum();
        c.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        c.last_unit_us.store(unix_micros(), Ordering::Relaxed);
    }

    /// What the stream received so far.
    pub(crate) fn counters(&self) -> &StreamCounters {
        &self.counters
    }

    /// Publishes one access unit: into the unit hub, and packetized once into the RTP hub
    /// while it has readers. Never waits for a reader.
    pub(crate) fn publish(&self, mut unit: AccessUnit) {
        let Some(track) = self.tracks.get(unit.track) else {
            return;
        };
        self.count(track, &unit);
        let mut writer = lock(&self.writer);
        let resumed = writer.timeline.is_resuming();
        let wallclock_us = writer.timeline.apply(&mut unit, unix_micros());
        let unit = Arc::new(unit);
        let join_point = self.is_join_point(&unit);
        let seq = self.units.publish(Arc::clone(&unit), join_point);
        if resumed {
            let mut resumes = lock(&self.resumes);
            if resumes.len() >= RESUMES_KEPT {
                resumes.pop_front();
            }
            resumes.push_back(seq);
        }
        for (_, sink) in &writer.sinks {
            sink.take(seq, &unit, resumed, join_point);
        }
        if writer.rtp_live && self.rtp.readers() == 0 {
            // The last RTSP reader left: stop packetizing, and free the packets.
            writer.rtp_live = false;
            self.rtp.clear();
        }
        if writer.rtp_live {
            self.packetize(&mut writer, &unit, wallclock_us);
        }
    }

    /// Whether a new reader may start at `unit`: a video keyframe, or any keyframe of a stream
    /// without video.
    fn is_join_point(&self, unit: &AccessUnit) -> bool {
        let video = self
            .tracks
            .get(unit.track)
            .is_some_and(|t| t.kind() == MediaKind::Video);
        unit.keyframe && (video || !self.has_video)
    }

    /// Packetizes `unit` (on the stream's timeline, RTP time mapped to `wallclock_us`) into the
    /// RTP hub. Called with the writer locked, so units go in in order.
    fn packetize(&self, writer: &mut Writer, unit: &AccessUnit, wallclock_us: i64) {
        let mut packets = Vec::new();
        if let Some(packetizer) = writer.packetizers.get_mut(unit.track)
            && let Err(e) = packetizer.packetize(unit, &mut packets)
        {
            tracing::warn!(path = %self.path, track = unit.track, "can't packetize unit: {e}");
        }
        if !packets.is_empty() {
            let batch = RtpBatch {
                track: unit.track,
                packets,
                wallclock_us,
                framed: FramedOnce::default(),
            };
            self.rtp.publish(Arc::new(batch), self.is_join_point(unit));
        }
    }
}

/// The stream's one timeline (see the module doc): shifts each source's timestamps onto it and
/// stamps wall-clock time. Sans-IO: the caller passes the arrival time.
///
/// The rule at a reconnect, for the first unit `U` of the new source (raw PTS `p`, arriving at
/// `now`), with the stream's wall offset `o` and the last unit `L` written before the outage:
///
/// 1. `U`'s wall-clock time `w` is the new source's own when it has one (a sender report already
///    mapped it, or ingest stamped its arrival), else `now`: the source knows best when it
///    captured the frame, and arrival time is only a late estimate of that;
/// 2. `U` goes where the unchanged offset maps `w`: shifted PTS `w - o`. The gap after `L` is
///    then `w - (pts(L) + o)`, the real length of the outage on the stream's own mapping, and
///    PTS + `o` stays the wall-clock mapping of the whole timeline: RTCP sender reports do not
///    jump and units keep a PTS that says when they happened. Resetting the offset instead would
///    make the new source's wall clock win just the same, but hide the outage and make the SR
///    mapping jump by its length;
/// 3. never less than one frame: when the new source's clock says `U` came before `L` or at
///    most a frame after it (a camera whose clock disagrees with the previous one's, or with
///    arrival time), `U` is placed one frame (the track's last DTS step, else 40 ms) after `L`'s
///    PTS and DTS instead; PTS + `o` is then later than `U`'s own `wallclock_us`, which is kept.
#[derive(Debug, Default)]
struct Timeline {
    /// Wall clock minus PTS (µs), from the stream's first unit; never changes afterwards.
    wall_offset_us: Option<i64>,
    /// Added to the current source's timestamps (µs).
    shift_us: i64,
    /// A source reconnected: the next unit sets a new shift.
    pending: bool,
    /// Latest shifted PTS and DTS written (µs), once a unit was.
    last: Option<(i64, i64)>,
    /// Per track: its last shifted DTS (µs) and the positive step that led to it (0 if none).
    steps: Vec<Option<(i64, i64)>>,
}

impl Timeline {
    /// A source reconnected: the next unit starts its timestamps from a new origin.
    fn resume(&mut self) {
        self.pending = true;
    }

    /// Whether the next unit is the first one after a reconnect.
    fn is_resuming(&self) -> bool {
        self.pending && self.last.is_some()
    }

    /// Moves `unit` onto the stream's timeline and fills in its `wallclock_us` if the source
    /// did not; returns PTS plus the wall offset (the stream's mapping, for RTP).
    fn apply(&mut self, unit: &mut AccessUnit, arrival_us: i64) -> i64 {
        if std::mem::take(&mut self.pending) {
            self.rebase(unit, arrival_us);
        }
        if self.shift_us != 0 {
            let shift = Timestamp::new(self.shift_us, 1_000_000)
                .rescale(unit.pts.clock_rate)
                .ticks;
            unit.pts.ticks += shift;
            unit.dts.ticks += shift;
        }
        let (pts_us, dts_us) = (unit.pts.as_micros(), unit.dts.as_micros());
        let offset = *self
            .wall_offset_us
            .get_or_insert_with(|| unit.wallclock_us.unwrap_or(arrival_us) - pts_us);
        unit.wallclock_us.get_or_insert(pts_us + offset);
        self.note(unit.track, pts_us, dts_us);
        self.rtp_wallclock_us(unit)
    }

    /// The wall-clock time RTP maps a unit already on the timeline to: its PTS plus the
    /// stream's one wall offset (the unit's own `wallclock_us` may differ, see the rule above).
    fn rtp_wallclock_us(&self, unit: &AccessUnit) -> i64 {
        unit.pts.as_micros() + self.wall_offset_us.unwrap_or(0)
    }

    /// Steps 1 to 3 of the rule above: the shift for the new source, from its first unit.
    fn rebase(&mut self, unit: &AccessUnit, arrival_us: i64) {
        let (Some(offset), Some((last_pts, last_dts))) = (self.wall_offset_us, self.last) else {
            // Nothing was written before the reconnect: the first unit starts the timeline.
            return;
        };
        let (pts, dts) = (unit.pts.as_micros(), unit.dts.as_micros());
        let frame = match self.steps.get(unit.track) {
            Some(Some((_, step))) if *step > 0 => *step,
            _ => DEFAULT_FRAME_US,
        };
        let by_wall = unit.wallclock_us.unwrap_or(arrival_us) - offset - pts;
        let after_last = (last_pts + frame - pts).max(last_dts + frame - dts);
        self.shift_us = by_wall.max(after_last);
    }

    fn note(&mut self, track: usize, pts_us: i64, dts_us: i64) {
        self.last = Some(match self.last {
            Some((p, d)) => (p.max(pts_us), d.max(dts_us)),
            None => (pts_us, dts_us),
        });
        if self.steps.len() <= track {
            self.steps.resize(track + 1, None);
        }
        if let Some(slot) = self.steps.get_mut(track) {
            let step = match *slot {
                Some((last, _)) if dts_us > last => dts_us - last,
                Some((_, step)) => step,
                None => 0,
            };
            *slot = Some((dts_us, step));
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vigia_media::model::{G711Params, VideoParams};
    use vigia_media::{CodecParams, Track};

    use super::*;

    /// Clock rates of the tracks in the case table: 90 kHz video, 48 kHz audio.
    const CLOCKS: [u32; 2] = [90_000, 48_000];

    /// One unit into the timeline: a reconnect before it, its track, raw PTS and DTS, the
    /// source's wall clock and the arrival time (all ms).
    type In = (bool, usize, i64, i64, Option<i64>, i64);
    /// What comes out: shifted PTS and DTS, `wallclock_us`, and PTS + offset (all ms).
    type Out = (i64, i64, i64, i64);

    const NO: bool = false;
    const RECONNECT: bool = true;

    #[rustfmt::skip]
    fn rebase_cases() -> Vec<(&'static str, Vec<In>, Vec<Out>)> {
        vec![
            ("first unit: the offset comes from its arrival",
             vec![(NO, 0, 0, 0, None, 1000), (NO, 0, 40, 40, None, 1041), (NO, 0, 80, 80, None, 1079)],
             vec![(0, 0, 1000, 1000), (40, 40, 1040, 1040), (80, 80, 1080, 1080)]),
            ("first unit: the source's clock sets the offset and is kept",
             vec![(NO, 0, 0, 0, Some(900), 1000), (NO, 0, 40, 40, Some(941), 1040)],
             vec![(0, 0, 900, 900), (40, 40, 941, 940)]),
            ("a 10 s outage is a 10 s gap, mapped to the arrival time",
             vec![(NO, 0, 0, 0, None, 1000), (NO, 0, 40, 40, None, 1040),
                  (RECONNECT, 0, 0, 0, None, 11_040), (NO, 0, 40, 40, None, 11_080)],
             vec![(0, 0, 1000, 1000), (40, 40, 1040, 1040),
                  (10_040, 10_040, 11_040, 11_040), (10_080, 10_080, 11_080, 11_080)]),
            ("the new source's own clock (RTCP) wins over arrival time",
             vec![(NO, 0, 0, 0, None, 1000), (NO, 0, 40, 40, None, 1040),
                  (RECONNECT, 0, 123_000, 123_000, Some(6000), 6300)],
             vec![(0, 0, 1000, 1000), (40, 40, 1040, 1040), (5000, 5000, 6000, 6000)]),
            ("an outage shorter than a frame: one frame after the last unit",
             vec![(NO, 0, 0, 0, None, 1000), (NO, 0, 40, 40, None, 1040),
                  (RECONNECT, 0, 0, 0, None, 1050)],
             vec![(0, 0, 1000, 1000), (40, 40, 1040, 1040), (80, 80, 1080, 1080)]),
            ("a new source whose clock is behind: one frame after, its own clock kept",
             vec![(NO, 0, 0, 0, None, 1000), (NO, 0, 40, 40, None, 1040),
                  (RECONNECT, 0, 0, 0, Some(500), 1100)],
             vec![(0, 0, 1000, 1000), (40, 40, 1040, 1040), (80, 80, 500, 1080)]),
            ("B-frames: the first DTS after the reconnect still follows the last DTS",
             vec![(NO, 0, 0, 0, None, 1000), (NO, 0, 120, 40, None, 1040),
                  (RECONNECT, 0, 80, -40, None, 1100)],
             vec![(0, 0, 1000, 1000), (120, 40, 1120, 1120), (200, 80, 1200, 1200)]),
            ("an audio unit first after the reconnect: both tracks take its shift",
             vec![(NO, 0, 0, 0, None, 1000), (NO, 1, 0, 0, None, 1000),
                  (NO, 0, 40, 40, None, 1040), (NO, 1, 20, 20, None, 1021),
                  (RECONNECT, 1, 0, 0, None, 3040), (NO, 0, 0, 0, None, 3041)],
             vec![(0, 0, 1000, 1000), (0, 0, 1000, 1000), (40, 40, 1040, 1040),
                  (20, 20, 1020, 1020), (2040, 2040, 3040, 3040), (2040, 2040, 3040, 3040)]),
            ("two reconnects keep one offset",
             vec![(NO, 0, 0, 0, None, 1000), (RECONNECT, 0, 0, 0, None, 4000),
                  (NO, 0, 40, 40, None, 4040), (RECONNECT, 0, 0, 0, None, 9000)],
             vec![(0, 0, 1000, 1000), (3000, 3000, 4000, 4000), (3040, 3040, 4040, 4040),
                  (8000, 8000, 9000, 9000)]),
            ("a reconnect before any unit: the first unit starts the timeline",
             vec![(RECONNECT, 0, 500, 500, None, 1000), (NO, 0, 540, 540, None, 1040)],
             vec![(500, 500, 1000, 1000), (540, 540, 1040, 1040)]),
        ]
    }

    fn ms(ms: i64, clock_rate: u32) -> Timestamp {
        Timestamp::new(ms * i64::from(clock_rate) / 1000, clock_rate)
    }

    fn to_ms(t: Timestamp) -> i64 {
        t.as_micros().div_euclid(1000)
    }

    #[test]
    fn rebase_rule() {
        for (name, ins, outs) in rebase_cases() {
            let mut timeline = Timeline::default();
            let got: Vec<Out> = ins
                .iter()
                .map(|&(resume, track, pts, dts, wall, at)| {
                    if resume {
                        timeline.resume();
                    }
                    let clock = CLOCKS[track];
                    let mut unit = AccessUnit::new(track, ms(pts, clock), true, Vec::new());
                    unit.dts = ms(dts, clock);
                    unit.wallclock_us = wall.map(|w| w * 1000);
                    let mapped = timeline.apply(&mut unit, at * 1000);
                    let wall = unit.wallclock_us.expect("every unit has a wall clock");
                    (to_ms(unit.pts), to_ms(unit.dts), wall / 1000, mapped / 1000)
                })
                .collect();
            assert_eq!(got, outs, "{name}");
        }
    }

    fn audio_stream() -> Arc<PathStream> {
        let g711 = CodecParams::G711(G711Params {
            mu_law: true,
            sample_rate: 8000,
            channels: 1,
        });
        PathStream::new(
            "cam",
            vec![Track {
                codec: g711,
                clock_rate: 8000,
            }],
        )
    }

    fn audio_unit(pts_ms: i64, wallclock_us: i64) -> AccessUnit {
        let mut unit = AccessUnit::new(0, ms(pts_ms, 8000), true, vec![Bytes::from(vec![0; 160])]);
        unit.wallclock_us = Some(wallclock_us);
        unit
    }

    fn video_stream() -> Arc<PathStream> {
        let h264 = CodecParams::H264(VideoParams::default());
        PathStream::new(
            "cam",
            vec![Track {
                codec: h264,
                clock_rate: 90_000,
            }],
        )
    }

    /// Frame `n` of a 25 fps video with a keyframe every `gop` frames: one 3000-byte slice, so
    /// it takes three RTP packets.
    fn video_unit(n: i64, gop: i64) -> AccessUnit {
        let nal = [if n % gop == 0 { 0x65 } else { 0x41 }; 3000];
        let pts = Timestamp::new(n * 3600, 90_000);
        let mut unit = AccessUnit::new(0, pts, n % gop == 0, vec![Bytes::copy_from_slice(&nal)]);
        unit.wallclock_us = Some(1_700_000_000_000_000 + n * 40_000);
        unit
    }

    /// The RTP timestamps of the batches a cursor has, one per unit, as frame numbers.
    fn frames_read(cursor: &mut Cursor<RtpBatch>) -> Vec<i64> {
        let mut frames = Vec::new();
        while let Next::Item(batch) = cursor.try_next() {
            assert_eq!(
                batch.packets.len(),
                3,
                "a 3000-byte slice in 1400-byte packets"
            );
            frames.push((batch.wallclock_us - 1_700_000_000_000_000) / 40_000);
        }
        frames
    }

    /// RTP packets are made only while an RTSP reader wants them: none for a stream nobody
    /// reads, the last GOP for the first reader, then every unit, and nothing stale for a reader
    /// who comes after everyone left.
    #[test]
    fn rtp_packets_are_made_only_while_someone_reads_them() {
        let stream = video_stream();
        for n in 0..12 {
            stream.publish(video_unit(n, 5));
        }
        let unread = stream.rtp().stats();
        assert_eq!((unread.published, unread.ring_len), (0, 0));

        let mut first = stream.subscribe_rtp();
        assert_eq!(frames_read(&mut first), [10, 11], "from the last keyframe");
        let mut second = stream.subscribe_rtp();
        stream.publish(video_unit(12, 5));
        assert_eq!(frames_read(&mut first), [12]);
        assert_eq!(frames_read(&mut second), [10, 11, 12]);

        drop((first, second));
        for n in 13..17 {
            stream.publish(video_unit(n, 5));
        }
        let left = stream.rtp().stats();
        assert_eq!(
            (left.published, left.ring_len),
            (3, 0),
            "none made or kept after"
        );

        let mut later = stream.subscribe_rtp();
        assert_eq!(frames_read(&mut later), [15, 16]);
    }

    /// A sink that notes what it is fed: unit numbers and whether each came after a reconnect.
    #[derive(Default)]
    struct Noted(Mutex<Vec<(u64, bool)>>);

    impl UnitSink for Noted {
        fn take(&self, seq: u64, _unit: &Arc<AccessUnit>, resumed: bool, _join_point: bool) {
            lock(&self.0).push((seq, resumed));
        }
    }

    /// An attached sink gets the ring from its last keyframe, then every unit with reconnects
    /// marked, and nothing once its guard is dropped.
    #[test]
    fn an_attached_sink_is_fed_from_the_last_keyframe_until_detached() {
        let stream = video_stream();
        for n in 0..12 {
            stream.publish(video_unit(n, 5));
        }
        let noted = Arc::new(Noted::default());
        let attached = stream.attach(noted.clone());
        assert_eq!(*lock(&noted.0), [(10, false), (11, false)]);
        stream.publish(video_unit(12, 5));
        stream.resume();
        stream.publish(video_unit(0, 5));
        drop(attached);
        stream.publish(video_unit(1, 5));
        assert_eq!(
            *lock(&noted.0),
            [(10, false), (11, false), (12, false), (13, true)]
        );
    }

    /// What a recorder reading the hub sees across a reconnect: the gap as a DTS jump, a wall
    /// clock on every unit, the first unit after it named, and RTP times that map without a jump.
    #[test]
    fn readers_see_the_outage_as_a_gap() {
        let stream = audio_stream();
        let mut units = stream.units().subscribe();
        let mut rtp = stream.subscribe_rtp();
        let t0 = 1_700_000_000_000_000;
        stream.publish(audio_unit(0, t0));
        stream.publish(audio_unit(20, t0 + 20_000));
        stream.resume();
        // The new source starts from 0 again; its own clock says 10 s passed.
        stream.publish(audio_unit(0, t0 + 10_020_000));
        stream.publish(audio_unit(20, t0 + 10_040_000));
        let mut seen = Vec::new();
        while let Next::Item(unit) = units.try_next() {
            let seq = units.position() - 1;
            seen.push((to_ms(unit.dts), unit.wallclock_us, stream.resumes_at(seq)));
        }
        let wall = |us: i64| Some(t0 + us);
        assert_eq!(
            seen,
            [
                (0, wall(0), false),
                (20, wall(20_000), false),
                (10_020, wall(10_020_000), true),
                (10_040, wall(10_040_000), false),
            ]
        );
        let mut mapped = Vec::new();
        while let Next::Item(batch) = rtp.try_next() {
            mapped.push(batch.wallclock_us - t0);
        }
        assert_eq!(mapped, [0, 20_000, 10_020_000, 10_040_000]);
    }
}
