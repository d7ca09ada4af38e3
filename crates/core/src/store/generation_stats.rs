//! Counters of finished generations per kind and model, for `/api/v2/stats`
//! (`crate::horde::stats`). A finished job counts itself in its own transaction
//! ([`COUNT_GENERATION`], in `settle_job`) into the row of its minute; the sweep folds minutes
//! older than two hours into hours, and hours older than 31 days into one all-time row per
//! model. So the counters outlive the requests, which are deleted after the history window,
//! and they hold nothing but counts.

use super::*;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Counts finished job `$1` in the row of minute `$2`: `$3` things for a text job (the tokens
/// it delivered), its pixels × steps for an image job.
pub const COUNT_GENERATION: &str = "INSERT INTO generation_stats \
     (kind, model, span, bucket, generations, things) \
     SELECT r.kind, j.model, 'minute', $2, 1, \
       CASE WHEN r.kind = 'image' THEN r.width * r.height * r.steps ELSE $3 END \
     FROM jobs j JOIN requests r ON r.id = j.request_id WHERE j.id = $1 \
     ON CONFLICT (kind, span, bucket, model) DO UPDATE SET \
       generations = generation_stats.generations + excluded.generations, \
       things = generation_stats.things + excluded.things";

/// The bounds of the windows `/api/v2/stats` reports, each made of whole periods before the
/// current minute: `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsWindows {
    /// The start of the current minute: the end of every window.
    pub until: i64,
    pub minute_from: i64,
    pub hour_from: i64,
    pub day_from: i64,
    pub month_from: i64,
}

/// One model's counts in every window: generations, and tokens or pixelsteps.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct GenerationCounts {
    pub kind: String,
    pub model: String,
    pub minute_generations: i64,
    pub minute_things: i64,
    pub hour_generations: i64,
    pub hour_things: i64,
    pub day_generations: i64,
    pub day_things: i64,
    pub month_generations: i64,
    pub month_things: i64,
    pub total_generations: i64,
    pub total_things: i64,
}

/// How many counter rows a fold moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    pub minutes: u64,
    pub hours: u64,
}

#[async_trait]
pub trait GenerationStats: Send + Sync + 'static {
    /// Every model's counts in the windows.
    async fn generation_counts(&self, windows: &StatsWindows) -> Result<Vec<GenerationCounts>>;
    /// Folds the minute rows before `minutes_before` into their hours, and the hour rows before
    /// `hours_before` into the all-time rows. Both bounds are whole hours. Each row is moved by
    /// the one instance whose delete returned it, so folding on several at once counts
    /// everything once.
    async fn fold_generation_stats(&self, minutes_before: i64, hours_before: i64)
        -> Result<Folded>;
}

/// A window's sum: rows of `span` whose bucket lies in `[$from, $until)`.
macro_rules! window_sum {
    ($column:literal, $span_condition:literal) => {
        concat!(
            "CAST(COALESCE(SUM(CASE WHEN ",
            $span_condition,
            " THEN ",
            $column,
            " ELSE 0 END), 0) AS BIGINT)"
        )
    };
}

/// The counts per window: `$1` until, `$2` minute, `$3` hour, `$4` day, `$5` month.
pub const GENERATION_COUNTS: &str = concat!(
    "SELECT kind, model, ",
    window_sum!(
        "generations",
        "span = 'minute' AND bucket >= $2 AND bucket < $1"
    ),
    " AS minute_generations, ",
    window_sum!("things", "span = 'minute' AND bucket >= $2 AND bucket < $1"),
    " AS minute_things, ",
    window_sum!(
        "generations",
        "span = 'minute' AND bucket >= $3 AND bucket < $1"
    ),
    " AS hour_generations, ",
    window_sum!("things", "span = 'minute' AND bucket >= $3 AND bucket < $1"),
    " AS hour_things, ",
    window_sum!(
        "generations",
        "span != 'total' AND bucket >= $4 AND bucket < $1"
    ),
    " AS day_generations, ",
    window_sum!("things", "span != 'total' AND bucket >= $4 AND bucket < $1"),
    " AS day_things, ",
    window_sum!(
        "generations",
        "span != 'total' AND bucket >= $5 AND bucket < $1"
    ),
    " AS month_generations, ",
    window_sum!("things", "span != 'total' AND bucket >= $5 AND bucket < $1"),
    " AS month_things, ",
    window_sum!("generations", "TRUE"),
    " AS total_generations, ",
    window_sum!("things", "TRUE"),
    " AS total_things FROM generation_stats GROUP BY kind, model ORDER BY kind, model"
);

