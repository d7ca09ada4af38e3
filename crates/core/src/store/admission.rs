//! What admits a request or a worker beyond its own input: what an account may spend up front
//! (its balance above its floor, beyond what its active requests reserve) and how fast workers
//! have been lately. One statement each, the same on both databases, written once in
//! [`impl_admission!`] (see `common.rs` for the pattern).

use super::*;

/// A worker's pace over a window: what it finished and how long its jobs took.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WorkerPace {
    pub worker_id: String,
    /// Tokens (text) or megapixelsteps (images).
    pub things: f64,
    pub busy_ms: i64,
}

impl WorkerPace {
    /// Things per second; none when nothing took measurable time.
    pub fn speed(&self) -> Option<f64> {
        (self.busy_ms > 0).then(|| self.things / (self.busy_ms as f64 / 1000.0))
    }
}

#[async_trait]
pub trait Admission: Send + Sync + 'static {
    /// What the account may spend up front, give away or reserve (`kudos::available`), read
    /// without a lock: the transaction that reserves checks again under it.
    async fn available_kudos(&self, user_id: i64) -> Result<Kudos>;
    /// The pace of every worker that finished something since `since`.
    async fn worker_paces(&self, since: i64) -> Result<Vec<WorkerPace>>;
}

/// Implements [`Admission`] for a store with `reader()`.
macro_rules! impl_admission {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::Admission for $store {
            async fn available_kudos(&self, user_id: i64) -> Result<Kudos> {
                let row: Option<(i64, Option<String>, i64)> = sqlx::query_as(sql::AVAILABLE_KUDOS)
                    .bind(user_id)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.map_or(Kudos::ZERO, |(balance, provider, reserved)| {
                    $crate::kudos::available(Kudos(balance), provider.is_some(), Kudos(reserved))
                }))
            }

            async fn worker_paces(&self, since: i64) -> Result<Vec<WorkerPace>> {
                Ok(sqlx::query_as(
                    "SELECT worker_id, SUM(things) AS things, \
                     CAST(SUM(finished_at - popped_at) AS BIGINT) AS busy_ms \
                     FROM jobs WHERE finished_at >= $1 AND state IN ('ok', 'censored', 'csam') \
                     GROUP BY worker_id",
                )
                .bind(since)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

pub(super) use impl_admission;
