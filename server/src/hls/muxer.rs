//! One HLS muxer per path: fed from the path's unit hub in its own task, shared by every viewer,
//! closed after `hlsMuxerCloseAfter` without requests (unless `hlsAlwaysRemux`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use vigia_media::hub::Next;
use vigia_protocol::hls::{Fmp4PartMuxer, HlsConfig, HlsMuxer, HlsVariant as MuxerVariant};

use crate::config::{HlsConf, HlsVariant};
use crate::paths::{Path, ReaderGuard, lock};
use crate::stream::PathStream;

/// How often an idle muxer checks whether it should close.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// A path's HLS muxer and what waiting requests watch.
pub(crate) struct Muxer {
    /// Path name.
    pub(crate) path: String,
    /// The muxer state; locked briefly to push a unit or render a playlist.
    pub(crate) state: Mutex<HlsMuxer>,
    /// Bumped after every unit pushed: blocked requests re-check on change.
    pub(crate) version: watch::Sender<u64>,
    last_request: Mutex<Instant>,
}

impl Muxer {
    /// A muxer for `stream`'s tracks.
    pub(crate) fn new(path: &str, stream: &PathStream, conf: &HlsConf) -> Arc<Self> {
        let muxer = HlsMuxer::new(
            muxer_config(conf),
            stream.tracks().to_vec(),
            Box::new(Fmp4PartMuxer::new()),
        );
        Arc::new(Self {
            path: path.to_string(),
            state: Mutex::new(muxer),
            version: watch::channel(0).0,
            last_request: Mutex::new(Instant::now()),
        })
    }

    /// Notes a viewer request (keeps the muxer open).
    pub(crate) fn touch(&self) {
        *lock(&self.last_request) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        lock(&self.last_request).elapsed()
    }

    fn push_unit(&self, unit: Arc<vigia_media::AccessUnit>) {
        let mut state = lock(&self.state);
        let oversized = state.oversized_segments();
        if let Err(e) = state.push(unit) {
            tracing::warn!(path = %self.path, "[HLS] {e}");
        }
        if state.oversized_segments() > oversized {
            tracing::warn!(path = %self.path, "[HLS] a segment reached hlsSegmentMaxSize; it was ended and playback resumes at the next keyframe");
        }
        let version = state.version();
        drop(state);
        self.version.send_replace(version);
    }
}

/// Feeds `muxer` from `path` until it has been idle for `close_after` (never, when
/// `always_remux`); follows publisher reconnects. `guard` keeps an on-demand source running.
pub(crate) async fn feed(
    muxer: Arc<Muxer>,
    path: Arc<Path>,
    mut stream: Arc<PathStream>,
    guard: ReaderGuard,
    close_after: Option<Duration>,
) {
    let mut streams = path.watch_stream();
    loop {
        if !follow(&muxer, &stream, close_after).await {
            break;
        }
        let Some(next) = next_stream(&mut streams, &stream, &muxer, close_after).await else {
            break;
        };
        lock(&muxer.state).reset(next.tracks().to_vec());
        tracing::info!(path = %muxer.path, "[HLS] muxer follows the new stream");
        stream = next;
    }
    drop(guard);
    tracing::info!(path = %muxer.path, "[HLS] muxer closed");
}

/// Pushes units until the stream ends (`true`) or the muxer idles out (`false`).
async fn follow(muxer: &Muxer, stream: &PathStream, close_after: Option<Duration>) -> bool {
    let mut cursor = stream.units().subscribe();
    loop {
        tokio::select! {
            next = cursor.next() => match next {
                Next::Item(unit) => muxer.push_unit(unit),
                Next::Lagged { skipped } => tracing::warn!(path = %muxer.path, "[HLS] muxer skipped {skipped} units"),
                Next::Closed => return true,
                Next::Pending => {}
            },
            _ = tokio::time::sleep(IDLE_CHECK) => {
                if close_after.is_some_and(|limit| muxer.idle_for() >= limit) {
                    return false;
                }
            }
        }
    }
}

/// Waits for the path's next stream (a publisher reconnecting) while viewers keep asking.
async fn next_stream(
    streams: &mut watch::Receiver<Option<Arc<PathStream>>>,
    old: &Arc<PathStream>,
    muxer: &Muxer,
    close_after: Option<Duration>,
) -> Option<Arc<PathStream>> {
    loop {
        let current = streams.borrow_and_update().clone();
        if let Some(stream) = current.filter(|s| !Arc::ptr_eq(s, old)) {
            return Some(stream);
        }
        let limit = close_after.unwrap_or(Duration::from_secs(3600));
        if muxer.idle_for() >= limit {
            return None;
        }
        let _ = tokio::time::timeout(IDLE_CHECK, streams.changed()).await;
    }
}

fn muxer_config(conf: &HlsConf) -> HlsConfig {
    HlsConfig {
        variant: match conf.variant {
            HlsVariant::LowLatency => MuxerVariant::LowLatency,
            HlsVariant::Fmp4 | HlsVariant::MpegTs => MuxerVariant::Fmp4,
        },
        segment_duration: conf.segment_duration,
        part_duration: conf.part_duration,
        segment_count: conf.segment_count,
        segment_max_size: usize::try_from(conf.segment_max_size).unwrap_or(usize::MAX),
        ..HlsConfig::default()
    }
}
