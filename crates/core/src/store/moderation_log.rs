//! The moderation log: one statement each, the same on both databases.

use super::*;

/// An entry of the moderation log, with its actor's name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ModerationRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: i64,
    /// None once the actor's account is erased.
    pub actor_name: Option<String>,
    pub action: String,
    pub target: String,
}

#[async_trait]
pub trait ModerationLog: Send + Sync + 'static {
    async fn insert_moderation(
        &self,
        at: i64,
        actor_id: i64,
        action: &str,
        target: &str,
    ) -> Result<()>;
    /// `limit` entries from the `offset`-th, newest first.
    async fn moderation_log(&self, limit: i64, offset: i64) -> Result<Vec<ModerationRow>>;
}

/// Implements [`ModerationLog`] for a store with `reader()` and `writer()`.
macro_rules! impl_moderation_log {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::ModerationLog for $store {
            async fn insert_moderation(
                &self,
                at: i64,
                actor_id: i64,
                action: &str,
                target: &str,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO moderation_log (at, actor_id, action, target) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(at)
                .bind(actor_id)
                .bind(action)
                .bind(target)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn moderation_log(
                &self,
                limit: i64,
                offset: i64,
            ) -> Result<Vec<$crate::store::ModerationRow>> {
                Ok(sqlx::query_as(
                    "SELECT m.id, m.at, m.actor_id, u.username AS actor_name, m.action, m.target \
                     FROM moderation_log m LEFT JOIN users u ON u.id = m.actor_id \
                     ORDER BY m.id DESC LIMIT $1 OFFSET $2",
                )
                .bind(limit)
                .bind(offset)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

pub(super) use impl_moderation_log;
