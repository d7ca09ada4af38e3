//! The rules of the cluster, behind one type the HTTP layer calls.
//!
//! [`Horde`] holds the store, the operator's [`Policy`], the relay and a few short-lived caches.
//! Every handler of `/api/v2`, `/v1` and the web UI calls one of its methods, which checks the
//! caller ([`Account`], from `authenticate` in this file) and the input, applies the rules, and
//! reads and writes through the store. Its methods are spread over one file per subject:
//!
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
//! - `accounts.rs`: accounts, keys and kudos: registration, details, moderators' changes,
//!   transfers, the ledger and its audit.
//! - `logins.rs`: accounts linked to a login provider: the sign-in, renaming, a new key.
//! - `data_rights.rs`: an owner's data rights: export, contact, freeze, erasure.
//! - `figures.rs`: the public figures: models served, queue sizes, throughput, modes.
//! - `sweep.rs`: the housekeeping every instance runs (`sweep`).
//! - `address_hash.rs`: keyed hashes of client addresses, and the secrets they rotate through.
//! - `validate.rs`: input checks with the AI Horde's limits and `rc` codes.
//! - `cache.rs`: a value read from the store and reused for a short while.

mod accounts;
mod address_hash;
mod cache;
mod data_rights;
mod figures;
mod jobs;
mod logins;
mod requests;
mod streaming;
mod sweep;
mod text_models;
mod trust;
mod validate;
mod workers;

pub use figures::{ModelFilter, ModelState};
pub use jobs::{ImageUpload, StoredImage};
pub use logins::{LinkedSignIn, PENDING_LOGIN_LIFETIME};
pub use requests::TextMinimums;
pub use streaming::{TextOutcome, TextResult};
pub use sweep::SweepReport;
pub use text_models::ModelAvailability;

use crate::error::{Rejection, Result};
use crate::keys;
use crate::policy::Policy;
use crate::relay::Relay;
use crate::store::{FinishedWork, QueuedWork, Store, UserRow};
use cache::Cached;
use std::sync::Arc;
use std::time::Duration;

/// Who is calling: the account behind the API key.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: UserRow,
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
    /// The secrets client addresses are hashed with, refreshed by every sweep.
    address_secrets: std::sync::RwLock<Option<address_hash::AddressSecrets>>,
}

/// How long the queue's shape and the workers' pace are reused.
const FIGURES_TTL: Duration = Duration::from_secs(2);
/// The window over which the workers' pace is measured.
const PACE_WINDOW_MS: i64 = 10 * 60 * 1000;

impl Horde {
    pub fn new(store: Arc<dyn Store>, policy: Policy, relay: Arc<Relay>) -> Self {
        Horde {
            store,
            policy,
            relay,
            queue_shape: Cached::new(FIGURES_TTL),
            recent_pace: Cached::new(FIGURES_TTL),
            address_secrets: std::sync::RwLock::new(None),
        }
    }

    async fn queue_shape(&self) -> Result<Arc<Vec<QueuedWork>>> {
        self.queue_shape.get(|| self.store.queued_work()).await
    }

    /// Work finished in the last ten minutes, per kind and model.
    async fn recent_pace(&self) -> Result<Arc<Vec<FinishedWork>>> {
        let now = crate::now_ms();
        self.recent_pace
            .get(|| {
                self.store
                    .finished_work_since(now - PACE_WINDOW_MS, now - 60_000)
            })
            .await
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
            Some(user) => Ok(Account { user }),
            None => Err(Rejection::unauthorized(
                "InvalidAPIKey",
                "No user matching sent API Key. Have you remembered to register at this horde?",
            )
            .into()),
        }
    }

    /// The account whose key hashes to `key_hash`: how a web session, which keeps the hash and
    /// never the key, finds its user. None once the key has been replaced.
    pub async fn account_by_key_hash(&self, key_hash: &str) -> Result<Option<Account>> {
        let user = self.store.user_by_key_hash(key_hash).await?;
        Ok(user
            .filter(|u| !u.is_anonymous())
            .map(|user| Account { user }))
    }
}
