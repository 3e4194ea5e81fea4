//! Live RTSP connections and sessions by id, for the control API: what MediaMTX lists under
//! `/v3/rtspconns` and `/v3/rtspsessions`, and the handle that kicks a session.
//!
//! Each RTSP connection registers itself when accepted and is removed when its
//! [`ConnGuard`] drops. Vigia's RTSP session lives inside one connection (no session spans
//! two TCP connections), so a connection holds at most one [`SessionInfo`]: created by
//! ANNOUNCE or the first SETUP, removed by TEARDOWN or the connection's end. Ids are random
//! UUIDs (v4), as MediaMTX's. The connection task updates its entry; the API only reads it,
//! except for [`Registry::kick_session`], which wakes the connection's task to close it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::paths::lock;

/// All live RTSP connections of the server.
#[derive(Default)]
pub(crate) struct Registry {
    conns: Mutex<HashMap<Uuid, Arc<ConnEntry>>>,
}

/// One live RTSP connection.
pub(crate) struct ConnEntry {
    /// The connection's id.
    pub(crate) id: Uuid,
    /// When it was accepted.
    pub(crate) created: DateTime<Utc>,
    /// The client's address.
    pub(crate) remote_addr: SocketAddr,
    /// Bytes read from the socket.
    pub(crate) inbound_bytes: AtomicU64,
    /// Bytes of RTSP responses and RTP packets sent (the writer task counts them).
    pub(crate) outbound_bytes: Arc<AtomicU64>,
    /// The session on this connection, if any.
    session: Mutex<Option<SessionInfo>>,
    /// Woken by [`Registry::kick_session`].
    kick: Notify,
}

/// What a session does (MediaMTX's `idle`, `read`, `publish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionState {
    /// Set up, neither playing nor recording yet.
    Idle,
    /// Playing a path.
    Read,
    /// Recording to a path.
    Publish,
}

impl SessionState {
    /// MediaMTX's name for the state.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SessionState::Idle => "idle",
            SessionState::Read => "read",
            SessionState::Publish => "publish",
        }
    }
}

/// One RTSP session, as the API shows it.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    /// The session's id (not the RTSP `Session:` header, which is shorter).
    pub(crate) id: Uuid,
    /// When ANNOUNCE or the first SETUP created it.
    pub(crate) created: DateTime<Utc>,
    /// What it does now.
    pub(crate) state: SessionState,
    /// The path it reads or publishes.
    pub(crate) path: String,
    /// The URL query of its requests.
    pub(crate) query: String,
    /// `UDP`, `UDP-multicast` or `TCP`, once playing or recording.
    pub(crate) transport: Option<&'static str>,
}

/// A snapshot of a connection and its session.
#[derive(Debug, Clone)]
pub(crate) struct ConnView {
    /// The connection's id.
    pub(crate) id: Uuid,
    /// When it was accepted.
    pub(crate) created: DateTime<Utc>,
    /// The client's address.
    pub(crate) remote_addr: SocketAddr,
    /// Bytes read from the socket so far.
    pub(crate) inbound_bytes: u64,
    /// Bytes sent so far.
    pub(crate) outbound_bytes: u64,
    /// Its session, if any.
    pub(crate) session: Option<SessionInfo>,
}

/// Keeps a connection registered; dropping it removes the entry.
pub(crate) struct ConnGuard {
    registry: Arc<Registry>,
    /// The registered entry, which the connection task updates.
    pub(crate) entry: Arc<ConnEntry>,
}

impl Registry {
    /// Registers a connection just accepted from `remote_addr`.
    pub(crate) fn open(self: &Arc<Self>, remote_addr: SocketAddr) -> ConnGuard {
        let entry = Arc::new(ConnEntry {
            id: Uuid::new_v4(),
            created: Utc::now(),
            remote_addr,
            inbound_bytes: AtomicU64::new(0),
            outbound_bytes: Arc::default(),
            session: Mutex::new(None),
            kick: Notify::new(),
        });
        lock(&self.conns).insert(entry.id, entry.clone());
        ConnGuard {
            registry: self.clone(),
            entry,
        }
    }

    /// Every live connection, oldest first.
    pub(crate) fn conns(&self) -> Vec<ConnView> {
        let mut views: Vec<ConnView> = lock(&self.conns).values().map(|e| e.view()).collect();
        views.sort_by_key(|v| (v.created, v.id));
        views
    }

    /// The connection `id`.
    pub(crate) fn conn(&self, id: Uuid) -> Option<ConnView> {
        lock(&self.conns).get(&id).map(|e| e.view())
    }

    /// The connection that holds session `id`.
    pub(crate) fn session(&self, id: Uuid) -> Option<ConnView> {
        self.conns()
            .into_iter()
            .find(|c| c.session.as_ref().is_some_and(|s| s.id == id))
    }

    /// Closes the connection that holds session `id`; false if there is none.
    pub(crate) fn kick_session(&self, id: Uuid) -> bool {
        let conns = lock(&self.conns);
        let found = conns
            .values()
            .find(|e| lock(&e.session).as_ref().is_some_and(|s| s.id == id));
        match found {
            Some(entry) => {
                entry.kick.notify_one();
                true
            }
            None => false,
        }
    }
}

impl ConnEntry {
    fn view(&self) -> ConnView {
        ConnView {
            id: self.id,
            created: self.created,
            remote_addr: self.remote_addr,
            inbound_bytes: self.inbound_bytes.load(Ordering::Relaxed),
            outbound_bytes: self.outbound_bytes.load(Ordering::Relaxed),
            session: lock(&self.session).clone(),
        }
    }

    /// Counts `n` bytes read from the socket.
    pub(crate) fn count_inbound(&self, n: usize) {
        self.inbound_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Creates the session (idle) on `path` unless there is one.
    pub(crate) fn begin_session(&self, path: &str, query: &str) {
        let mut session = lock(&self.session);
        if session.is_none() {
            *session = Some(SessionInfo {
                id: Uuid::new_v4(),
                created: Utc::now(),
                state: SessionState::Idle,
                path: path.to_string(),
                query: query.to_string(),
                transport: None,
            });
        }
    }

    /// The session now reads or publishes over `transport`.
    pub(crate) fn set_session_state(&self, state: SessionState, transport: &'static str) {
        if let Some(session) = lock(&self.session).as_mut() {
            session.state = state;
            session.transport = Some(transport);
        }
    }

    /// The session ended (TEARDOWN).
    pub(crate) fn end_session(&self) {
        *lock(&self.session) = None;
    }

    /// Resolves when the API kicks this connection's session.
    pub(crate) async fn kicked(&self) {
        self.kick.notified().await;
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        lock(&self.registry.conns).remove(&self.entry.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_and_kicked_by_its_id_and_the_entry_leaves_with_its_guard() {
        let registry = Arc::new(Registry::default());
        let guard = registry.open("127.0.0.1:5000".parse().unwrap());
        guard.entry.begin_session("cam1", "");
        guard.entry.set_session_state(SessionState::Read, "TCP");
        let session = registry.conns()[0].session.clone().unwrap();
        assert_eq!(session.state, SessionState::Read);
        assert_eq!(registry.session(session.id).unwrap().id, guard.entry.id);
        assert!(registry.kick_session(session.id));
        assert!(!registry.kick_session(Uuid::new_v4()));
        drop(guard);
        assert!(registry.conns().is_empty());
    }
}
