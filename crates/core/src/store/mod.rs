//! Where the state lives. The data-access boundary is [`Store`], implemented once per database
//! (`sqlite.rs`, `postgres.rs`), each keeping every state change and the kudos it moves in one
//! transaction. The rules themselves live in `crate::horde`.
//!
//! Layout:
//! - `alchemy.rs`: [`Alchemy`], the statements of interrogations (images and their forms), both
//!   databases alike.
//! - `common.rs`: [`Common`], the methods whose SQL is the same on both databases, written once
//!   and implemented for both stores by one macro; `teams.rs` ([`Teams`]),
//!   `worker_messages.rs` ([`WorkerMessages`]) and `admission.rs` ([`Admission`], what admits
//!   requests and workers: upfront kudos, workers' pace) the same for their features.
//! - `sqlite.rs`, `postgres.rs`: the rest of [`Store`], the transactions whose locking differs
//!   (pop, submit, check-in, a new request, transfers, freezing, erasure, the sweeps).
//! - `steps.rs`: the steps those transactions share (a ledger line, a requeue, a claim, a new
//!   request's row), generated into each store's module.
//! - `shared.rs`: the decisions both stores make alike (uptime rewards, refusals);
//!   `sql.rs`: statements and column lists both use; `rows.rs`: what goes in and comes out.
//! - `scratch.rs`: throwaway PostgreSQL databases for tests (feature `test-support`).
//! - One file per feature whose methods read the same on both databases, each a trait of its
//!   own implemented by a macro as `Common` is: `styles.rs` ([`Styles`]: styles, examples,
//!   collections), `shared_keys.rs` ([`SharedKeys`]), `generation_stats.rs`
//!   ([`GenerationStats`]: the counters of `/api/v2/stats`), `awards.rs` ([`Awards`]: awards
//!   and aesthetic ratings), `modes.rs` ([`Modes`]: the server's modes), `address_blocks.rs`
//!   ([`AddressBlocks`]: moderators' timeouts of client addresses, as keyed hashes),
//!   `moderation_log.rs` ([`ModerationLog`]: what moderators did), `prompt_filters.rs`
//!   ([`PromptFilters`]: moderators' prompt filters), `suspicions.rs` ([`Suspicions`]: signs of
//!   bad faith).
//!
//! The behaviour suite (`tests/store_behaviour.rs`) runs every method against both.

mod address_blocks;
mod admission;
mod alchemy;
mod awards;
mod common;
mod generation_stats;
mod moderation_log;
mod modes;
mod postgres;
mod prompt_filters;
mod rows;
#[cfg(feature = "test-support")]
mod scratch;
mod shared;
mod shared_keys;
mod sql;
mod sqlite;
mod steps;
mod styles;
mod suspicions;
mod teams;
mod worker_messages;

pub use address_blocks::{AddressBlockRow, AddressBlocks, BlockedHash, WorkerAddress};
pub use admission::{Admission, WorkerPace};
pub use alchemy::{Alchemy, NewInterrogation, INTERROGATION};
pub use awards::{Awards, NewRatings};
pub use common::Common;
pub use generation_stats::{
    Folded, GenerationCounts, GenerationStats, StatsWindows, HOUR_MS, MINUTE_MS,
};
pub use moderation_log::{ModerationLog, ModerationRow};
pub use modes::Modes;
pub use postgres::PostgresStore;
pub use prompt_filters::{FilterRow, FilterValues, PromptFilters};
pub use rows::*;
#[cfg(feature = "test-support")]
pub use scratch::{ScratchDatabase, ScratchError, DEFAULT_TEST_POSTGRES};
pub use shared_keys::{NewSharedKey, SharedKeyChange, SharedKeyRow, SharedKeys};
pub use sqlite::SqliteStore;
pub use styles::{
    CollectionChange, CollectionRow, NewCollection, NewStyle, StyleChange, StyleExampleRow,
    StyleFilter, StyleOrder, StyleRow, StyleUse, Styles,
};
pub use suspicions::{SuspicionRow, Suspicions};
pub use teams::Teams;
pub use worker_messages::WorkerMessages;

use crate::error::Result;
use crate::kudos::Kudos;
use async_trait::async_trait;
use sqlx::types::Json;

/// One connection pool's use, for the operator's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUse {
    pub pool: &'static str,
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolUse {
    fn of<DB: sqlx::Database>(pool: &'static str, connections: &sqlx::Pool<DB>) -> PoolUse {
        PoolUse {
            pool,
            open: connections.size(),
            idle: u32::try_from(connections.num_idle()).unwrap_or(u32::MAX),
            max: connections.options().get_max_connections(),
        }
    }
}

/// Everything the rules read and write. [`Common`] and the feature traits hold the methods that
/// read the same on either database; the methods here are transactions whose locking differs
/// per database, and the statements whose dialects differ.
#[async_trait]
pub trait Store:
    Common
    + Teams
    + WorkerMessages
    + Admission
    + Styles
    + SharedKeys
    + GenerationStats
    + Awards
    + Modes
    + Alchemy
    + AddressBlocks
    + ModerationLog
    + PromptFilters
    + Suspicions
{
    // --- accounts -----------------------------------------------------------
    /// Moves kudos between two accounts; refuses if the giver has too little.
    async fn transfer_kudos(&self, from: i64, to: i64, amount: Kudos, now: i64) -> Result<()>;

    // --- operations ---------------------------------------------------------
    /// How the database connections of each of the store's pools are used right now.
    fn connections(&self) -> Vec<PoolUse>;

    /// Counts a request's use of a style (and of the collection it came from), and moves the
    /// style's fee from the requester to its creator if the requester has it to spend.
    /// Returns whether the fee was paid.
    async fn record_style_use(&self, style_use: &StyleUse) -> Result<bool>;

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

    // --- teams --------------------------------------------------------------
    /// Deletes a team; its workers leave it first, in the same transaction.
    async fn delete_team(&self, id: &str) -> Result<()>;

    // --- requests and jobs --------------------------------------------------
    /// Queues a request unless its requester already has `limit` active ones.
    async fn insert_request(&self, request: &NewRequest, limit: u32) -> Result<()>;
    /// Queues an interrogation, its image and a request per form, unless its requester's forms
    /// waiting or processing would then be more than ten times `limit`.
    async fn insert_interrogation(
        &self,
        interrogation: &NewInterrogation,
        limit: u32,
    ) -> Result<()>;
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

    // --- operations ---------------------------------------------------------
    /// Writes a consistent copy of the whole database to the new file `path`, while it serves
    /// (SQLite; PostgreSQL refuses: `pg_dump` does it).
    async fn backup(&self, path: &str) -> Result<()>;
}
