//! Rows as the store returns them and changes as the rules ask for them.

use crate::kudos::{Kudos, Pricing};
use crate::matching::Capabilities;
use protocol::SubmitState;
use sqlx::types::Json;

/// One line of the kudos ledger: `amount` in hundredths; `reason` is `generated`, `uptime`,
/// `spent`, `gifted`, `received`, `admin`, `erased` (the balance an erased account forfeited),
/// `released` and `forfeited` (held kudos a check verified or failed), `refunded` (a requester's
/// kudos back after a failed check), `checked` (a checker's reward) or `floor` (what topped a
/// balance up to the account's floor, `kudos::floor`); `counterparty` is the other account of
/// a transfer. A `held` line moves the held balance, any other the spendable.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub amount: i64,
    pub reason: String,
    pub job_id: Option<String>,
    pub counterparty: Option<i64>,
    pub created_at: i64,
    pub held: bool,
}

/// An account whose balances disagree with its ledger.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct KudosMismatch {
    pub user_id: i64,
    pub kudos: i64,
    pub ledger: i64,
    pub held_kudos: i64,
    pub held_ledger: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub kudos: i64,
    pub moderator: bool,
    pub trusted: bool,
    pub flagged: bool,
    pub concurrency: i64,
    pub worker_invited: i64,
    pub contact: Option<String>,
    pub created_at: i64,
    pub requests_text: i64,
    pub requests_image: i64,
    pub fulfillments_text: i64,
    pub fulfillments_image: i64,
    /// Interrogation forms it requested, and forms its alchemists delivered.
    pub requests_interrogation: i64,
    pub fulfillments_interrogation: i64,
    pub usage_tokens: i64,
    pub usage_mps: f64,
    pub contributed_tokens: i64,
    pub contributed_mps: f64,
    /// Restricted by its owner: nothing is processed for it until it is unfrozen.
    pub frozen: bool,
    /// When its owner erased it; the row stays, pseudonymised, for the ledger lines on it.
    pub erased_at: Option<i64>,
    /// The OpenID Connect provider it signs in with, if it is linked to one.
    pub login_provider: Option<String>,
    /// The provider's subject id for it: all that is kept of the provider's profile.
    pub login_subject: Option<String>,
    /// Rewards of its untrusted workers that wait for verification (hundredths).
    pub held_kudos: i64,
    /// How many times its workers failed a check.
    pub suspicion: i64,
    /// Grants kudos and the moderator role (the operator names admins with `potluck admin`).
    pub admin: bool,
    /// Everyone may see which workers are its own.
    pub public_workers: bool,
}

impl UserRow {
    pub fn is_anonymous(&self) -> bool {
        self.id == 0
    }

    /// Whether it signs in through a provider, rather than being pseudonymous (its key is all
    /// there is to it).
    pub fn is_linked(&self) -> bool {
        self.login_provider.is_some()
    }

    /// The unique public name, `name#id`.
    pub fn alias(&self) -> String {
        format!("{}#{}", self.username, self.id)
    }
}

/// What erasing an account removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Erasure {
    pub requests_cancelled: u64,
    pub workers_deleted: u64,
    pub sessions_ended: u64,
    /// The balance it had, booked away so that its ledger still sums to it.
    pub kudos_forfeited: Kudos,
}

/// The name an erased account is left with; its alias stays unique through the id.
pub const ERASED_NAME: &str = "erased";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Kudos,
    Age,
}

