//! One HLS muxer per path: fed every unit by the publishing task itself (a [`UnitSink`]: no task
//! wakes up per unit), shared by every viewer, closed after `hlsMuxerCloseAfter` without requests
//! (unless `hlsAlwaysRemux`).
//!
//! A source reconnect ([`PathStream::resumes_at`]) ends the segment in progress and starts the
//! next one, at the next keyframe, after an `EXT-X-DISCONTINUITY` with the new unit's
//! `PROGRAM-DATE-TIME`. The stream's timeline already has the outage as a gap, and a gap longer
//! than the target duration would be a discontinuity anyway; a shorter one would otherwise be
//! one long sample, a part longer than `PART-TARGET` (RFC 8216bis §4.4.4.9).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use vigia_protocol::hls::{Fmp4PartMuxer, HlsConfig, HlsMuxer, HlsVariant as MuxerVariant};

use crate::config::{HlsConf, HlsVariant};
use crate::paths::{Path, ReaderGuard, lock};
use crate::stream::{PathStream, UnitSink};

use super::store::SegmentStore;

/// How often an idle muxer checks whether it should close.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// A path's HLS muxer and what waiting requests watch.
pub(crate) struct Muxer {
    /// Path name.
    pub(crate) path: String,
    /// The muxer state; locked briefly to push a unit or render a playlist.
    pub(crate) state: Mutex<HlsMuxer>,
    /// The muxer's version (new part or segment), sent when it changes: blocked requests
    /// re-check then.
    pub(crate) version: watch::Sender<u64>,
    last_request: Mutex<Instant>,
    /// Requests waiting for a playlist or file: the muxer is not idle while any waits.
    waiting: AtomicUsize,
    /// Bytes of playlists and media answered to viewers.
    bytes_sent: AtomicU64,
    /// When the muxer was created.
    pub(crate) created: chrono::DateTime<chrono::Utc>,
    /// Where complete segments are written (`hlsDirectory`); `None`: they stay in memory.
    pub(crate) store: Option<Arc<SegmentStore>>,
}

/// A request waiting on a [`Muxer`] ([`Muxer::wait`]).
pub(crate) struct WaitGuard<'a>(&'a Muxer);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Muxer {
    /// A muxer for `stream`'s tracks.
    pub(crate) fn new(path: &str, stream: &PathStream, conf: &HlsConf) -> Arc<Self> {
        let store = (!conf.directory.is_empty())
            .then(|| SegmentStore::new(std::path::Path::new(&conf.directory), path));
        let config = HlsConfig {
            store_segments: store.is_some(),
            ..muxer_config(conf)
        };
        let muxer = HlsMuxer::new(
            config,
            stream.tracks().to_vec(),
            Box::new(Fmp4PartMuxer::new()),
        );
        Arc::new(Self {
            path: path.to_string(),
            state: Mutex::new(muxer),
            version: watch::channel(0).0,
            last_request: Mutex::new(Instant::now()),
            waiting: AtomicUsize::new(0),
            bytes_sent: AtomicU64::new(0),
            created: chrono::Utc::now(),
            store,
        })
    }

    /// Notes a viewer request (keeps the muxer open).
    pub(crate) fn touch(&self) {
        *lock(&self.last_request) = Instant::now();
    }

    /// Counts `n` bytes answered to a viewer.
    pub(crate) fn count_sent(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Bytes of playlists and media answered to viewers so far.
    pub(crate) fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    /// The wall-clock time of the last viewer request (creation counts as one).
    pub(crate) fn last_request(&self) -> chrono::DateTime<chrono::Utc> {
        let idle = chrono::Duration::from_std(self.idle_for()).unwrap_or_default();
        chrono::Utc::now() - idle
    }

    fn idle_for(&self) -> Duration {
        if self.waiting.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        lock(&self.last_request).elapsed()
    }

    /// Marks a request as waiting until the guard drops (then as the last request): a new
    /// muxer whose first playlist takes longer than `hlsMuxerCloseAfter` to be ready is not
    /// closed under the request that created it.
    pub(crate) fn wait(&self) -> WaitGuard<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        WaitGuard(self)
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
        // Only a new part or segment wakes blocked requests: most units complete neither, and a
        // request woken for nothing takes the muxer lock to find its part still missing.
        self.version.send_if_modified(|current| {
            let changed = *current != version;
            *current = version;
            changed
        });
    }
}

