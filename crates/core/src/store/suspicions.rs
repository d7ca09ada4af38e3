//! Signs of suspicion (`crate::suspicion`): recorded by the `report_suspicion` step, here
//! outside any other transaction; read by moderators. The same on both databases.

use super::*;

/// One sign of suspicion on an account, and the worker it was found on.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SuspicionRow {
    pub worker_id: Option<String>,
    /// The worker's name, while it exists.
    pub worker_name: Option<String>,
    pub reason: i64,
    pub at: i64,
}

#[async_trait]
pub trait Suspicions: Send + Sync + 'static {
    /// Records a sign of suspicion on an account (and one of its workers); returns whether it
    /// was recorded (a reason that does not repeat counts once).
    async fn record_suspicion(
        &self,
        user_id: i64,
        worker_id: Option<&str>,
        reason: crate::suspicion::SuspicionReason,
        now: i64,
    ) -> Result<bool>;
    /// An account's signs, oldest first.
    async fn suspicions_of(&self, user_id: i64) -> Result<Vec<SuspicionRow>>;
}

/// Implements [`Suspicions`] for a store with `writer()`, `reader()` and the transaction steps.
macro_rules! impl_suspicions {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::Suspicions for $store {
            async fn record_suspicion(
                &self,
                user_id: i64,
                worker_id: Option<&str>,
                reason: $crate::suspicion::SuspicionReason,
                now: i64,
            ) -> Result<bool> {
                let mut tx = self.writer().begin().await?;
                let recorded = report_suspicion(&mut tx, user_id, worker_id, reason, now).await?;
                tx.commit().await?;
                Ok(recorded)
            }

            async fn suspicions_of(
                &self,
                user_id: i64,
            ) -> Result<Vec<$crate::store::SuspicionRow>> {
                Ok(sqlx::query_as(
                    "SELECT s.worker_id, w.name AS worker_name, s.reason, s.at \
                     FROM suspicions s LEFT JOIN workers w ON w.id = s.worker_id \
                     WHERE s.user_id = $1 ORDER BY s.id",
                )
                .bind(user_id)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

pub(super) use impl_suspicions;
