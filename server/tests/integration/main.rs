//! The server's integration tests, as one test binary (one link instead of one per file): each
//! module starts real `potluck` processes on ephemeral ports with fresh databases and drives
//! them over loopback HTTP (`common` is the harness).
//!
//! `cargo test -p server --test integration` runs them on SQLite; with
//! `POTLUCK_TEST_BACKEND=postgres` on PostgreSQL. A filter picks a module or a test:
//! `cargo test -p server --test integration text_jobs::`.

mod common;

mod accounts;
mod address_timeouts;
mod alchemy;
mod browser_model;
mod data_rights;
mod errors;
mod figures_and_documents;
mod fuzz;
mod hostile_input;
mod image_jobs;
mod instances;
mod lifecycle;
mod log_privacy;
mod metrics;
mod moderation_log;
mod modes;
mod names;
mod oidc_login;
mod openai;
mod pop_priority;
mod private_mode;
mod prompt_filters;
mod rate_limits;
mod shared_keys;
mod status;
mod styles;
mod suspicion;
mod teams;
mod text_jobs;
mod trust;
mod ui;
mod user_changes;
mod worker_messages;
mod workers;
