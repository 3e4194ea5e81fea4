//! A value kept in a JSON file by group commit: changes are made in memory at once, and a writer
//! task saves the whole value (compact JSON, replacing the file atomically: temporary file,
//! fsync, rename, directory fsync) whenever it changed. While one save runs, further changes
//! accumulate and go out together in the next, so a burst of changes costs a few writes, not
//! one each.
//!
//! Each change gets a [`Ticket`]; [`Persisted::durable`] resolves once a save that includes it
//! is on disk (or fails with the error of a save that included it and failed). A change that
//! changes nothing gets the ticket of the value as it is, so it too waits for whatever unsaved
//! change it depends on (a redelivered event is not acked before the first delivery's change is
//! on disk). After a failed save the writer waits for the next change or the next caller that
//! waits for an unsaved change (a retried event) before it tries again.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::paths::lock;
use crate::state::write_atomically;

/// The generation of the value a change made; see [`Persisted::durable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

/// A value of type `T` saved to a file by group commit (see the module docs).
pub(crate) struct Persisted<T> {
    path: PathBuf,
    value: Mutex<Generation<T>>,
    saved: watch::Sender<Saved>,
    /// Tells the writer task there may be something to save.
    wake: Arc<Notify>,
}

/// The value and how many changes it has had.
struct Generation<T> {
    value: T,
    generation: u64,
}

/// What the writer did so far.
#[derive(Debug, Clone, Default)]
struct Saved {
    /// The newest generation on disk.
    generation: u64,
    /// Saves tried, done or failed.
    attempts: u64,
    /// The last failed save.
    failed: Option<Failure>,
}

#[derive(Debug, Clone)]
struct Failure {
    /// The generation it tried to save.
    generation: u64,
    /// Which attempt it was ([`Saved::attempts`] after it).
    attempt: u64,
    error: String,
}

impl<T: Serialize + Send + 'static> Persisted<T> {
    /// `value`, as read from `path` (or new), and its writer task, which ends when the returned
    /// value is dropped. Must be called within a tokio runtime.
    pub(crate) fn new(path: PathBuf, value: T) -> Arc<Self> {
        let persisted = Arc::new(Persisted {
            path,
            value: Mutex::new(Generation {
                value,
                generation: 0,
            }),
            saved: watch::Sender::new(Saved::default()),
            wake: Arc::new(Notify::new()),
        });
        let weak = Arc::downgrade(&persisted);
        tokio::spawn(write_loop(weak, persisted.wake.clone()));
        persisted
    }

    /// Runs `f` on the value; `f` returns its result and whether it changed the value. Returns
    /// that result and the ticket to wait for with [`Persisted::durable`]. Calls are serialized
    /// (the value is locked while `f` runs).
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut T) -> (R, bool)) -> (R, Ticket) {
        let (result, ticket) = {
            let mut current = lock(&self.value);
            let (result, changed) = f(&mut current.value);
            if changed {
                current.generation += 1;
            }
            (result, Ticket(current.generation))
        };
        if ticket.0 > self.saved.borrow().generation {
            self.wake.notify_one();
        }
        (result, ticket)
    }

    /// Resolves once the change of `ticket` is on disk, or with the error of a save that
    /// included it and failed (one tried from now on: an earlier failure does not count).
    pub(crate) fn durable(
        &self,
        ticket: Ticket,
    ) -> impl Future<Output = Result<(), String>> + Send + use<T> {
        let mut saved = self.saved.subscribe();
        let (seen, on_disk) = {
            let now = saved.borrow();
            (now.attempts, now.generation)
        };
        if ticket.0 > on_disk {
            // A save that starts after `seen` settles this wait, whatever happened before (a
            // save of this change may have failed between `update` and now).
            self.wake.notify_one();
        }
        let failed_since = move |s: &Saved| {
            s.failed
                .as_ref()
                .filter(|f| f.generation >= ticket.0 && f.attempt > seen)
                .map(|f| f.error.clone())
        };
        async move {
            let settled = |s: &Saved| s.generation >= ticket.0 || failed_since(s).is_some();
            let Ok(outcome) = saved.wait_for(settled).await else {
                return Err("camera state not saved: its writer stopped".to_owned());
            };
            match failed_since(&outcome) {
                Some(error) if outcome.generation < ticket.0 => Err(error),
                _ => Ok(()),
            }
        }
    }

    /// Saves the value if it changed since the last save; `None` if there was nothing to save,
    /// else whether the save worked. Blocking: serializes under the lock, then writes.
    fn save_once(&self) -> Option<bool> {
        let on_disk = self.saved.borrow().generation;
        let (generation, bytes) = {
            let current = lock(&self.value);
            if current.generation <= on_disk {
                return None;
            }
            (current.generation, serde_json::to_vec(&current.value))
        };
        let result = bytes
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_atomically(&self.path, &bytes));
        let error = result
            .err()
            .map(|e| format!("camera state not saved to {}: {e}", self.path.display()));
        if let Some(e) = &error {
            tracing::error!("events: {e}");
        }
        let ok = error.is_none();
        self.saved.send_modify(|s| {
            s.attempts += 1;
            match error {
                None => s.generation = generation,
                Some(error) => {
                    let attempt = s.attempts;
                    s.failed = Some(Failure {
                        generation,
                        attempt,
                        error,
                    });
                }
            }
        });
        Some(ok)
    }
}

impl<T> Drop for Persisted<T> {
    fn drop(&mut self) {
        // Lets the writer task see that the value is gone, and end.
        self.wake.notify_one();
    }
}

/// The writer task: on each wake-up, saves until nothing is left to save or a save fails. The
/// blocking work (serializing, writing, fsync) runs on tokio's blocking pool.
async fn write_loop<T: Serialize + Send + 'static>(
    persisted: Weak<Persisted<T>>,
    wake: Arc<Notify>,
) {
    loop {
        wake.notified().await;
        let Some(persisted) = persisted.upgrade() else {
            return;
        };
        let save = move || while persisted.save_once() == Some(true) {};
        if tokio::task::spawn_blocking(save).await.is_err() {
            tracing::error!("events: the camera state writer panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigia-state-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("state.json")
    }

    fn on_disk(path: &std::path::Path) -> Vec<u32> {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn many_changes_go_out_in_few_saves_and_each_waits_for_its_own() {
        let path = file("group");
        let state = Persisted::new(path.clone(), Vec::<u32>::new());
        let waits: Vec<_> = (0..500)
            .map(|i| {
                let ((), ticket) = state.update(|v| {
                    v.push(i);
                    ((), true)
                });
                state.durable(ticket)
            })
            .collect();
        for wait in waits {
            wait.await.unwrap();
        }
        assert_eq!(on_disk(&path), (0..500).collect::<Vec<_>>());
        assert_eq!(state.saved.borrow().attempts, 1, "one save for all");
        let ((), same) = state.update(|_| ((), false));
        state.durable(same).await.unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn a_failed_save_fails_its_waiters_and_the_next_need_retries() {
        let path = file("fail");
        let dir = path.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        std::fs::write(&dir, b"a file where the directory should be").unwrap();
        let state = Persisted::new(path.clone(), vec![1u32]);
        let ((), ticket) = state.update(|v| {
            v.push(2);
            ((), true)
        });
        let err = state.durable(ticket).await.unwrap_err();
        assert!(err.contains("not saved"), "{err}");
        std::fs::remove_file(&dir).unwrap();
        // A retry of the same change changes nothing, yet waits for (and triggers) a save.
        let ((), again) = state.update(|_| ((), false));
        state.durable(again).await.unwrap();
        assert_eq!(on_disk(&path), [1, 2]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
