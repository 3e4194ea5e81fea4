//! The collector Prometheus' scrapes call: it reads the path manager, the RTSP registry, the
//! HLS muxers, the recorder, the event bus and the allocator, and writes every family
//! ([`super::paths`], [`super::sessions`], [`super::storage`], [`super::memory`], the HTTP
//! ones). Nothing here is updated on the media path; every figure is a counter or state that
//! already exists, read when Prometheus asks (see `docs/metrics.md` for each family).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::paths::{PathView, encode_cameras, encode_paths, readers_by_path};
use super::rates::{Count, Rates};
use super::sessions::{encode_hls, encode_rtsp, encode_webrtc};
use super::storage::{encode_outbox, encode_recording};
use crate::bus::Bus;
use crate::paths::{PathManager, lock};
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
        let readers = readers_by_path(&muxers, &conns);
        let views: Vec<PathView> = {
            let rates = lock(&self.rates);
            let all = self.paths.all();
            all.iter()
                .map(|p| PathView::of(p, now_us, &rates, &readers))
                .collect()
        };
        encode_paths(&mut encoder, &views)?;
        super::http::encode(&mut encoder)?;
        super::security::encode(&mut encoder)?;
        super::memory::encode(&mut encoder)?;
        encode_rtsp(&mut encoder, &conns)?;
        encode_webrtc(&mut encoder, &self.paths.webrtc_sessions().list())?;
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
