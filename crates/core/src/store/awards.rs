//! Kudos given for something other than work: awards (`POST /api/v2/kudos/award`), and the
//! reward for aesthetic ratings of a shared image request's images (`crate::horde::ratings`).
//! Ratings are kept with the request, whose row they go with, and never with who rated; the
//! reward is booked in the same transaction.

use super::*;

/// The ratings of one request, once.
#[derive(Debug, Clone)]
pub struct NewRatings {
    pub request_id: String,
    /// The account the reward goes to: the request's.
    pub requester: i64,
    pub best_job_id: Option<String>,
    /// `(job id, rating 1-10, artifacts 0-5)`.
    pub ratings: Vec<(String, i64, Option<i64>)>,
    pub reward: Kudos,
    pub now: i64,
}

#[async_trait]
pub trait Awards: Send + Sync + 'static {
    /// Stores the ratings and books the reward, unless the request was rated already: then
    /// nothing changes and the answer is false.
    async fn rate_request(&self, ratings: &NewRatings) -> Result<bool>;
    /// Books an award of `amount` to an account (`awarded` in its ledger).
    async fn award_kudos(&self, user_id: i64, amount: Kudos, now: i64) -> Result<()>;
}

/// Implements [`Awards`] for a store with `writer()`, and `book` in scope.
macro_rules! impl_awards {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::Awards for $store {
            async fn rate_request(&self, r: &$crate::store::NewRatings) -> Result<bool> {
                let mut tx = self.writer().begin().await?;
                // The set's row first: a second rating of the request conflicts here and stops.
                let first = sqlx::query(
                    "INSERT INTO aesthetic_sets (request_id, best_job_id, reward, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
                )
                .bind(&r.request_id)
                .bind(r.best_job_id.as_deref())
                .bind(r.reward.hundredths())
                .bind(r.now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !first {
                    return Ok(false);
                }
                for (job_id, rating, artifacts) in &r.ratings {
                    sqlx::query(
                        "INSERT INTO aesthetic_ratings (request_id, job_id, rating, artifacts) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&r.request_id)
                    .bind(job_id)
                    .bind(*rating)
                    .bind(*artifacts)
                    .execute(&mut *tx)
                    .await?;
                }
                book(&mut tx, r.requester, r.reward, "awarded", None, None, r.now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn award_kudos(&self, user_id: i64, amount: Kudos, now: i64) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                book(&mut tx, user_id, amount, "awarded", None, None, now).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use impl_awards;
