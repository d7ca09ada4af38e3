//! Where the state lives. The data-access boundary is [`Store`], implemented once per database
//! (`sqlite.rs`, `postgres.rs`), each keeping every state change and the kudos it moves in one
//! transaction. The rules themselves live in `crate::horde`.
//!
//! Layout:
//! - `common.rs`: [`Common`], the methods whose SQL is the same on both databases, written once
//!   and implemented for both stores by one macro.
//! - `sqlite.rs`, `postgres.rs`: the rest of [`Store`], the transactions whose locking differs
//!   (pop, submit, check-in, a new request, transfers, freezing, erasure, the sweeps).
//! - `steps.rs`: the steps those transactions share (a ledger line, a requeue, a claim, a new
//!   request's row), generated into each store's module.
//! - `shared.rs`: the decisions both stores make alike (uptime rewards, refusals);
//!   `sql.rs`: statements and column lists both use; `rows.rs`: what goes in and comes out.
//! - `scratch.rs`: throwaway PostgreSQL databases for tests (feature `test-support`).
//!
//! The behaviour suite (`tests/store_behaviour.rs`) runs every method against both.

mod common;
mod postgres;
mod rows;
#[cfg(feature = "test-support")]
mod scratch;
mod shared;
mod sql;
mod sqlite;
mod steps;

pub use common::Common;
pub use postgres::PostgresStore;
pub use rows::*;
#[cfg(feature = "test-support")]
pub use scratch::{ScratchDatabase, ScratchError, DEFAULT_TEST_POSTGRES};
pub use sqlite::SqliteStore;

use crate::error::Result;
use crate::kudos::Kudos;
use async_trait::async_trait;
use sqlx::types::Json;

/// Everything the rules read and write. [`Common`] holds the methods that are one statement on
/// either database; the methods here are transactions whose locking differs per database, and
/// the statements whose dialects differ.
#[async_trait]
pub trait Store: Common {
    // --- accounts -----------------------------------------------------------
    /// Moves kudos between two accounts; refuses if the giver has too little.
    async fn transfer_kudos(&self, from: i64, to: i64, amount: Kudos, now: i64) -> Result<()>;

    // --- data rights --------------------------------------------------------
    /// Freezes an account, cancelling its active requests in the same transaction (they would
    /// be processed otherwise), or unfreezes it; returns how many requests it cancelled.
    async fn set_frozen(&self, user_id: i64, frozen: bool, now: i64) -> Result<u64>;
    /// How many web sessions are signed in as the account.
    async fn web_sessions_of(&self, user_id: i64) -> Result<i64>;
    /// Erases an account in one transaction: its active requests cancelled, the jobs still
    /// with workers aborted, every prompt and result of its requests purged, its workers and
    /// web sessions deleted, its balance booked away, and its row left with [`ERASED_NAME`],
    /// no key, no contact and no role. The ledger lines stay on the pseudonymised row.
    async fn erase_user(&self, user_id: i64, now: i64) -> Result<Erasure>;

    // --- workers ------------------------------------------------------------
    /// Creates the worker on its first pop, else refreshes what it serves, its
    /// uptime, and pays an uptime reward when one is due.
    async fn check_in_worker(&self, check_in: &WorkerCheckIn) -> Result<WorkerRow>;

    // --- requests and jobs --------------------------------------------------
    /// Queues a request unless its requester already has `limit` active ones.
    async fn insert_request(&self, request: &NewRequest, limit: u32) -> Result<()>;
    /// Walks the waiting requests of `pop.kind` best-first (highest priority,
    /// then oldest), skips those `pop.worker` cannot serve, counting why, and
    /// claims up to `pop.amount` generations of the first it can, all in one
    /// transaction: no generation is ever given to two workers.
    async fn pop(&self, pop: &PopQuery<'_>) -> Result<PopOutcome>;
    /// Finishes a job: result, reward (held, for a worker whose work is verified) and charge,
    /// and the job's check if it was chosen for one, in one transaction.
    async fn complete_job(&self, completion: &Completion) -> Result<CompletionOutcome>;
    /// Finishes a check job with its verdict, in one transaction: the checker's pay, and for
    /// the checked worker the release or forfeit of its held kudos, its requester's refund,
    /// its record, pause and trust.
    async fn settle_check(&self, settlement: &Settlement) -> Result<SettleOutcome>;

    // --- sweeps -------------------------------------------------------------
    /// Jobs whose lease ran out go back to the queue (or fault their request).
    async fn requeue_expired_leases(&self, now: i64, max_restarts: u32) -> Result<u64>;
    /// Active requests nobody touched for a while expire, and checks nobody took.
    async fn expire_idle_requests(&self, cutoffs: &ExpiryCutoffs) -> Result<u64>;
    /// Drops prompts and results that were delivered (or abandoned) long enough
    /// ago, and whole rows older than the history window; drops client-address hashes and
    /// unfinished sign-ins older than theirs.
    async fn purge(&self, cutoffs: &PurgeCutoffs) -> Result<u64>;
}
