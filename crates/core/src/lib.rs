//! Potluck's domain: accounts and keys, kudos, the job queue and its rules.
//!
//! [`Horde`] is the one entry point the HTTP layer calls. It validates input,
//! applies the queue and kudos rules, and keeps all state in a [`Store`], so
//! that a restart loses nothing and several server instances can share one
//! database.

mod error;
mod horde;
pub mod keys;
pub mod kudos;
pub mod matching;
mod policy;
pub mod relay;
pub mod store;
mod time;

pub use error::{CoreError, Rejection, RejectionKind};
pub use horde::{
    Account, Horde, ImageUpload, LinkedSignIn, ModelAvailability, StoredImage, SweepReport,
    TextMinimums, TextOutcome, TextResult, PENDING_LOGIN_LIFETIME,
};
pub use kudos::Kudos;
pub use policy::Policy;
pub use store::{PostgresStore, SqliteStore, Store};
pub use time::now_ms;
