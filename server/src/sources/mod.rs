//! Sources Vigia runs itself for a path: the built-in synthetic clip and RTSP camera pull.

mod backoff;
mod rtsp_pull;
mod synthetic;

pub(crate) use synthetic::unix_micros;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tracing::Instrument;
use vigia_protocol::rtp_session::Ignored;

use crate::config::{Source, SyntheticProfile};
use crate::paths::Path;

pub(crate) use backoff::Backoff;

/// Tells the operator, once per session, that the sender's sender reports are ignored because
/// its wall clock is too far from ours (see [`vigia_protocol::rtp_session::SourceClock`]).
#[derive(Default)]
pub(crate) struct SkewWarning {
    warned: bool,
}

impl SkewWarning {
    /// Logs the first skewed report of the session on `path`.
    pub(crate) fn on_report(&mut self, path: &str, result: Result<(), Ignored>) {
        if let Err(Ignored::Skewed(skew)) = result
            && !std::mem::replace(&mut self.warned, true)
        {
            tracing::warn!(
                path,
                "the sender's clock is {:.1} s off; its sender reports are ignored and frames are dated by arrival",
                skew as f64 / 1e6
            );
        }
    }
}

/// A running source task; [`SourceHandle::stop`] ends it.
pub(crate) struct SourceHandle {
    task: JoinHandle<()>,
}

impl SourceHandle {
    /// Whether the task has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the source.
    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the source configured for `path` (which must be a pulled source). The task runs in a
/// span carrying the `correlation_id` of the event that added the path, if one did.
pub(crate) fn start(path: Arc<Path>) -> SourceHandle {
    let span = match &path.correlation_id {
        Some(id) => tracing::info_span!("source", correlation_id = %id),
        None => tracing::Span::none(),
    };
    let task = match path.conf.source.clone() {
        Source::Synthetic(profile) => {
            tokio::spawn(synthetic::run(path, profile == SyntheticProfile::P1080).instrument(span))
        }
        Source::Rtsp(url) => crate::cores::spawn(rtsp_pull::run(path, url).instrument(span)),
        Source::Unsupported(url) => {
            tracing::warn!(path = %path.name, "source {url} is not supported yet; the path stays empty");
            tokio::spawn(async {})
        }
        Source::Publisher => tokio::spawn(async {}),
    };
    SourceHandle { task }
}
