//! The rules of the cluster, behind one type the HTTP layer calls.
//!
//! [`Horde`] holds the store, the operator's [`Policy`], the relay and a few short-lived caches.
//! Every handler of `/api/v2`, `/v1` and the web UI calls one of its methods, which checks the
//! caller ([`Account`], from `authenticate` in this file) and the input, applies the rules, and
//! reads and writes through the store. Its methods are spread over one file per subject:
//!
//! - `alchemy.rs`: interrogations (alchemy): an image and the forms asked of it, each served by
//!   an alchemist on its own; the requester's side and the alchemist's.
//! - `webhooks.rs`: the URLs a request's delivered jobs are POSTed to, called in the background.
//! - `requests.rs`: the requester's side: queue a request (`submit_text`, `submit_image`, both
//!   through `enqueue`), its status (`text_status`, `image_status`), cancel. Start here.
//! - `jobs.rs`: the worker's side: pop (`pop_text`, `pop_image`: `check_in`, then
//!   `find_and_claim`), image uploads, submit (`submit_text_result`, `submit_image_result`).
//! - `streaming.rs`: text as workers generate it (`text_progress`, relayed to whoever streams
//!   the request), the end of each job announced, and the results as `/v1` reports them
//!   (`text_outcome`).
//! - `text_models.rs`: which text models are served now: their availability, the online
//!   models, the chat templates their workers announced.
//! - `workers.rs`: workers as owners, moderators and the public see them: listing, details,
//!   whether one takes jobs now (`takes_jobs`), changes, deletion.
//! - `teams.rs`: teams of workers: their details and figures, who creates, changes, deletes.
//! - `worker_messages.rs`: messages to workers: written by moderators (or owners, to their own
//!   workers), listed, read with each pop until they expire.
//! - `accounts.rs`: accounts, keys and kudos: registration, roles, details as each viewer may
//!   see them, changes by the account itself, moderators and admins, transfers, the ledger and
//!   its audit.
//! - `logins.rs`: accounts linked to a login provider: the sign-in, renaming, a new key.
//! - `data_rights.rs`: an owner's data rights: export, contact, freeze, erasure.
//! - `figures.rs`: the public figures: models served, queue sizes, throughput.
//! - `stats.rs`: how many generations finished per minute, hour, day, month and all time.
//! - `modes.rs`: the server's modes (maintenance, invite-only, raid), set by moderators.
//! - `moderation_log.rs`: what moderators and admins did with their rights (who, what, when).
//! - `prompt_filters.rs`: moderators' prompt filters, and what they do to image requests.
//! - `suspicions.rs`: signs of suspicion met in names and prompts, and what owners and
//!   moderators see of them.
//! - `styles.rs`: styles, their examples and collections, and applying one to a request.
//! - `shared_keys.rs`: keys an account lends to others, who spend its kudos within limits.
//! - `awards.rs`: kudos awarded, and the reward for rating a shared request's images.
//! - `sweep.rs`: the housekeeping every instance runs (`sweep`).
//! - `address_hash.rs`: keyed hashes of client addresses, and the secrets they rotate through;
//!   `address_blocks.rs`: moderators' timeouts of client addresses, which work on those hashes.
//! - `validate.rs`: input checks with the AI Horde's limits and `rc` codes; `text_input.rs` and
//!   `image_input.rs`: the AI Horde's checks of a text or image request's parameters.
//! - `pricing.rs`: what a request costs, its upfront kudos, and how it is made smaller when its
//!   requester cannot pay and allowed that.
//! - `cache.rs`: a value read from the store and reused for a short while.

mod accounts;
mod address_blocks;
mod address_hash;
mod alchemy;
mod awards;
mod cache;
mod data_rights;
mod figures;
mod image_input;
mod jobs;
mod logins;
mod moderation_log;
mod modes;
mod pricing;
mod prompt_filters;
mod requests;
mod shared_keys;
mod stats;
mod streaming;
mod styles;
mod suspicions;
mod sweep;
mod teams;
mod text_input;
mod text_models;
mod trust;
mod validate;
mod webhooks;
mod worker_messages;
mod workers;

pub use accounts::Roles;
pub use address_blocks::canonical_address;
pub use figures::{ModelFilter, ModelState};
pub use jobs::{ImageUpload, StoredImage};
pub use logins::{LinkedSignIn, PENDING_LOGIN_LIFETIME};
pub use requests::TextMinimums;
pub use streaming::{TextOutcome, TextResult};
pub use styles::StyleKind;
pub use sweep::SweepReport;
pub use text_models::ModelAvailability;
pub use worker_messages::MessagesQuery;

