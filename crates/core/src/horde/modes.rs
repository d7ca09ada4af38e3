//! The server's modes, set by moderators (`PUT /api/v2/status/modes`) and kept in the
//! database, so that every instance enforces them at once:
//!
//! - **maintenance**: no new requests (`MaintenanceMode`); the waiting ones are cancelled when
//!   it begins (what they have is delivered), and workers finish what they hold.
//! - **invite-only**: an account may start a new worker only while it runs fewer workers than
//!   a moderator invited it to (`worker_invited`).
//! - **raid**: new and anonymous accounts are limited harder: no pseudonymous registration,
//!   and anonymous requesters and untrusted accounts younger than a week may have one request
//!   waiting at a time. Only moderators are told it is on, and nobody is told that no worker
//!   can serve their request.

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::now_ms;
use protocol::HordeModes;

/// The active requests a new or anonymous requester may have during a raid.
pub(super) const RAID_CONCURRENCY: u32 = 1;
/// How young an untrusted account is "new" during a raid.
const NEW_ACCOUNT_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// The settings that hold the modes: keys `mode.<name>`, each `true` or `false`.
const MAINTENANCE: &str = "mode.maintenance";
const INVITE_ONLY: &str = "mode.invite_only";
const RAID: &str = "mode.raid";

/// The modes in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ModesNow {
    pub maintenance: bool,
    pub invite_only: bool,
    pub raid: bool,
}

impl Horde {
    /// The modes in force now, read from the database (one indexed range read).
    pub(super) async fn current_modes(&self) -> Result<ModesNow> {
        let mut modes = ModesNow::default();
        // Every key of the `mode.` prefix, and nothing else: '/' sorts right after '.'.
        for (key, value) in self.store.settings_in("mode.", "mode/").await? {
            let on = value == "true";
            match key.as_str() {
                MAINTENANCE => modes.maintenance = on,
                INVITE_ONLY => modes.invite_only = on,
                RAID => modes.raid = on,
                _ => {}
            }
        }
        Ok(modes)
    }

    /// The modes as `/status/modes` shows them: raid mode only to a moderator, who must be
    /// one if a key was sent.
    pub async fn modes(&self, viewer: Option<&Account>) -> Result<HordeModes> {
        if let Some(viewer) = viewer {
            viewer.require_moderator()?;
        }
        let modes = self.current_modes().await?;
        Ok(HordeModes {
            maintenance_mode: Some(modes.maintenance),
            invite_only_mode: Some(modes.invite_only),
            raid_mode: viewer.map(|_| modes.raid),
        })
    }

    /// A moderator's change of modes; the answer holds the modes changed. Maintenance, which
    /// stops the whole server's queue, is an admin's to set, as in the AI Horde.
    pub async fn set_modes(&self, account: &Account, input: HordeModes) -> Result<HordeModes> {
        account.require_moderator()?;
        if input.maintenance_mode.is_some() {
            account.require_admin()?;
        }
        let changes = [
            (MAINTENANCE, input.maintenance_mode),
            (INVITE_ONLY, input.invite_only_mode),
            (RAID, input.raid_mode),
        ];
        if changes.iter().all(|(_, value)| value.is_none()) {
            return Err(
                Rejection::bad_request("NoHordeModSelected", "No mod change selected!").into(),
            );
        }
        for (key, value) in changes {
            if let Some(value) = value {
                self.store.set_setting(key, &value.to_string()).await?;
                tracing::warn!(
                    moderator = account.user.id,
                    mode = key,
                    on = value,
                    "mode set"
                );
            }
        }
        let set: Vec<String> = changes
            .iter()
            .filter_map(|(key, value)| value.map(|on| format!("{key}={on}")))
            .collect();
        self.record_moderation(account, "modes set", set.join(", "))
            .await?;
        if input.maintenance_mode == Some(true) {
            let cancelled = self.store.cancel_all_requests(now_ms()).await?;
            tracing::warn!(cancelled, "maintenance: waiting requests cancelled");
        }
        Ok(input)
    }

    /// Refuses new requests while the server is in maintenance.
    pub(super) async fn refuse_in_maintenance(&self) -> Result<()> {
        if self.current_modes().await?.maintenance {
            return Err(Rejection::bad_request(
                "MaintenanceMode",
                "This server has entered maintenance mode. Please try again later.",
            )
            .into());
        }
        Ok(())
    }

    /// Whether raid mode limits this account harder: anonymous, or untrusted and young.
    pub(super) fn is_new_or_anonymous(&self, account: &Account) -> bool {
        let user = &account.user;
        user.is_anonymous() || (!user.trusted && now_ms() - user.created_at < NEW_ACCOUNT_MS)
    }

    /// Refuses pseudonymous registration during a raid.
    pub(super) async fn refuse_registration_in_raid(&self) -> Result<()> {
        if self.current_modes().await?.raid {
            return Err(Rejection::forbidden(
                "Forbidden",
                "We cannot allow anonymous registrations at the moment. Please try again later.",
            )
            .into());
        }
        Ok(())
    }

    /// In invite-only mode, refuses a new worker beyond those a moderator invited its owner to
    /// run.
    pub(super) async fn require_invited(&self, account: &Account) -> Result<()> {
        if !self.current_modes().await?.invite_only {
            return Ok(());
        }
        let workers = self.store.worker_ids_of(account.user.id).await?.len() as i64;
        if workers >= account.user.worker_invited {
            let message = match workers {
                0 => "This server has been switched to worker invite-only mode. Ask a moderator \
                      to invite you to join your worker."
                    .to_string(),
                n => format!(
                    "This server has been switched to worker invite-only mode and you already \
                     have {n} workers. Ask a moderator to invite you to join more."
                ),
            };
            return Err(Rejection::forbidden("WorkerInviteOnly", message).into());
        }
        Ok(())
    }
}