/// A change to an account: by itself, a moderator, an admin or the admin CLI. A kudos change is
/// booked in the ledger (`admin`); trusting an account lifts its workers' pauses.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub kudos_delta: Option<Kudos>,
    pub concurrency: Option<i64>,
    pub moderator: Option<bool>,
    pub admin: Option<bool>,
    pub trusted: Option<bool>,
    pub flagged: Option<bool>,
    pub worker_invited: Option<i64>,
    /// Its suspicion back to none.
    pub reset_suspicion: bool,
    pub public_workers: Option<bool>,
    pub username: Option<String>,
    /// A new contact address, or `Some(None)` to withdraw it.
    pub contact: Option<Option<String>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkerRow {
    pub id: String,
    pub name: String,
    pub owner_id: i64,
    pub owner_name: String,
    pub owner_trusted: bool,
    pub owner_flagged: bool,
    pub kind: String,
    pub models: Json<Vec<String>>,
    pub max_length: i64,
    pub max_context_length: i64,
    pub max_pixels: i64,
    pub nsfw: bool,
    pub allow_img2img: bool,
    pub allow_painting: bool,
    pub allow_post_processing: bool,
    pub allow_lora: bool,
    pub allow_controlnet: bool,
    pub threads: i64,
    pub bridge_agent: String,
    /// It runs in a web browser tab.
    pub browser: bool,
    /// It keeps prompts or results it is given (logs, caches, training).
    pub keeps_prompts: bool,
    pub info: Option<String>,
    pub maintenance: bool,
    pub maintenance_msg: Option<String>,
    pub paused: bool,
    pub created_at: i64,
    pub last_check_in: i64,
    pub uptime_ms: i64,
    pub requests_fulfilled: i64,
    pub kudos_generated: i64,
    pub kudos_uptime: i64,
    pub tokens_generated: i64,
    pub mps_generated: f64,
    pub uncompleted_jobs: i64,
    /// It said it can score other workers' generations.
    pub can_score: bool,
    pub checks_passed: i64,
    pub checks_failed: i64,
    /// Its signs of suspicion (`crate::suspicion`).
    pub suspicion: i64,
    /// Passed checks since its last failed one.
    pub clean_streak: i64,
    /// Trusted for its long clean record, rather than by a moderator.
    pub auto_trusted: bool,
    /// The team it works for, and that team's name.
    pub team_id: Option<String>,
    pub team_name: Option<String>,
    /// Its owner lets everyone see which workers are theirs.
    pub owner_public_workers: bool,
    /// Its owner's contact address (for moderators).
    pub owner_contact: Option<String>,
    pub allow_sdxl_controlnet: bool,
    /// It skips requests of more steps than its models need.
    pub limit_max_steps: bool,
    /// It said it is very slow: it takes only requests that allow extra slow workers.
    pub extra_slow_worker: bool,
    /// It takes only requests whose requester holds their cost already.
    pub require_upfront_kudos: bool,
}

impl WorkerRow {
    /// Whether requests for trusted workers only may go to it: its owner is trusted, or its
    /// record made it trusted. A browser tab never qualifies, whoever owns it: nothing vouches
    /// for the code a visitor's tab runs.
    pub fn trusted(&self) -> bool {
        (self.owner_trusted || self.auto_trusted) && !self.browser
    }

    /// Whether it may check others' work: only a worker a moderator vouched for (its owner is
    /// trusted), never one that earned trust by passing checks, which a patient cheater could.
    pub fn may_check(&self) -> bool {
        self.owner_trusted && !self.browser
    }

    /// Whether its results are verified before its owner may spend their rewards.
    pub fn is_verified(&self) -> bool {
        !self.may_check()
    }
}

/// What a worker says about itself on each pop.
#[derive(Debug, Clone)]
pub struct WorkerCheckIn {
    /// The id to use when the worker is new.
    pub new_id: String,
    pub name: String,
    pub owner_id: i64,
    pub kind: String,
    pub models: Vec<String>,
    pub max_length: i64,
    pub max_context_length: i64,
    pub max_pixels: i64,
    pub nsfw: bool,
    pub allow_img2img: bool,
    pub allow_painting: bool,
    pub allow_post_processing: bool,
    pub allow_lora: bool,
    pub allow_controlnet: bool,
    pub allow_sdxl_controlnet: bool,
    pub limit_max_steps: bool,
    pub extra_slow_worker: bool,
    pub require_upfront_kudos: bool,
    pub threads: i64,
    pub bridge_agent: String,
    pub browser: bool,
    pub keeps_prompts: bool,
    pub can_score: bool,
    /// Its uptime rewards are held until its work is verified.
    pub hold_rewards: bool,
    /// JSON of the chat template it announced with this check-in, if it announced one.
    pub chat_template: Option<String>,
    /// The keyed hashes of the address it popped from, for a moderator's block of it (none
    /// when the address is unknown: the last known ones are kept).
    pub address: Option<AddressHashes>,
    pub now: i64,
    /// A worker silent for longer than this was offline: its uptime restarts.
    pub stale_ms: i64,
    /// The reward for every full uptime interval.
    pub uptime_reward: Kudos,
}

/// An address's keyed hashes in a period and in the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressHashes {
    pub period: i64,
    pub current: String,
    pub next: String,
}

/// An owner's or a moderator's change to a worker; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WorkerChange {
    pub maintenance: Option<bool>,
    /// Set with `maintenance`: the message (or none) its worker is given while in it.
    pub maintenance_msg: Option<Option<String>>,
    pub paused: Option<bool>,
    pub info: Option<String>,
    pub name: Option<String>,
    /// The team it joins, or `Some(None)` to leave its team.
    pub team: Option<Option<String>>,
}

