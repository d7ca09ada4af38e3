//! Signs of suspicion (`crate::suspicion`) as the rules meet them: profane names chosen for
//! accounts and workers, prompts the filters refused. (Failed checks and abandoned jobs are
//! recorded inside the transactions that find them.) Owners and moderators read them
//! (`GET /users/{id}/suspicions`); moderators reset them with the account (`PUT /users/{id}`).

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::now_ms;
use crate::store::UserRow;
use crate::suspicion::{is_profane, SuspicionReason, USER_THRESHOLD};
use protocol::SuspicionDetails;

impl Horde {
    /// Records a sign of suspicion on an account, and the worker it was found on.
    pub(super) async fn report_suspicion(
        &self,
        user_id: i64,
        worker_id: Option<&str>,
        reason: SuspicionReason,
    ) -> Result<()> {
        let recorded = self
            .store
            .record_suspicion(user_id, worker_id, reason, now_ms())
            .await?;
        if recorded {
            tracing::warn!(user = user_id, worker = ?worker_id, reason = reason.code(), "suspicion raised");
        }
        Ok(())
    }

    /// A name an account chose: profane, it is a sign (the name stays: refusing it would only
    /// teach the spelling that passes).
    pub(super) async fn suspect_username(&self, user_id: i64, name: &str) -> Result<()> {
        if is_profane(name) {
            self.report_suspicion(user_id, None, SuspicionReason::UsernameProfanity)
                .await?;
        }
        Ok(())
    }

    /// A name a worker was given, as [`Horde::suspect_username`].
    pub(super) async fn suspect_worker_name(
        &self,
        owner_id: i64,
        worker_id: &str,
        name: &str,
    ) -> Result<()> {
        if is_profane(name) {
            self.report_suspicion(owner_id, Some(worker_id), SuspicionReason::WorkerProfanity)
                .await?;
        }
        Ok(())
    }

    /// An account's signs of suspicion, oldest first: for the account itself and moderators.
    pub async fn suspicions(
        &self,
        viewer: &Account,
        user_id: i64,
    ) -> Result<Vec<SuspicionDetails>> {
        let user = self.existing_user(user_id).await?;
        let itself = viewer.user.id == user.id && !viewer.is_anonymous();
        if !itself && !viewer.user.moderator {
            return Err(Rejection::forbidden(
                "NotModerator",
                "Only the account itself and moderators see its signs of suspicion",
            )
            .into());
        }
        let rows = self.store.suspicions_of(user.id).await?;
        Ok(rows
            .into_iter()
            .map(|row| SuspicionDetails {
                reason: row.reason,
                description: SuspicionReason::from_code(row.reason)
                    .map_or("Unknown", SuspicionReason::describe)
                    .to_string(),
                worker_id: row.worker_id,
                worker_name: row.worker_name,
                at: row.at / 1000,
            })
            .collect())
    }
}

/// Whether an account's signs of suspicion hold it back (trusted accounts are never held).
pub(super) fn is_suspicious(user: &UserRow) -> bool {
    !user.trusted && user.suspicion >= USER_THRESHOLD
}
