//! The moderation log: everything moderators and admins do with their rights over others
//! (accounts, workers, teams, messages, awards, modes, address timeouts), who did it and when.
//! Entries name their target by id and the fields changed, never a prompt, a message's text, a
//! contact address or a client address.

use super::{Account, Horde};
use crate::error::Result;
use crate::now_ms;
use protocol::ModerationEntry;

/// Entries a page.
const PAGE: i64 = 50;

impl Horde {
    /// Writes an entry. The action is done already: an entry that cannot be written fails the
    /// call, so the moderator learns of it and nothing goes unlogged silently.
    pub(super) async fn record_moderation(
        &self,
        actor: &Account,
        action: &str,
        target: impl AsRef<str>,
    ) -> Result<()> {
        self.store
            .insert_moderation(now_ms(), actor.user.id, action, target.as_ref())
            .await
    }

    /// `GET /operations/moderation_log?page=`: 50 entries a page, newest first; moderators only.
    pub async fn moderation_log(
        &self,
        moderator: &Account,
        page: Option<i64>,
    ) -> Result<Vec<ModerationEntry>> {
        moderator.require_moderator()?;
        let page = page.unwrap_or(1).clamp(1, 10_000);
        let rows = self.store.moderation_log(PAGE, (page - 1) * PAGE).await?;
        Ok(rows
            .into_iter()
            .map(|row| ModerationEntry {
                id: row.id,
                at: row.at / 1000,
                actor: format!("{}#{}", row.actor_name.unwrap_or_default(), row.actor_id),
                action: row.action,
                target: row.target,
            })
            .collect())
    }
}