use crate::error::{Rejection, Result};
use crate::keys;
use crate::matching::Capabilities;
use crate::outbound::Outbound;
use crate::policy::Policy;
use crate::relay::Relay;
use crate::store::{
    FinishedWork, GenerationCounts, QueuedWork, SharedKeyRow, Store, UserRow, WorkerRow,
};
use cache::Cached;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Who is calling: the account behind the API key.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: UserRow,
    /// The shared key the caller sent instead of the account's own key, if so: the caller
    /// spends the account's kudos within the key's limits, and may do nothing else as it.
    pub shared_key: Option<SharedKeyRow>,
}

impl Account {
    pub fn is_anonymous(&self) -> bool {
        self.user.is_anonymous()
    }

    fn require_registered(&self, rc: &'static str, what: &str) -> Result<()> {
        if self.is_anonymous() {
            return Err(Rejection::forbidden(
                rc,
                format!("Anonymous users cannot {what}; register for an API key"),
            )
            .into());
        }
        Ok(())
    }

    fn require_moderator(&self) -> Result<()> {
        if !self.user.moderator {
            return Err(Rejection::forbidden("NotModerator", "Only moderators can do this").into());
        }
        Ok(())
    }

    fn require_admin(&self) -> Result<()> {
        if !self.user.admin {
            return Err(Rejection::forbidden("NotAdmin", "Only admins can do this").into());
        }
        Ok(())
    }

    /// Whether this caller sees the privileged view of what belongs to `owner_id` (an account,
    /// its workers): its owner's own contact, held kudos, workers and messages. The AI Horde
    /// shows it to its owner and moderators (`details_privilege`).
    fn privileged_over(&self, owner_id: i64) -> bool {
        self.user.moderator || (self.user.id == owner_id && !self.is_anonymous())
    }
}

pub struct Horde {
    store: Arc<dyn Store>,
    policy: Policy,
    /// Live events between instances: streamed text, ends of jobs.
    relay: Arc<Relay>,
    /// The queue's shape, for the informational `skipped.models` count of
    /// empty pops: reading it scans every waiting request, and workers poll often.
    queue_shape: Cached<Vec<QueuedWork>>,
    /// The recent pace of the workers, for wait estimates on every status poll.
    recent_pace: Cached<Vec<FinishedWork>>,
    /// Each worker's speed lately, for requests that refuse slow workers.
    worker_speeds: Cached<HashMap<String, f64>>,
    /// The moderators' prompt filters, compiled.
    prompt_checker: Cached<crate::prompt_filter::PromptChecker>,
    /// Every model's generation counters, for `/stats`: reading them scans the counters.
    generation_counts: Cached<Vec<GenerationCounts>>,
    /// The secrets client addresses are hashed with, refreshed by every sweep.
    address_secrets: std::sync::RwLock<Option<address_hash::AddressSecrets>>,
    /// The hashes of blocked addresses in this period, refreshed by every sweep.
    address_blocks: std::sync::RwLock<address_blocks::BlockedAddresses>,
    /// Requests to URLs users give: source images, webhooks.
    outbound: Outbound,
    webhooks: webhooks::Webhooks,
}

/// How long the queue's shape and the workers' pace are reused.
const FIGURES_TTL: Duration = Duration::from_secs(2);
/// How long the compiled prompt filters are reused: a change holds on every instance after it.
const FILTERS_TTL: Duration = Duration::from_secs(5);
/// How long the generation counters of `/stats` are reused.
const STATS_TTL: Duration = Duration::from_secs(10);
/// The window over which the workers' pace is measured.
const PACE_WINDOW_MS: i64 = 10 * 60 * 1000;
/// How long each worker's speed is reused, and the window it is measured over: long enough
/// that a fast worker idle for a while is not taken for a slow one.
const SPEED_TTL: Duration = Duration::from_secs(30);
const SPEED_WINDOW_MS: i64 = 60 * 60 * 1000;