/// Adds counts to the row of (`$1` kind, `$2` model, `$3` span, `$4` bucket).
pub const ADD_COUNTS: &str = "INSERT INTO generation_stats \
     (kind, model, span, bucket, generations, things) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (kind, span, bucket, model) DO UPDATE SET \
       generations = generation_stats.generations + excluded.generations, \
       things = generation_stats.things + excluded.things";

/// Rows of one span taken out to be folded into a longer one.
#[derive(Debug, sqlx::FromRow)]
pub struct TakenCounts {
    pub kind: String,
    pub model: String,
    pub bucket: i64,
    pub generations: i64,
    pub things: i64,
}

/// Sums taken rows into the buckets of the longer span (`bucket_of` maps a bucket to its
/// longer one), in a stable order: instances folding at once then lock rows alike.
pub fn fold_into(
    taken: Vec<TakenCounts>,
    bucket_of: impl Fn(i64) -> i64,
) -> std::collections::BTreeMap<(String, String, i64), (i64, i64)> {
    let mut sums = std::collections::BTreeMap::new();
    for row in taken {
        let entry = sums
            .entry((row.kind, row.model, bucket_of(row.bucket)))
            .or_insert((0, 0));
        entry.0 += row.generations;
        entry.1 += row.things;
    }
    sums
}

/// Implements [`GenerationStats`] for a store with `reader()` and `writer()`.
macro_rules! impl_generation_stats {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::GenerationStats for $store {
            async fn generation_counts(
                &self,
                w: &$crate::store::StatsWindows,
            ) -> Result<Vec<$crate::store::GenerationCounts>> {
                Ok(
                    sqlx::query_as($crate::store::generation_stats::GENERATION_COUNTS)
                        .bind(w.until)
                        .bind(w.minute_from)
                        .bind(w.hour_from)
                        .bind(w.day_from)
                        .bind(w.month_from)
                        .fetch_all(self.reader())
                        .await?,
                )
            }

            async fn fold_generation_stats(
                &self,
                minutes_before: i64,
                hours_before: i64,
            ) -> Result<$crate::store::Folded> {
                use $crate::store::generation_stats::{
                    fold_into, TakenCounts, ADD_COUNTS, HOUR_MS,
                };
                let mut tx = self.writer().begin().await?;
                let mut folded = $crate::store::Folded::default();
                for (span, longer, before) in [
                    ("minute", "hour", minutes_before),
                    ("hour", "total", hours_before),
                ] {
                    let taken: Vec<TakenCounts> = sqlx::query_as(
                        "DELETE FROM generation_stats WHERE span = $1 AND bucket < $2 \
                         RETURNING kind, model, bucket, generations, things",
                    )
                    .bind(span)
                    .bind(before)
                    .fetch_all(&mut *tx)
                    .await?;
                    let moved = taken.len() as u64;
                    let sums = match longer {
                        "hour" => fold_into(taken, |bucket| bucket - bucket.rem_euclid(HOUR_MS)),
                        _ => fold_into(taken, |_| 0),
                    };
                    for ((kind, model, bucket), (generations, things)) in sums {
                        sqlx::query(ADD_COUNTS)
                            .bind(kind)
                            .bind(model)
                            .bind(longer)
                            .bind(bucket)
                            .bind(generations)
                            .bind(things)
                            .execute(&mut *tx)
                            .await?;
                    }
                    match span {
                        "minute" => folded.minutes = moved,
                        _ => folded.hours = moved,
                    }
                }
                tx.commit().await?;
                Ok(folded)
            }
        }
    };
}

pub(super) use impl_generation_stats;
