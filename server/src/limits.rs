//! Connection limits shared by every listener (RTSP, HLS, playback, API, metrics): idle and
//! header-read timeouts, and the log lines that say when a limit bites.
//!
//! A limit that bites under abuse bites thousands of times a second; logging each socket would
//! turn an attack on the listener into one on the log. [`Summary`] counts per client IP and logs
//! one line per IP every [`SUMMARY_PERIOD`], as MediaMTX summarizes repeated warnings.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::paths::lock;
use crate::rtsp::peer_ip;

/// How often a [`Summary`] logs what it counted.
pub(crate) const SUMMARY_PERIOD: Duration = Duration::from_secs(10);

/// Counts, per client IP, the connections a limit closed or refused, and logs the counts once per
/// [`SUMMARY_PERIOD`] (a warning per IP with how many), never once per socket.
pub(crate) struct Summary {
    /// The listener's log prefix, e.g. `RTSP`.
    listener: &'static str,
    /// What happened to the connections, e.g. `closed idle connections (readTimeout 10s)`.
    what: String,
    counts: Mutex<HashMap<IpAddr, u64>>,
}

impl Summary {
    /// A summary that logs every [`SUMMARY_PERIOD`] while it is alive (its flushing task holds
    /// only a weak reference). Must be called inside the tokio runtime.
    pub(crate) fn start(listener: &'static str, what: String) -> Arc<Self> {
        let summary = Arc::new(Self {
            listener,
            what,
            counts: Mutex::new(HashMap::new()),
        });
        tokio::spawn(flush_every_period(Arc::downgrade(&summary)));
        summary
    }

    /// Counts one connection of `peer`.
    pub(crate) fn note(&self, peer: std::net::SocketAddr) {
        *lock(&self.counts).entry(peer_ip(peer)).or_default() += 1;
    }

    /// Logs and clears the counts.
    fn flush(&self) {
        let counts = std::mem::take(&mut *lock(&self.counts));
        for (ip, count) in counts {
            tracing::warn!(
                "[{}] {} from {ip}: {count} in the last {}s",
                self.listener,
                self.what,
                SUMMARY_PERIOD.as_secs()
            );
        }
    }
}

async fn flush_every_period(summary: Weak<Summary>) {
    let mut ticks = tokio::time::interval(SUMMARY_PERIOD);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(summary) = summary.upgrade() else {
            return;
        };
        summary.flush();
    }
}
