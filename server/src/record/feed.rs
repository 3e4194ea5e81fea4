//! The recorder's own backlog: the units the publishing task hands over, waiting for the
//! recorder task, which a slow spool may hold up.
//!
//! The stream's ring keeps only the last few seconds (and the current GOP), enough for new
//! readers to start at a keyframe and for a reader to ride out a short hiccup. A recording must
//! outlast a disk that stalls for longer, so the recorder does not read the ring: it is attached
//! to the stream as a [`UnitSink`] and gets every unit into this queue, which is bounded in
//! bytes. The queue only holds what the recorder has not written yet: empty while the spool
//! keeps up, so it costs no memory then. Past the bound the newest units are dropped, then
//! everything until the next join point (a recording cannot restart mid-GOP); the drops are
//! counted and the recorder logs them. Every feed also draws on one [`RecorderBacklog`] shared
//! by all recorders, so a spool stall that holds them all up at once costs a bounded amount of
//! memory however many paths record.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use vigia_media::AccessUnit;

use crate::paths::lock;
use crate::stream::UnitSink;

/// Media bytes one path's recorder may have queued while its spool writes lag: about 30 s of
/// a 2 Mbit/s camera, where the stream's ring alone held 3–10 s.
pub(crate) const BACKLOG_BYTES: usize = 8 << 20;

/// Media bytes all recorders together may have queued: a stalled spool holds up every
/// recorder at once, and the per-path bound alone would let 1,000 cameras queue 8 GiB. 1 GiB is
/// ~4 s of each of 1,000 2 Mbit/s cameras, or the whole per-path backlog of 128.
pub(crate) const BACKLOG_TOTAL_BYTES: usize = 1 << 30;

/// The bytes queued by every recorder's feed, against a bound for all of them.
pub(crate) struct RecorderBacklog {
    queued: AtomicUsize,
    limit: usize,
}

