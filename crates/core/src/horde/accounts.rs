//! Accounts, keys and kudos: registration, roles, account details as each viewer may see them,
//! changes by the account itself, moderators and admins, transfers, the ledger and its audit.
//! Workers are in `workers.rs`.

use super::{suspicions, validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::keys;
use crate::kudos::Kudos;
use crate::names;
use crate::now_ms;
use crate::store::{KudosMismatch, LedgerRow, UserChange, UserRow, UserSort};
use protocol::{
    ContributionsDetails, KudosTransferred, ModifyUser, ModifyUserInput, Registered, UsageDetails,
    UserAmountRecords, UserDetails, UserKudosDetails, UserRecords, UserThingRecords,
};

/// Users listed per page of `GET /users`.
pub const USERS_PER_PAGE: i64 = 25;
/// Pages of `GET /users` past this are empty, as in the AI Horde.
const LAST_USERS_PAGE: i64 = 10_000;

/// The most kudos one admin change may add or remove.
const MAX_KUDOS_CHANGE: f64 = 1e12;
/// The largest balance, either way, an admin change may leave: far below
/// what the ledger (hundredths in an i64) can hold, so sums never overflow.
const MAX_BALANCE: Kudos = Kudos(100_000_000_000_000_000);
/// The most workers an account may be invited to add.
const MAX_WORKER_INVITED: i64 = 1000;

/// The roles an operator gives an account (`potluck admin create-user`, `set-role`); `None`
/// leaves a role as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Roles {
    pub admin: Option<bool>,
    pub moderator: Option<bool>,
    pub trusted: Option<bool>,
}

impl Horde {
    /// Pseudonymous registration: a new account and its key, shown this once. A private
    /// server has none: its operator creates the accounts ([`Horde::create_account`]).
    pub async fn register(&self, username: Option<&str>) -> Result<Registered> {
        if self.policy.private {
            return Err(Rejection::forbidden(
                "RegistrationClosed",
                "This is a private server: registration is closed; ask its operator for an account",
            )
            .into());
        }
        self.refuse_registration_in_raid().await?;
        let username = names::chosen("username", "TooLongUserName", username, 3, 100)?;
        let registered = self.create_account(&username, Roles::default()).await?;
        self.suspect_username(registered.id, &username).await?;
        Ok(registered)
    }

    /// Creates an account directly (the admin CLI), optionally with roles.
    pub async fn create_account(&self, username: &str, roles: Roles) -> Result<Registered> {
        let key = keys::generate_key();
        let user = self
            .store
            .create_user(
                username,
                &keys::hash_key(&key),
                self.policy.default_concurrency,
                None,
                now_ms(),
            )
            .await?;
        self.set_roles(user.id, roles).await?;
        tracing::info!(user = user.id, "account created");
        Ok(Registered {
            id: user.id,
            username: user.alias(),
            apikey: key,
        })
    }

    /// Gives an account roles, or takes them away (the admin CLI); returns it as it is now.
    pub async fn set_roles(&self, user_id: i64, roles: Roles) -> Result<UserRow> {
        self.existing_user(user_id).await?;
        if user_id == 0 {
            return Err(Rejection::bad_request(
                "AnonForbiddenUserMod",
                "The anonymous account has no roles",
            )
            .into());
        }
        let change = UserChange {
            admin: roles.admin,
            moderator: roles.moderator,
            trusted: roles.trusted,
            ..UserChange::default()
        };
        self.store.update_user(user_id, &change, now_ms()).await?;
        tracing::info!(user = user_id, ?roles, "roles set");
        self.existing_user(user_id).await
    }

    /// Replaces a user's key with a fresh one (the admin CLI, and a linked account's own reset);
    /// the old key stops working.
    pub async fn issue_key(&self, user_id: i64) -> Result<String> {
        self.existing_user(user_id).await?;
        if user_id == 0 {
            return Err(Rejection::bad_request(
                "AnonForbiddenUserMod",
                "The anonymous account has a fixed key",
            )
            .into());
        }
        let key = keys::generate_key();
        self.store
            .set_key_hash(user_id, &keys::hash_key(&key))
            .await?;
        Ok(key)
    }

