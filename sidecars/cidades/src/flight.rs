//! Single flight: while one request loads a cache key from PostgreSQL, the other requests that
//! missed the same key wait for its answer instead of loading it too.
//!
//! Without it, a cache invalidation (every camera status transition bumps the camera pages'
//! generation) sends every request that arrives for a page before its first load is written
//! back to PostgreSQL: a burst of hundreds of identical queries (BENCHMARKS.md, "Cidades camera
//! list"). Per process: N instances load a key at most N times at once.
//!
//! The first request for a key leads: it runs its load and hands the JSON to the followers
//! through a `watch` channel. If the leader fails, or its request is dropped mid-load, the key is
//! released and each follower runs its own load (which answers its own error, if any).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::Error;

/// The loads in flight, by key; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Flights(Arc<Mutex<HashMap<String, watch::Receiver<Option<String>>>>>);

/// What a request does for a key: load it, or wait for the load in flight.
enum Role {
    Leader(watch::Sender<Option<String>>),
    Follower(watch::Receiver<Option<String>>),
}

impl Flights {
    /// `load`'s JSON for `key`, or that of the load of `key` already in flight.
    pub async fn join(
        &self,
        key: &str,
        load: impl Future<Output = Result<String, Error>>,
    ) -> Result<String, Error> {
        match self.role(key) {
            Role::Follower(mut rx) => {
                if let Ok(answer) = rx.wait_for(Option::is_some).await
                    && let Some(json) = answer.clone()
                {
                    return Ok(json);
                }
                load.await
            }
            Role::Leader(tx) => {
                let _release = Release { flights: self, key };
                let json = load.await?;
                tx.send_replace(Some(json.clone()));
                Ok(json)
            }
        }
    }

    /// How many keys are loading now.
    pub fn in_flight(&self) -> usize {
        self.map().len()
    }

    fn role(&self, key: &str) -> Role {
        let mut map = self.map();
        if let Some(rx) = map.get(key) {
            return Role::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.to_owned(), rx);
        Role::Leader(tx)
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Receiver<Option<String>>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Releases a leader's key when its load ends, however it ends (answered, failed, dropped).
struct Release<'a> {
    flights: &'a Flights,
    key: &'a str,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.flights.map().remove(self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_the_key_is_released() {
        let flights = Flights::default();
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, Error>("[1]".to_owned())
        };
        let answers = futures::future::join_all((0..20).map(|_| flights.join("k", load()))).await;
        assert!(answers.iter().all(|a| a.as_deref().ok() == Some("[1]")));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0);
        flights.join("k", load()).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2, "a later miss loads again");
    }

    #[tokio::test]
    async fn followers_load_themselves_when_the_leader_fails() {
        let flights = Flights::default();
        let failing = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(Error::NotFound("camera"))
        };
        let follower = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            flights.join("k", async { Ok("ok".to_owned()) }).await
        };
        let (leader, follower) = tokio::join!(flights.join("k", failing), follower);
        assert!(leader.is_err());
        assert_eq!(follower.unwrap(), "ok");
        assert_eq!(flights.in_flight(), 0);
    }
}
