//! Alchemy's store methods (`horde/alchemy.rs`). An interrogation is one image and the forms
//! asked of it; each form is a request of its own (kind `interrogation`, `n` 1, its form's name
//! as its only model, the interrogation's id as its `group_id`), so that the queue, the leases,
//! the requeues, the sweeps, the purge and the kudos ledger treat it as any other request. The
//! image waits in `interrogation_images` until every form of its interrogation is purged.
//!
//! [`Alchemy`] holds the methods that are one statement on either database, [`impl_alchemy!`]
//! writes them for both stores; queuing an interrogation (`Store::insert_interrogation`) is a
//! transaction of each store's own.

use super::*;
use crate::error::Rejection;

/// The request kind of an interrogation's forms, and the worker kind of alchemists.
pub const INTERROGATION: &str = "interrogation";

/// An interrogation to queue: its image, and a request per form.
#[derive(Debug, Clone)]
pub struct NewInterrogation {
    pub id: String,
    pub user_id: i64,
    /// Anonymous requesters are limited per client, as for any request.
    pub client_hash: Option<String>,
    pub image: Vec<u8>,
    /// One request per form, each with `group_id` set to `id`.
    pub forms: Vec<NewRequest>,
}

#[async_trait]
pub trait Alchemy: Send + Sync + 'static {
    /// The forms (requests) of an interrogation, in the order they were asked.
    async fn interrogation_forms(&self, interrogation_id: &str) -> Result<Vec<RequestRow>>;
    /// The jobs of an interrogation's forms.
    async fn interrogation_jobs(&self, interrogation_id: &str) -> Result<Vec<JobRow>>;
    /// The image of the interrogation whose form is job `job_id`, for the worker holding it:
    /// none unless `token` is the job's and the job is still in progress.
    async fn interrogation_image(&self, job_id: &str, token: &str) -> Result<Option<Vec<u8>>>;
    /// Stops handing out the interrogation's waiting forms.
    async fn cancel_interrogation(&self, interrogation_id: &str, now: i64) -> Result<()>;
    /// The requester looked: keeps the waiting forms from expiring and, with `delivered`,
    /// records the delivery of them all (the retention window starts).
    async fn touch_interrogation(
        &self,
        interrogation_id: &str,
        now: i64,
        delivered: bool,
    ) -> Result<()>;
}

/// Counts a requester's forms still waiting or processing; binds (user, client hash).
pub(super) const COUNT_ACTIVE_FORMS: &str =
    "SELECT COUNT(*) FROM requests WHERE user_id = $1 AND state = 'active' \
     AND kind = 'interrogation' AND ($2 IS NULL OR client_hash = $2)";
/// Counts new forms on their requester; binds (user, forms).
pub(super) const COUNT_FORMS_REQUESTED: &str =
    "UPDATE users SET requests_interrogation = requests_interrogation + $2 WHERE id = $1";
pub(super) const INSERT_IMAGE: &str =
    "INSERT INTO interrogation_images (interrogation_id, image) VALUES ($1, $2)";
/// Images of interrogations none of whose forms is left unpurged.
pub(super) const PURGE_IMAGES: &str = "DELETE FROM interrogation_images \
     WHERE NOT EXISTS (SELECT 1 FROM requests r \
       WHERE r.group_id = interrogation_images.interrogation_id AND r.purged = FALSE)";
/// An erased account's images; binds (user).
pub(super) const PURGE_IMAGES_OF_USER: &str = "DELETE FROM interrogation_images \
     WHERE interrogation_id IN (SELECT group_id FROM requests \
       WHERE user_id = $1 AND group_id IS NOT NULL)";

/// The original's limit: ten times the account's concurrency in forms waiting or processing.
pub(super) fn check_form_concurrency(active: i64, adding: usize, limit: u32) -> Result<()> {
    let wanted = active + adding as i64;
    let limit = i64::from(limit) * 10;
    if wanted > limit {
        return Err(Rejection::too_many(
            "TooManyPrompts",
            format!(
                "Parallel interrogation forms ({wanted}) exceed your limit ({limit}); wait for \
                 some to finish"
            ),
        )
        .into());
    }
    Ok(())
}

/// Implements [`Alchemy`] for a store, as `impl_common!` does `Common`.
macro_rules! impl_alchemy {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::Alchemy for $store {
            async fn interrogation_forms(&self, interrogation_id: &str) -> Result<Vec<RequestRow>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM requests WHERE group_id = $1 ORDER BY created_at, id",
                )
                .bind(interrogation_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn interrogation_jobs(&self, interrogation_id: &str) -> Result<Vec<JobRow>> {
                Ok(sqlx::query_as(concat!(
                    sql::job_select!(),
                    " WHERE j.request_id IN (SELECT id FROM requests WHERE group_id = $1) \
                      ORDER BY j.popped_at, j.id"
                ))
                .bind(interrogation_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn interrogation_image(
                &self,
                job_id: &str,
                token: &str,
            ) -> Result<Option<Vec<u8>>> {
                Ok(sqlx::query_scalar(
                    "SELECT i.image FROM jobs j \
                     JOIN requests r ON r.id = j.request_id \
                     JOIN interrogation_images i ON i.interrogation_id = r.group_id \
                     WHERE j.id = $1 AND j.upload_token = $2 AND j.state = 'processing'",
                )
                .bind(job_id)
                .bind(token)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn cancel_interrogation(&self, interrogation_id: &str, now: i64) -> Result<()> {
                sqlx::query(concat!(
                    sql::cancel_requests!(),
                    " WHERE group_id = $1 AND state = 'active'"
                ))
                .bind(interrogation_id)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn touch_interrogation(
                &self,
                interrogation_id: &str,
                now: i64,
                delivered: bool,
            ) -> Result<()> {
                sqlx::query(concat!(sql::touch_requests!(), " WHERE group_id = $1"))
                    .bind(interrogation_id)
                    .bind(now)
                    .bind(delivered)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }
    };
}

pub(super) use impl_alchemy;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_limited_to_ten_times_the_concurrency() {
        assert!(check_form_concurrency(0, 10, 1).is_ok());
        assert!(check_form_concurrency(8, 2, 1).is_ok());
        let refused = check_form_concurrency(9, 2, 1).unwrap_err();
        assert_eq!(refused.rejection().unwrap().rc, "TooManyPrompts");
    }
}
