//! How many generations finished, per kind and model, over the last minute, hour, day and month
//! and of all time (`/api/v2/stats/*`), from the counters each finished job adds to
//! (`store/generation_stats.rs`). Each window is made of whole minutes (whole hours, beyond two
//! hours) before the current minute, so the figures lag by up to a minute, as the AI Horde's
//! compiled snapshots do.

use super::figures::ModelState;
use super::Horde;
use crate::error::Result;
use crate::now_ms;
use crate::store::{GenerationCounts, StatsWindows, HOUR_MS, MINUTE_MS};
use protocol::{
    ModelStats, SinglePeriodImgStat, SinglePeriodTxtStat, StatsImgTotals, StatsTxtTotals,
    WorkerType,
};
use std::sync::Arc;

const DAY_MS: i64 = 24 * HOUR_MS;
/// The AI Horde's month.
const MONTH_MS: i64 = 30 * DAY_MS;
/// Minute counters older than this are folded into hours; hours older than `HOURS_KEPT_MS`
/// into the all-time counters.
const MINUTES_KEPT_MS: i64 = 2 * HOUR_MS;
const HOURS_KEPT_MS: i64 = 31 * DAY_MS;

/// Every model's counts, per kind; (generations, things) per window.
struct Window {
    generations: i64,
    things: i64,
}

/// The windows of a model's counts, in the order minute, hour, day, month, total.
fn windows(c: &GenerationCounts) -> [Window; 5] {
    [
        (c.minute_generations, c.minute_things),
        (c.hour_generations, c.hour_things),
        (c.day_generations, c.day_things),
        (c.month_generations, c.month_things),
        (c.total_generations, c.total_things),
    ]
    .map(|(generations, things)| Window {
        generations,
        things,
    })
}

/// The windows summed over the models of one kind.
fn summed(counts: &[GenerationCounts], kind: WorkerType) -> [Window; 5] {
    let mut sums = [0, 0, 0, 0, 0].map(|_| Window {
        generations: 0,
        things: 0,
    });
    for c in counts.iter().filter(|c| c.kind == kind.as_str()) {
        for (sum, window) in sums.iter_mut().zip(windows(c)) {
            sum.generations += window.generations;
            sum.things += window.things;
        }
    }
    sums
}

impl Horde {
    /// Every model's counts, read at most every few seconds per instance.
    async fn generation_counts(&self) -> Result<Arc<Vec<GenerationCounts>>> {
        self.generation_counts
            .get(|| {
                let until = now_ms() - now_ms().rem_euclid(MINUTE_MS);
                let windows = StatsWindows {
                    until,
                    minute_from: until - MINUTE_MS,
                    hour_from: until - HOUR_MS,
                    day_from: until - DAY_MS,
                    month_from: until - MONTH_MS,
                };
                let store = self.store.clone();
                async move { store.generation_counts(&windows).await }
            })
            .await
    }

    pub async fn image_stats_totals(&self) -> Result<StatsImgTotals> {
        let [minute, hour, day, month, total] =
            summed(&self.generation_counts().await?, WorkerType::Image).map(|w| {
                SinglePeriodImgStat {
                    images: w.generations,
                    ps: w.things,
                }
            });
        Ok(StatsImgTotals {
            minute,
            hour,
            day,
            month,
            total,
        })
    }

    pub async fn text_stats_totals(&self) -> Result<StatsTxtTotals> {
        let [minute, hour, day, month, total] =
            summed(&self.generation_counts().await?, WorkerType::Text).map(|w| {
                SinglePeriodTxtStat {
                    requests: w.generations,
                    tokens: w.things,
                }
            });
        Ok(StatsTxtTotals {
            minute,
            hour,
            day,
            month,
            total,
        })
    }

    /// Generations per model of a kind over the last day and month and of all time, for the
    /// models in the model reference (`Known`), outside it (`Custom`) or all.
    pub async fn model_stats(&self, kind: WorkerType, state: ModelState) -> Result<ModelStats> {
        let reference = &self.policy.model_reference;
        let mut stats = ModelStats::default();
        for c in self.generation_counts().await?.iter() {
            let known = reference.knows(kind, &c.model);
            let wanted = c.kind == kind.as_str()
                && match state {
                    ModelState::All => true,
                    ModelState::Known => known,
                    ModelState::Custom => !known,
                };
            if !wanted {
                continue;
            }
            let [_, _, day, month, total] = windows(c);
            stats.day.insert(c.model.clone(), day.generations);
            stats.month.insert(c.model.clone(), month.generations);
            stats.total.insert(c.model.clone(), total.generations);
        }
        Ok(stats)
    }

    /// Folds old minute counters into hours and old hours into the all-time counters (the
    /// sweep's step).
    pub(super) async fn fold_generation_stats(&self) -> Result<()> {
        let now = now_ms();
        let whole_hour = |at: i64| at - at.rem_euclid(HOUR_MS);
        self.store
            .fold_generation_stats(
                whole_hour(now - MINUTES_KEPT_MS),
                whole_hour(now - HOURS_KEPT_MS),
            )
            .await?;
        Ok(())
    }
}