impl RecorderBacklog {
    /// A shared backlog of at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(RecorderBacklog {
            queued: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes queued by all feeds now.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Counts `bytes` in if they fit under the bound, or `always` (a feed's only unit).
    fn reserve(&self, bytes: usize, always: bool) -> bool {
        if always {
            self.queued.fetch_add(bytes, Ordering::Relaxed);
            return true;
        }
        self.queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                queued
                    .checked_add(bytes)
                    .filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Units queued for one recorder, fed by the stream's publishing task.
pub(crate) struct Feed {
    queue: Mutex<Queue>,
    ready: Notify,
    limit: usize,
    shared: Arc<RecorderBacklog>,
}

#[derive(Default)]
struct Queue {
    units: VecDeque<Arc<AccessUnit>>,
    bytes: usize,
    /// Units dropped and not yet reported by [`Feed::pop`].
    lost: u64,
    /// After a drop: nothing is queued again before a join point.
    skipping: bool,
}

/// What [`Feed::pop`] gives the recorder.
#[derive(Debug)]
pub(crate) enum Taken {
    /// The next unit to record.
    Unit(Arc<AccessUnit>),
    /// This many units were dropped because the backlog was full.
    Lost(u64),
}

impl Feed {
    /// An empty feed holding at most `limit` bytes of media, and no more than `shared` has
    /// room for (one unit always fits).
    pub(crate) fn new(limit: usize, shared: Arc<RecorderBacklog>) -> Arc<Self> {
        Arc::new(Feed {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            limit,
            shared,
        })
    }

    /// The next thing to hand the recorder, if any: drops are reported before the units queued
    /// after them.
    pub(crate) fn pop(&self) -> Option<Taken> {
        let mut queue = lock(&self.queue);
        if queue.lost > 0 {
            return Some(Taken::Lost(std::mem::take(&mut queue.lost)));
        }
        let unit = queue.units.pop_front()?;
        queue.bytes -= unit.len();
        self.shared.release(unit.len());
        Some(Taken::Unit(unit))
    }

    /// Waits for the next thing to hand the recorder.
    pub(crate) async fn next(&self) -> Taken {
        loop {
            // `notify_one` leaves a permit when nobody waits, so a unit queued between the pop
            // and the wait still wakes it.
            if let Some(taken) = self.pop() {
                return taken;
            }
            self.ready.notified().await;
        }
    }

    /// Queues `unit`, or drops it when the backlog (its own or the shared one) is full or it is
    /// still skipping to a join point.
    fn push(&self, unit: &Arc<AccessUnit>, join_point: bool) {
        let mut queue = lock(&self.queue);
        let only = queue.units.is_empty();
        let admitted = (join_point || !queue.skipping)
            && (only || queue.bytes + unit.len() <= self.limit)
            && self.shared.reserve(unit.len(), only);
        if !admitted {
            queue.lost += 1;
            queue.skipping = true;
        } else {
            queue.skipping = false;
            queue.bytes += unit.len();
            queue.units.push_back(Arc::clone(unit));
        }
        drop(queue);
        self.ready.notify_one();
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.shared.release(lock(&self.queue).bytes);
    }
}

impl UnitSink for Feed {
    fn take(&self, _seq: u64, unit: &Arc<AccessUnit>, _resumed: bool, join_point: bool) {
        self.push(unit, join_point);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use vigia_media::model::VideoParams;
    use vigia_media::{CodecParams, Timestamp, Track};

    use super::*;
    use crate::stream::PathStream;

    fn unit(n: i64, keyframe: bool, size: usize) -> Arc<AccessUnit> {
        let data = vec![Bytes::from(vec![0u8; size])];
        Arc::new(AccessUnit::new(
            0,
            Timestamp::new(n, 90_000),
            keyframe,
            data,
        ))
    }

    fn drain(feed: &Feed) -> Vec<String> {
        std::iter::from_fn(|| feed.pop())
            .map(|taken| match taken {
                Taken::Unit(u) => format!("{}", u.pts.ticks),
                Taken::Lost(n) => format!("lost {n}"),
            })
            .collect()
    }

    /// A case's name, its units as (number, keyframe, size), the limit, and what the recorder
    /// gets.
    type Case = (
        &'static str,
        Vec<(i64, bool, usize)>,
        usize,
        Vec<&'static str>,
    );

    #[test]
    fn a_full_backlog_drops_until_the_next_join_point() {
        let cases: Vec<Case> = vec![
            (
                "room for all",
                vec![(0, true, 10), (1, false, 10)],
                20,
                vec!["0", "1"],
            ),
            (
                "full, then a P-frame",
                vec![(0, true, 10), (1, false, 10), (2, false, 1), (3, true, 1)],
                15,
                vec!["lost 2", "0", "3"],
            ),
            (
                "room again but no keyframe yet",
                vec![(0, true, 10), (1, false, 10), (2, false, 1), (3, false, 1)],
                15,
                vec!["lost 3", "0"],
            ),
            (
                "one unit larger than the limit still goes in",
                vec![(0, true, 50)],
                15,
                vec!["0"],
            ),
        ];
        for (name, units, limit, want) in cases {
            let feed = Feed::new(limit, RecorderBacklog::new(usize::MAX));
            for (n, keyframe, size) in units {
                feed.take(n as u64, &unit(n, keyframe, size), false, keyframe);
            }
            assert_eq!(drain(&feed), want, "{name}");
        }
    }

    #[test]
    fn feeds_share_one_bound_and_give_back_what_they_held() {
        let shared = RecorderBacklog::new(25);
        let (a, b) = (Feed::new(20, shared.clone()), Feed::new(20, shared.clone()));
        a.take(0, &unit(0, true, 10), false, true);
        a.take(1, &unit(1, false, 10), false, false);
        b.take(0, &unit(0, true, 10), false, true);
        // b's first unit always fits (over the shared bound by one unit at most); its second
        // does not, though b's own bound has room.
        b.take(1, &unit(1, false, 1), false, false);
        assert_eq!(shared.queued(), 30);
        assert_eq!(drain(&b), vec!["lost 1", "0"]);
        assert_eq!(shared.queued(), 20);
        // b, empty again, takes its next keyframe.
        b.take(2, &unit(2, true, 5), false, true);
        assert_eq!(shared.queued(), 25);
        drop(a);
        assert_eq!(
            shared.queued(),
            5,
            "a dropped feed gives back its queued bytes"
        );
        drop(b);
        assert_eq!(shared.queued(), 0);
    }

    #[test]
    fn popping_frees_room_in_the_backlog() {
        let feed = Feed::new(20, RecorderBacklog::new(usize::MAX));
        feed.take(0, &unit(0, true, 15), false, true);
        assert!(matches!(feed.pop(), Some(Taken::Unit(_))));
        feed.take(1, &unit(1, false, 15), false, false);
        assert_eq!(drain(&feed), vec!["1"]);
    }

    #[test]
    fn the_backlog_keeps_what_the_stream_ring_no_longer_holds() {
        let h264 = CodecParams::H264(VideoParams::default());
        let track = Track {
            codec: h264,
            clock_rate: 90_000,
        };
        let stream = PathStream::new("cam", vec![track]);
        let feed = Feed::new(BACKLOG_BYTES, RecorderBacklog::new(BACKLOG_TOTAL_BYTES));
        let _attached = stream.attach(feed.clone());
        // 40 s of 25 fps video with a keyframe a second, nobody popping: a stalled spool.
        for n in 0..1000 {
            stream.publish(Arc::unwrap_or_clone(unit(n * 3600, n % 25 == 0, 1000)));
        }
        assert!(
            stream.units().stats().ring_len < 200,
            "the ring let go of units"
        );
        let got = drain(&feed);
        assert_eq!(
            got.len(),
            1000,
            "the recorder still gets every unit: {got:?}"
        );
        assert!(got.iter().all(|g| !g.starts_with("lost")));
    }

    #[tokio::test]
    async fn next_wakes_for_a_unit_queued_while_it_waits() {
        let feed = Feed::new(100, RecorderBacklog::new(usize::MAX));
        let waiter = tokio::spawn({
            let feed = Arc::clone(&feed);
            async move { feed.next().await }
        });
        tokio::task::yield_now().await;
        feed.take(7, &unit(7, true, 1), false, true);
        let taken = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert!(matches!(taken, Taken::Unit(u) if u.pts.ticks == 7));
    }
}
