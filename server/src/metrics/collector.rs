//! The figures read at scrape time: paths and cameras from the path manager, RTSP connections
//! and sessions from their registry, HLS muxers, the recorder and spool, the event outbox.
//! Nothing here is updated on the media path; every figure is a counter or state that already
//! exists, read when Prometheus asks (see `docs/metrics.md` for each family).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use vigia_events::PublisherStats;
use vigia_media::hub::HubStats;

use super::family::{Kind, Labels, labels, write};
use super::rates::{Count, Rate, Rates};
use crate::bus::Bus;
use crate::config::Source;
use crate::hls::MuxerView;
use crate::paths::{Path, PathManager, lock};
use crate::record::RecordingFigures;
use crate::registry::{ConnView, SessionState};
use crate::sources::unix_micros;

/// Everything the metrics server reads at each scrape.
pub(crate) struct ServerCollector {
    /// All paths (and, through them, the recorder and the RTSP registry).
    pub(crate) paths: Arc<PathManager>,
    /// Recent frame and byte rates of each path.
    pub(crate) rates: Arc<Mutex<Rates>>,
    /// The event bus, when `eventsURL` is set.
    pub(crate) bus: Option<Arc<Bus>>,
}

impl fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCollector").finish_non_exhaustive()
    }
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let now_us = unix_micros();
        let muxers = self.paths.hls_muxers().map_or_else(Vec::new, |m| m.list());
        let conns = self.paths.sessions().conns();
        let views: Vec<PathView> = {
            let rates = lock(&self.rates);
            let all = self.paths.all();
            all.iter()
                .map(|p| PathView::of(p, now_us, &rates, &muxers, &conns))
                .collect()
        };
        encode_paths(&mut encoder, &views)?;
        super::http::encode(&mut encoder)?;
        encode_rtsp(&mut encoder, &conns)?;
        encode_hls(&mut encoder, &muxers)?;
        encode_cameras(&mut encoder, &views)?;
        let figures = self.paths.recording().map(|r| r.figures());
        encode_recording(&mut encoder, figures)?;
        encode_outbox(&mut encoder, self.bus.as_ref().map(|b| b.outbox()))
    }
}

/// Samples every path's stream counters for [`Rates`] (called once a second).
pub(crate) fn sample_rates(paths: &PathManager, rates: &Mutex<Rates>) {
    let counts: Vec<(String, Count)> = paths
        .all()
        .iter()
        .filter_map(|p| {
            let stream = p.stream()?;
            let c = stream.counters();
            let count = Count {
                frames: c.frames.load(Ordering::Relaxed),
                bytes: c.bytes.load(Ordering::Relaxed),
            };
            Some((p.name.clone(), count))
        })
        .collect();
    lock(rates).sample(unix_micros(), &counts);
}

