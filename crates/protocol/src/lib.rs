//! Wire types of the AI Horde API v2 as Potluck serves it.
//!
//! Field names, defaults and limits follow the original server's models
//! (`shared/spec/horde-api-v2-models.json`) so that unmodified clients work.
//! Everything here is plain serde (and, in `clock`, the dates its answers carry); validation
//! rules live in `potluck-core`.

mod alchemy;
mod awards;
mod checks;
pub mod clock;
mod common;
pub mod contribute;
mod data_rights;
mod documents;
mod image;
pub mod openai_api;
mod operations;
mod shared_keys;
mod stats;
mod styles;
mod teams;
mod text;
mod worker_messages;

pub use alchemy::*;
pub use awards::*;
pub use checks::*;
pub use common::*;
pub use data_rights::*;
pub use documents::*;
pub use image::*;
pub use operations::*;
pub use shared_keys::*;
pub use stats::*;
pub use styles::*;
pub use teams::*;
pub use text::*;
pub use worker_messages::*;

/// The API key of the shared anonymous account.
pub const ANONYMOUS_API_KEY: &str = "0000000000";