    /// The account with this id; an erased one is not found, only its ledger lines remain.
    pub(super) async fn existing_user(&self, user_id: i64) -> Result<UserRow> {
        let user = self.store.user(user_id).await?;
        Ok(user.filter(|u| u.erased_at.is_none()).ok_or_else(|| {
            Rejection::not_found("UserNotFound", format!("User {user_id} not found"))
        })?)
    }

    /// `GET /find_user`: the account of an API key, as its owner sees it. No key is refused
    /// (401), and a key of no account is not found (404), as the AI Horde answers; a private
    /// server refuses the anonymous key as always. Called with a shared key, its owner's public
    /// details, named as seen through the key.
    pub async fn find_user(&self, apikey: Option<&str>) -> Result<UserDetails> {
        let apikey = apikey.map(str::trim).filter(|k| !k.is_empty());
        if apikey.is_none() && !self.policy.private {
            return Err(Rejection::unauthorized(
                "InvalidAPIKey",
                "Send the API key to look up in the apikey header",
            )
            .into());
        }
        let account = match self.authenticate_requester(apikey).await {
            Err(e) if e.rejection().is_some_and(|r| r.rc == "InvalidAPIKey") => {
                return Err(Rejection::not_found(
                    "UserNotFound",
                    "No user has this API key. Have you registered at this horde?",
                )
                .into())
            }
            other => other?,
        };
        let user = self.existing_user(account.user.id).await?;
        let mut details = self
            .user_details(&user, account.shared_key.is_none())
            .await?;
        if let Some(key) = &account.shared_key {
            let name = key
                .name
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            details.username = format!("{} (Shared Key{name})", details.username);
        }
        Ok(details)
    }

    pub async fn user(&self, viewer: &Account, user_id: i64) -> Result<UserDetails> {
        let user = self.existing_user(user_id).await?;
        self.user_details(&user, viewer.privileged_over(user_id))
            .await
    }

    /// A page of accounts (from 1) sorted by `sort`: `kudos` (the default, also for any value
    /// it does not know, as the AI Horde) or `age`.
    pub async fn users(&self, page: i64, sort: Option<&str>) -> Result<Vec<UserDetails>> {
        if page > LAST_USERS_PAGE {
            return Ok(Vec::new());
        }
        let sort = match sort {
            Some("age") => UserSort::Age,
            _ => UserSort::Kudos,
        };
        let offset = (page.max(1) - 1) * USERS_PER_PAGE;
        let users = self.store.users(sort, offset, USERS_PER_PAGE).await?;
        let mut details = Vec::with_capacity(users.len());
        for user in &users {
            details.push(self.user_details(user, false).await?);
        }
        Ok(details)
    }

