//! Accounts, keys and kudos: registration, account details, moderators' changes, transfers,
//! the ledger and its audit. Workers are in `workers.rs`.

use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::keys;
use crate::kudos::Kudos;
use crate::now_ms;
use crate::store::{KudosMismatch, LedgerRow, UserChange, UserRow, UserSort};
use protocol::{
    ContributionsDetails, KudosTransferred, ModifyUser, ModifyUserInput, Registered, UsageDetails,
    UserAmountRecords, UserDetails, UserKudosDetails, UserRecords, UserThingRecords,
};

/// Users listed per page of `GET /users`.
pub const USERS_PER_PAGE: i64 = 25;

/// The most kudos one moderator change may add or remove.
const MAX_KUDOS_CHANGE: f64 = 1e12;
/// The largest balance, either way, a moderator change may leave: far below
/// what the ledger (hundredths in an i64) can hold, so sums never overflow.
const MAX_BALANCE: Kudos = Kudos(100_000_000_000_000_000);

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
        let username = validate::name("username", "TooLongUserName", username, 3, 100)?;
        self.create_account(&username, false, false).await
    }

    /// Creates an account directly (the admin CLI), optionally with roles.
    pub async fn create_account(
        &self,
        username: &str,
        moderator: bool,
        trusted: bool,
    ) -> Result<Registered> {
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
        if moderator || trusted {
            let change = UserChange {
                moderator: Some(moderator),
                trusted: Some(trusted),
                ..UserChange::default()
            };
            self.store.update_user(user.id, &change, now_ms()).await?;
        }
        tracing::info!(user = user.id, "account created");
        Ok(Registered {
            id: user.id,
            username: user.alias(),
            apikey: key,
        })
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
    async fn existing_user(&self, user_id: i64) -> Result<UserRow> {
        let user = self.store.user(user_id).await?;
        Ok(user.filter(|u| u.erased_at.is_none()).ok_or_else(|| {
            Rejection::not_found("UserNotFound", format!("User {user_id} not found"))
        })?)
    }

    pub async fn find_user(&self, account: &Account) -> Result<UserDetails> {
        let user = self.existing_user(account.user.id).await?;
        self.user_details(&user, true).await
    }

    pub async fn user(&self, viewer: &Account, user_id: i64) -> Result<UserDetails> {
        let user = self.existing_user(user_id).await?;
        let privileged = viewer.user.id == user_id || viewer.user.moderator;
        self.user_details(&user, privileged).await
    }

    pub async fn users(&self, page: i64, sort: UserSort) -> Result<Vec<UserDetails>> {
        // Saturating: a huge page number is an empty page, not an overflow.
        let offset = (page.max(1) - 1).saturating_mul(USERS_PER_PAGE);
        let users = self.store.users(sort, offset, USERS_PER_PAGE).await?;
        let mut details = Vec::with_capacity(users.len());
        for user in &users {
            details.push(self.user_details(user, false).await?);
        }
        Ok(details)
    }

    /// The public view of an account; `privileged` adds what only its owner
    /// and moderators may see.
    async fn user_details(&self, user: &UserRow, privileged: bool) -> Result<UserDetails> {
        let worker_ids = self.store.worker_ids_of(user.id).await?;
        let mut kudos_details = UserKudosDetails::default();
        for (reason, amount) in self.store.kudos_by_reason(user.id).await? {
            let amount = Kudos(amount).as_f64();
            match reason.as_str() {
                "generated" | "spent" | "uptime" | "released" | "checked" | "refunded"
                | "forfeited" => kudos_details.accumulated += amount,
                "gifted" => kudos_details.gifted -= amount,
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
            pseudonymous: true,
            account_age: if user.is_anonymous() {
                0
            } else {
                ((now - user.created_at) / 1000).max(0)
            },
            kudos_details,
            worker_count: worker_ids.len() as i64,
            worker_ids: if privileged { worker_ids } else { Vec::new() },
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
                    interrogation: 0,
                },
                request: UserAmountRecords {
                    image: user.requests_image,
                    text: user.requests_text,
                    interrogation: 0,
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

    /// A moderator's change to an account.
    pub async fn modify_user(
        &self,
        actor: &Account,
        user_id: i64,
        input: ModifyUserInput,
    ) -> Result<ModifyUser> {
        actor.require_moderator()?;
        let current = self.existing_user(user_id).await?;
        if user_id == 0 {
            return Err(Rejection::bad_request(
                "AnonForbiddenUserMod",
                "The anonymous account cannot be changed",
            )
            .into());
        }
        if let Some(kudos) = input.kudos {
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
        if let Some(concurrency) = input.concurrency {
            validate::in_range("concurrency", concurrency, 0, 500)?;
        }
        let username = match input.username.as_deref() {
            Some(name) => Some(validate::name(
                "username",
                "TooLongUserName",
                Some(name),
                3,
                100,
            )?),
            None => None,
        };
        let contact = input
            .contact
            .as_deref()
            .map(validate::contact)
            .transpose()?;
        let change = UserChange {
            kudos_delta: input.kudos.map(Kudos::from_f64),
            concurrency: input.concurrency,
            moderator: input.moderator,
            trusted: input.trusted,
            flagged: input.flagged,
            worker_invited: input.worker_invited,
            username: username.clone(),
            contact: contact.clone(),
        };
        self.store.update_user(user_id, &change, now_ms()).await?;
        let user = self.existing_user(user_id).await?;
        Ok(ModifyUser {
            new_kudos: input.kudos.map(|_| Kudos(user.kudos).as_f64()),
            concurrency: input.concurrency,
            moderator: input.moderator,
            trusted: input.trusted,
            flagged: input.flagged,
            worker_invited: input.worker_invited,
            username,
            contact,
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
        if self.existing_user(recipient_id).await?.frozen {
            return Err(Rejection::forbidden(
                "AccountFrozen",
                "The recipient's account is frozen: it takes no kudos until it is unfrozen",
            )
            .into());
        }
        self.store
            .transfer_kudos(giver.user.id, recipient_id, amount, now_ms())
            .await?;
        tracing::info!(from = giver.user.id, to = recipient_id, amount = %amount, "kudos transferred");
        Ok(KudosTransferred {
            transferred: amount.as_f64(),
        })
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
