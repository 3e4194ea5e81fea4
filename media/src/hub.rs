//! The stream hub: a bounded ring of shared units with one cursor per reader.
//!
//! One writer [`Hub::publish`]es `Arc`'d items (access units, fMP4 parts, RTP packet batches);
//! any number of readers each hold a [`Cursor`] and read at their own pace. Items are numbered
//! with a `u64` sequence number starting at 0 and are never copied: every reader gets a clone of
//! the same `Arc`.
//!
//! Retention policy:
//! - the ring keeps every item from the latest *join point* (a video keyframe, or any unit of an
//!   audio-only stream) onward, so a new reader starts at once at the last keyframe ("at least
//!   the last GOP");
//! - older items are evicted as soon as the ring holds more than `capacity` items;
//! - the ring never holds more than `max_capacity` items: beyond that even the current GOP is
//!   evicted (a very long GOP must not grow memory without bound).
//!
//! The writer never waits for a reader. A reader whose next item was evicted gets
//! [`Next::Lagged`] once, with the number of items it lost, and resumes at the newest join point
//! in the ring (or at the next published item if the ring holds none). Lost items are counted per
//! cursor ([`Cursor::dropped`]) and per hub ([`HubStats::lagged_items`]).
//!
//! Locking: one `std::sync::Mutex` guards the ring and is held only to push, pop (and so
//! possibly free) or clone an `Arc`; it is never held across an `.await`. A cursor with nothing
//! new to read finds out from two atomics without locking. Wake-ups use
//! [`tokio::sync::Notify`]: each publish wakes every waiting [`Cursor::next`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// A bounded ring of `Arc<T>` with one writer and many reading [`Cursor`]s.
///
/// Shared as `Arc<Hub<T>>`; it is `Send + Sync` when `T` is.
pub struct Hub<T> {
    ring: Mutex<Ring<T>>,
    readers: AtomicUsize,
    /// Mirrors of the ring's `next_seq` and `closed`, stored under the lock, so a cursor that is
    /// up to date learns it has nothing to read without taking the lock.
    published: AtomicU64,
    closed: AtomicBool,
    wake: Notify,
}

/// What a [`Cursor`] read.
#[derive(Debug)]
pub enum Next<T> {
    /// The next item, shared with every other reader.
    Item(Arc<T>),
    /// The cursor fell behind: `skipped` items were lost (up to the join point it resumed at).
    /// The following read continues at the newest join point in the ring.
    Lagged {
        /// How many items this cursor will never see.
        skipped: u64,
    },
    /// Nothing new yet (only from [`Cursor::try_next`]).
    Pending,
    /// The hub was closed and this cursor has read everything that was left.
    Closed,
}

/// Counters of a hub, as plain numbers for the server to export as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Items published since the hub was created (also the next sequence number).
    pub published: u64,
    /// Cursors currently alive.
    pub readers: usize,
    /// Items lost by all cursors to lagging, in total.
    pub lagged_items: u64,
    /// How many times any cursor lagged (one [`Next::Lagged`] each).
    pub lag_events: u64,
    /// Items currently held by the ring.
    pub ring_len: usize,
}

/// One reader's position in a [`Hub`]. Dropping it unregisters the reader.
pub struct Cursor<T> {
    hub: Arc<Hub<T>>,
    pos: u64,
    dropped: u64,
}

