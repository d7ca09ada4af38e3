//! What generates the text: our engine, or a bridge to another server.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use infer::CancelToken;
use web_time::Instant;

use crate::job::{Limits, TextJob};

/// A finished generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    pub text: String,
    pub tokens: usize,
    /// It stopped at the job's deadline, short of its natural end.
    pub cut_at_deadline: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The back end could not generate (it is down, it refused, it crashed).
    #[error("{0}")]
    Failed(String),
    /// The worker was told to stop at once.
    #[error("cancelled")]
    Cancelled,
}

/// What the loop and a running generation share: when it must end, a way to stop it, and how
/// far it got (for the status line).
#[derive(Clone)]
pub struct JobControl {
    pub deadline: Instant,
    pub cancel: CancelToken,
    tokens: Arc<AtomicUsize>,
}

impl JobControl {
    pub fn new(deadline: Instant) -> Self {
        JobControl {
            deadline,
            cancel: CancelToken::new(),
            tokens: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Called by the back end as tokens arrive.
    pub fn add_tokens(&self, n: usize) {
        self.tokens.fetch_add(n, Ordering::Relaxed);
    }

    pub fn tokens(&self) -> usize {
        self.tokens.load(Ordering::Relaxed)
    }

    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

pub trait Backend {
    /// The models it serves, by the names it announces to the server.
    fn models(&self) -> Vec<String>;
    fn limits(&self) -> Limits;
    /// One line for logs: what runs the model, and where.
    fn describe(&self) -> String;
    fn generate(
        &self,
        job: &TextJob,
        control: &JobControl,
    ) -> impl Future<Output = Result<Generated, BackendError>>;
}
