//! The server's integration tests, as one test binary (one link instead of one per file): each
//! module starts real `potluck` processes on ephemeral ports with fresh databases and drives
//! them over loopback HTTP (`common` is the harness).
//!
//! `cargo test -p server --test integration` runs them on SQLite; with
//! `POTLUCK_TEST_BACKEND=postgres` on PostgreSQL. A filter picks a module or a test:
//! `cargo test -p server --test integration text_jobs::`.

mod common;

mod accounts;
mod browser_model;
mod data_rights;
mod errors;
mod image_jobs;
mod instances;
mod lifecycle;
mod log_privacy;
mod oidc_login;
mod openai;
mod private_mode;
mod status;
mod text_jobs;
mod trust;
mod ui;
mod workers;