    /// The public view of an account; `privileged` (its owner, moderators) adds its contact, held
    /// kudos, suspicion and workers. Its workers are public when it made them so.
    async fn user_details(&self, user: &UserRow, privileged: bool) -> Result<UserDetails> {
        let worker_ids = self.store.worker_ids_of(user.id).await?;
        let mut kudos_details = UserKudosDetails::default();
        for (reason, amount) in self.store.kudos_by_reason(user.id).await? {
            let amount = Kudos(amount).as_f64();
            match reason.as_str() {
                "generated" | "spent" | "uptime" | "released" | "checked" | "refunded"
                | "forfeited" => kudos_details.accumulated += amount,
                "gifted" => kudos_details.gifted -= amount,
                "awarded" => kudos_details.awarded += amount,
                "styled" => kudos_details.styled += amount,
                "received" => kudos_details.received += amount,
                _ => kudos_details.admin += amount,
            }
        }
        let now = now_ms();
        Ok(UserDetails {
            username: user.alias(),
            id: user.id,
            kudos: Kudos(user.kudos).as_f64(),
            evaluating_kudos: privileged.then(|| Kudos(user.held_kudos).as_f64()),
            suspicious: privileged.then_some(user.suspicion),
            concurrency: user.concurrency,
            worker_invited: user.worker_invited,
            moderator: user.moderator,
            trusted: user.trusted,
            flagged: user.flagged,
            pseudonymous: !user.is_linked(),
            account_age: if user.is_anonymous() {
                0
            } else {
                ((now - user.created_at) / 1000).max(0)
            },
            kudos_details,
            worker_count: worker_ids.len() as i64,
            worker_ids: (privileged || user.public_workers).then_some(worker_ids),
            public_workers: privileged.then_some(user.public_workers),
            records: UserRecords {
                usage: UserThingRecords {
                    megapixelsteps: user.usage_mps,
                    tokens: user.usage_tokens,
                },
                contribution: UserThingRecords {
                    megapixelsteps: user.contributed_mps,
                    tokens: user.contributed_tokens,
                },
                fulfillment: UserAmountRecords {
                    image: user.fulfillments_image,
                    text: user.fulfillments_text,
                    interrogation: user.fulfillments_interrogation,
                },
                request: UserAmountRecords {
                    image: user.requests_image,
                    text: user.requests_text,
                    interrogation: user.requests_interrogation,
                },
            },
            usage: UsageDetails {
                megapixelsteps: user.usage_mps,
                requests: user.requests_image + user.requests_text,
            },
            contributions: ContributionsDetails {
                megapixelsteps: user.contributed_mps,
                fulfillments: user.fulfillments_image + user.fulfillments_text,
            },
            contact: if privileged {
                user.contact.clone()
            } else {
                None
            },
        })
    }

