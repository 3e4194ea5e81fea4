//! The path families at scrape time: MediaMTX's `paths*`, `streaming_active_cameras`, and each
//! camera's health (rates, last frame age, reconnects) with what its readers lost in the hubs.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;

use prometheus_client::encoding::DescriptorEncoder;
use vigia_media::hub::HubStats;

use super::family::{Kind, Labels, Text, labels, write};
use super::rates::{Rate, Rates};
use crate::config::Source;
use crate::hls::MuxerView;
use crate::paths::Path;
use crate::registry::{ConnView, SessionState};

/// One path at scrape time.
pub(super) struct PathView {
    name: String,
    ready: bool,
    /// A camera feeds it: pulled by Vigia, or published by a client (not a synthetic source).
    camera: bool,
    pulled: bool,
    readers: Readers,
    reconnects: u64,
    frames: u64,
    bytes: u64,
    last_unit_us: i64,
    now_us: i64,
    rate: Option<Rate>,
    /// Hub counters of the access-unit hub and the RTP hub, while a stream exists.
    hubs: Option<[(&'static str, HubStats); 2]>,
}

impl PathView {
    pub(super) fn of(
        path: &Path,
        now_us: i64,
        rates: &Rates,
        readers: &HashMap<&str, Readers>,
    ) -> PathView {
        let stream = path.stream();
        let counters = stream.as_ref().map(|s| s.counters());
        let load = |f: fn(&crate::stream::StreamCounters) -> u64| counters.map_or(0, f);
        PathView {
            name: path.name.clone(),
            ready: stream.is_some(),
            camera: path.conf.has_pulled_source() || path.conf.source == Source::Publisher,
            pulled: path.conf.has_pulled_source(),
            readers: readers.get(path.name.as_str()).copied().unwrap_or_default(),
            reconnects: path.source_status().failures,
            frames: load(|c| c.frames.load(Ordering::Relaxed)),
            bytes: load(|c| c.bytes.load(Ordering::Relaxed)),
            last_unit_us: counters.map_or(0, |c| c.last_unit_us.load(Ordering::Relaxed)),
            now_us,
            rate: rates.rate(&path.name),
            hubs: stream.map(|s| [("units", s.units().stats()), ("rtp", s.rtp().stats())]),
        }
    }

    /// MediaMTX's `{name, state}`.
    fn path_labels(&self) -> Labels {
        let state = if self.ready { "ready" } else { "notReady" };
        labels([("name", &self.name), ("state", state)])
    }

    /// MediaMTX's `paths_readers` samples: one per reader type present, else one of type `""`
    /// at 0.
    fn reader_samples(&self) -> Vec<(Labels, u64)> {
        let mut types = Vec::new();
        if self.readers.rtsp_sessions > 0 {
            types.push(("rtspSession", self.readers.rtsp_sessions));
        }
        if self.readers.hls_muxer {
            types.push(("hlsMuxer", 1));
        }
        if types.is_empty() {
            types.push(("", 0));
        }
        let with_type = |reader_type: &str| {
            let mut labels = self.path_labels();
            labels.push(("readerType", Text(reader_type.to_owned())));
            labels
        };
        types
            .into_iter()
            .map(|(reader_type, n)| (with_type(reader_type), n))
            .collect()
    }

    fn camera_labels(&self) -> Labels {
        labels([("path", &self.name)])
    }
}

/// A path's readers, from the RTSP registry and the HLS muxers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Readers {
    /// RTSP sessions reading the path.
    rtsp_sessions: u64,
    /// Whether an HLS muxer serves the path.
    hls_muxer: bool,
    /// Bytes sent to them: the reading sessions' connections' and the muxer's.
    bytes_sent: u64,
}

/// Each path's readers, by path name (one pass over each list, whatever the number of paths).
pub(super) fn readers_by_path<'a>(
    muxers: &'a [MuxerView],
    conns: &'a [ConnView],
) -> HashMap<&'a str, Readers> {
    let mut readers: HashMap<&str, Readers> = HashMap::new();
    for muxer in muxers {
        let entry = readers.entry(muxer.path.as_str()).or_default();
        entry.hls_muxer = true;
        entry.bytes_sent += muxer.bytes_sent;
    }
    for conn in conns {
        let reading = conn
            .session
            .as_ref()
            .filter(|s| s.state == SessionState::Read);
        if let Some(session) = reading {
            let entry = readers.entry(session.path.as_str()).or_default();
            entry.rtsp_sessions += 1;
            entry.bytes_sent += conn.outbound_bytes;
        }
    }
    readers
}

