//! Where the state lives. [`Store`] is the data-access boundary: one
//! implementation per database, each keeping every state change and the kudos
//! it moves in one transaction. The rules themselves live in `crate::horde`.

mod postgres;
mod rows;
mod scratch;
mod shared;
mod sql;
mod sqlite;

pub use postgres::PostgresStore;
pub use rows::*;
pub use scratch::{ScratchDatabase, ScratchError, DEFAULT_TEST_POSTGRES};
pub use sqlite::SqliteStore;

use crate::error::Result;
use crate::kudos::Kudos;
use async_trait::async_trait;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- accounts -----------------------------------------------------------
    async fn user_by_key_hash(&self, key_hash: &str) -> Result<Option<UserRow>>;
    async fn user(&self, id: i64) -> Result<Option<UserRow>>;
    async fn users(&self, sort: UserSort, offset: i64, limit: i64) -> Result<Vec<UserRow>>;
    /// Creates an account, pseudonymous or (with `login`) linked to a provider; a login that is
    /// already linked is refused by the database's unique index.
    async fn create_user(
        &self,
        username: &str,
        key_hash: &str,
        concurrency: u32,
        login: Option<&Login>,
        now: i64,
    ) -> Result<UserRow>;
    async fn rename_user(&self, user_id: i64, username: &str) -> Result<()>;
    /// The hash of an account's key, which a web session keeps; None once erased.
    async fn key_hash(&self, user_id: i64) -> Result<Option<String>>;
    async fn set_key_hash(&self, user_id: i64, key_hash: &str) -> Result<()>;
    /// Applies a moderator's change; a kudos change is booked in the ledger.
    async fn update_user(&self, user_id: i64, change: &UserChange, now: i64) -> Result<()>;
    /// Ledger sums per reason, for `kudos_details`.
    async fn kudos_by_reason(&self, user_id: i64) -> Result<Vec<(String, i64)>>;
    /// The latest `limit` lines of an account's ledger, newest first.
    async fn kudos_history(&self, user_id: i64, limit: i64) -> Result<Vec<LedgerRow>>;
    /// Moves kudos between two accounts; refuses if the giver has too little.
    async fn transfer_kudos(&self, from: i64, to: i64, amount: Kudos, now: i64) -> Result<()>;
    /// Accounts whose balance differs from the sum of their ledger (should be none).
    async fn kudos_mismatches(&self) -> Result<Vec<(i64, i64, i64)>>;

    // --- data rights --------------------------------------------------------
    /// Sets an account's contact address, or removes it (`None`).
    async fn set_contact(&self, user_id: i64, contact: Option<&str>) -> Result<()>;
    /// Freezes an account, cancelling its active requests in the same transaction (they would
    /// be processed otherwise), or unfreezes it; returns how many requests it cancelled.
    async fn set_frozen(&self, user_id: i64, frozen: bool, now: i64) -> Result<u64>;
    /// Every request of an account still stored, oldest first.
    async fn requests_of(&self, user_id: i64) -> Result<Vec<RequestRow>>;
    /// How many web sessions are signed in as the account.
    async fn web_sessions_of(&self, user_id: i64) -> Result<i64>;
    /// Erases an account in one transaction: its active requests cancelled, the jobs still
    /// with workers aborted, every prompt and result of its requests purged, its workers and
    /// web sessions deleted, its balance booked away, and its row left with [`ERASED_NAME`],
    /// no key, no contact and no role. The ledger lines stay on the pseudonymised row.
    async fn erase_user(&self, user_id: i64, now: i64) -> Result<Erasure>;

    // --- sign-in through a provider ----------------------------------------
    /// The account linked to this login, if any.
    async fn user_by_login(&self, login: &Login) -> Result<Option<UserRow>>;
    async fn insert_pending_login(&self, pending: &PendingLogin) -> Result<()>;
    /// Removes and returns the sign-in with this state hash: each is used at most once.
    async fn take_pending_login(&self, state_hash: &str) -> Result<Option<PendingLogin>>;

    // --- workers ------------------------------------------------------------
    async fn worker(&self, id: &str) -> Result<Option<WorkerRow>>;
    async fn worker_by_name(&self, name: &str) -> Result<Option<WorkerRow>>;
    async fn workers(&self, kind: Option<&str>) -> Result<Vec<WorkerRow>>;
    async fn worker_ids_of(&self, owner_id: i64) -> Result<Vec<String>>;
    /// The chat templates text workers announced (JSON), newest first, with their models.
    async fn chat_templates(&self) -> Result<Vec<(Vec<String>, String)>>;
    /// Creates the worker on its first pop, else refreshes what it serves, its
    /// uptime, and pays an uptime reward when one is due.
    async fn check_in_worker(&self, check_in: &WorkerCheckIn) -> Result<WorkerRow>;
    async fn modify_worker(&self, id: &str, change: &WorkerChange) -> Result<()>;
    async fn delete_worker(&self, id: &str) -> Result<()>;

    // --- requests and jobs --------------------------------------------------
    /// Queues a request unless its requester already has `limit` active ones.
    async fn insert_request(&self, request: &NewRequest, limit: u32) -> Result<()>;
    async fn request(&self, id: &str) -> Result<Option<RequestRow>>;
    async fn jobs_of(&self, request_id: &str) -> Result<Vec<JobRow>>;
    /// Records that the requester looked, which keeps the request from expiring.
    async fn touch_request(&self, id: &str, now: i64, delivered: bool) -> Result<()>;
    async fn cancel_request(&self, id: &str, now: i64) -> Result<()>;
    /// Requests of the same kind ahead of this one in the queue.
    async fn queue_position(&self, request: &RequestRow) -> Result<u32>;
    /// Walks the waiting requests of `pop.kind` best-first (highest priority,
    /// then oldest), skips those `pop.worker` cannot serve, counting why, and
    /// claims up to `pop.amount` generations of the first it can, all in one
    /// transaction: no generation is ever given to two workers.
    async fn pop(&self, pop: &PopQuery<'_>) -> Result<PopOutcome>;
    async fn job(&self, id: &str) -> Result<Option<JobRow>>;
    /// Stores an uploaded image for a job still in progress; false if the job
    /// or token does not match.
    async fn attach_image(&self, job_id: &str, upload_token: &str, image: &[u8]) -> Result<bool>;
    async fn image(&self, job_id: &str) -> Result<Option<Vec<u8>>>;
    /// Finishes a job: result, reward and charge in one transaction.
    async fn complete_job(&self, completion: &Completion) -> Result<CompletionOutcome>;

    // --- sweeps -------------------------------------------------------------
    /// Jobs whose lease ran out go back to the queue (or fault their request).
    async fn requeue_expired_leases(&self, now: i64, max_restarts: u32) -> Result<u64>;
    /// Active requests idle since `idle_before` expire.
    async fn expire_idle_requests(&self, idle_before: i64, now: i64) -> Result<u64>;
    /// Drops prompts and results that were delivered (or abandoned) long enough
    /// ago, and whole rows older than the history window; drops client-address hashes and
    /// unfinished sign-ins older than theirs.
    async fn purge(&self, cutoffs: &PurgeCutoffs) -> Result<u64>;

    // --- figures ------------------------------------------------------------
    async fn queued_work(&self) -> Result<Vec<QueuedWork>>;
    /// Work finished since `since`, per kind and model; `minute_since` marks the last minute.
    async fn finished_work_since(&self, since: i64, minute_since: i64)
        -> Result<Vec<FinishedWork>>;
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    /// The setting's value, storing `value` first if it has none: the first
    /// instance to ask decides, every later one reads the same.
    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String>;
    /// Deletes the settings whose keys sort in `from..to`.
    async fn delete_settings_in(&self, from: &str, to: &str) -> Result<u64>;
}
