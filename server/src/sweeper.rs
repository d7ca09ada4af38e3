//! The periodic housekeeping task: lease expiry, request expiry, purge.

use potluck_core::Horde;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

pub fn spawn(horde: Arc<Horde>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let started = std::time::Instant::now();
            let swept = horde.sweep().await;
            metrics::histogram!("potluck_sweep_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            if let Err(error) = swept {
                // A failed sweep is retried at the next tick; nothing is lost meanwhile.
                tracing::warn!(%error, "sweep failed");
            }
        }
    })
}