/// A team, with its figures.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub info: Option<String>,
    pub owner_id: i64,
    pub owner_name: String,
    pub created_at: i64,
    pub requests_fulfilled: i64,
    /// Hundredths.
    pub kudos: i64,
    pub tokens_generated: i64,
    pub mps_generated: f64,
    pub uptime_ms: i64,
}

impl TeamRow {
    /// Its owner's `name#id`.
    pub fn creator(&self) -> String {
        format!("{}#{}", self.owner_name, self.owner_id)
    }
}

/// A new team.
#[derive(Debug, Clone)]
pub struct NewTeam {
    pub id: String,
    pub name: String,
    pub info: Option<String>,
    pub owner_id: i64,
    pub now: i64,
}

/// A message to workers, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkerMessageRow {
    pub id: String,
    /// The worker it is for; none when it is for several.
    pub worker_id: Option<String>,
    /// The account whose workers it is for; none when it is for every worker.
    pub user_id: Option<i64>,
    /// Who wrote it.
    pub sender_id: i64,
    pub message: String,
    pub origin: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl WorkerMessageRow {
    /// Whether it is for this worker: to it, to all of its owner's workers, or to every worker.
    pub fn is_for(&self, worker_id: &str, owner_id: i64) -> bool {
        match (&self.worker_id, self.user_id) {
            (Some(worker), _) => worker == worker_id,
            (None, Some(user)) => user == owner_id,
            (None, None) => true,
        }
    }
}

/// Which messages a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageValidity {
    Active,
    Expired,
    All,
}

/// A listing of messages: those for `user_id`'s workers (and those for every worker), for one
/// worker, or all; `now` tells the active from the expired.
#[derive(Debug, Clone)]
pub struct MessageFilter {
    pub user_id: Option<i64>,
    pub worker_id: Option<String>,
    pub validity: MessageValidity,
    pub now: i64,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone)]
pub struct NewRequest {
    pub id: String,
    pub kind: String,
    pub user_id: i64,
    pub client_hash: Option<String>,
    pub prompt: String,
    pub params: serde_json::Value,
    pub models: Vec<String>,
    pub workers: Vec<String>,
    pub worker_blacklist: bool,
    pub trusted_workers: bool,
    /// Only workers that keep nothing may take it.
    pub workers_keep_nothing: bool,
    pub nsfw: bool,
    pub r2: bool,
    pub shared: bool,
    pub max_length: i64,
    pub max_context_length: i64,
    pub width: i64,
    pub height: i64,
    pub steps: i64,
    pub img2img: bool,
    pub post_processors: i64,
    pub loras: i64,
    pub n: i64,
    pub priority: i64,
    /// The reward of one generation, as estimated when it was queued.
    pub kudos_estimate: Kudos,
    /// What its kudos depend on besides its columns.
    pub pricing: Option<Pricing>,
    /// What it costs to queue, charged in the same transaction.
    pub tax: Kudos,
    /// What its requester must hold (above the floor and other reservations) to queue it;
    /// reserved while it is active.
    pub upfront_kudos: Kudos,
    pub slow_workers: bool,
    pub extra_slow_workers: bool,
    pub validated_backends: bool,
    pub disable_batching: bool,
    /// A check's kind (`score`, `redo`); none for a requester's request.
    pub check_kind: Option<String>,
    /// The owner whose workers may not take it (a check's checked worker's owner).
    pub exclude_owner: Option<i64>,
    /// The shared key it spends from (`shared_keys.id`), when it came with one.
    pub shared_key_id: Option<i64>,
    /// Where its finished jobs are POSTed (`horde/webhooks.rs`).
    pub webhook: Option<String>,
    /// The interrogation an alchemy form belongs to (`horde/alchemy.rs`).
    pub group_id: Option<String>,
    pub now: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub id: String,
    pub kind: String,
    pub user_id: i64,
    pub prompt: Option<String>,
    pub params: Option<Json<serde_json::Value>>,
    pub models: Json<Vec<String>>,
    pub workers: Json<Vec<String>>,
    pub worker_blacklist: bool,
    pub trusted_workers: bool,
    /// Only workers that keep nothing may take it.
    pub workers_keep_nothing: bool,
    pub nsfw: bool,
    pub r2: bool,
    pub shared: bool,
    pub max_length: i64,
    pub max_context_length: i64,
    pub width: i64,
    pub height: i64,
    pub steps: i64,
    pub img2img: bool,
    pub post_processors: i64,
    pub loras: i64,
    pub n: i64,
    pub n_waiting: i64,
    pub n_done: i64,
    pub restarts: i64,
    pub priority: i64,
    pub kudos_estimate: i64,
    pub state: String,
    pub created_at: i64,
    pub last_activity: i64,
    pub delivered_at: Option<i64>,
    pub purged: bool,
    /// A check's kind (`score`, `redo`); none for a requester's request.
    pub check_kind: Option<String>,
    /// The owner whose workers may not take it.
    pub exclude_owner: Option<i64>,
    /// What its kudos depend on; none for a request queued before it was stored.
    pub pricing: Option<Json<Pricing>>,
    /// Kudos its requester still has reserved for it.
    pub upfront_kudos: i64,
    pub slow_workers: bool,
    pub extra_slow_workers: bool,
    pub validated_backends: bool,
    pub disable_batching: bool,
    /// Where its finished jobs are POSTed; none once purged.
    pub webhook: Option<String>,
    /// The interrogation an alchemy form belongs to.
    pub group_id: Option<String>,
}

