//! Timeouts of client addresses, kept as keyed hashes per period (`crate::horde::address_blocks`),
//! and the hashes of the address each worker last popped from: statements that read the same on
//! both databases.

use super::*;

/// A timeout as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AddressBlockRow {
    pub id: String,
    pub until_ms: i64,
    pub created_by: i64,
    pub created_at: i64,
    /// The worker whose address it blocks, for a block made through the worker.
    pub worker_id: Option<String>,
}

/// One period's hash of a blocked address, with its block.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BlockedHash {
    pub hash: String,
    pub block_id: String,
    pub until_ms: i64,
    /// Whether the block also has the address's hash for the period after.
    pub carried: bool,
}

/// The hashes of the address a worker last popped from.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkerAddress {
    pub address_period: Option<i64>,
    pub address_hash: Option<String>,
    pub address_hash_next: Option<String>,
}

#[async_trait]
pub trait AddressBlocks: Send + Sync + 'static {
    /// Stores a timeout with its hashes (period, hash).
    async fn insert_address_block(
        &self,
        block: &AddressBlockRow,
        hashes: &[(i64, String)],
    ) -> Result<()>;
    /// Adds a block's hash for another period (nothing if it has one for it).
    async fn add_block_hash(&self, block_id: &str, period: i64, hash: &str) -> Result<()>;
    /// The hashes of `period` whose blocks last beyond `now`.
    async fn blocked_hashes(&self, period: i64, now: i64) -> Result<Vec<BlockedHash>>;
    /// Every block lasting beyond `now`, ending soonest first.
    async fn address_blocks(&self, now: i64) -> Result<Vec<AddressBlockRow>>;
    /// Deletes the blocks that have `hash` for `period`; how many.
    async fn delete_address_blocks_with(&self, period: i64, hash: &str) -> Result<u64>;
    /// Deletes the blocks made through a worker; how many.
    async fn delete_worker_address_blocks(&self, worker_id: &str) -> Result<u64>;
    /// Deletes the hashes of periods before `period`, the blocks over at `now`, and the workers'
    /// address hashes whose periods are both over.
    async fn sweep_address_blocks(&self, period: i64, now: i64) -> Result<u64>;
    async fn worker_address(&self, worker_id: &str) -> Result<Option<WorkerAddress>>;
}

/// Implements [`AddressBlocks`] for a store with `reader()` and `writer()`.
macro_rules! impl_address_blocks {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::AddressBlocks for $store {
            async fn insert_address_block(
                &self,
                block: &$crate::store::AddressBlockRow,
                hashes: &[(i64, String)],
            ) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO address_blocks (id, until_ms, created_by, created_at, worker_id) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&block.id)
                .bind(block.until_ms)
                .bind(block.created_by)
                .bind(block.created_at)
                .bind(block.worker_id.as_deref())
                .execute(&mut *tx)
                .await?;
                for (period, hash) in hashes {
                    sqlx::query(
                        "INSERT INTO address_block_hashes (block_id, period, hash) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(&block.id)
                    .bind(period)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn add_block_hash(&self, block_id: &str, period: i64, hash: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO address_block_hashes (block_id, period, hash) \
                     SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM address_blocks WHERE id = $1) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(block_id)
                .bind(period)
                .bind(hash)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn blocked_hashes(
                &self,
                period: i64,
                now: i64,
            ) -> Result<Vec<$crate::store::BlockedHash>> {
                Ok(sqlx::query_as(
                    "SELECT h.hash, h.block_id, b.until_ms, EXISTS (SELECT 1 FROM \
                     address_block_hashes n WHERE n.block_id = h.block_id AND n.period = $1 + 1) \
                     AS carried FROM address_block_hashes h \
                     JOIN address_blocks b ON b.id = h.block_id \
                     WHERE h.period = $1 AND b.until_ms > $2",
                )
                .bind(period)
                .bind(now)
                .fetch_all(self.reader())
                .await?)
            }

            async fn address_blocks(&self, now: i64) -> Result<Vec<$crate::store::AddressBlockRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, until_ms, created_by, created_at, worker_id FROM address_blocks \
                     WHERE until_ms > $1 ORDER BY until_ms, id",
                )
                .bind(now)
                .fetch_all(self.reader())
                .await?)
            }

            async fn delete_address_blocks_with(&self, period: i64, hash: &str) -> Result<u64> {
                let mut tx = self.writer().begin().await?;
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT block_id FROM address_block_hashes WHERE period = $1 AND hash = $2",
                )
                .bind(period)
                .bind(hash)
                .fetch_all(&mut *tx)
                .await?;
                for id in &ids {
                    for statement in [
                        "DELETE FROM address_block_hashes WHERE block_id = $1",
                        "DELETE FROM address_blocks WHERE id = $1",
                    ] {
                        sqlx::query(statement).bind(id).execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(ids.len() as u64)
            }

            async fn delete_worker_address_blocks(&self, worker_id: &str) -> Result<u64> {
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "DELETE FROM address_block_hashes WHERE block_id IN \
                     (SELECT id FROM address_blocks WHERE worker_id = $1)",
                )
                .bind(worker_id)
                .execute(&mut *tx)
                .await?;
                let deleted = sqlx::query("DELETE FROM address_blocks WHERE worker_id = $1")
                    .bind(worker_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(deleted)
            }

            async fn sweep_address_blocks(&self, period: i64, now: i64) -> Result<u64> {
                let mut tx = self.writer().begin().await?;
                let over = sqlx::query(
                    "DELETE FROM address_block_hashes WHERE period < $1 OR block_id IN \
                     (SELECT id FROM address_blocks WHERE until_ms <= $2)",
                )
                .bind(period)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "DELETE FROM address_blocks WHERE until_ms <= $1 OR NOT EXISTS \
                     (SELECT 1 FROM address_block_hashes h WHERE h.block_id = address_blocks.id)",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE workers SET address_period = NULL, address_hash = NULL, \
                     address_hash_next = NULL WHERE address_period < $1 - 1",
                )
                .bind(period)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(over)
            }

            async fn worker_address(
                &self,
                worker_id: &str,
            ) -> Result<Option<$crate::store::WorkerAddress>> {
                Ok(sqlx::query_as(
                    "SELECT address_period, address_hash, address_hash_next FROM workers \
                     WHERE id = $1",
                )
                .bind(worker_id)
                .fetch_optional(self.reader())
                .await?)
            }
        }
    };
}

pub(super) use impl_address_blocks;
