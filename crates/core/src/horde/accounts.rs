//! Accounts, keys, kudos transfers, and the management of workers.

use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::keys;
use crate::kudos::Kudos;
use crate::now_ms;
use crate::store::{LedgerRow, UserChange, UserRow, UserSort, WorkerChange, WorkerRow};
use protocol::{
    ContributionsDetails, DeletedWorker, KudosTransferred, ModifyUser, ModifyUserInput,
    ModifyWorker, ModifyWorkerInput, Registered, UsageDetails, UserAmountRecords, UserDetails,
    UserKudosDetails, UserRecords, UserThingRecords, WorkerDetails, WorkerKudosDetails, WorkerType,
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
                "generated" | "spent" | "uptime" => kudos_details.accumulated += amount,
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
            evaluating_kudos: 0.0,
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
    pub async fn audit_kudos(&self) -> Result<Vec<(i64, Kudos, Kudos)>> {
        Ok(self
            .store
            .kudos_mismatches()
            .await?
            .into_iter()
            .map(|(id, balance, ledger)| (id, Kudos(balance), Kudos(ledger)))
            .collect())
    }

    /// The latest lines of the caller's kudos ledger, newest first.
    pub async fn kudos_history(&self, account: &Account, limit: i64) -> Result<Vec<LedgerRow>> {
        account.require_registered("AnonForbidden", "keep a kudos history")?;
        self.store
            .kudos_history(account.user.id, limit.clamp(1, 500))
            .await
    }

    /// Every worker the caller owns, online or not.
    pub async fn workers_of(&self, owner: &Account) -> Result<Vec<WorkerDetails>> {
        let mut workers = Vec::new();
        for id in self.store.worker_ids_of(owner.user.id).await? {
            if let Some(worker) = self.store.worker(&id).await? {
                workers.push(self.worker_details(&worker, owner));
            }
        }
        Ok(workers)
    }

    /// Workers online now, optionally of one kind.
    pub async fn workers(
        &self,
        viewer: &Account,
        kind: Option<WorkerType>,
    ) -> Result<Vec<WorkerDetails>> {
        let online_since = self.online_since();
        Ok(self
            .store
            .workers(kind.map(WorkerType::as_str))
            .await?
            .iter()
            .filter(|w| w.last_check_in >= online_since)
            .map(|w| self.worker_details(w, viewer))
            .collect())
    }

    pub async fn worker(&self, viewer: &Account, id: &str) -> Result<WorkerDetails> {
        let worker = self.existing_worker(id).await?;
        Ok(self.worker_details(&worker, viewer))
    }

    async fn existing_worker(&self, id: &str) -> Result<WorkerRow> {
        let not_found = || Rejection::not_found("WorkerNotFound", format!("Worker {id} not found"));
        // No id holds a NUL, and PostgreSQL cannot even look one up.
        if id.contains('\0') {
            return Err(not_found().into());
        }
        Ok(self.store.worker(id).await?.ok_or_else(not_found)?)
    }

    pub(super) fn online_since(&self) -> i64 {
        now_ms() - self.policy.worker_stale.as_millis() as i64
    }

    /// Whether a worker takes jobs now: it checked in lately, and is neither in maintenance
    /// nor paused.
    pub(super) fn takes_jobs(&self, worker: &WorkerRow) -> bool {
        worker.last_check_in >= self.online_since() && !worker.maintenance && !worker.paused
    }

    fn worker_details(&self, w: &WorkerRow, viewer: &Account) -> WorkerDetails {
        let privileged = viewer.user.id == w.owner_id || viewer.user.moderator;
        let text = w.kind == "text";
        let image = |v: bool| (!text).then_some(v);
        let (fulfilled, busy_secs) = (w.requests_fulfilled, (w.uptime_ms / 1000).max(1));
        WorkerDetails {
            id: w.id.clone(),
            name: w.name.clone(),
            kind: if text {
                WorkerType::Text
            } else {
                WorkerType::Image
            },
            online: w.last_check_in >= self.online_since(),
            requests_fulfilled: fulfilled,
            kudos_rewards: Kudos(w.kudos_generated + w.kudos_uptime).as_f64(),
            kudos_details: WorkerKudosDetails {
                generated: Kudos(w.kudos_generated).as_f64(),
                uptime: Kudos(w.kudos_uptime).as_f64().round() as i64,
            },
            performance: if text {
                format!(
                    "{:.1} tokens per second",
                    w.tokens_generated as f64 / busy_secs as f64
                )
            } else {
                format!(
                    "{:.1} megapixelsteps per second",
                    w.mps_generated / busy_secs as f64
                )
            },
            threads: w.threads,
            uptime: w.uptime_ms / 1000,
            maintenance_mode: w.maintenance,
            paused: w.paused,
            info: w.info.clone(),
            nsfw: w.nsfw,
            owner: privileged.then(|| format!("{}#{}", w.owner_name, w.owner_id)),
            trusted: w.trusted(),
            browser: w.browser,
            keeps_prompts: w.keeps_prompts,
            flagged: w.owner_flagged,
            suspicious: 0,
            uncompleted_jobs: w.uncompleted_jobs,
            models: w.models.0.clone(),
            bridge_agent: w.bridge_agent.clone(),
            max_length: text.then_some(w.max_length),
            max_context_length: text.then_some(w.max_context_length),
            tokens_generated: text.then_some(w.tokens_generated as f64),
            max_pixels: (!text).then_some(w.max_pixels),
            megapixelsteps_generated: (!text).then_some(w.mps_generated),
            img2img: image(w.allow_img2img),
            painting: image(w.allow_painting),
            post_processing: image(w.allow_post_processing),
            lora: image(w.allow_lora),
            controlnet: image(w.allow_controlnet),
        }
    }

    /// Owners may set maintenance, info and name; only moderators may pause.
    pub async fn modify_worker(
        &self,
        actor: &Account,
        id: &str,
        input: ModifyWorkerInput,
    ) -> Result<ModifyWorker> {
        let worker = self.existing_worker(id).await?;
        let owner = actor.user.id == worker.owner_id && !actor.is_anonymous();
        if !owner && !actor.user.moderator {
            return Err(Rejection::forbidden(
                "NotOwner",
                "Only the worker's owner or a moderator can change it",
            )
            .into());
        }
        if input.paused.is_some() {
            actor.require_moderator()?;
        }
        let name = match input.name.as_deref() {
            Some(name) => Some(validate::name(
                "name",
                "TooLongWorkerName",
                Some(name),
                5,
                100,
            )?),
            None => None,
        };
        for (field, text) in [
            ("info", &input.info),
            ("maintenance_msg", &input.maintenance_msg),
        ] {
            if let Some(text) = text {
                if text.chars().count() > 1000 {
                    return Err(Rejection::invalid_field(
                        field,
                        "BadRequest",
                        format!("{field} must have at most 1000 characters"),
                    )
                    .into());
                }
                validate::no_nul(field, text)?;
            }
        }
        let change = WorkerChange {
            maintenance: input.maintenance,
            maintenance_msg: input.maintenance_msg.clone(),
            paused: input.paused,
            info: input.info.clone(),
            name: name.clone(),
        };
        self.store.modify_worker(id, &change).await?;
        Ok(ModifyWorker {
            maintenance: input.maintenance,
            paused: input.paused,
            info: input.info,
            name,
        })
    }

    pub async fn delete_worker(&self, actor: &Account, id: &str) -> Result<DeletedWorker> {
        let worker = self.existing_worker(id).await?;
        let owner = actor.user.id == worker.owner_id && !actor.is_anonymous();
        if !owner && !actor.user.moderator {
            return Err(Rejection::forbidden(
                "NotOwner",
                "Only the worker's owner or a moderator can delete it",
            )
            .into());
        }
        self.store.delete_worker(id).await?;
        Ok(DeletedWorker {
            deleted_id: worker.id,
            deleted_name: worker.name,
        })
    }
}