    /// `PUT /users/{id}`: a change to an account, each field by whom the AI Horde lets change
    /// it: kudos and the moderator role by admins; concurrency, invitations, trust, flags and
    /// suspicion by moderators; whether its workers are public and its name by the account
    /// itself or moderators (its name only if it is linked to a login provider, as
    /// `rename`); its contact address by the account alone (it is given by consent). Everything
    /// is checked before anything changes, and the change is one transaction.
    pub async fn modify_user(
        &self,
        actor: &Account,
        user_id: i64,
        input: ModifyUserInput,
    ) -> Result<ModifyUser> {
        let current = self.existing_user(user_id).await?;
        let ModifyUserInput {
            kudos,
            concurrency,
            moderator,
            trusted,
            flagged,
            worker_invited,
            reset_suspicion,
            public_workers,
            username,
            contact,
            unserved,
        } = input;
        if let Some((field, _)) = unserved.iter().find(|(_, value)| !value.is_null()) {
            return Err(Rejection::bad_request(
                "BadRequest",
                format!("{field} is not a change this server makes (docs/compatibility.md)"),
            )
            .into());
        }
        let nothing = kudos.is_none()
            && concurrency.is_none()
            && moderator.is_none()
            && trusted.is_none()
            && flagged.is_none()
            && worker_invited.is_none()
            && reset_suspicion.is_none()
            && public_workers.is_none()
            && username.is_none()
            && contact.is_none();
        if nothing {
            return Err(Rejection::bad_request(
                "NoUserModSelected",
                "No usermod operations selected!",
            )
            .into());
        }
        // Who may, in the AI Horde's order of fields.
        if kudos.is_some() || moderator.is_some() {
            actor.require_admin()?;
        }
        let moderated = concurrency.is_some()
            || worker_invited.is_some()
            || trusted.is_some()
            || flagged.is_some()
            || reset_suspicion.is_some();
        if moderated {
            actor.require_moderator()?;
        }
        let itself = actor.user.id == user_id && !actor.is_anonymous();
        if (public_workers.is_some() || username.is_some()) && !itself {
            actor.require_moderator()?;
        }
        if username.is_some() && !actor.user.moderator {
            super::logins::require_linked(actor)?;
        }
        if contact.is_some() && !itself {
            return Err(Rejection::forbidden(
                "Forbidden",
                "Only the account itself can set its contact address: it is given by consent",
            )
            .into());
        }
        if user_id == 0 {
            return Err(Rejection::bad_request(
                "AnonForbiddenUserMod",
                "The anonymous account cannot be changed",
            )
            .into());
        }
        if let Some(kudos) = kudos {
            let within = kudos.is_finite()
                && kudos.abs() <= MAX_KUDOS_CHANGE
                && current
                    .kudos
                    .checked_add(Kudos::from_f64(kudos).0)
                    .is_some_and(|balance| balance.abs() <= MAX_BALANCE.0);
            if !within {
                return Err(Rejection::invalid_field(
                    "kudos",
                    "KudosValidationError",
                    format!(
                        "kudos may change by at most {MAX_KUDOS_CHANGE:.0} at once, \
                         leaving a balance within {:.0} either way",
                        MAX_BALANCE.as_f64()
                    ),
                )
                .into());
            }
        }
        if let Some(concurrency) = concurrency {
            validate::in_range("concurrency", concurrency, 0, 500)?;
        }
        if let Some(invited) = worker_invited {
            validate::in_range("worker_invited", invited, 0, MAX_WORKER_INVITED)?;
        }
        let username = username
            .map(|name| names::chosen("username", "TooLongUserName", Some(&name), 3, 100))
            .transpose()?;
        // An empty address withdraws it.
        let contact = contact
            .map(|c| match c.trim() {
                "" => Ok(None),
                c => validate::contact(c).map(Some),
            })
            .transpose()?;
        let change = UserChange {
            kudos_delta: kudos.map(Kudos::from_f64),
            concurrency,
            moderator,
            admin: None,
            // A new moderator is trusted too, as in the AI Horde, unless told otherwise.
            trusted: trusted.or(moderator.filter(|m| *m)),
            flagged,
            worker_invited,
            reset_suspicion: reset_suspicion == Some(true),
            public_workers,
            username: username.clone(),
            contact: contact.clone(),
        };
        self.store.update_user(user_id, &change, now_ms()).await?;
        tracing::info!(actor = actor.user.id, user = user_id, "account changed");
        if let Some(name) = &username {
            self.suspect_username(user_id, name).await?;
        }
        if !itself || kudos.is_some() || moderator.is_some() || moderated {
            let fields = [
                ("kudos", kudos.is_some()),
                ("concurrency", concurrency.is_some()),
                ("moderator", moderator.is_some()),
                ("trusted", trusted.is_some()),
                ("flagged", flagged.is_some()),
                ("worker_invited", worker_invited.is_some()),
                ("reset_suspicion", reset_suspicion.is_some()),
                ("public_workers", public_workers.is_some()),
                ("username", username.is_some()),
            ];
            let changed: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
            let target = format!("user #{user_id}: {}", changed.join(", "));
            self.record_moderation(actor, "account changed", target)
                .await?;
        }
        let user = self.existing_user(user_id).await?;
        Ok(ModifyUser {
            new_kudos: kudos.map(|_| Kudos(user.kudos).as_f64()),
            concurrency: concurrency.map(|_| user.concurrency),
            moderator: moderator.map(|_| user.moderator),
            trusted: change.trusted.map(|_| user.trusted),
            flagged: flagged.map(|_| user.flagged),
            worker_invited: worker_invited.map(|_| user.worker_invited),
            new_suspicion: reset_suspicion.map(|_| user.suspicion),
            public_workers: public_workers.map(|_| user.public_workers),
            username,
            contact: contact.flatten(),
        })
    }

