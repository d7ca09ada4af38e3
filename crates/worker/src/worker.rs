//! The worker loop: pop a job, generate, submit, again; as many loops at once as the worker
//! has slots.
//!
//! What it guarantees:
//! - A job is submitted once. A submit whose answer was lost is sent again until the server
//!   answers; the server refuses a second one (`DuplicateGen`), which counts as done.
//! - A failed generation is submitted as `faulted` (the server puts the job back in the queue),
//!   never as invented text.
//! - Generation stops at the job's deadline, a little before its `ttl`, and what was generated
//!   by then is submitted.
//! - When the server is unreachable the loop waits (1 s, doubling up to a minute) and tries
//!   again; a job whose submit is still failing when its `ttl` has passed is let go (the server
//!   has given it to another worker).
//! - Shutdown: the first request drains (no new jobs, the current ones finish and are
//!   submitted); the second stops the generations and hands their jobs back as faulted.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use infer::CancelToken;
use protocol::{GenerationMetadata, PopInputKobold, SubmitInputKobold, SubmitState};
use web_time::Instant;

use crate::api::{ApiError, HordeApi};
use crate::backend::{Backend, BackendError, JobControl};
use crate::job::TextJob;
use crate::stats::{Outcome, SlotState, Stats};

/// Sleeping, in whatever way the platform sleeps (tokio natively, timers in the browser).
pub trait Clock {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

/// How the worker presents itself to the server.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Unique on the server; the worker is created under it on its first pop.
    pub name: String,
    /// Jobs at once.
    pub threads: u32,
    /// Whether it takes requests marked NSFW.
    pub nsfw: bool,
    /// `name:version:url`, as AI Horde workers announce themselves.
    pub bridge_agent: String,
    /// Pause between pops that found nothing.
    pub idle_poll: Duration,
    /// The first pause after a failed call; it doubles with each failure, up to a minute.
    pub retry_pause: Duration,
}

/// How long before a job's ttl its generation stops, to leave time to submit: a tenth of the
/// ttl, at most this.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// How long after a job's ttl a failing submit keeps being retried (the server re-queues an
/// expired job at its next sweep, which may come a little later).
const SUBMIT_GRACE: Duration = Duration::from_secs(30);
const MAINTENANCE_POLL: Duration = Duration::from_secs(10);
/// The longest single sleep, so that shutdown is noticed quickly.
const SLEEP_SLICE: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The server refused the worker outright (a wrong API key, an anonymous key).
    #[error("the server will not take this worker: {0}")]
    Refused(ApiError),
}

const RUNNING: u8 = 0;
const DRAINING: u8 = 1;
const ABORTING: u8 = 2;

/// Stops the worker, gently then firmly.
#[derive(Default)]
pub struct Shutdown {
    state: AtomicU8,
    running: Mutex<Vec<CancelToken>>,
}

impl Shutdown {
    /// The first call drains; the second aborts. Returns true if it now aborts.
    pub fn request(&self) -> bool {
        if self.state.fetch_max(DRAINING, Ordering::SeqCst) == RUNNING {
            return false;
        }
        self.state.store(ABORTING, Ordering::SeqCst);
        for token in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            token.cancel();
        }
        true
    }

    pub fn stopping(&self) -> bool {
        self.state.load(Ordering::SeqCst) != RUNNING
    }

    fn aborting(&self) -> bool {
        self.state.load(Ordering::SeqCst) == ABORTING
    }

    fn track(&self, token: &CancelToken) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|t| !t.is_cancelled());
        running.push(token.clone());
        if self.aborting() {
            token.cancel();
        }
    }
}

/// Doubling pauses after failures, with some jitter so that many workers do not retry in step.
struct Backoff {
    first: Duration,
    next: Duration,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(60);

    fn new(first: Duration) -> Self {
        Backoff { first, next: first }
    }

    fn pause(&mut self) -> Duration {
        let pause = self.next.mul_f64(0.8 + 0.4 * rand::random::<f64>());
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }

    fn reset(&mut self) {
        self.next = self.first;
    }
}

