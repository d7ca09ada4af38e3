//! Potluck's domain: accounts and keys, kudos, the job queue and its rules.
//!
//! [`Horde`] is the one entry point the HTTP layer calls. It validates input,
//! applies the queue and kudos rules, and keeps all state in a [`Store`], so
//! that a restart loses nothing and several server instances can share one
//! database.
//!
//! # Layout
//!
//! Start with [`Horde`] (`horde/mod.rs`), then follow a request through `horde/requests.rs`
//! (queued) and `horde/jobs.rs` (popped, submitted). `ARCHITECTURE.md`, at the workspace root,
//! traces a text job from the handler to the store to the worker and back.
//!
//! - `horde`: the rules, as methods of [`Horde`], one file per subject (requests, jobs,
//!   workers, accounts, streaming, ...); its header lists them.
//! - `store`: where the state lives: the [`Store`] trait and its supertrait `Common`,
//!   implemented for SQLite ([`SqliteStore`]) and PostgreSQL ([`PostgresStore`]); the
//!   migrations are in `migrations/sqlite` and `migrations/postgres`. Its header lists its
//!   files.
//! - `relay`: live events between instances (text as workers stream it, ends of jobs), in
//!   memory or through PostgreSQL's LISTEN/NOTIFY; nothing of it is stored.
//! - `blacklist`: an image worker's word blacklist, compiled once per pop and bounded.
//! - `matching`: which worker may take which request, one predicate for pops and for telling a
//!   requester whether any worker could serve them.
//! - `kudos`: the [`Kudos`] amount and every formula that produces one.
//! - `model_reference`: the models the cluster knows and their sizes, which rewards read.
//! - `image_reference`: what the AI Horde knows of image work (post-processors, samplers, LCM
//!   LoRAs, baselines); `bridge_reference`: what a worker's software can do, by its
//!   `bridge_agent`.
//! - `image_hash`: perceptual hashes, to tell an image generated again from another picture.
//! - `outbound`: the server's own requests to URLs users give (source images, webhooks), with
//!   the checks that keep them off private addresses.
//! - `keys`: API keys: random, high-entropy, stored only as a hash.
//! - `policy`: the operator's knobs ([`Policy`]): private mode, timeouts, limits, retention.
//! - `error`: [`CoreError`], and [`Rejection`] for a refusal that is the caller's fault, with
//!   its AI Horde `rc`; the server maps it to HTTP, once per wire format.
//! - `time`: [`now_ms`], the clock every stored time comes from.
//! - `suspicion`: signs of bad faith and their reasons, and what they lead to.
//! - `verdict`: what a check's findings mean: passed, failed or undecided.

pub mod blacklist;
pub mod bridge_reference;
mod error;
mod horde;
pub mod image_hash;
pub mod image_reference;
pub mod keys;
pub mod kudos;
pub mod matching;
pub mod model_reference;
pub mod names;
pub mod outbound;
mod policy;
pub mod prompt_filter;
pub mod relay;
pub mod store;
pub mod suspicion;
mod time;
pub mod verdict;

pub use error::{CoreError, Rejection, RejectionKind};
pub use horde::{
    canonical_address, Account, Horde, ImageUpload, LinkedSignIn, MessagesQuery, ModelAvailability,
    ModelFilter, ModelState, Roles, StoredImage, StyleKind, SweepReport, TextMinimums, TextOutcome,
    TextResult, PENDING_LOGIN_LIFETIME,
};
pub use kudos::Kudos;
pub use outbound::OutboundPolicy;
pub use policy::{Policy, TrustPolicy};
pub use store::{PostgresStore, SqliteStore, Store};
pub use time::now_ms;