    /// Gives some of the caller's kudos to another account, named `name#id`.
    pub async fn transfer_kudos(
        &self,
        giver: &Account,
        recipient: &str,
        amount: f64,
    ) -> Result<KudosTransferred> {
        if giver.is_anonymous() {
            return Err(Rejection::bad_request(
                "KudosTransferFromAnon",
                "The anonymous account has no kudos to give",
            )
            .into());
        }
        let amount = Kudos::from_f64(amount);
        if amount <= Kudos::ZERO {
            return Err(Rejection::invalid_field(
                "amount",
                "NegativeKudosTransfer",
                "amount must be positive",
            )
            .into());
        }
        let recipient_id = recipient
            .rsplit_once('#')
            .map_or(recipient, |(_, id)| id)
            .trim()
            .parse::<i64>()
            .map_err(|_| {
                Rejection::invalid_field(
                    "username",
                    "InvalidAwardUsername",
                    "username must look like name#id",
                )
            })?;
        if recipient_id == 0 {
            return Err(Rejection::bad_request(
                "KudosTransferToAnon",
                "Kudos cannot go to the anonymous account",
            )
            .into());
        }
        if recipient_id == giver.user.id {
            return Err(Rejection::bad_request(
                "KudosTransferToSelf",
                "You cannot send kudos to yourself",
            )
            .into());
        }
        giver.require_unfrozen()?;
        let recipient = self.existing_user(recipient_id).await?;
        if recipient.frozen {
            return Err(Rejection::forbidden(
                "AccountFrozen",
                "The recipient's account is frozen: it takes no kudos until it is unfrozen",
            )
            .into());
        }
        refuse_held_back_transfer(&giver.user, &recipient)?;
        self.store
            .transfer_kudos(giver.user.id, recipient_id, amount, now_ms())
            .await?;
        tracing::info!(from = giver.user.id, to = recipient_id, amount = %amount, "kudos transferred");
        Ok(KudosTransferred {
            transferred: amount.as_f64(),
        })
    }

    /// A consistent copy of the database in the new file `path`, taken while it serves (the
    /// admin CLI's `backup`; SQLite only).
    pub async fn backup(&self, path: &str) -> Result<()> {
        if std::path::Path::new(path).exists() {
            return Err(Rejection::bad_request(
                "BackupExists",
                format!("{path} exists already: a backup never overwrites a file"),
            )
            .into());
        }
        self.store.backup(path).await
    }

    /// Accounts whose balance differs from their ledger: always empty unless
    /// something is badly wrong. Used by the admin CLI and the tests.
    pub async fn audit_kudos(&self) -> Result<Vec<KudosMismatch>> {
        self.store.kudos_mismatches().await
    }

    /// The latest lines of the caller's kudos ledger, newest first.
    pub async fn kudos_history(&self, account: &Account, limit: i64) -> Result<Vec<LedgerRow>> {
        account.require_registered("AnonForbidden", "keep a kudos history")?;
        self.store
            .kudos_history(account.user.id, limit.clamp(1, 500))
            .await
    }
}

/// Flagged and suspicious accounts neither give nor receive kudos (the AI Horde's refusals, its
/// words: what was found stays the moderators' to tell).
fn refuse_held_back_transfer(giver: &UserRow, recipient: &UserRow) -> Result<()> {
    let refusal = if suspicions::is_suspicious(giver) {
        Some((
            "FaultWhenKudosSending",
            "Something went wrong when sending kudos. Please contact the mods.",
        ))
    } else if giver.flagged {
        Some((
            "SourceAccountFlagged",
            "Your account has been flagged for suspicious activity: it cannot send kudos. \
             Please contact the mods.",
        ))
    } else if suspicions::is_suspicious(recipient) {
        Some((
            "FaultWhenKudosReceiving",
            "Something went wrong when receiving kudos. Please contact the mods.",
        ))
    } else if recipient.flagged {
        Some((
            "TargetAccountFlagged",
            "The target account has been flagged for suspicious activity and transferring \
             kudos to it is blocked.",
        ))
    } else {
        None
    };
    match refusal {
        Some((rc, message)) => Err(Rejection::bad_request(rc, message).into()),
        None => Ok(()),
    }
}