pub struct Worker<'a, A, B, C> {
    pub api: &'a A,
    pub backend: &'a B,
    pub clock: &'a C,
    pub options: WorkerOptions,
    pub stats: &'a Stats,
    pub shutdown: &'a Shutdown,
}

/// What became of a submit.
enum Submitted {
    Rewarded(f64),
    /// The server already had it (our first submit arrived; its answer did not).
    AlreadyThere,
    /// Too late: the server gave the job to another worker.
    Lost,
}

impl<A: HordeApi, B: Backend, C: Clock> Worker<'_, A, B, C> {
    /// Runs until shut down, or until the server refuses the worker.
    pub async fn run(&self) -> Result<(), WorkerError> {
        let slots = (0..self.options.threads.max(1) as usize).map(|slot| self.slot(slot));
        let results = futures_util::future::join_all(slots).await;
        results.into_iter().collect()
    }

    fn pop_input(&self) -> PopInputKobold {
        let limits = self.backend.limits();
        PopInputKobold {
            name: Some(self.options.name.clone()),
            models: self.backend.models(),
            max_length: limits.max_length,
            max_context_length: limits.max_context_length,
            nsfw: self.options.nsfw,
            bridge_agent: self.options.bridge_agent.clone(),
            threads: self.options.threads.max(1),
            amount: 1,
            ..PopInputKobold::default()
        }
    }

    /// Sleeps, waking early if the worker is asked to stop.
    async fn pause(&self, duration: Duration) {
        let end = Instant::now() + duration;
        while !self.shutdown.stopping() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.clock.sleep(left.min(SLEEP_SLICE)).await;
        }
    }

    async fn slot(&self, slot: usize) -> Result<(), WorkerError> {
        let mut backoff = Backoff::new(self.options.retry_pause);
        while !self.shutdown.stopping() {
            match self.api.pop_text(&self.pop_input()).await {
                Ok(popped) => {
                    backoff.reset();
                    match TextJob::from_pop(popped, self.backend.limits()) {
                        Some(job) => self.run_job(slot, job).await,
                        None => {
                            self.stats.set(slot, SlotState::Idle);
                            self.pause(self.options.idle_poll).await;
                        }
                    }
                }
                Err(error) if error.rc() == Some("WorkerMaintenance") => {
                    self.stats.set(slot, SlotState::Maintenance);
                    self.pause(MAINTENANCE_POLL).await;
                }
                Err(error) if error.is_transient() => {
                    tracing::warn!(%error, "the server is unreachable; trying again");
                    self.stats.set(
                        slot,
                        SlotState::Reconnecting {
                            error: error.to_string(),
                        },
                    );
                    self.pause(backoff.pause()).await;
                }
                Err(error) => {
                    self.stats.set(slot, SlotState::Stopped);
                    return Err(WorkerError::Refused(error));
                }
            }
        }
        self.stats.set(slot, SlotState::Stopped);
        Ok(())
    }

    async fn run_job(&self, slot: usize, job: TextJob) {
        let started = Instant::now();
        let margin = (job.ttl / 10).min(DEADLINE_MARGIN);
        let control = JobControl::new(started + job.ttl - margin);
        self.shutdown.track(&control.cancel);
        tracing::info!(job = %job.id, model = %job.model, max_tokens = job.settings.max_tokens, "generating");
        self.stats.set(
            slot,
            SlotState::Generating {
                job: job.id.clone(),
                tokens: 0,
                max_tokens: job.settings.max_tokens,
            },
        );
        let generation = self.generate_with_progress(slot, &job, &control).await;
        control.cancel.cancel();
        let generating = started.elapsed();
        let (input, tokens) = match generation {
            Ok(generated) => {
                if generated.cut_at_deadline {
                    tracing::warn!(job = %job.id, tokens = generated.tokens, "stopped at the deadline; submitting what there is");
                }
                let text = job.settings.format(&generated.text);
                (
                    submission(&job, SubmitState::Ok, Some(text), None),
                    generated.tokens,
                )
            }
            Err(BackendError::Cancelled) => {
                tracing::warn!(job = %job.id, "stopped; handing the job back");
                (
                    submission(&job, SubmitState::Faulted, None, Some("worker shut down")),
                    0,
                )
            }
            Err(BackendError::Failed(error)) => {
                tracing::error!(job = %job.id, %error, "generation failed; reporting the job faulted");
                (
                    submission(&job, SubmitState::Faulted, None, Some(&error)),
                    0,
                )
            }
        };
        self.stats.set(
            slot,
            SlotState::Submitting {
                job: job.id.clone(),
            },
        );
        let outcome = match self.submit(&input, started + job.ttl + SUBMIT_GRACE).await {
            Ok(_) if input.state == SubmitState::Faulted => Outcome::Faulted,
            Ok(Submitted::Rewarded(reward)) => {
                tracing::info!(job = %job.id, tokens, reward, "submitted");
                Outcome::Done { tokens, reward }
            }
            Ok(Submitted::AlreadyThere) => {
                tracing::info!(job = %job.id, "submitted (the server had it already)");
                Outcome::Done {
                    tokens,
                    reward: 0.0,
                }
            }
            Ok(Submitted::Lost) => Outcome::Lost,
            Err(error) => {
                tracing::error!(job = %job.id, %error, "the server refused the result");
                Outcome::Lost
            }
        };
        self.stats.record(outcome, generating);
    }

    /// The generation, with the slot's state showing its progress.
    async fn generate_with_progress(
        &self,
        slot: usize,
        job: &TextJob,
        control: &JobControl,
    ) -> Result<crate::backend::Generated, BackendError> {
        let generation = self.backend.generate(job, control);
        // Updates the status line, and ends when the worker must stop at once (a back end
        // that cannot be cancelled is then dropped, which abandons its request).
        let progress = async {
            while !self.shutdown.aborting() {
                self.clock.sleep(SLEEP_SLICE).await;
                self.stats.set(
                    slot,
                    SlotState::Generating {
                        job: job.id.clone(),
                        tokens: control.tokens(),
                        max_tokens: job.settings.max_tokens,
                    },
                );
            }
        };
        futures_util::pin_mut!(generation, progress);
        match futures_util::future::select(generation, progress).await {
            futures_util::future::Either::Left((result, _)) => result,
            futures_util::future::Either::Right(((), _)) => Err(BackendError::Cancelled),
        }
    }

    /// Submits until the server has the result, or until it is too late.
    async fn submit(
        &self,
        input: &SubmitInputKobold,
        give_up_at: Instant,
    ) -> Result<Submitted, ApiError> {
        let mut backoff = Backoff::new(self.options.retry_pause);
        loop {
            match self.api.submit_text(input).await {
                Ok(submitted) => return Ok(Submitted::Rewarded(submitted.reward)),
                Err(error) if error.rc() == Some("DuplicateGen") => {
                    return Ok(Submitted::AlreadyThere)
                }
                Err(error) if matches!(error.rc(), Some("AbortedGen" | "InvalidJobID")) => {
                    tracing::warn!(%error, "the job was given to another worker meanwhile");
                    return Ok(Submitted::Lost);
                }
                Err(error) if error.is_transient() && Instant::now() < give_up_at => {
                    tracing::warn!(%error, "cannot submit yet; trying again");
                    // Not `pause`: a submit is retried even while shutting down.
                    self.clock.sleep(backoff.pause()).await;
                }
                Err(error) if error.is_transient() => {
                    tracing::warn!(%error, "the job's time is up; letting it go");
                    return Ok(Submitted::Lost);
                }
                Err(error) => return Err(error),
            }
        }
    }
}

fn submission(
    job: &TextJob,
    state: SubmitState,
    text: Option<String>,
    fault: Option<&str>,
) -> SubmitInputKobold {
    SubmitInputKobold {
        id: Some(job.id.clone()),
        generation: text,
        state,
        seed: job.settings.sampling.seed as i64,
        gen_metadata: fault
            .map(|reason| GenerationMetadata {
                kind: "generation".into(),
                value: "faulted".into(),
                reference: Some(reason.chars().take(200).collect()),
            })
            .into_iter()
            .collect(),
    }
}
