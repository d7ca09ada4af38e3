//! A value read from the store and reused for a short while. Every instance
//! keeps its own; losing or refreshing it changes nothing but freshness.

use crate::error::Result;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Cached<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Cached {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The cached value if it is younger than the ttl, else a fresh one from `load`.
    pub async fn get<F: Future<Output = Result<T>>>(
        &self,
        load: impl FnOnce() -> F,
    ) -> Result<Arc<T>> {
        if let Some((read_at, value)) = self.lock().as_ref() {
            if read_at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        let value = Arc::new(load().await?);
        *self.lock() = Some((Instant::now(), value.clone()));
        Ok(value)
    }

    /// Forgets the value, so that the next `get` loads a fresh one.
    pub fn clear(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Arc<T>)>> {
        // A panic while holding the lock cannot leave the slot half-written.
        self.slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reuses_a_value_until_it_is_too_old() {
        let cache = Cached::new(Duration::from_millis(50));
        assert_eq!(*cache.get(|| async { Ok(1) }).await.unwrap(), 1);
        assert_eq!(*cache.get(|| async { Ok(2) }).await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(*cache.get(|| async { Ok(3) }).await.unwrap(), 3);
    }
}
