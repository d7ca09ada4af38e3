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
//! - A back end that can generate no more (its GPU was lost) has its job handed back as faulted,
//!   and the loop stops.
//! - Shutdown: the first request drains (no new jobs, the current ones finish and are
//!   submitted); the second stops the generations and hands their jobs back as faulted.
//! - A job someone streams has its text sent as it is generated (`/generate/text/progress`);
//!   when the server answers that the requester went away, generation stops and what there is
//!   is submitted.
//! - A check job (a pop with a `score_check`, given only to trusted workers whose back end can
//!   score, never to browser tabs) is scored instead of generated, and its scores are submitted
//!   in place of a generation; a check that fails is submitted faulted, like any job.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use protocol::{
    GenerationMetadata, GenerationProgress, PopInputKobold, ScoreCheck, SubmitInputKobold,
    SubmitState, TextScores,
};
use web_time::Instant;

use crate::api::{ApiError, HordeApi};
use crate::backend::{Backend, BackendError, Generated, JobControl, StopReason};
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
    /// It runs in a browser tab (the Contribute page): the server never trusts it.
    pub browser: bool,
    /// It keeps prompts or results it is given (logs, caches, training); announced in pops.
    pub keeps_prompts: bool,
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
/// How often the chat template is announced again (the server keeps it with the worker; a
/// server that lost it, after a restart on a new database, learns it again this soon).
const TEMPLATE_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The server refused the worker outright (a wrong API key, an anonymous key).
    #[error("the server will not take this worker: {0}")]
    Refused(ApiError),
    /// The back end can generate no more (its GPU was lost); its last job was handed back.
    #[error("the worker cannot generate any more: {0}")]
    BackendFailed(String),
}

const RUNNING: u8 = 0;
const DRAINING: u8 = 1;
const ABORTING: u8 = 2;

/// Stops the worker, gently then firmly.
#[derive(Default)]
pub struct Shutdown {
    state: AtomicU8,
    running: Mutex<Vec<JobControl>>,
}

impl Shutdown {
    /// The first call drains; the second aborts. Returns true if it now aborts.
    pub fn request(&self) -> bool {
        if self.state.fetch_max(DRAINING, Ordering::SeqCst) == RUNNING {
            return false;
        }
        self.state.store(ABORTING, Ordering::SeqCst);
        for control in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            control.stop(StopReason::Shutdown);
        }
        true
    }

    pub fn stopping(&self) -> bool {
        self.state.load(Ordering::SeqCst) != RUNNING
    }

    fn aborting(&self) -> bool {
        self.state.load(Ordering::SeqCst) == ABORTING
    }

    fn track(&self, control: &JobControl) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|c| !c.is_finished());
        running.push(control.clone());
        if self.aborting() {
            control.stop(StopReason::Shutdown);
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
    api: &'a A,
    backend: &'a B,
    clock: &'a C,
    options: WorkerOptions,
    stats: &'a Stats,
    shutdown: &'a Shutdown,
    /// When the chat template was last announced (`None`: it must be, at the next pop).
    template_announced: Mutex<Option<Instant>>,
}

/// What became of a submit.
enum Submitted {
    Rewarded(f64),
    /// The server already had it (our first submit arrived; its answer did not).
    AlreadyThere,
    /// Too late: the server gave the job to another worker.
    Lost,
}

impl<'a, A: HordeApi, B: Backend, C: Clock> Worker<'a, A, B, C> {
    pub fn new(
        api: &'a A,
        backend: &'a B,
        clock: &'a C,
        options: WorkerOptions,
        stats: &'a Stats,
        shutdown: &'a Shutdown,
    ) -> Self {
        Worker {
            api,
            backend,
            clock,
            options,
            stats,
            shutdown,
            template_announced: Mutex::new(None),
        }
    }

    /// Runs until shut down, or until the server refuses the worker.
    pub async fn run(&self) -> Result<(), WorkerError> {
        let slots = (0..self.options.threads.max(1) as usize).map(|slot| self.slot(slot));
        let results = futures_util::future::join_all(slots).await;
        results.into_iter().collect()
    }

    /// The chat template, when it is time to announce it again.
    fn template_to_announce(&self) -> Option<protocol::ChatTemplateInfo> {
        let mut announced = self
            .template_announced
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if announced.is_some_and(|at| at.elapsed() < TEMPLATE_EVERY) {
            return None;
        }
        *announced = Some(Instant::now());
        self.backend.chat_template()
    }

