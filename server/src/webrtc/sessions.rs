//! Live WebRTC sessions by id, for the control API (`/v3/webrtcsessions/*`, a path's readers
//! and source) and metrics. The driver owns each session; it registers an entry when the
//! session is created, updates its counters and drops it with the session. The API reads
//! entries and can only ask for a kick, which the driver carries out within a second.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::paths::lock;

/// All live WebRTC sessions of the server.
#[derive(Default)]
pub(crate) struct WebrtcSessions {
    entries: Mutex<HashMap<Uuid, Arc<WebrtcEntry>>>,
}

/// One live WebRTC session: the facts of its offer and its live figures.
pub(crate) struct WebrtcEntry {
    facts: EntryFacts,
    /// When its offer was answered.
    pub(crate) created: DateTime<Utc>,
    established: AtomicBool,
    inbound_bytes: AtomicU64,
    outbound_bytes: AtomicU64,
    /// The peer address media last came from.
    remote: Mutex<Option<SocketAddr>>,
    kicked: AtomicBool,
}

impl std::ops::Deref for WebrtcEntry {
    type Target = EntryFacts;

    fn deref(&self) -> &EntryFacts {
        &self.facts
    }
}

/// A copy of an entry's figures at one moment.
#[derive(Clone)]
pub(crate) struct WebrtcView {
    /// The entry.
    pub(crate) entry: Arc<WebrtcEntry>,
    /// Whether ICE and DTLS connected.
    pub(crate) established: bool,
    /// Bytes of datagrams received.
    pub(crate) inbound_bytes: u64,
    /// Bytes of datagrams sent.
    pub(crate) outbound_bytes: u64,
    /// The peer's address, once a datagram came.
    pub(crate) remote: Option<SocketAddr>,
}

/// What a session's offer says about it, fixed for its life.
pub(crate) struct EntryFacts {
    /// The session's id (also the last segment of its `Location`).
    pub(crate) id: Uuid,
    /// The HTTP client that made the offer.
    pub(crate) remote_addr: SocketAddr,
    /// The path read or published.
    pub(crate) path: String,
    /// The offer's query string.
    pub(crate) query: String,
    /// The offer's `User-Agent`.
    pub(crate) user_agent: String,
    /// `true` for WHIP (publishing), `false` for WHEP (reading).
    pub(crate) publish: bool,
    /// The host candidate the session announced.
    pub(crate) local: SocketAddr,
}

impl WebrtcSessions {
    /// Registers a session; the guard removes it when dropped.
    pub(crate) fn open(self: &Arc<Self>, facts: EntryFacts) -> EntryGuard {
        let id = facts.id;
        let entry = Arc::new(WebrtcEntry {
            facts,
            created: Utc::now(),
            established: AtomicBool::new(false),
            inbound_bytes: AtomicU64::new(0),
            outbound_bytes: AtomicU64::new(0),
            remote: Mutex::new(None),
            kicked: AtomicBool::new(false),
        });
        lock(&self.entries).insert(id, entry.clone());
        EntryGuard {
            sessions: self.clone(),
            entry,
        }
    }

    /// Every live session, oldest first.
    pub(crate) fn list(&self) -> Vec<WebrtcView> {
        let mut views: Vec<WebrtcView> = lock(&self.entries).values().map(|e| e.view()).collect();
        views.sort_by_key(|v| v.entry.created);
        views
    }

    /// The session `id`.
    pub(crate) fn get(&self, id: Uuid) -> Option<WebrtcView> {
        lock(&self.entries).get(&id).map(|e| e.view())
    }

    /// Asks the driver to close session `id`; `false` if there is none.
    pub(crate) fn kick(&self, id: Uuid) -> bool {
        let entries = lock(&self.entries);
        let Some(entry) = entries.get(&id) else {
            return false;
        };
        entry.kicked.store(true, Ordering::Relaxed);
        true
    }
}

impl WebrtcEntry {
    fn view(self: &Arc<Self>) -> WebrtcView {
        WebrtcView {
            entry: self.clone(),
            established: self.established.load(Ordering::Relaxed),
            inbound_bytes: self.inbound_bytes.load(Ordering::Relaxed),
            outbound_bytes: self.outbound_bytes.load(Ordering::Relaxed),
            remote: *lock(&self.remote),
        }
    }

    /// MediaMTX's state name: `read` or `publish`.
    pub(crate) fn state(&self) -> &'static str {
        if self.publish { "publish" } else { "read" }
    }
}

/// Keeps a session registered; dropping it removes the entry.
pub(crate) struct EntryGuard {
    sessions: Arc<WebrtcSessions>,
    entry: Arc<WebrtcEntry>,
}

impl EntryGuard {
    /// Counts a datagram received from `source`.
    pub(crate) fn received(&self, bytes: usize, source: SocketAddr) {
        self.entry
            .inbound_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        let mut remote = lock(&self.entry.remote);
        if *remote != Some(source) {
            *remote = Some(source);
        }
    }

    /// Counts a datagram sent.
    pub(crate) fn sent(&self, bytes: usize) {
        self.entry
            .outbound_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Marks the session connected.
    pub(crate) fn established(&self) {
        self.entry.established.store(true, Ordering::Relaxed);
    }

    /// Whether the API asked to close the session.
    pub(crate) fn is_kicked(&self) -> bool {
        self.entry.kicked.load(Ordering::Relaxed)
    }
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        lock(&self.sessions.entries).remove(&self.entry.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_entry(publish: bool) -> EntryFacts {
        EntryFacts {
            id: Uuid::new_v4(),
            remote_addr: "127.0.0.1:5000".parse().unwrap(),
            path: "cam".into(),
            query: "jwt=x".into(),
            user_agent: "test".into(),
            publish,
            local: "127.0.0.1:8189".parse().unwrap(),
        }
    }

    #[test]
    fn an_entry_counts_is_listed_kicked_and_leaves_with_its_guard() {
        let sessions = Arc::new(WebrtcSessions::default());
        let guard = sessions.open(new_entry(true));
        let id = guard.entry.id;
        guard.received(100, "127.0.0.1:6000".parse().unwrap());
        guard.sent(40);
        guard.established();
        let view = sessions.get(id).unwrap();
        assert_eq!((view.inbound_bytes, view.outbound_bytes), (100, 40));
        assert!(view.established);
        assert_eq!(view.entry.state(), "publish");
        assert_eq!(view.remote, Some("127.0.0.1:6000".parse().unwrap()));
        assert_eq!(sessions.list().len(), 1);
        assert!(!guard.is_kicked());
        assert!(sessions.kick(id));
        assert!(guard.is_kicked());
        drop(guard);
        assert!(sessions.get(id).is_none());
        assert!(!sessions.kick(id));
    }
}
