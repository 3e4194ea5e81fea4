//! Connection runtimes: one single-threaded tokio runtime per core, each owning the media
//! connections handed to it (RTSP sessions and pulled cameras), as nginx's workers own theirs.
//!
//! Why (issue 11, BENCHMARKS "Side by side with nginx-rtmp"): ingest costs a wake-up or two per
//! video frame per camera, and with one work-stealing runtime a wake-up often wakes its idle
//! sibling worker too (futex, context switch), for nothing: the same Vigia ran 14 % cheaper
//! with `TOKIO_WORKER_THREADS=1`. A connection here lives on one thread from accept to close:
//! its socket is registered with that thread's poller, its tasks and timers run there, and a
//! wake-up from the network wakes only that thread.
//!
//! What stays on the main runtime: listeners, HTTP (API, HLS, WebRTC signalling, metrics,
//! playback), the bus and the recorder. They talk to connections through the same shared state
//! as before (streams, hubs, `Notify`), whose wakers work across runtimes.
//!
//! Connections are dealt round-robin: they are long-lived and alike, so each core gets its
//! share. A core's thread is never joined: its runtime lives as long as the process.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Handle};
use tokio::task::JoinHandle;

/// The connection runtimes of the process, started on first use.
static CORES: OnceLock<Cores> = OnceLock::new();

/// One runtime handle per core, and the next to deal a connection to.
struct Cores {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

/// Runs `task` (a connection, from start to end) on one of the connection runtimes; on the
/// current runtime if none could be started.
pub(crate) fn spawn<F>(task: F) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let cores = CORES.get_or_init(Cores::start);
    match cores.pick() {
        Some(handle) => handle.spawn(task),
        None => tokio::spawn(task),
    }
}

impl Cores {
    /// One runtime per available core, each on a thread of its own (`vigia-core-N`).
    fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let handles = (0..cores).filter_map(Self::start_one).collect();
        Self {
            handles,
            next: AtomicUsize::new(0),
        }
    }

    fn start_one(index: usize) -> Option<Handle> {
        let runtime = match Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::warn!("can't start connection runtime {index}: {e}");
                return None;
            }
        };
        let handle = runtime.handle().clone();
        let thread = std::thread::Builder::new()
            .name(format!("vigia-core-{index}"))
            .spawn(move || runtime.block_on(std::future::pending::<()>()));
        match thread {
            Ok(_) => Some(handle),
            Err(e) => {
                tracing::warn!("can't start connection thread {index}: {e}");
                None
            }
        }
    }

    /// The runtime the next connection goes to.
    fn pick(&self) -> Option<&Handle> {
        if self.handles.is_empty() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the thread `handle`'s runtime runs a task on.
    async fn thread_of(handle: &Handle) -> String {
        let task = handle.spawn(async { std::thread::current().name().map(str::to_owned) });
        task.await.expect("the task ran").expect("a named thread")
    }

    #[tokio::test]
    async fn connections_are_dealt_to_each_core_in_turn() {
        let cores = Cores::start();
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(cores.handles.len(), count);
        let mut names = Vec::new();
        for _ in 0..2 * count {
            names.push(thread_of(cores.pick().expect("a core")).await);
        }
        let expected: Vec<String> = (0..2 * count)
            .map(|i| format!("vigia-core-{}", i % count))
            .collect();
        assert_eq!(names, expected);
    }

    #[tokio::test]
    async fn spawn_runs_the_task_on_a_core_thread() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        spawn(async move {
            let _ = tx.send(std::thread::current().name().map(str::to_owned));
        });
        let name = rx.await.expect("the task ran").expect("a named thread");
        assert!(name.starts_with("vigia-core-"), "{name}");
    }
}