impl<T> Hub<T> {
    /// A hub that evicts items older than the latest join point once it holds more than
    /// `capacity` items, and never holds more than `max_capacity`.
    ///
    /// `capacity` is raised to at least 1 and `max_capacity` to at least `capacity`.
    pub fn new(capacity: usize, max_capacity: usize) -> Arc<Self> {
        let capacity = capacity.max(1);
        let max_capacity = max_capacity.max(capacity);
        Arc::new(Self {
            ring: Mutex::new(Ring::new(capacity, max_capacity)),
            readers: AtomicUsize::new(0),
            published: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    /// Appends; never waits for readers. `join_point` marks where a new reader may start (video
    /// keyframe, or any unit of an audio-only stream). Returns the item's sequence number.
    ///
    /// After [`Hub::close`] the item is dropped unseen and the number it would have had is
    /// returned (the sequence does not advance).
    pub fn publish(&self, item: Arc<T>, join_point: bool) -> u64 {
        let seq = {
            let mut ring = self.lock();
            if ring.closed {
                return ring.next_seq;
            }
            let seq = ring.push(item, join_point);
            self.published.store(ring.next_seq, Ordering::Release);
            seq
        };
        self.wake.notify_waiters();
        seq
    }

    /// New cursor positioned at the latest join point still in the ring (instant start), or at
    /// the next published item if none.
    pub fn subscribe(self: &Arc<Self>) -> Cursor<T> {
        let pos = self.lock().resume_point();
        self.readers.fetch_add(1, Ordering::Relaxed);
        Cursor {
            hub: Arc::clone(self),
            pos,
            dropped: 0,
        }
    }

    /// Marks the end of the stream: cursors drain what is left, then get [`Next::Closed`].
    /// Idempotent.
    pub fn close(&self) {
        let mut ring = self.lock();
        ring.closed = true;
        self.closed.store(true, Ordering::Release);
        drop(ring);
        self.wake.notify_waiters();
    }

    /// Empties the ring: nothing published so far is read by anyone any more. Cursors behind
    /// the next item get [`Next::Lagged`] and continue with it. For a writer that stops feeding
    /// a hub nobody reads and starts it again later, so stale items neither pin memory nor reach
    /// a later reader.
    pub fn clear(&self) {
        let mut ring = self.lock();
        ring.slots.clear();
        ring.head_seq = ring.next_seq;
    }

    /// Cursors currently alive: whether anyone reads the hub.
    pub fn readers(&self) -> usize {
        self.readers.load(Ordering::Relaxed)
    }

    /// Whether [`Hub::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A snapshot of the hub's counters.
    pub fn stats(&self) -> HubStats {
        let ring = self.lock();
        HubStats {
            published: ring.next_seq,
            readers: self.readers(),
            lagged_items: ring.lagged_items,
            lag_events: ring.lag_events,
            ring_len: ring.slots.len(),
        }
    }

    /// Panics if the ring's bookkeeping is inconsistent. For tests and fuzzers.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let ring = self.lock();
        ring.check_invariants();
        assert_eq!(
            self.published.load(Ordering::Acquire),
            ring.next_seq,
            "published mirror"
        );
        assert_eq!(
            self.closed.load(Ordering::Acquire),
            ring.closed,
            "closed mirror"
        );
    }

    /// Locks the ring. No code panics while holding the lock, so a poisoned lock still holds a
    /// consistent ring and is used as is.
    fn lock(&self) -> MutexGuard<'_, Ring<T>> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Cursor<T> {
    /// The next item, a lag notice, [`Next::Pending`] if nothing new was published, or
    /// [`Next::Closed`] once the closed hub is drained. Never blocks (beyond a brief lock).
    pub fn try_next(&mut self) -> Next<T> {
        read(&self.hub, &mut self.pos, &mut self.dropped)
    }

    /// Like [`Cursor::try_next`] but waits for an item instead of returning [`Next::Pending`].
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Next<T> {
        let Self { hub, pos, dropped } = self;
        loop {
            // Registered before reading, so a publish between the read and the await still
            // wakes this future (`notify_waiters` reaches every `Notified` created before it).
            let notified = hub.wake.notified();
            match read(hub, pos, dropped) {
                Next::Pending => notified.await,
                other => return other,
            }
        }
    }

    /// Jumps ahead to the newest join point in the ring (or past the newest item if the ring
    /// holds none), for a reader whose own output is congested. Returns how many items were
    /// skipped; they count as lost in [`Cursor::dropped`] and the hub's lag counters, like a
    /// [`Next::Lagged`]. Skips nothing if the cursor is already at or past that point.
    pub fn skip_to_join_point(&mut self) -> u64 {
        let skipped = self.hub.lock().skip(&mut self.pos);
        self.dropped += skipped;
        skipped
    }

    /// Items this reader lost to lagging.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sequence number of the next item this cursor will read.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The hub this cursor reads.
    pub fn hub(&self) -> &Arc<Hub<T>> {
        &self.hub
    }
}

impl<T> Drop for Cursor<T> {
    fn drop(&mut self) {
        self.hub.readers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> std::fmt::Debug for Hub<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Cursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("position", &self.pos)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// One read of `hub` at `*pos`, counting a lag into `*dropped`.
fn read<T>(hub: &Hub<T>, pos: &mut u64, dropped: &mut u64) -> Next<T> {
    // Fast path: nothing new and not closed. A publish racing with these loads is caught by the
    // next read, or by the `Notified` that `Cursor::next` registered before reading.
    if *pos >= hub.published.load(Ordering::Acquire) && !hub.closed.load(Ordering::Acquire) {
        return Next::Pending;
    }
    let next = hub.lock().read(pos);
    if let Next::Lagged { skipped } = next {
        *dropped += skipped;
    }
    next
}

/// One stored item and whether a reader may start at it.
struct Slot<T> {
    item: Arc<T>,
    join_point: bool,
}

/// The state behind the hub's lock. `slots[i]` has sequence number `head_seq + i`.
struct Ring<T> {
    slots: VecDeque<Slot<T>>,
    head_seq: u64,
    next_seq: u64,
    /// Sequence number of the latest join point ever published.
    latest_join: Option<u64>,
    capacity: usize,
    max_capacity: usize,
    closed: bool,
    lagged_items: u64,
    lag_events: u64,
}

impl<T> Ring<T> {
    fn new(capacity: usize, max_capacity: usize) -> Self {
        Self {
            slots: VecDeque::with_capacity(capacity),
            head_seq: 0,
            next_seq: 0,
            latest_join: None,
            capacity,
            max_capacity,
            closed: false,
            lagged_items: 0,
            lag_events: 0,
        }
    }

    /// Appends and evicts per the retention policy; returns the item's sequence number.
    fn push(&mut self, item: Arc<T>, join_point: bool) -> u64 {
        // Make room first so the deque never grows past `max_capacity`.
        if self.slots.len() >= self.max_capacity {
            self.pop_front();
        }
        let seq = self.next_seq;
        self.slots.push_back(Slot { item, join_point });
        self.next_seq += 1;
        if join_point {
            self.latest_join = Some(seq);
        }
        while self.slots.len() > self.capacity && !self.front_is_latest_join() {
            self.pop_front();
        }
        seq
    }

    /// Whether the oldest stored item is the latest join point (which a full ring keeps).
    fn front_is_latest_join(&self) -> bool {
        self.latest_join == Some(self.head_seq)
    }

    fn pop_front(&mut self) {
        if self.slots.pop_front().is_some() {
            self.head_seq += 1;
        }
    }

    /// The latest join point still stored, if any.
    fn join_in_ring(&self) -> Option<u64> {
        self.latest_join.filter(|&seq| seq >= self.head_seq)
    }

    /// Where a new or lagging reader starts: the latest stored join point, else the next item.
    fn resume_point(&self) -> u64 {
        self.join_in_ring().unwrap_or(self.next_seq)
    }

    /// Moves `*pos` forward to the resume point and counts the items passed over as lost.
    fn skip(&mut self, pos: &mut u64) -> u64 {
        let resume = self.resume_point();
        if resume <= *pos {
            return 0;
        }
        let skipped = resume - *pos;
        *pos = resume;
        self.lagged_items += skipped;
        self.lag_events += 1;
        skipped
    }

    /// Reads the item at `*pos` and advances it, or reports a lag and moves it to the resume
    /// point.
    fn read(&mut self, pos: &mut u64) -> Next<T> {
        if *pos < self.head_seq {
            // Evicted: the resume point is at or after `head_seq`, so this skips at least one.
            return Next::Lagged {
                skipped: self.skip(pos),
            };
        }
        let index = usize::try_from(*pos - self.head_seq).unwrap_or(usize::MAX);
        match self.slots.get(index) {
            Some(slot) => {
                *pos += 1;
                Next::Item(Arc::clone(&slot.item))
            }
            None if self.closed => Next::Closed,
            None => Next::Pending,
        }
    }

    fn check_invariants(&self) {
        let len = self.slots.len();
        assert!(
            len <= self.max_capacity,
            "ring holds {len} > max {}",
            self.max_capacity
        );
        assert_eq!(
            self.head_seq + len as u64,
            self.next_seq,
            "sequence numbers out of step"
        );
        let last_join = self
            .slots
            .iter()
            .rposition(|slot| slot.join_point)
            .map(|i| self.head_seq + i as u64);
        assert_eq!(
            last_join,
            self.join_in_ring(),
            "latest join point misplaced"
        );
        if len > self.capacity {
            assert!(
                self.front_is_latest_join(),
                "ring over capacity keeps items before the GOP"
            );
        }
        if let Some(join) = self.latest_join {
            assert!(join < self.next_seq, "join point in the future");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Publishes `pattern` ('K' = join point, anything else = not) as items numbered from the
    /// hub's next sequence number, checking invariants after each.
    fn feed(hub: &Hub<u64>, pattern: &str) {
        for c in pattern.chars() {
            let seq = hub.stats().published;
            assert_eq!(hub.publish(Arc::new(seq), c == 'K'), seq);
            hub.check_invariants();
        }
    }

    /// Reads until `Pending`/`Closed`, rendering items as numbers and lags as `L<skipped>`.
    fn drain(cursor: &mut Cursor<u64>) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match cursor.try_next() {
                Next::Item(v) => out.push(v.to_string()),
                Next::Lagged { skipped } => out.push(format!("L{skipped}")),
                Next::Pending => return out,
                Next::Closed => {
                    out.push("closed".into());
                    return out;
                }
            }
        }
    }

    #[test]
    fn clear_drops_everything_published_and_lags_readers_behind() {
        let hub = Hub::new(4, 16);
        feed(&hub, "KppKp");
        let mut behind = hub.subscribe();
        assert_eq!(drain(&mut behind), ["3", "4"]);
        let mut old = Hub::subscribe(&hub);
        old.pos = 0;
        hub.clear();
        hub.check_invariants();
        assert_eq!(hub.stats().ring_len, 0);
        assert_eq!(hub.readers(), 2);
        // A new reader starts at the next item, not at the cleared join point.
        let mut fresh = hub.subscribe();
        feed(&hub, "pK");
        assert_eq!(drain(&mut fresh), ["5", "6"]);
        assert_eq!(drain(&mut behind), ["5", "6"]);
        assert_eq!(drain(&mut old), ["L6", "6"]);
        drop(fresh);
        assert_eq!(hub.readers(), 2);
    }

    #[test]
    fn subscribe_starts_at_latest_join_point() {
        // (name, capacity, max, pattern, expected first position)
        let cases = [
            ("empty hub", 4, 16, "", 0),
            ("no keyframe yet", 4, 16, "ppp", 3),
            ("one GOP", 4, 16, "Kpp", 0),
            ("second GOP", 4, 16, "KppKp", 3),
            ("long GOP kept past capacity", 4, 16, "Kppppppppp", 0),
            ("GOP evicted at max", 2, 4, "Kpppp", 5),
            ("audio, every unit a join point", 4, 16, "KKKKKK", 5),
        ];
        for (name, cap, max, pattern, start) in cases {
            let hub = Hub::new(cap, max);
            feed(&hub, pattern);
            let mut cursor = hub.subscribe();
            assert_eq!(cursor.position(), start, "{name}");
            let expected: Vec<String> = (start..pattern.len() as u64)
                .map(|v| v.to_string())
                .collect();
            assert_eq!(drain(&mut cursor), expected, "{name}");
        }
    }

    #[test]
    fn ring_keeps_at_least_the_last_gop_within_bounds() {
        // (name, capacity, max, pattern, expected ring length)
        let cases = [
            ("under capacity", 4, 8, "Kpp", 3),
            ("older GOP trimmed to capacity", 4, 8, "KpppppKp", 4),
            ("GOP longer than capacity kept", 4, 8, "Kpppppp", 7),
            ("GOP longer than max evicted", 4, 8, "Kpppppppppp", 4),
            ("never a keyframe", 3, 100, "pppppppppppppppppppp", 3),
            ("keyframe lost, then a new one", 2, 4, "KpppppKppp", 4),
            ("capacity 0 is raised to 1", 0, 0, "KKpp", 1),
        ];
        for (name, cap, max, pattern, len) in cases {
            let hub = Hub::new(cap, max);
            feed(&hub, pattern);
            assert_eq!(hub.stats().ring_len, len, "{name}");
        }
    }

    #[test]
    fn lagging_cursor_skips_to_newest_join_point() {
        // (name, capacity, max, before subscribing, after subscribing, expected reads)
        let cases = [
            (
                "resumes at newest keyframe",
                2,
                4,
                "K",
                "pppKpKp",
                vec!["L6", "6", "7"],
            ),
            (
                "no keyframe in ring: next item",
                2,
                3,
                "K",
                "ppppp",
                vec!["L6"],
            ),
            (
                "audio resumes at newest unit",
                3,
                3,
                "",
                "KKKKKK",
                vec!["L5", "5"],
            ),
            (
                "keyframe evicted by max, then new GOP",
                2,
                4,
                "Kpp",
                "pppKpp",
                vec!["L6", "6", "7", "8"],
            ),
        ];
        for (name, cap, max, before, after, expected) in cases {
            let hub = Hub::new(cap, max);
            feed(&hub, before);
            let mut cursor = hub.subscribe();
            feed(&hub, after);
            let skipped: u64 = expected
                .iter()
                .filter_map(|s| s.strip_prefix('L'))
                .map(|n| n.parse::<u64>().unwrap())
                .sum();
            assert_eq!(drain(&mut cursor), expected, "{name}");
            assert_eq!(cursor.dropped(), skipped, "{name}");
            let stats = hub.stats();
            assert_eq!(
                (stats.lagged_items, stats.lag_events),
                (skipped, 1),
                "{name}"
            );
        }
    }

    #[test]
    fn close_lets_cursors_drain_then_reports_closed() {
        let hub = Hub::new(8, 8);
        let mut cursor = hub.subscribe();
        feed(&hub, "Kpp");
        hub.close();
        assert!(hub.is_closed());
        assert_eq!(
            hub.publish(Arc::new(99), true),
            3,
            "publish after close is ignored"
        );
        assert_eq!(drain(&mut cursor), ["0", "1", "2", "closed"]);
        assert!(matches!(cursor.try_next(), Next::Closed));
        let mut late = hub.subscribe();
        assert_eq!(drain(&mut late), ["0", "1", "2", "closed"]);
        assert_eq!(hub.stats().published, 3);
    }

    #[test]
    fn readers_share_the_same_arcs() {
        let hub = Hub::new(16, 16);
        let mut cursors: Vec<_> = (0..5).map(|_| hub.subscribe()).collect();
        let items: Vec<Arc<u64>> = (0..10).map(Arc::new).collect();
        for (i, item) in items.iter().enumerate() {
            hub.publish(Arc::clone(item), i % 4 == 0);
        }
        for cursor in &mut cursors {
            for item in &items {
                match cursor.try_next() {
                    Next::Item(got) => assert!(Arc::ptr_eq(&got, item)),
                    other => panic!("expected an item, got {other:?}"),
                }
            }
            assert!(matches!(cursor.try_next(), Next::Pending));
        }
    }

    #[test]
    fn reader_count_follows_cursor_lifetimes() {
        let hub: Arc<Hub<u64>> = Hub::new(4, 4);
        let a = hub.subscribe();
        let b = hub.subscribe();
        assert_eq!(hub.stats().readers, 2);
        drop(a);
        assert_eq!(hub.stats().readers, 1);
        drop(b);
        assert_eq!(hub.stats().readers, 0);
    }

    #[test]
    fn ring_stays_bounded_under_a_never_keyframe_stream() {
        let hub = Hub::new(5, 50);
        let mut cursor = hub.subscribe();
        for i in 0..10_000u64 {
            hub.publish(Arc::new(i), false);
            assert!(hub.stats().ring_len <= 5);
        }
        hub.check_invariants();
        assert_eq!(drain(&mut cursor), ["L10000"]);
        assert_eq!(cursor.position(), 10_000);
    }

    #[test]
    fn skip_to_join_point_jumps_ahead_and_counts() {
        let hub = Hub::new(8, 16);
        let mut cursor = hub.subscribe();
        feed(&hub, "KppKpp");
        assert_eq!(cursor.skip_to_join_point(), 3);
        assert_eq!(
            cursor.skip_to_join_point(),
            0,
            "already at the newest join point"
        );
        assert_eq!(drain(&mut cursor), ["3", "4", "5"]);
        assert_eq!(cursor.skip_to_join_point(), 0, "past the newest join point");
        assert_eq!(cursor.dropped(), 3);
        assert_eq!((hub.stats().lagged_items, hub.stats().lag_events), (3, 1));
    }

    /// Random publishes, reads, skips, subscribes and drops against the invariants: each cursor
    /// sees items in order, (re)starts only at a join point or at the next item, and accounts
    /// for every item published after it started.
    #[test]
    fn random_operations_keep_every_item_accounted_for() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut lag_events = 0;
        for round in 0..20 {
            let hub = Hub::new(1 + rand(8) as usize, 1 + rand(24) as usize);
            let mut joins = Vec::new();
            let mut readers: Vec<Reader> = Vec::new();
            for _ in 0..2_000 {
                match rand(10) {
                    0..=3 => {
                        let join = rand(7) == 0 || round % 5 == 0;
                        assert_eq!(
                            hub.publish(Arc::new(joins.len() as u64), join),
                            joins.len() as u64
                        );
                        joins.push(join);
                    }
                    4..=7 if !readers.is_empty() => {
                        let i = rand(readers.len() as u64) as usize;
                        readers[i].read(&joins);
                    }
                    8 if readers.len() < 6 => readers.push(Reader::new(&hub, &joins)),
                    8 => drop(readers.swap_remove(0)),
                    _ => {
                        if let Some(reader) = readers.last_mut()
                            && reader.cursor.skip_to_join_point() > 0
                        {
                            assert_valid_start(reader.cursor.position(), &joins);
                        }
                    }
                }
                hub.check_invariants();
                assert_eq!(hub.stats().readers, readers.len());
            }
            hub.close();
            for mut reader in readers {
                while !reader.read(&joins) {}
                let accounted = reader.items + reader.cursor.dropped();
                assert_eq!(
                    accounted,
                    joins.len() as u64 - reader.start,
                    "round {round}"
                );
            }
            lag_events += hub.stats().lag_events;
        }
        assert!(
            lag_events > 100,
            "the operations exercise lagging ({lag_events} lags)"
        );
    }

    /// A (re)start position is a join point or the next item to be published.
    fn assert_valid_start(pos: u64, joins: &[bool]) {
        let at_join = joins.get(pos as usize).copied().unwrap_or(false);
        assert!(at_join || pos == joins.len() as u64, "started at {pos}");
    }

    /// A cursor under test with what it has read so far.
    struct Reader {
        cursor: Cursor<u64>,
        start: u64,
        items: u64,
    }

    impl Reader {
        fn new(hub: &Arc<Hub<u64>>, joins: &[bool]) -> Self {
            let cursor = hub.subscribe();
            let start = cursor.position();
            assert_valid_start(start, joins);
            Self {
                cursor,
                start,
                items: 0,
            }
        }

        /// One read, checked; returns whether the hub reported `Closed`.
        fn read(&mut self, joins: &[bool]) -> bool {
            let before = self.cursor.position();
            match self.cursor.try_next() {
                Next::Item(v) => {
                    assert_eq!(*v, before, "items arrive in order, none missing");
                    self.items += 1;
                }
                Next::Lagged { skipped } => {
                    assert!(skipped > 0);
                    assert_eq!(self.cursor.position(), before + skipped);
                    assert_valid_start(self.cursor.position(), joins);
                }
                Next::Pending => assert_eq!(before, joins.len() as u64),
                Next::Closed => return true,
            }
            false
        }
    }

    #[test]
    fn hub_is_send_and_sync() {
        fn assert_send_sync<S: Send + Sync>() {}
        assert_send_sync::<Hub<crate::AccessUnit>>();
        assert_send_sync::<Cursor<crate::AccessUnit>>();
    }

    #[tokio::test]
    async fn next_wakes_when_an_item_is_published() {
        let hub = Hub::new(4, 16);
        let mut cursor = hub.subscribe();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                match cursor.next().await {
                    Next::Item(v) => got.push(*v),
                    Next::Closed => return got,
                    Next::Lagged { .. } | Next::Pending => panic!("unexpected"),
                }
            }
        });
        for i in 0..3u64 {
            tokio::task::yield_now().await;
            hub.publish(Arc::new(i), true);
        }
        hub.close();
        assert_eq!(reader.await.unwrap(), [0, 1, 2]);
    }

    #[test]
    fn next_is_pending_until_an_item_is_published() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};

        let hub: Arc<Hub<u64>> = Hub::new(4, 16);
        let mut cursor = hub.subscribe();
        let mut cx = Context::from_waker(Waker::noop());
        let mut next = Box::pin(cursor.next());
        assert!(next.as_mut().poll(&mut cx).is_pending());
        hub.publish(Arc::new(7), true);
        match next.as_mut().poll(&mut cx) {
            Poll::Ready(Next::Item(v)) => assert_eq!(*v, 7),
            other => panic!("expected item, got {other:?}"),
        }
    }
}
