//! Potluck's volunteer worker: the loop that pops text jobs from a Potluck (or AI Horde)
//! server, generates them with a [`Backend`] and submits the results, and the back ends: our
//! engine ([`EngineBackend`]) or a bridge to an OpenAI-compatible server ([`OpenAiBackend`]).
//!
//! The loop has no platform-specific I/O: the server is a [`HordeApi`] (over HTTP natively and
//! in the browser alike), sleeping is a [`Clock`]. The `potluck-worker` program (feature `cli`)
//! puts it together with a command line, a status line and Ctrl-C handling.

mod api;
mod backend;
mod engine;
mod job;
mod openai_backend;
mod stats;
mod worker;

pub use api::{ApiError, HordeApi, HttpApi};
pub use backend::{Backend, BackendError, Generated, JobControl, StopReason};
pub use engine::EngineBackend;
pub use job::{GenerationSettings, Limits, TextJob, DEFAULT_TTL};
pub use openai_backend::OpenAiBackend;
pub use stats::{Outcome, SlotState, Snapshot, Stats};
pub use worker::{Clock, Shutdown, Worker, WorkerError, WorkerOptions};