/// MediaMTX's path families, its deprecated byte names, and `streaming_active_cameras`.
pub(super) fn encode_paths(encoder: &mut DescriptorEncoder<'_>, views: &[PathView]) -> fmt::Result {
    let each = |value: fn(&PathView) -> u64| -> Vec<(Labels, u64)> {
        views.iter().map(|v| (v.path_labels(), value(v))).collect()
    };
    write(
        encoder,
        "paths",
        "Paths, 1 each; state is ready when a stream is being produced",
        Kind::Gauge,
        &each(|_| 1),
    )?;
    write(
        encoder,
        "paths_readers",
        "Readers of the path by readerType: rtspSession (RTSP sessions reading), hlsMuxer",
        Kind::Gauge,
        &views
            .iter()
            .flat_map(PathView::reader_samples)
            .collect::<Vec<_>>(),
    )?;
    let inbound = each(|v| v.bytes);
    let help = "Payload bytes the path's current stream received";
    write(
        encoder,
        "paths_inbound_bytes",
        help,
        Kind::Unsuffixed,
        &inbound,
    )?;
    let help = "Deprecated MediaMTX name of paths_inbound_bytes";
    write(
        encoder,
        "paths_bytes_received",
        help,
        Kind::Unsuffixed,
        &inbound,
    )?;
    let outbound = each(|v| v.readers.bytes_sent);
    let help = "Bytes sent to the path's readers (RTSP sessions and HLS viewers)";
    write(
        encoder,
        "paths_outbound_bytes",
        help,
        Kind::Unsuffixed,
        &outbound,
    )?;
    let help = "Deprecated MediaMTX name of paths_outbound_bytes";
    write(
        encoder,
        "paths_bytes_sent",
        help,
        Kind::Unsuffixed,
        &outbound,
    )?;
    let active = views.iter().filter(|v| v.ready && v.camera).count() as u64;
    write(
        encoder,
        "streaming_active_cameras",
        "Paths with a stream ready from a camera (pulled by Vigia or published by a client)",
        Kind::Gauge,
        &[(Vec::new(), active)],
    )
}

/// Per-camera health: rates, last frame age, reconnects, and what readers lost in the hubs.
pub(super) fn encode_cameras(
    encoder: &mut DescriptorEncoder<'_>,
    views: &[PathView],
) -> fmt::Result {
    let live: Vec<&PathView> = views.iter().filter(|v| v.ready).collect();
    let rated = |f: fn(&Rate) -> f64| -> Vec<(Labels, f64)> {
        live.iter()
            .filter_map(|v| Some((v.camera_labels(), f(&v.rate?))))
            .collect()
    };
    let help = "Frames per second of the leading track over the last 5 s";
    write(
        encoder,
        "vigia_camera_fps",
        help,
        Kind::Gauge,
        &rated(|r| r.fps),
    )?;
    let help = "Payload bits per second received over the last 5 s";
    let bitrate = rated(|r| r.bits_per_second);
    write(
        encoder,
        "vigia_camera_bitrate_bits_per_second",
        help,
        Kind::Gauge,
        &bitrate,
    )?;
    let ages: Vec<(Labels, f64)> = live
        .iter()
        .filter(|v| v.last_unit_us > 0)
        .map(|v| {
            let age_us = v.now_us.saturating_sub(v.last_unit_us).max(0);
            (v.camera_labels(), age_us as f64 / 1e6)
        })
        .collect();
    let help = "Seconds since the last access unit arrived";
    write(
        encoder,
        "vigia_camera_last_frame_age_seconds",
        help,
        Kind::Gauge,
        &ages,
    )?;
    let frames: Vec<(Labels, u64)> = live.iter().map(|v| (v.camera_labels(), v.frames)).collect();
    let help = "Frames of the leading track received by the path's current stream";
    write(encoder, "vigia_camera_frames", help, Kind::Counter, &frames)?;
    let reconnects: Vec<(Labels, u64)> = views
        .iter()
        .filter(|v| v.pulled)
        .map(|v| (v.camera_labels(), v.reconnects))
        .collect();
    let help = "Connections to a pulled source lost or failed since the path was created";
    write(
        encoder,
        "vigia_camera_reconnects",
        help,
        Kind::Counter,
        &reconnects,
    )?;
    encode_hubs(encoder, &live)
}

