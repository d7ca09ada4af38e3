//! Shared keys: keys an account lends to others, who then spend its kudos up to the key's limit
//! (`crate::horde::shared_keys` has the rules). Only a key's hash is stored. [`SharedKeys`] holds
//! the methods whose SQL is the same on both databases; what a finished job spends from its
//! request's key is [`SPEND_SHARED_KEY`], run in the job's own transaction (`settle_job`).
//!
//! In PostgreSQL's lock order a shared key comes after the users: a job's completion locks its
//! request, job, worker and accounts, then the key it spends from; deleting a key cancels its
//! requests before it deletes the key.

use super::*;

/// A shared key as stored, with its owner's name.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SharedKeyRow {
    /// The row's id: what requests and styles refer to. The key itself is never stored.
    pub id: i64,
    pub user_id: i64,
    pub owner_name: String,
    pub name: Option<String>,
    /// What is left to spend, in hundredths; none for no limit.
    pub kudos: Option<i64>,
    /// What was spent through it, in hundredths.
    pub utilized: i64,
    pub expires_at: Option<i64>,
    /// Per-job limits; -1 for none.
    pub max_image_pixels: i64,
    pub max_image_steps: i64,
    pub max_text_tokens: i64,
    pub created_at: i64,
    /// How many styles spend from it (a key given to styles is used through them only).
    pub styles: i64,
}

impl SharedKeyRow {
    /// The owner's unique public name, `name#id`.
    pub fn owner_alias(&self) -> String {
        format!("{}#{}", self.owner_name, self.user_id)
    }
}

/// A new shared key; `key_hash` is the hash of the key shown to its owner once.
#[derive(Debug, Clone)]
pub struct NewSharedKey {
    pub key_hash: String,
    pub user_id: i64,
    pub name: Option<String>,
    pub kudos: Option<i64>,
    pub expires_at: Option<i64>,
    pub max_image_pixels: i64,
    pub max_image_steps: i64,
    pub max_text_tokens: i64,
    pub now: i64,
}

/// An owner's change to a key: each `Some` replaces the stored value.
#[derive(Debug, Clone, Default)]
pub struct SharedKeyChange {
    pub name: Option<String>,
    /// `Some(None)`: no limit from now on.
    pub kudos: Option<Option<i64>>,
    /// `Some(None)`: it never expires.
    pub expires_at: Option<Option<i64>>,
    pub max_image_pixels: Option<i64>,
    pub max_image_steps: Option<i64>,
    pub max_text_tokens: Option<i64>,
}

/// Spends `$2` hundredths from the shared key of request `$1`, if it has one: what is left
/// never goes below zero, and a key without a limit only counts what it spent.
pub const SPEND_SHARED_KEY: &str = "UPDATE shared_keys SET \
     kudos = CASE WHEN kudos IS NULL THEN NULL WHEN kudos < $2 THEN 0 ELSE kudos - $2 END, \
     utilized = utilized + $2 \
     WHERE id = (SELECT shared_key_id FROM requests WHERE id = $1)";

/// Deletes an erased account's keys (the styles that spent from them no longer do).
pub const DELETE_SHARED_KEYS_OF_USER: &str = "DELETE FROM shared_keys WHERE user_id = $1";

macro_rules! shared_key_select {
    () => {
        "SELECT k.id, k.user_id, u.username AS owner_name, k.name, k.kudos, k.utilized, \
         k.expires_at, k.max_image_pixels, k.max_image_steps, k.max_text_tokens, k.created_at, \
         (SELECT COUNT(*) FROM styles s WHERE s.shared_key_id = k.id) AS styles \
         FROM shared_keys k JOIN users u ON u.id = k.user_id"
    };
}
pub(crate) use shared_key_select;

#[async_trait]
pub trait SharedKeys: Send + Sync + 'static {
    async fn insert_shared_key(&self, key: &NewSharedKey) -> Result<SharedKeyRow>;
    async fn shared_key(&self, id: i64) -> Result<Option<SharedKeyRow>>;
    async fn shared_key_by_hash(&self, key_hash: &str) -> Result<Option<SharedKeyRow>>;
    /// An account's keys, oldest first.
    async fn shared_keys_of(&self, user_id: i64) -> Result<Vec<SharedKeyRow>>;
    async fn update_shared_key(&self, id: i64, change: &SharedKeyChange) -> Result<()>;
    /// Deletes a key and cancels its active requests (what they already have is delivered);
    /// returns how many it cancelled.
    async fn delete_shared_key(&self, id: i64, now: i64) -> Result<u64>;
}

/// Implements [`SharedKeys`] for a store with `reader()` and `writer()`.
macro_rules! impl_shared_keys {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::SharedKeys for $store {
            async fn insert_shared_key(&self, k: &NewSharedKey) -> Result<SharedKeyRow> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO shared_keys (key_hash, user_id, name, kudos, expires_at, \
                     max_image_pixels, max_image_steps, max_text_tokens, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(&k.key_hash)
                .bind(k.user_id)
                .bind(k.name.as_deref())
                .bind(k.kudos)
                .bind(k.expires_at)
                .bind(k.max_image_pixels)
                .bind(k.max_image_steps)
                .bind(k.max_text_tokens)
                .bind(k.now)
                .fetch_one(self.writer())
                .await?;
                Ok(sqlx::query_as(concat!(
                    $crate::store::shared_keys::shared_key_select!(),
                    " WHERE k.id = $1"
                ))
                .bind(id)
                .fetch_one(self.writer())
                .await?)
            }

            async fn shared_key(&self, id: i64) -> Result<Option<SharedKeyRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::shared_keys::shared_key_select!(),
                    " WHERE k.id = $1"
                ))
                .bind(id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn shared_key_by_hash(&self, key_hash: &str) -> Result<Option<SharedKeyRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::shared_keys::shared_key_select!(),
                    " WHERE k.key_hash = $1"
                ))
                .bind(key_hash)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn shared_keys_of(&self, user_id: i64) -> Result<Vec<SharedKeyRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::shared_keys::shared_key_select!(),
                    " WHERE k.user_id = $1 ORDER BY k.id"
                ))
                .bind(user_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn update_shared_key(&self, id: i64, c: &SharedKeyChange) -> Result<()> {
                // A limit or an expiry may be set to "none", so those two say whether to change.
                sqlx::query(
                    "UPDATE shared_keys SET name = COALESCE($2, name), \
                     kudos = CASE WHEN $3 THEN $4 ELSE kudos END, \
                     expires_at = CASE WHEN $5 THEN $6 ELSE expires_at END, \
                     max_image_pixels = COALESCE($7, max_image_pixels), \
                     max_image_steps = COALESCE($8, max_image_steps), \
                     max_text_tokens = COALESCE($9, max_text_tokens) WHERE id = $1",
                )
                .bind(id)
                .bind(c.name.as_deref())
                .bind(c.kudos.is_some())
                .bind(c.kudos.flatten())
                .bind(c.expires_at.is_some())
                .bind(c.expires_at.flatten())
                .bind(c.max_image_pixels)
                .bind(c.max_image_steps)
                .bind(c.max_text_tokens)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn delete_shared_key(&self, id: i64, now: i64) -> Result<u64> {
                let mut tx = self.writer().begin().await?;
                // The requests first, the key last: the lock order.
                let cancelled = sqlx::query(concat!(
                    sql::cancel_requests!(),
                    " WHERE shared_key_id = $1 AND state = 'active'"
                ))
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query("DELETE FROM shared_keys WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(cancelled)
            }
        }
    };
}

pub(super) use impl_shared_keys;