impl Horde {
    pub fn new(store: Arc<dyn Store>, policy: Policy, relay: Arc<Relay>) -> Self {
        let outbound = Outbound::new(policy.outbound.clone());
        Horde {
            webhooks: webhooks::Webhooks::new(outbound.clone()),
            outbound,
            store,
            policy,
            relay,
            queue_shape: Cached::new(FIGURES_TTL),
            prompt_checker: Cached::new(FILTERS_TTL),
            recent_pace: Cached::new(FIGURES_TTL),
            worker_speeds: Cached::new(SPEED_TTL),
            generation_counts: Cached::new(STATS_TTL),
            address_secrets: std::sync::RwLock::new(None),
            address_blocks: Default::default(),
        }
    }

    async fn queue_shape(&self) -> Result<Arc<Vec<QueuedWork>>> {
        let store = self.store.clone();
        self.queue_shape
            .get(|| async move { store.queued_work().await })
            .await
    }

    /// Work finished in the last ten minutes, per kind and model.
    async fn recent_pace(&self) -> Result<Arc<Vec<FinishedWork>>> {
        let now = crate::now_ms();
        let store = self.store.clone();
        self.recent_pace
            .get(|| async move {
                store
                    .finished_work_since(now - PACE_WINDOW_MS, now - 60_000)
                    .await
            })
            .await
    }

    /// Each worker's speed (tokens or megapixelsteps per second) over the last hour.
    async fn worker_speeds(&self) -> Result<Arc<HashMap<String, f64>>> {
        let since = crate::now_ms() - SPEED_WINDOW_MS;
        let store = self.store.clone();
        self.worker_speeds
            .get(|| async move {
                let paces = store.worker_paces(since).await?;
                Ok(paces
                    .into_iter()
                    .filter_map(|p| Some((p.worker_id.clone(), p.speed()?)))
                    .collect())
            })
            .await
    }

    /// What a worker can do, with this server's model reference and its recent speed.
    fn capabilities(&self, worker: &WorkerRow, speeds: &HashMap<String, f64>) -> Capabilities {
        Capabilities {
            speed: speeds.get(&worker.id).copied(),
            reference: self.policy.model_reference.clone(),
            ..Capabilities::of(worker)
        }
    }

    /// Whether the database answers (readiness): one cheap read, the anonymous account's row.
    pub async fn check_database(&self) -> Result<()> {
        self.store.user(0).await?;
        Ok(())
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn relay(&self) -> &Arc<Relay> {
        &self.relay
    }

    /// The account of an API key. No key, or the anonymous key, is the
    /// anonymous account, which a private server refuses; an unknown key is refused.
    pub async fn authenticate(&self, apikey: Option<&str>) -> Result<Account> {
        let apikey = apikey.map(str::trim).filter(|k| !k.is_empty());
        let user = match apikey {
            None | Some(protocol::ANONYMOUS_API_KEY) if self.policy.private => {
                return Err(Rejection::unauthorized(
                    "AnonForbidden",
                    "This is a private server: only accounts issued by its operator can use it; \
                     send your API key",
                )
                .into())
            }
            None | Some(protocol::ANONYMOUS_API_KEY) => self.store.user(0).await?,
            Some(key) => self.store.user_by_key_hash(&keys::hash_key(key)).await?,
        };
        match user {
            Some(user) => Ok(Account {
                user,
                shared_key: None,
            }),
            None => Err(Rejection::unauthorized(
                "InvalidAPIKey",
                "No user matching sent API Key. Have you remembered to register at this horde?",
            )
            .into()),
        }
    }

    /// The account of an API key or of a shared key, for what a shared key may do: queue
    /// requests (`submit_text`, `submit_image`) and look its owner up (`find_user`). Every other
    /// endpoint authenticates with [`Horde::authenticate`], which knows no shared key.
    pub async fn authenticate_requester(&self, apikey: Option<&str>) -> Result<Account> {
        let key = apikey.map(str::trim).filter(|k| !k.is_empty());
        if let Some(key) = key.filter(|k| shared_keys::looks_like_shared_key(k)) {
            if let Some(row) = self.store.shared_key_by_hash(&keys::hash_key(key)).await? {
                let user = self.existing_user(row.user_id).await?;
                return Ok(Account {
                    user,
                    shared_key: Some(row),
                });
            }
        }
        self.authenticate(apikey).await
    }

    /// The account whose key hashes to `key_hash`: how a web session, which keeps the hash and
    /// never the key, finds its user. None once the key has been replaced.
    pub async fn account_by_key_hash(&self, key_hash: &str) -> Result<Option<Account>> {
        let user = self.store.user_by_key_hash(key_hash).await?;
        Ok(user.filter(|u| !u.is_anonymous()).map(|user| Account {
            user,
            shared_key: None,
        }))
    }
}