/// The hub counters of each live stream: how often readers fell behind, and what they lost.
fn encode_hubs(encoder: &mut DescriptorEncoder<'_>, live: &[&PathView]) -> fmt::Result {
    let per_hub = |value: fn(&HubStats) -> u64| -> Vec<(Labels, u64)> {
        live.iter()
            .flat_map(|v| v.hubs.iter().flatten().map(move |(hub, s)| (v, *hub, s)))
            .map(|(v, hub, stats)| (labels([("path", &v.name), ("hub", hub)]), value(stats)))
            .collect()
    };
    let help = "Times a reader fell behind the stream and skipped to the newest keyframe";
    let skips = per_hub(|s| s.lag_events);
    write(
        encoder,
        "vigia_reader_lag_skips",
        help,
        Kind::Counter,
        &skips,
    )?;
    let help = "Items (access units, RTP batches) readers lost by skipping";
    let dropped = per_hub(|s| s.lagged_items);
    write(
        encoder,
        "vigia_hub_dropped_items",
        help,
        Kind::Counter,
        &dropped,
    )?;
    let help = "Readers with a cursor in the hub";
    let readers = per_hub(|s| s.readers as u64);
    write(encoder, "vigia_hub_readers", help, Kind::Gauge, &readers)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::registry::SessionInfo;

    fn conn(path: &str, state: SessionState, outbound_bytes: u64) -> ConnView {
        ConnView {
            id: Uuid::new_v4(),
            created: Utc::now(),
            remote_addr: "127.0.0.1:5000".parse().unwrap(),
            inbound_bytes: 0,
            outbound_bytes,
            session: Some(SessionInfo {
                id: Uuid::new_v4(),
                created: Utc::now(),
                state,
                path: path.to_owned(),
                query: String::new(),
                transport: Some("TCP"),
            }),
        }
    }

    #[test]
    fn a_path_has_its_reading_sessions_and_its_hls_muxer_as_readers() {
        let muxers = [MuxerView {
            path: "cam1".to_owned(),
            bytes_sent: 100,
            units_discarded: 0,
            created: Utc::now(),
            last_request: Utc::now(),
        }];
        let conns = [
            conn("cam1", SessionState::Read, 10),
            conn("cam1", SessionState::Read, 5),
            conn("cam1", SessionState::Publish, 1000),
            conn("cam2", SessionState::Read, 7),
        ];
        let readers = readers_by_path(&muxers, &conns);
        let cam1 = Readers {
            rtsp_sessions: 2,
            hls_muxer: true,
            bytes_sent: 115,
        };
        assert_eq!(
            readers.get("cam1"),
            Some(&cam1),
            "the publisher is no reader"
        );
        let cam2 = Readers {
            rtsp_sessions: 1,
            hls_muxer: false,
            bytes_sent: 7,
        };
        assert_eq!(readers.get("cam2"), Some(&cam2));
        assert_eq!(readers.get("cam3"), None);
    }
}