    /// After an outage: the server may have restarted without what it knew of this worker.
    fn forget_announcements(&self) {
        *self
            .template_announced
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
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
            chat_template: self.template_to_announce(),
            browser: self.options.browser,
            keeps_prompts: self.options.keeps_prompts,
            // Checks go to trusted workers only, which a browser tab never is.
            can_score: self.backend.can_score() && !self.options.browser,
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
                        Some(job) => {
                            self.run_job(slot, job).await;
                            if let Some(failure) = self.backend.failure() {
                                self.stats.set(slot, SlotState::Stopped);
                                return Err(WorkerError::BackendFailed(failure));
                            }
                        }
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
                    self.forget_announcements();
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
        if let Some(check) = &job.score_check {
            return self.run_check(slot, &job, check).await;
        }
        let started = Instant::now();
        let margin = (job.ttl / 10).min(DEADLINE_MARGIN);
        let control = JobControl::new(started + job.ttl - margin);
        let (control, text) = if job.stream {
            let (control, text) = control.streaming();
            (control, Some(text))
        } else {
            (control, None)
        };
        self.shutdown.track(&control);
        tracing::info!(job = %job.id, model = %job.model, max_tokens = job.settings.max_tokens, stream = job.stream, "generating");
        self.stats.set(
            slot,
            SlotState::Generating {
                job: job.id.clone(),
                tokens: 0,
                max_tokens: job.settings.max_tokens,
            },
        );
        let generation = async {
            let result = self.generate_with_progress(slot, &job, &control).await;
            control.end_text();
            result
        };
        let generation = match text {
            Some(text) => {
                let relay = self.relay_text(&job, &control, text);
                futures_util::future::join(generation, relay).await.0
            }
            None => generation.await,
        };
        let stopped_by = control.stop_reason();
        control.finish();
        let generating = started.elapsed();
        let (input, tokens) = match generation {
            Ok(generated) => {
                if generated.cut_short && stopped_by == Some(StopReason::RequesterGone) {
                    tracing::info!(job = %job.id, tokens = generated.tokens, "the requester went away; submitting what there is");
                } else if generated.cut_short {
                    tracing::warn!(job = %job.id, tokens = generated.tokens, "stopped at the deadline; submitting what there is");
                }
                (finished(&job, &generated), generated.tokens)
            }
            Err(error) => (handed_back(&job, error), 0),
        };
        self.hand_in(slot, &job, &input, started, tokens, generating)
            .await;
    }

    /// A check job: scores another worker's generation of the job, and submits the scores.
    async fn run_check(&self, slot: usize, job: &TextJob, check: &ScoreCheck) {
        let started = Instant::now();
        tracing::info!(job = %job.id, model = %job.model, reported_ids = check.token_ids.is_some(), "checking another worker's generation");
        self.stats.set(
            slot,
            SlotState::Checking {
                job: job.id.clone(),
            },
        );
        let input = match self
            .unless_aborted(self.backend.score(job, check), || {})
            .await
        {
            Ok(scores) => scored(job, scores),
            Err(error) => handed_back(job, error),
        };
        // Nothing was generated: the worker's token rate leaves checks out.
        self.hand_in(slot, job, &input, started, 0, Duration::ZERO)
            .await;
    }