impl UnitSink for Muxer {
    /// Pushes the unit, after a discontinuity if a source reconnect happened just before it.
    fn take(
        &self,
        _seq: u64,
        unit: &Arc<vigia_media::AccessUnit>,
        resumed: bool,
        _join_point: bool,
    ) {
        if resumed {
            let mut state = lock(&self.state);
            let tracks = state.tracks().to_vec();
            state.reset(tracks);
        }
        self.push_unit(Arc::clone(unit));
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
    let storing = muxer
        .store
        .clone()
        .map(|store| tokio::spawn(store.run(Arc::clone(&muxer))));
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
    if let (Some(task), Some(store)) = (storing, muxer.store.clone()) {
        task.abort();
        let _ = task.await;
        store.remove().await;
    }
    tracing::info!(path = %muxer.path, "[HLS] muxer closed");
}

/// Has the stream feed the muxer until the stream ends (`true`) or the muxer idles out
/// (`false`).
async fn follow(
    muxer: &Arc<Muxer>,
    stream: &Arc<PathStream>,
    close_after: Option<Duration>,
) -> bool {
    let _attached = stream.attach(Arc::clone(muxer) as Arc<dyn UnitSink>);
    let mut idle_check = tokio::time::interval(IDLE_CHECK);
    let closed = stream.closed();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            _ = &mut closed => return true,
            _ = idle_check.tick() => {
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

#[cfg(test)]
mod tests {
    use vigia_media::synthetic::{self, Player};
    use vigia_protocol::hls::PlaylistAnswer;
    use vigia_protocol::hls::check::{Naming, check_with};

    use super::*;

    /// 2024-01-01T00:00:00Z in UNIX µs.
    const T0: i64 = 1_704_067_200_000_000;

    /// Plays `seconds` of the synthetic clip from its start into `stream`, dated from
    /// `start_us`: the muxers attached to it are fed as they are live.
    fn play(stream: &PathStream, start_us: i64, seconds: i64) {
        let mut player = Player::new(synthetic::builtin_360p());
        while player.next_due_us() < seconds * 1_000_000 {
            let at = start_us + player.next_due_us();
            stream.publish(player.next_unit(at));
        }
    }

    /// A source that goes away and comes back: the playlist is valid, has a discontinuity, and
    /// the segment after it is dated by the outage's real length. The clip's target duration is
    /// 1 s: 500 ms is an outage shorter than it, which as one long sample would make a part
    /// longer than `PART-TARGET`.
    #[test]
    fn a_reconnect_is_a_dated_discontinuity() {
        for gap_ms in [0, 500, 3000, 10_000] {
            let clip = synthetic::builtin_360p();
            let stream = PathStream::new("cam", clip.tracks().to_vec());
            let muxer = Muxer::new("cam", &stream, &HlsConf::default());
            let _attached = stream.attach(muxer.clone());
            play(&stream, T0, 4);
            // A viewer is watching, so the window keeps the segments before the outage.
            let _ = lock(&muxer.state).media_playlist(&Default::default());
            stream.resume();
            let back_us = T0 + 4_000_000 + gap_ms * 1000;
            play(&stream, back_us, 4);
            let text = match lock(&muxer.state).media_playlist(&Default::default()) {
                PlaylistAnswer::Ready(text) => text,
                other => panic!("gap {gap_ms} ms: {other:?}"),
            };
            let (parsed, violations) = check_with(&text, &Naming::default());
            assert!(
                violations.is_empty(),
                "gap {gap_ms} ms: {violations:?}\n{text}"
            );
            let segments = parsed.expect("parsed").segments;
            let after = segments
                .iter()
                .position(|s| s.discontinuity)
                .unwrap_or_else(|| panic!("gap {gap_ms} ms: no discontinuity\n{text}"));
            let before = &segments[after - 1];
            let end_before = before.program_date_time_us.unwrap() + (before.duration * 1e6) as i64;
            let date_after = segments[after].program_date_time_us.unwrap();
            assert_eq!(
                date_after, back_us,
                "gap {gap_ms} ms: the first segment after it\n{text}"
            );
            let gap_us = date_after - end_before;
            assert!(
                (gap_us - gap_ms * 1000).abs() <= 50_000,
                "gap {gap_ms} ms: PROGRAM-DATE-TIME shows a gap of {gap_us} µs\n{text}"
            );
        }
    }
}