/// One path at scrape time.
struct PathView {
    name: String,
    ready: bool,
    /// A camera feeds it: pulled by Vigia, or published by a client (not a synthetic source).
    camera: bool,
    pulled: bool,
    readers: usize,
    reconnects: u64,
    frames: u64,
    bytes: u64,
    /// Bytes sent to the path's readers (RTSP sessions and HLS viewers).
    bytes_sent: u64,
    last_unit_us: i64,
    now_us: i64,
    rate: Option<Rate>,
    /// Hub counters of the access-unit hub and the RTP hub, while a stream exists.
    hubs: Option<[(&'static str, HubStats); 2]>,
}

impl PathView {
    fn of(
        path: &Path,
        now_us: i64,
        rates: &Rates,
        muxers: &[MuxerView],
        conns: &[ConnView],
    ) -> PathView {
        let stream = path.stream();
        let counters = stream.as_ref().map(|s| s.counters());
        let load = |f: fn(&crate::stream::StreamCounters) -> u64| counters.map_or(0, f);
        PathView {
            name: path.name.clone(),
            ready: stream.is_some(),
            camera: path.conf.has_pulled_source() || path.conf.source == Source::Publisher,
            pulled: path.conf.has_pulled_source(),
            readers: path.readers(),
            reconnects: path.source_status().failures,
            frames: load(|c| c.frames.load(Ordering::Relaxed)),
            bytes: load(|c| c.bytes.load(Ordering::Relaxed)),
            bytes_sent: outbound_bytes(&path.name, muxers, conns),
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

    fn camera_labels(&self) -> Labels {
        labels([("path", &self.name)])
    }
}

/// Bytes sent to `path`'s readers: its reading RTSP sessions' and its HLS muxer's.
fn outbound_bytes(path: &str, muxers: &[MuxerView], conns: &[ConnView]) -> u64 {
    let hls: u64 = muxers
        .iter()
        .filter(|m| m.path == path)
        .map(|m| m.bytes_sent)
        .sum();
    let rtsp: u64 = conns
        .iter()
        .filter(|c| {
            c.session
                .as_ref()
                .is_some_and(|s| s.state == SessionState::Read && s.path == path)
        })
        .map(|c| c.outbound_bytes)
        .sum();
    hls + rtsp
}

/// MediaMTX's path families, its deprecated byte names, and `streaming_active_cameras`.
fn encode_paths(encoder: &mut DescriptorEncoder<'_>, views: &[PathView]) -> fmt::Result {
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
        "Readers attached to the path (RTSP sessions, HLS muxers, recorder, ...)",
        Kind::Gauge,
        &each(|v| v.readers as u64),
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
    let outbound = each(|v| v.bytes_sent);
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

/// MediaMTX's RTSP connection and session families. A session lives on one connection, so
/// its byte counts are its connection's (requests and responses included).
fn encode_rtsp(encoder: &mut DescriptorEncoder<'_>, conns: &[ConnView]) -> fmt::Result {
    let by_conn: Vec<(Labels, &ConnView)> = conns
        .iter()
        .map(|c| (labels([("id", &c.id.to_string())]), c))
        .collect();
    let by_session: Vec<(Labels, &ConnView)> = conns
        .iter()
        .filter_map(|c| {
            let s = c.session.as_ref()?;
            let labels = labels([
                ("id", &s.id.to_string()),
                ("path", &s.path),
                ("remoteAddr", &c.remote_addr.to_string()),
                ("state", s.state.as_str()),
            ]);
            Some((labels, c))
        })
        .collect();
    let help = "RTSP connections, 1 each";
    encode_conn_families(encoder, "rtsp_conns", help, &by_conn)?;
    let help = "RTSP sessions, 1 each; state is idle, read or publish";
    encode_conn_families(encoder, "rtsp_sessions", help, &by_session)
}

/// A connection byte family: name suffix, help, and how to read its value.
type ConnFamily = (&'static str, &'static str, fn(&ConnView) -> u64);

/// `<prefix>` (1 each), `<prefix>_inbound_bytes`, `<prefix>_outbound_bytes`, and MediaMTX's
/// deprecated names of the latter two, `<prefix>_bytes_received` and `<prefix>_bytes_sent`.
fn encode_conn_families(
    encoder: &mut DescriptorEncoder<'_>,
    prefix: &str,
    help: &str,
    items: &[(Labels, &ConnView)],
) -> fmt::Result {
    let each = |value: fn(&ConnView) -> u64| -> Vec<(Labels, u64)> {
        items.iter().map(|(l, c)| (l.clone(), value(c))).collect()
    };
    write(encoder, prefix, help, Kind::Gauge, &each(|_| 1))?;
    let families: [ConnFamily; 4] = [
        ("inbound_bytes", "Bytes read from the connection", |c| {
            c.inbound_bytes
        }),
        (
            "bytes_received",
            "Deprecated MediaMTX name of *_inbound_bytes",
            |c| c.inbound_bytes,
        ),
        (
            "outbound_bytes",
            "Bytes of responses and RTP/RTCP packets sent",
            |c| c.outbound_bytes,
        ),
        (
            "bytes_sent",
            "Deprecated MediaMTX name of *_outbound_bytes",
            |c| c.outbound_bytes,
        ),
    ];
    for (suffix, help, value) in families {
        let name = format!("{prefix}_{suffix}");
        write(encoder, &name, help, Kind::Unsuffixed, &each(value))?;
    }
    Ok(())
}

/// MediaMTX's HLS muxer families.
fn encode_hls(encoder: &mut DescriptorEncoder<'_>, muxers: &[MuxerView]) -> fmt::Result {
    let each = |value: fn(&MuxerView) -> u64| -> Vec<(Labels, u64)> {
        muxers
            .iter()
            .map(|m| (labels([("name", &m.path)]), value(m)))
            .collect()
    };
    write(
        encoder,
        "hls_muxers",
        "HLS muxers, 1 each",
        Kind::Gauge,
        &each(|_| 1),
    )?;
    let sent = each(|m| m.bytes_sent);
    let help = "Bytes of playlists and media the muxer answered to viewers";
    write(
        encoder,
        "hls_muxers_outbound_bytes",
        help,
        Kind::Unsuffixed,
        &sent,
    )?;
    let help = "Deprecated MediaMTX name of hls_muxers_outbound_bytes";
    write(
        encoder,
        "hls_muxers_bytes_sent",
        help,
        Kind::Unsuffixed,
        &sent,
    )
}

/// Per-camera health: rates, last frame age, reconnects, and what readers lost in the hubs.
fn encode_cameras(encoder: &mut DescriptorEncoder<'_>, views: &[PathView]) -> fmt::Result {
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

/// A recording family: name, help, kind, and how to read its value.
type RecordingFamily = (
    &'static str,
    &'static str,
    Kind,
    fn(&RecordingFigures) -> u64,
);

/// The spool, uploader and recorders; families without samples when nothing records.
fn encode_recording(
    encoder: &mut DescriptorEncoder<'_>,
    figures: Option<RecordingFigures>,
) -> fmt::Result {
    let one = |value: fn(&RecordingFigures) -> u64| -> Vec<(Labels, u64)> {
        figures.iter().map(|f| (Vec::new(), value(f))).collect()
    };
    let families: [RecordingFamily; 10] = [
        (
            "vigia_spool_bytes",
            "Bytes in the local spool",
            Kind::Gauge,
            |f| f.spool.bytes,
        ),
        (
            "vigia_spool_max_bytes",
            "Bytes the spool may hold (recordSpoolMaxSize)",
            Kind::Gauge,
            |f| f.spool_max_bytes,
        ),
        (
            "vigia_spool_segments",
            "Segments in the spool (open or waiting for upload)",
            Kind::Gauge,
            |f| f.spool.segments,
        ),
        (
            "vigia_spool_dropped_segments",
            "Segments dropped unsent because the spool was full",
            Kind::Counter,
            |f| f.spool.dropped_segments,
        ),
        (
            "vigia_spool_dropped_bytes",
            "Bytes dropped unsent because the spool was full",
            Kind::Counter,
            |f| f.spool.dropped_bytes,
        ),
        (
            "vigia_spool_recovered_segments",
            "Segments cut by a crash and repaired at start",
            Kind::Counter,
            |f| f.spool.recovered_segments,
        ),
        (
            "vigia_upload_segments",
            "Segments stored in their destination",
            Kind::Counter,
            |f| f.uploaded_segments,
        ),
        (
            "vigia_upload_bytes",
            "Bytes stored in their destination",
            Kind::Counter,
            |f| f.uploaded_bytes,
        ),
        (
            "vigia_upload_failures",
            "Failed upload attempts",
            Kind::Counter,
            |f| f.upload_failures,
        ),
        (
            "vigia_recorder_lagged_units",
            "Access units recorders lost by falling behind",
            Kind::Counter,
            |f| f.lagged_units,
        ),
    ];
    for (name, help, kind, value) in families {
        write(encoder, name, help, kind, &one(value))?;
    }
    Ok(())
}

/// The event publisher: outbox depth and what happened to events.
fn encode_outbox(
    encoder: &mut DescriptorEncoder<'_>,
    stats: Option<PublisherStats>,
) -> fmt::Result {
    let one = |value: fn(&PublisherStats) -> u64| -> Vec<(Labels, u64)> {
        stats.iter().map(|s| (Vec::new(), value(s))).collect()
    };
    let help = "Events in the durable outbox waiting for the broker's confirm";
    write(
        encoder,
        "vigia_events_outbox_pending",
        help,
        Kind::Gauge,
        &one(|s| s.pending),
    )?;
    let help = "Events made durable (outbox)";
    write(
        encoder,
        "vigia_events_accepted",
        help,
        Kind::Counter,
        &one(|s| s.accepted),
    )?;
    let help = "Events confirmed by the broker";
    write(
        encoder,
        "vigia_events_confirmed",
        help,
        Kind::Counter,
        &one(|s| s.confirmed),
    )?;
    let dropped: Vec<(Labels, u64)> = stats
        .iter()
        .flat_map(|s| {
            [
                (labels([("reason", "outbox_full")]), s.outbox_full),
                (labels([("reason", "intake_full")]), s.intake_full),
            ]
        })
        .collect();
    let help = "Events dropped, by reason";
    write(
        encoder,
        "vigia_events_dropped",
        help,
        Kind::Counter,
        &dropped,
    )?;
    let help = "Broker connections lost or failed";
    write(
        encoder,
        "vigia_events_broker_reconnects",
        help,
        Kind::Counter,
        &one(|s| s.reconnects),
    )?;
    let help = "Negative confirms from the broker";
    write(
        encoder,
        "vigia_events_nacks",
        help,
        Kind::Counter,
        &one(|s| s.nacks),
    )
}
