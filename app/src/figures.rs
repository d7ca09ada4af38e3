//! The live queue figures shown on the home page, and the server function that reads them.

use leptos::prelude::*;
use protocol::{ActiveModel, WorkerType};
use serde::{Deserialize, Serialize};

use crate::forms::FormError;

/// A snapshot of the cluster, as the home page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    pub text_workers: i64,
    pub image_workers: i64,
    pub text_jobs_waiting: i64,
    pub image_jobs_waiting: i64,
    /// Models with at least one worker online: text first, then by worker count.
    pub models: Vec<ActiveModel>,
    /// When the server took the snapshot, in seconds since the Unix epoch. The page shows it, so
    /// a refresh done by the hydrated page is visible.
    pub taken_at: u64,
}

/// Reads the figures from the `Horde` the server put in the context.
#[server(prefix = "/_leptos", endpoint = "queue_figures")]
pub async fn queue_figures() -> Result<QueueSnapshot, FormError> {
    use crate::caller::{report, Caller};
    let caller = Caller::current().await?;
    let performance = caller.horde.performance().await.map_err(report)?;
    let mut models = caller.horde.active_models(None).await.map_err(report)?;
    sort_models(&mut models);
    Ok(QueueSnapshot {
        text_workers: performance.text_worker_count,
        image_workers: performance.worker_count,
        text_jobs_waiting: performance.queued_text_requests,
        image_jobs_waiting: performance.queued_requests,
        models,
        taken_at: unix_now(),
    })
}

/// Text models first, then the best served, then by name, so the table does not reshuffle
/// between refreshes when nothing changed.
pub fn sort_models(models: &mut [ActiveModel]) {
    models.sort_by(|a, b| {
        kind_rank(a.kind)
            .cmp(&kind_rank(b.kind))
            .then(b.count.cmp(&a.count))
            .then_with(|| a.name.cmp(&b.name))
    });
}

fn kind_rank(kind: WorkerType) -> u8 {
    match kind {
        WorkerType::Text => 0,
        WorkerType::Image => 1,
        WorkerType::Interrogation => 2,
    }
}

#[cfg(feature = "ssr")]
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The wait to show for a model: its estimate in seconds, if it has jobs waiting.
pub fn format_wait(jobs: f64, eta_seconds: u32) -> String {
    match eta_seconds {
        _ if jobs <= 0.0 => "none".to_string(),
        // Jobs are waiting but the pace of the workers is not known yet.
        0 => "unknown".to_string(),
        1..=59 => format!("{eta_seconds} s"),
        60..=3599 => format!("about {} min", eta_seconds.div_ceil(60)),
        _ => format!("about {} h", eta_seconds.div_ceil(3600)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, kind: WorkerType, count: u32) -> ActiveModel {
        ActiveModel {
            name: name.to_string(),
            count,
            performance: 0.0,
            queued: 0.0,
            jobs: 0.0,
            eta: 0,
            kind,
        }
    }

    #[test]
    fn models_sort_text_first_then_by_workers_then_name() {
        let mut models = vec![
            model("sdxl", WorkerType::Image, 5),
            model("b", WorkerType::Text, 1),
            model("a", WorkerType::Text, 1),
            model("llama", WorkerType::Text, 3),
        ];
        sort_models(&mut models);
        let names: Vec<_> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["llama", "a", "b", "sdxl"]);
    }

    #[test]
    fn wait_is_readable() {
        assert_eq!(format_wait(0.0, 0), "none");
        assert_eq!(format_wait(0.0, 30), "none");
        assert_eq!(format_wait(2.0, 0), "unknown");
        assert_eq!(format_wait(1.0, 42), "42 s");
        assert_eq!(format_wait(1.0, 61), "about 2 min");
        assert_eq!(format_wait(1.0, 7200), "about 2 h");
    }
}
