//! Wire types of the AI Horde API v2 as Potluck serves it.
//!
//! Field names, defaults and limits follow the original server's models
//! (`shared/spec/horde-api-v2-models.json`) so that unmodified clients work.
//! Everything here is plain serde; validation rules live in `potluck-core`.

mod checks;
mod common;
pub mod contribute;
mod data_rights;
mod image;
pub mod openai_api;
mod text;

pub use checks::*;
pub use common::*;
pub use data_rights::*;
pub use image::*;
pub use text::*;

/// The API key of the shared anonymous account.
pub const ANONYMOUS_API_KEY: &str = "0000000000";
