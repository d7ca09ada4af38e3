//! Public figures: models being served, queue sizes, throughput; and the operator's news.

use super::Horde;
use crate::error::Result;
use crate::now_ms;
use crate::store::{PoolUse, INTERROGATION};
use protocol::{ActiveModel, HordePerformance, Newspiece, WorkerType};
use std::collections::BTreeMap;

/// The window over which throughput is measured.
const PERFORMANCE_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Which served models `/status/models` lists.
#[derive(Debug, Clone, Default)]
pub struct ModelFilter {
    pub state: ModelState,
    pub min_count: Option<u32>,
    pub max_count: Option<u32>,
}

/// Models in the model reference, outside it, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ModelState {
    Known,
    Custom,
    #[default]
    All,
}

#[derive(Default)]
struct ModelFigures {
    workers: u32,
    threads: i64,
    queued: f64,
    jobs: f64,
    things: f64,
    busy_ms: i64,
}

impl Horde {
    /// Models that online workers serve, with their queues and pace.
    pub async fn active_models(&self, kind: Option<WorkerType>) -> Result<Vec<ActiveModel>> {
        let kinds = match kind {
            Some(kind) => vec![kind],
            None => vec![WorkerType::Text, WorkerType::Image],
        };
        let mut models = Vec::new();
        for kind in kinds {
            models.extend(self.models_of_kind(kind).await?);
        }
        Ok(models)
    }

    /// Checks of results waiting for a worker that may check them (for the operator's
    /// metrics: many mean that too few trusted workers are online).
    pub async fn checks_waiting(&self) -> Result<i64> {
        self.store.checks_waiting().await
    }

    /// How the database connections are used right now (for the operator's metrics).
    pub fn connections(&self) -> Vec<PoolUse> {
        self.store.connections()
    }

    /// How long the oldest waiting request of each kind and model has waited, in seconds
    /// (for the operator's metrics); requests that name no model count as "any".
    pub async fn queue_ages(&self) -> Result<BTreeMap<(String, String), f64>> {
        let now = now_ms();
        let mut ages = BTreeMap::new();
        for work in self.store.queued_work().await? {
            let age = (now - work.oldest).max(0) as f64 / 1000.0;
            let any = [String::from("any")];
            let models = if work.models.0.is_empty() {
                &any[..]
            } else {
                &work.models.0[..]
            };
            for model in models {
                let oldest = ages
                    .entry((work.kind.clone(), model.clone()))
                    .or_insert(0.0);
                *oldest = f64::max(*oldest, age);
            }
        }
        Ok(ages)
    }

    /// Models that online workers serve, as `/status/models` filters them: known to the model
    /// reference or not (`model_state`), and served by at least `min_count` and at most
    /// `max_count` workers.
    pub async fn active_models_filtered(
        &self,
        kind: Option<WorkerType>,
        filter: &ModelFilter,
    ) -> Result<Vec<ActiveModel>> {
        let reference = &self.policy.model_reference;
        Ok(self
            .active_models(kind)
            .await?
            .into_iter()
            .filter(|m| match filter.state {
                ModelState::All => true,
                ModelState::Known => reference.knows(m.kind, &m.name),
                ModelState::Custom => !reference.knows(m.kind, &m.name),
            })
            .filter(|m| filter.min_count.is_none_or(|min| m.count >= min))
            .filter(|m| filter.max_count.is_none_or(|max| m.count <= max))
            .collect())
    }

    /// One model by name (a list, as the AI Horde answers), empty when nobody serves it.
    pub async fn model(&self, name: &str) -> Result<Vec<ActiveModel>> {
        Ok(self
            .active_models(None)
            .await?
            .into_iter()
            .filter(|m| m.name == name)
            .collect())
    }

    async fn models_of_kind(&self, kind: WorkerType) -> Result<Vec<ActiveModel>> {
        let mut figures: BTreeMap<String, ModelFigures> = BTreeMap::new();
        for worker in self.store.workers(Some(kind.as_str())).await? {
            if !self.takes_jobs(&worker) {
                continue;
            }
            for model in &worker.models.0 {
                let f = figures.entry(model.clone()).or_default();
                f.workers += 1;
                f.threads += worker.threads.max(1);
            }
        }
        for work in self
            .store
            .queued_work()
            .await?
            .iter()
            .filter(|q| q.kind == kind.as_str())
        {
            for model in &work.models.0 {
                if let Some(f) = figures.get_mut(model) {
                    f.jobs += work.generations as f64;
                    f.queued += if kind == WorkerType::Text {
                        work.tokens as f64
                    } else {
                        work.mps
                    };
                }
            }
        }
        let now = now_ms();
        for done in self
            .store
            .finished_work_since(now - PERFORMANCE_WINDOW_MS, now - 60_000)
            .await?
        {
            if let Some(f) = figures.get_mut(&done.model) {
                f.things += done.things;
                f.busy_ms += done.busy_ms;
            }
        }
        Ok(figures
            .into_iter()
            .map(|(name, f)| {
                let performance = if f.busy_ms > 0 {
                    f.things / (f.busy_ms as f64 / 1000.0)
                } else {
                    0.0
                };
                let eta = if performance > 0.0 {
                    f.queued / (performance * f.threads.max(1) as f64)
                } else {
                    0.0
                };
                ActiveModel {
                    name,
                    count: f.workers,
                    performance: (performance * 100.0).round() / 100.0,
                    queued: f.queued,
                    jobs: f.jobs,
                    eta: eta.ceil() as u32,
                    kind,
                }
            })
            .collect())
    }

    pub async fn performance(&self) -> Result<HordePerformance> {
        let online_since = self.online_since();
        let mut perf = HordePerformance::default();
        for worker in self.store.workers(None).await? {
            if worker.last_check_in < online_since {
                continue;
            }
            match worker.kind.as_str() {
                "text" => {
                    perf.text_worker_count += 1;
                    perf.text_thread_count += worker.threads;
                }
                INTERROGATION => {
                    perf.interrogator_count += 1;
                    perf.interrogator_thread_count += worker.threads;
                }
                _ => {
                    perf.worker_count += 1;
                    perf.thread_count += worker.threads;
                }
            }
        }
        for work in self.store.queued_work().await? {
            match work.kind.as_str() {
                "text" => {
                    perf.queued_text_requests += work.generations;
                    perf.queued_tokens += work.tokens as f64;
                }
                INTERROGATION => perf.queued_forms += work.generations as f64,
                _ => {
                    perf.queued_requests += work.generations;
                    perf.queued_megapixelsteps += work.mps;
                }
            }
        }
        let now = now_ms();
        for done in self
            .store
            .finished_work_since(now - 60_000, now - 60_000)
            .await?
        {
            match done.kind.as_str() {
                "text" => perf.past_minute_tokens += done.last_minute_things,
                // Forms are counted, not measured.
                INTERROGATION => {}
                _ => perf.past_minute_megapixelsteps += done.last_minute_things,
            }
        }
        Ok(perf)
    }

    /// The operator's news, newest first.
    pub fn news(&self) -> Vec<Newspiece> {
        self.policy.news.as_ref().clone()
    }
}