    /// Submits a job's result, and counts how it went with the tokens generated and the time
    /// generating them.
    async fn hand_in(
        &self,
        slot: usize,
        job: &TextJob,
        input: &SubmitInputKobold,
        started: Instant,
        tokens: usize,
        generating: Duration,
    ) {
        self.stats.set(
            slot,
            SlotState::Submitting {
                job: job.id.clone(),
            },
        );
        let outcome = match self.submit(input, started + job.ttl + SUBMIT_GRACE).await {
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
    ) -> Result<Generated, BackendError> {
        let progress = || {
            self.stats.set(
                slot,
                SlotState::Generating {
                    job: job.id.clone(),
                    tokens: control.tokens(),
                    max_tokens: job.settings.max_tokens,
                },
            )
        };
        self.unless_aborted(self.backend.generate(job, control), progress)
            .await
    }

    /// The back end's `work`, unless the worker must stop at once: then it is dropped (a back
    /// end that cannot be cancelled abandons its request) and the job is handed back. `tick`
    /// runs every moment meanwhile.
    async fn unless_aborted<T>(
        &self,
        work: impl Future<Output = Result<T, BackendError>>,
        tick: impl Fn(),
    ) -> Result<T, BackendError> {
        let watch = async {
            while !self.shutdown.aborting() {
                self.clock.sleep(SLEEP_SLICE).await;
                tick();
            }
        };
        futures_util::pin_mut!(work, watch);
        match futures_util::future::select(work, watch).await {
            futures_util::future::Either::Left((result, _)) => result,
            futures_util::future::Either::Right(((), _)) => Err(BackendError::Cancelled),
        }
    }

    /// Sends a streamed job's text to the server as it comes, until the generation ends.
    /// Whatever arrived while a message was on its way goes in the next one; a message that
    /// failed is sent again with the text that followed, so the requester misses nothing. A
    /// server without the endpoint (the original AI Horde) gets nothing more for this job.
    async fn relay_text(
        &self,
        job: &TextJob,
        control: &JobControl,
        mut text: UnboundedReceiver<String>,
    ) {
        let mut sent = 0u64;
        let mut pending = String::new();
        let mut relaying = true;
        while let Some(piece) = text.next().await {
            pending.push_str(&piece);
            while let Ok(piece) = text.try_recv() {
                pending.push_str(&piece);
            }
            if !relaying {
                continue;
            }
            let progress = GenerationProgress {
                id: Some(job.id.clone()),
                text: std::mem::take(&mut pending),
                offset: sent,
            };
            match self.api.send_progress(&progress).await {
                Ok(answer) => {
                    sent += progress.text.len() as u64;
                    if answer.cancelled {
                        control.stop(StopReason::RequesterGone);
                    }
                }
                Err(error) if error.is_transient() => pending = progress.text + &pending,
                Err(error) => {
                    tracing::warn!(job = %job.id, %error, "the server takes no streamed text; the requester gets the result at the end");
                    relaying = false;
                }
            }
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

/// The submit of a finished generation.
fn finished(job: &TextJob, generated: &Generated) -> SubmitInputKobold {
    let count = |n: usize| Some(u32::try_from(n).unwrap_or(u32::MAX));
    SubmitInputKobold {
        id: Some(job.id.clone()),
        generation: Some(job.settings.format(&generated.text)),
        state: SubmitState::Ok,
        seed: job.settings.sampling.seed as i64,
        gen_metadata: Vec::new(),
        prompt_tokens: generated.prompt_tokens.and_then(count),
        completion_tokens: count(generated.tokens),
        finish_reason: generated.finish_reason.map(str::to_string),
        token_ids: generated.token_ids.clone(),
        ..SubmitInputKobold::default()
    }
}

/// The submit of a check job: the scores, in place of a generation.
fn scored(job: &TextJob, scores: TextScores) -> SubmitInputKobold {
    SubmitInputKobold {
        id: Some(job.id.clone()),
        generation: None,
        state: SubmitState::Ok,
        seed: job.settings.sampling.seed as i64,
        scores: Some(scores),
        ..SubmitInputKobold::default()
    }
}

/// The submit of a job whose back end failed, or was stopped: it goes back to the queue.
fn handed_back(job: &TextJob, error: BackendError) -> SubmitInputKobold {
    match error {
        BackendError::Cancelled => {
            tracing::warn!(job = %job.id, "stopped; handing the job back");
            faulted(job, "worker shut down")
        }
        BackendError::Failed(error) => {
            tracing::error!(job = %job.id, %error, "the back end failed; reporting the job faulted");
            faulted(job, &error)
        }
    }
}

/// The submit that hands a job back, and says why.
fn faulted(job: &TextJob, reason: &str) -> SubmitInputKobold {
    SubmitInputKobold {
        id: Some(job.id.clone()),
        generation: None,
        state: SubmitState::Faulted,
        seed: job.settings.sampling.seed as i64,
        gen_metadata: vec![GenerationMetadata {
            kind: "generation".into(),
            value: "faulted".into(),
            reference: Some(reason.chars().take(200).collect()),
        }],
        ..SubmitInputKobold::default()
    }
}
