//! A value read from the store and reused for a short while. Every instance
//! keeps its own; losing or refreshing it changes nothing but freshness.
//!
//! Some of these reads walk minutes or an hour of finished jobs, and they sit on
//! the paths of pops and status polls. So no caller waits for a refresh: once the
//! value is older than its ttl, the next caller starts one reload in the
//! background and every caller keeps getting the older value until it lands. Only
//! the first read, a read after `clear`, and a value so old that its reloads keep
//! failing are loaded while the caller waits.

use crate::error::Result;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
// Tokio's clock, so that the tests can run on a paused one.
use tokio::time::Instant;

/// How many ttls a value may be served while its reload has not landed; past that,
/// a caller loads it and waits, so that a failing store is seen rather than hidden.
const MAX_STALE_TTLS: u32 = 5;

pub struct Cached<T> {
    ttl: Duration,
    slot: Arc<Mutex<Slot<T>>>,
}

struct Slot<T> {
    value: Option<(Instant, Arc<T>)>,
    /// Whether a background reload is running: one at a time.
    reloading: bool,
    /// Bumped by `clear`, so that a reload begun before it cannot put back what it read.
    generation: u64,
}

impl<T: Send + Sync + 'static> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Cached {
            ttl,
            slot: Arc::new(Mutex::new(Slot {
                value: None,
                reloading: false,
                generation: 0,
            })),
        }
    }

    /// The cached value; once it is older than the ttl, a reload by `load` starts in
    /// the background (see the module's comment).
    pub async fn get<F>(&self, load: impl FnOnce() -> F) -> Result<Arc<T>>
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let generation = {
            let mut slot = lock(&self.slot);
            let generation = slot.generation;
            match &slot.value {
                Some((read_at, value)) if read_at.elapsed() < self.ttl => return Ok(value.clone()),
                Some((read_at, value)) if read_at.elapsed() < self.ttl * MAX_STALE_TTLS => {
                    let value = value.clone();
                    if !slot.reloading {
                        slot.reloading = true;
                        tokio::spawn(reload(self.slot.clone(), generation, load()));
                    }
                    return Ok(value);
                }
                _ => generation,
            }
        };
        let value = Arc::new(load().await?);
        keep(&self.slot, generation, value.clone());
        Ok(value)
    }

    /// Forgets the value, so that the next `get` loads a fresh one.
    pub fn clear(&self) {
        let mut slot = lock(&self.slot);
        slot.value = None;
        slot.generation += 1;
    }
}

async fn reload<T>(
    slot: Arc<Mutex<Slot<T>>>,
    generation: u64,
    load: impl Future<Output = Result<T>>,
) {
    let loaded = load.await;
    match loaded {
        Ok(value) => keep(&slot, generation, Arc::new(value)),
        Err(error) => tracing::warn!(%error, "reloading a cached figure failed"),
    }
    lock(&slot).reloading = false;
}

/// Stores a value read in `generation`, unless `clear` came since.
fn keep<T>(slot: &Mutex<Slot<T>>, generation: u64, value: Arc<T>) {
    let mut slot = lock(slot);
    if slot.generation == generation {
        slot.value = Some((Instant::now(), value));
    }
}

fn lock<T>(slot: &Mutex<Slot<T>>) -> std::sync::MutexGuard<'_, Slot<T>> {
    // A panic while holding the lock cannot leave the slot half-written.
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CoreError;

    const TTL: Duration = Duration::from_millis(50);

    /// Lets a background reload run to its end.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn reuses_a_value_and_reloads_it_behind_the_callers_once_it_is_too_old() {
        let cache = Cached::new(TTL);
        assert_eq!(*cache.get(|| async { Ok(1) }).await.unwrap(), 1);
        assert_eq!(*cache.get(|| async { Ok(2) }).await.unwrap(), 1);
        tokio::time::sleep(TTL + Duration::from_millis(10)).await;
        // Too old: this caller still gets the old value, and one reload starts.
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(3)
        };
        assert_eq!(*cache.get(slow).await.unwrap(), 1);
        assert_eq!(*cache.get(|| async { Ok(4) }).await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(*cache.get(|| async { Ok(5) }).await.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_reload_keeps_the_old_value_until_it_is_far_too_old() {
        let cache = Cached::new(TTL);
        cache.get(|| async { Ok(1) }).await.unwrap();
        tokio::time::sleep(TTL + Duration::from_millis(10)).await;
        let failing = || async { Err(CoreError::Corrupt("store down".into())) };
        assert_eq!(*cache.get(failing).await.unwrap(), 1);
        settle().await;
        assert_eq!(*cache.get(|| async { Ok(2) }).await.unwrap(), 1);
        settle().await;
        assert_eq!(*cache.get(|| async { Ok(3) }).await.unwrap(), 2);
        tokio::time::sleep(TTL * MAX_STALE_TTLS).await;
        let failing = || async { Err(CoreError::Corrupt("store down".into())) };
        assert!(cache.get(failing).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_begun_before_a_clear_does_not_bring_its_value_back() {
        let cache = Cached::new(TTL);
        cache.get(|| async { Ok(1) }).await.unwrap();
        tokio::time::sleep(TTL + Duration::from_millis(10)).await;
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(2)
        };
        cache.get(slow).await.unwrap();
        cache.clear();
        assert_eq!(*cache.get(|| async { Ok(3) }).await.unwrap(), 3);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(*cache.get(|| async { Ok(4) }).await.unwrap(), 3);
    }
}