impl RequestRow {
    pub fn is_check(&self) -> bool {
        self.check_kind.is_some()
    }
}

/// The kinds of check.
pub mod check_kind {
    /// A trusted worker scores the checked tokens under the model.
    pub const SCORE: &str = "score";
    /// A trusted worker generates the same request with the same seed again.
    pub const REDO: &str = "redo";
}

/// The outcomes of a checked job (`jobs.verification`).
pub mod verification {
    pub const PENDING: &str = "pending";
    pub const PASSED: &str = "passed";
    pub const FAILED: &str = "failed";
    /// The check could not tell (a redone text that differs: its worker may be honest and not
    /// deterministic); the reward stays held.
    pub const INCONCLUSIVE: &str = "inconclusive";
}

/// The states a request moves through.
pub mod request_state {
    pub const ACTIVE: &str = "active";
    pub const DONE: &str = "done";
    pub const CANCELLED: &str = "cancelled";
    pub const FAULTED: &str = "faulted";
    pub const EXPIRED: &str = "expired";
}

/// The states a job moves through.
pub mod job_state {
    pub const PROCESSING: &str = "processing";
    /// The lease ran out; the generation went back to the queue.
    pub const ABANDONED: &str = "abandoned";
    pub const FAULTED: &str = "faulted";
    /// Its result failed a check before the requester fetched it: not delivered.
    pub const REJECTED: &str = "rejected";
    // Finished states are the protocol's: ok, censored, csam.
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub request_id: String,
    pub worker_id: String,
    pub worker_name: Option<String>,
    pub model: String,
    pub state: String,
    pub popped_at: i64,
    pub lease_expires_at: i64,
    pub upload_token: Option<String>,
    pub generation: Option<String>,
    pub has_image: bool,
    pub seed: Option<String>,
    pub gen_metadata: Option<Json<Vec<protocol::GenerationMetadata>>>,
    pub kudos: i64,
    /// What the worker reported, if it did (Potluck workers do).
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub finish_reason: Option<String>,
    /// The token ids its worker reported.
    pub token_ids: Option<Json<Vec<u32>>>,
    /// Its check's outcome, if it was checked (`verification`).
    pub verification: Option<String>,
}

impl JobRow {
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), "ok" | "censored" | "csam")
    }
}

/// A worker's pop, as the store needs it.
pub struct PopQuery<'a> {
    pub kind: &'a str,
    pub worker: &'a Capabilities,
    pub amount: i64,
    pub now: i64,
    /// How long the worker has for a job of this request.
    pub ttl_ms: &'a (dyn Fn(&RequestRow) -> i64 + Send + Sync),
    /// Image jobs get a token for their upload URL.
    pub with_upload_token: bool,
    /// At most this many candidates are examined.
    pub scan_limit: i64,
    /// The requests of these accounts go first (the worker's owner, and the accounts the worker
    /// named in `priority_usernames`), best first among themselves, then all others.
    pub priority_users: &'a [i64],
    /// Only the requests of `priority_users` (a worker in maintenance or paused serves its
    /// owner's requests alone).
    pub only_priority: bool,
}

/// The request a pop claimed, the model to run, and its jobs.
pub struct Claimed {
    pub request: RequestRow,
    pub model: String,
    pub jobs: Vec<JobRow>,
}

pub struct PopOutcome {
    pub claimed: Option<Claimed>,
    pub skipped: protocol::NoValidRequestFound,
}

