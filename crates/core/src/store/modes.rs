//! The server's modes (maintenance, invite-only, raid), kept in the `settings` table so that
//! every instance enforces what one was told (`crate::horde::modes`).

use super::*;

#[async_trait]
pub trait Modes: Send + Sync + 'static {
    /// Stores a setting, replacing its value.
    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;
    /// The settings whose keys sort in `from..to`.
    async fn settings_in(&self, from: &str, to: &str) -> Result<Vec<(String, String)>>;
    /// Stops handing out every waiting request of a requester (checks go on): what they have
    /// is delivered as it is. Returns how many it stopped.
    async fn cancel_all_requests(&self, now: i64) -> Result<u64>;
}

/// Implements [`Modes`] for a store with `reader()` and `writer()`.
macro_rules! impl_modes {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::Modes for $store {
            async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn settings_in(&self, from: &str, to: &str) -> Result<Vec<(String, String)>> {
                Ok(sqlx::query_as(
                    "SELECT key, value FROM settings WHERE key >= $1 AND key < $2 ORDER BY key",
                )
                .bind(from)
                .bind(to)
                .fetch_all(self.reader())
                .await?)
            }

            async fn cancel_all_requests(&self, now: i64) -> Result<u64> {
                Ok(sqlx::query(concat!(
                    sql::cancel_requests!(),
                    " WHERE state = 'active' AND check_kind IS NULL AND created_at <= $1"
                ))
                .bind(now)
                .bind(now)
                .execute(self.writer())
                .await?
                .rows_affected())
            }
        }
    };
}

pub(super) use impl_modes;
