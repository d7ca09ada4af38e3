//! Messages to workers: one statement each, the same on both databases.

use super::*;

#[async_trait]
pub trait WorkerMessages: Send + Sync + 'static {
    async fn insert_worker_message(&self, message: &WorkerMessageRow) -> Result<()>;
    async fn worker_message(&self, id: &str) -> Result<Option<WorkerMessageRow>>;
    /// A page of messages, newest first.
    async fn worker_messages(&self, filter: &MessageFilter) -> Result<Vec<WorkerMessageRow>>;
    async fn delete_worker_message(&self, id: &str) -> Result<()>;
    /// The messages for this worker (of this owner) that expire after `now`, oldest first.
    async fn messages_for_worker(
        &self,
        worker_id: &str,
        owner_id: i64,
        now: i64,
    ) -> Result<Vec<WorkerMessageRow>>;
    /// Every message that expires after `now`, oldest first (for listing many workers at once).
    async fn active_worker_messages(&self, now: i64) -> Result<Vec<WorkerMessageRow>>;
    /// How many of an account's messages expire after `now`.
    async fn active_messages_sent_by(&self, sender_id: i64, now: i64) -> Result<i64>;
}

macro_rules! message_select {
    () => {
        "SELECT id, worker_id, user_id, sender_id, message, origin, created_at, expires_at \
         FROM worker_messages"
    };
}
pub(super) use message_select;

/// Implements [`WorkerMessages`] for a store with `reader()` and `writer()`.
macro_rules! impl_worker_messages {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::WorkerMessages for $store {
            async fn insert_worker_message(&self, m: &WorkerMessageRow) -> Result<()> {
                sqlx::query(
                    "INSERT INTO worker_messages (id, worker_id, user_id, sender_id, message, \
                     origin, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&m.id)
                .bind(m.worker_id.as_deref())
                .bind(m.user_id)
                .bind(m.sender_id)
                .bind(&m.message)
                .bind(&m.origin)
                .bind(m.created_at)
                .bind(m.expires_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn worker_message(&self, id: &str) -> Result<Option<WorkerMessageRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::worker_messages::message_select!(),
                    " WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn worker_messages(&self, f: &MessageFilter) -> Result<Vec<WorkerMessageRow>> {
                let validity = match f.validity {
                    MessageValidity::Active => "active",
                    MessageValidity::Expired => "expired",
                    MessageValidity::All => "all",
                };
                Ok(sqlx::query_as(concat!(
                    $crate::store::worker_messages::message_select!(),
                    " WHERE ($1 IS NULL OR user_id = $1 OR (worker_id IS NULL AND user_id IS NULL)) \
                       AND ($2 IS NULL OR worker_id = $2) \
                       AND CASE $3 WHEN 'active' THEN expires_at > $4 \
                                   WHEN 'expired' THEN expires_at <= $4 ELSE TRUE END \
                     ORDER BY created_at DESC, id LIMIT $5 OFFSET $6"
                ))
                .bind(f.user_id)
                .bind(f.worker_id.as_deref())
                .bind(validity)
                .bind(f.now)
                .bind(f.limit)
                .bind(f.offset)
                .fetch_all(self.reader())
                .await?)
            }

            async fn delete_worker_message(&self, id: &str) -> Result<()> {
                sqlx::query("DELETE FROM worker_messages WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn messages_for_worker(
                &self,
                worker_id: &str,
                owner_id: i64,
                now: i64,
            ) -> Result<Vec<WorkerMessageRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::worker_messages::message_select!(),
                    " WHERE expires_at > $3 AND (worker_id = $1 \
                       OR (worker_id IS NULL AND (user_id = $2 OR user_id IS NULL))) \
                     ORDER BY created_at, id"
                ))
                .bind(worker_id)
                .bind(owner_id)
                .bind(now)
                .fetch_all(self.reader())
                .await?)
            }

            async fn active_worker_messages(&self, now: i64) -> Result<Vec<WorkerMessageRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::worker_messages::message_select!(),
                    " WHERE expires_at > $1 ORDER BY created_at, id"
                ))
                .bind(now)
                .fetch_all(self.reader())
                .await?)
            }

            async fn active_messages_sent_by(&self, sender_id: i64, now: i64) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM worker_messages WHERE sender_id = $1 AND expires_at > $2",
                )
                .bind(sender_id)
                .bind(now)
                .fetch_one(self.reader())
                .await?)
            }
        }
    };
}

pub(super) use impl_worker_messages;