#[derive(Debug, Clone)]
pub struct Completion {
    pub job_id: String,
    pub worker_id: String,
    pub state: SubmitState,
    pub generation: Option<String>,
    /// A decoded inline image (image jobs that did not upload).
    pub image: Option<Vec<u8>>,
    pub seed: String,
    pub gen_metadata: Vec<protocol::GenerationMetadata>,
    pub reward: Kudos,
    /// What the requester pays; zero for anonymous or censored results.
    pub cost: Kudos,
    /// Tokens or megapixelsteps delivered, for the records.
    pub things: f64,
    pub max_restarts: u32,
    /// What the worker reported of a text generation.
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub finish_reason: Option<String>,
    pub token_ids: Option<Vec<u32>>,
    /// The reward waits for verification (an untrusted worker's).
    pub hold: bool,
    /// A check of this job, queued in the same transaction.
    pub check: Option<NewCheck>,
    pub now: i64,
}

/// A check to queue: its request (a copy of the checked one's, for a trusted worker) and
/// what its verdict compares with and moves.
#[derive(Debug, Clone)]
pub struct NewCheck {
    pub request: NewRequest,
    pub expected: serde_json::Value,
}

/// What a check verifies, and what its verdict moves.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckRow {
    pub request_id: String,
    pub job_id: String,
    pub worker_id: String,
    pub owner_id: i64,
    pub requester_id: i64,
    pub cost: i64,
    pub reward: i64,
    /// The reward waits in the held balance; otherwise it was paid (an automatically trusted
    /// worker's, spot-checked).
    pub held: bool,
    /// The checked text and tokens, or the checked image's hash; none once purged.
    pub expected: Option<Json<serde_json::Value>>,
    pub created_at: i64,
}

/// A check's verdict and all it moves, settled in one transaction.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// The checker's job (its submit).
    pub check_job_id: String,
    pub checker_worker_id: String,
    /// The checker's reward, minted: no requester pays for checks.
    pub checker_reward: Kudos,
    /// What the checker did, for its records (tokens scored or generated, megapixelsteps).
    pub things: f64,
    /// `verification::PASSED`, `FAILED` or `INCONCLUSIVE`.
    pub outcome: &'static str,
    /// Failed checks at which the checked worker is paused.
    pub pause_after_failed_checks: i64,
    /// Passed checks in a row (since the worker's last failure) before a passed check releases
    /// held kudos: a cheat that passes now and then by luck never gets that far.
    pub release_streak: i64,
    /// Passed checks without a failure, and the age, after which it is trusted automatically.
    pub auto_trust_checks: i64,
    pub auto_trust_created_before: i64,
    pub now: i64,
}

/// What settling a check did.
#[derive(Debug, Clone, PartialEq)]
pub enum SettleOutcome {
    Settled {
        released: Kudos,
        forfeited: Kudos,
        refunded: Kudos,
        /// The checked result had not been fetched: it was withdrawn and its generation queued
        /// again.
        requeued: bool,
        paused: bool,
        auto_trusted: bool,
    },
    /// The check job is not this worker's, or no longer in progress (as for any submit).
    Refused(CompletionOutcome),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompletionOutcome {
    Rewarded(Kudos),
    /// The worker reported a fault; the generation went back to the queue.
    Requeued,
    AlreadySubmitted,
    /// The job's lease had expired or the job faulted before this submit.
    Aborted,
    NotFound,
}

/// An account's identity at an OpenID Connect provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The provider's id in the server's configuration.
    pub provider: String,
    /// The provider's stable id for the user (the ID token's `sub`).
    pub subject: String,
}

/// A sign-in waiting for the provider to send the browser back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingLogin {
    /// The hash of the state the browser holds in its cookie.
    pub state_hash: String,
    pub provider: String,
    /// What the ID token must carry: it ties the token to this sign-in.
    pub nonce: String,
    /// Proves to the provider that whoever redeems the code started the sign-in (PKCE).
    pub pkce_verifier: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct ExpiryCutoffs {
    /// Requests nobody touched since this expire.
    pub idle_before: i64,
    /// Checks made before this that no checker took expire.
    pub checks_before: i64,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct PurgeCutoffs {
    /// Results delivered before this are purged.
    pub delivered_before: i64,
    /// Results of finished requests nobody fetched are purged when the
    /// request finished before this.
    pub finished_before: i64,
    /// Purged rows older than this are deleted outright.
    pub history_before: i64,
    /// Client-address hashes of requests made before this are dropped.
    pub client_hashes_before: i64,
    /// Sign-ins started before this and never finished are deleted.
    pub pending_logins_before: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueuedWork {
    pub kind: String,
    pub models: Json<Vec<String>>,
    pub requests: i64,
    pub generations: i64,
    pub tokens: i64,
    pub mps: f64,
    /// When the oldest of these requests was made.
    pub oldest: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FinishedWork {
    pub kind: String,
    pub model: String,
    pub jobs: i64,
    pub things: f64,
    pub busy_ms: i64,
    pub last_minute_things: f64,
}
