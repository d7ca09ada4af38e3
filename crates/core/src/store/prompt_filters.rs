//! Moderators' prompt filters: one statement each, the same on both databases.

use super::*;

/// A filter as stored, with its writer's name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FilterRow {
    pub id: i64,
    pub regex: String,
    pub filter_type: i64,
    pub description: Option<String>,
    pub replacement: String,
    pub user_id: i64,
    /// None once the writer's account is erased.
    pub username: Option<String>,
}

/// A new filter, or the new values of one (`id` ignored on insert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterValues {
    pub regex: String,
    pub filter_type: i64,
    pub description: Option<String>,
    pub replacement: String,
}

#[async_trait]
pub trait PromptFilters: Send + Sync + 'static {
    /// Stores a filter written by `user_id`; its id.
    async fn insert_filter(&self, values: &FilterValues, user_id: i64, now: i64) -> Result<i64>;
    async fn filter(&self, id: i64) -> Result<Option<FilterRow>>;
    /// Every filter, oldest first.
    async fn filters(&self) -> Result<Vec<FilterRow>>;
    async fn update_filter(&self, id: i64, values: &FilterValues) -> Result<()>;
    /// Whether there was one to delete.
    async fn delete_filter(&self, id: i64) -> Result<bool>;
}

macro_rules! filter_select {
    () => {
        "SELECT f.id, f.regex, f.filter_type, f.description, f.replacement, f.user_id, \
         u.username FROM prompt_filters f LEFT JOIN users u ON u.id = f.user_id"
    };
}
pub(super) use filter_select;

/// Implements [`PromptFilters`] for a store with `reader()` and `writer()`.
macro_rules! impl_prompt_filters {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::PromptFilters for $store {
            async fn insert_filter(
                &self,
                values: &$crate::store::FilterValues,
                user_id: i64,
                now: i64,
            ) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO prompt_filters (regex, filter_type, description, replacement, \
                     user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(&values.regex)
                .bind(values.filter_type)
                .bind(values.description.as_deref())
                .bind(&values.replacement)
                .bind(user_id)
                .bind(now)
                .fetch_one(self.writer())
                .await?)
            }

            async fn filter(&self, id: i64) -> Result<Option<$crate::store::FilterRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::prompt_filters::filter_select!(),
                    " WHERE f.id = $1"
                ))
                .bind(id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn filters(&self) -> Result<Vec<$crate::store::FilterRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::prompt_filters::filter_select!(),
                    " ORDER BY f.id"
                ))
                .fetch_all(self.reader())
                .await?)
            }

            async fn update_filter(
                &self,
                id: i64,
                values: &$crate::store::FilterValues,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE prompt_filters SET regex = $2, filter_type = $3, description = $4, \
                     replacement = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(&values.regex)
                .bind(values.filter_type)
                .bind(values.description.as_deref())
                .bind(&values.replacement)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn delete_filter(&self, id: i64) -> Result<bool> {
                let deleted = sqlx::query("DELETE FROM prompt_filters WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                Ok(deleted > 0)
            }
        }
    };
}

pub(super) use impl_prompt_filters;
