//! The requester's side: queue a request, watch it, fetch results, cancel.

use super::{validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::kudos::{self, Kudos};
use crate::matching::Capabilities;
use crate::now_ms;
use crate::store::{request_state, JobRow, NewRequest, RequestRow, WorkerRow};
use base64::{engine::general_purpose::STANDARD, Engine};
use protocol::{
    GenerationInputKobold, GenerationInputStable, GenerationKobold, GenerationStable, RequestAsync,
    RequestSingleWarning, RequestStatusCheck, RequestStatusKobold, RequestStatusStable, WorkerType,
};
use serde_json::{json, Map, Value};

/// Queue priority of the anonymous account: below every registered user.
const ANONYMOUS_PRIORITY: i64 = i64::MIN / 4;
/// Flagged accounts queue below anonymous ones.
const FLAGGED_PRIORITY: i64 = ANONYMOUS_PRIORITY - 1;
/// Seconds one generation takes when nothing was measured yet.
const DEFAULT_JOB_SECS: [f64; 2] = [10.0, 30.0];

/// The smallest lengths a text request may ask for.
#[derive(Clone, Copy, Debug)]
pub struct TextMinimums {
    pub max_length: i64,
    pub max_context_length: i64,
}

impl TextMinimums {
    /// The AI Horde's.
    pub const HORDE: TextMinimums = TextMinimums {
        max_length: 16,
        max_context_length: 80,
    };
    /// The OpenAI API's, where a client may ask for a single token.
    pub const OPENAI: TextMinimums = TextMinimums {
        max_length: 1,
        max_context_length: 2,
    };
}

impl Horde {
    pub async fn submit_text(
        &self,
        account: &Account,
        input: GenerationInputKobold,
        client_hash: Option<String>,
    ) -> Result<RequestAsync> {
        self.submit_text_with(account, input, client_hash, TextMinimums::HORDE)
            .await
    }

    pub async fn submit_text_with(
        &self,
        account: &Account,
        input: GenerationInputKobold,
        client_hash: Option<String>,
        minimums: TextMinimums,
    ) -> Result<RequestAsync> {
        let prompt = validate::prompt(input.prompt.as_deref())?.to_string();
        let params = &input.params;
        validate::in_range("params.n", params.n.into(), 1, 20)?;
        validate::in_range(
            "params.max_length",
            params.max_length.into(),
            minimums.max_length,
            4096,
        )?;
        validate::in_range(
            "params.max_context_length",
            params.max_context_length.into(),
            minimums.max_context_length,
            1_048_576,
        )?;
        let models = validate::models("models", &input.models)?;
        self.require_known_models(WorkerType::Text, &models).await?;
        let estimate = kudos::text_estimate(
            params.max_length,
            params.max_context_length,
            &models,
            &self.policy.model_reference,
        );
        let mut payload = params.sampling.clone();
        payload.insert("n".into(), json!(1));
        payload.insert("max_length".into(), json!(params.max_length));
        payload.insert(
            "max_context_length".into(),
            json!(params.max_context_length),
        );
        let request = NewRequest {
            kind: "text".into(),
            prompt,
            params: Value::Object(payload),
            models,
            workers: input.workers,
            worker_blacklist: input.worker_blacklist,
            trusted_workers: input.trusted_workers,
            workers_keep_nothing: input.workers_keep_nothing,
            nsfw: false,
            r2: true,
            shared: false,
            max_length: params.max_length.into(),
            max_context_length: params.max_context_length.into(),
            width: 0,
            height: 0,
            steps: 0,
            img2img: false,
            post_processors: 0,
            loras: 0,
            n: params.n.into(),
            ..self.new_request(account, client_hash, estimate)
        };
        self.enqueue(account, request, input.dry_run).await
    }

    pub async fn submit_image(
        &self,
        account: &Account,
        input: GenerationInputStable,
        client_hash: Option<String>,
    ) -> Result<RequestAsync> {
        let prompt = validate::prompt(input.prompt.as_deref())?.to_string();
        let p = &input.params;
        validate::in_range("params.n", p.n.into(), 1, 20)?;
        for (field, size) in [("params.width", p.width), ("params.height", p.height)] {
            if !(64..=3072).contains(&size) || size % 64 != 0 {
                return Err(Rejection::invalid_field(
                    field,
                    "InvalidSize",
                    format!("{field} must be a multiple of 64 between 64 and 3072, not {size}"),
                )
                .into());
            }
        }
        if p.steps == 0 || p.steps > 500 {
            return Err(Rejection::invalid_field(
                "params.steps",
                "TooManySteps",
                "steps must be between 1 and 500",
            )
            .into());
        }
        if !protocol::SAMPLERS.contains(&p.sampler_name.as_str()) {
            return Err(Rejection::invalid_field(
                "params.sampler_name",
                "UnsupportedSampler",
                format!("Unknown sampler {:?}", p.sampler_name),
            )
            .into());
        }
        if !(0.0..=100.0).contains(&p.cfg_scale) {
            return Err(Rejection::invalid_field(
                "params.cfg_scale",
                "BadCFGNumber",
                "cfg_scale must be between 0 and 100",
            )
            .into());
        }
        if let Some(unknown) = p
            .post_processing
            .iter()
            .find(|pp| !validate::KNOWN_POST_PROCESSORS.contains(&pp.as_str()))
        {
            return Err(Rejection::invalid_field(
                "params.post_processing",
                "BadRequest",
                format!("Unknown post-processor {unknown:?}"),
            )
            .into());
        }
        let img2img = input.source_image.as_deref().is_some_and(|s| !s.is_empty());
        if let Some(image) = input.source_image.as_deref().filter(|s| !s.is_empty()) {
            if STANDARD.decode(image).is_err() {
                return Err(Rejection::invalid_field(
                    "source_image",
                    "SourceImageUnreadable",
                    "source_image is not valid base64",
                )
                .into());
            }
        }
        let models = validate::models("models", &input.models)?;
        self.require_known_models(WorkerType::Image, &models)
            .await?;
        let estimate =
            kudos::image_kudos(p.width, p.height, p.steps, img2img, p.post_processing.len());
        let payload = image_payload(&input);
        let request = NewRequest {
            kind: "image".into(),
            prompt,
            params: Value::Object(payload),
            models,
            workers: input.workers.clone(),
            worker_blacklist: input.worker_blacklist,
            trusted_workers: input.trusted_workers,
            workers_keep_nothing: input.workers_keep_nothing,
            nsfw: input.nsfw,
            r2: input.r2,
            shared: input.shared,
            max_length: 0,
            max_context_length: 0,
            width: p.width.into(),
            height: p.height.into(),
            steps: p.steps.into(),
            img2img,
            post_processors: p.post_processing.len() as i64,
            loras: p.loras.len() as i64,
            n: p.n.into(),
            ..self.new_request(account, client_hash, estimate)
        };
        self.enqueue(account, request, input.dry_run).await
    }

    /// The fields every request shares; the kind-specific ones are filled in by the caller.
    fn new_request(
        &self,
        account: &Account,
        client_hash: Option<String>,
        estimate: Kudos,
    ) -> NewRequest {
        let user = &account.user;
        let priority = if user.flagged {
            FLAGGED_PRIORITY
        } else if user.is_anonymous() {
            ANONYMOUS_PRIORITY
        } else {
            user.kudos
        };
        NewRequest {
            id: uuid::Uuid::new_v4().to_string(),
            kind: String::new(),
            user_id: user.id,
            // Only anonymous requesters are told apart by client; accounts are limited as a whole.
            client_hash: client_hash.filter(|_| user.is_anonymous()),
            prompt: String::new(),
            params: Value::Null,
            models: Vec::new(),
            workers: Vec::new(),
            worker_blacklist: false,
            trusted_workers: false,
            workers_keep_nothing: false,
            nsfw: false,
            r2: true,
            shared: false,
            max_length: 0,
            max_context_length: 0,
            width: 0,
            height: 0,
            steps: 0,
            img2img: false,
            post_processors: 0,
            loras: 0,
            n: 1,
            priority,
            kudos_estimate: estimate,
            check_kind: None,
            exclude_owner: None,
            now: now_ms(),
        }
    }

    async fn enqueue(
        &self,
        account: &Account,
        request: NewRequest,
        dry_run: bool,
    ) -> Result<RequestAsync> {
        account.require_unfrozen()?;
        let total = (kudos::requester_cost(request.kudos_estimate)).as_f64() * request.n as f64;
        if dry_run {
            return Ok(RequestAsync {
                id: None,
                kudos: total,
                message: None,
                warnings: Vec::new(),
            });
        }
        let limit = if account.is_anonymous() {
            self.policy.anonymous_concurrency
        } else {
            u32::try_from(account.user.concurrency).unwrap_or(0)
        };
        self.store.insert_request(&request, limit).await?;
        let stored = self.store.request(&request.id).await?;
        let mut warnings = Vec::new();
        if let Some(stored) = &stored {
            let workers = self.store.workers(Some(&stored.kind)).await?;
            if !self.is_possible(stored, &workers) {
                warnings.push(RequestSingleWarning {
                    code: "NoAvailableWorker".into(),
                    message: "No worker online can serve this request now; it waits until one can."
                        .into(),
                });
            }
        }
        tracing::info!(request = %request.id, kind = %request.kind, n = request.n, "request queued");
        Ok(RequestAsync {
            id: Some(request.id),
            kudos: total,
            message: None,
            warnings,
        })
    }

    /// A requested model must be one some worker has served, so that a typo
    /// fails at once instead of waiting in the queue forever.
    async fn require_known_models(&self, kind: WorkerType, models: &[String]) -> Result<()> {
        if models.is_empty() {
            return Ok(());
        }
        let workers = self.store.workers(Some(kind.as_str())).await?;
        let known = |m: &String| workers.iter().any(|w| w.models.0.contains(m));
        if !models.iter().any(known) {
            return Err(Rejection::invalid_field(
                "models",
                "UnsupportedModel",
                format!(
                    "No {} worker serves any of the models {:?}",
                    kind.as_str(),
                    models
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Whether some online worker among `workers` (those of the request's kind)
    /// could take this request now.
    fn is_possible(&self, request: &RequestRow, workers: &[WorkerRow]) -> bool {
        workers
            .iter()
            .filter(|w| self.takes_jobs(w))
            .any(|w| Capabilities::of(w).check(request).is_ok())
    }

    /// Records the requester's look: it keeps an active request from expiring
    /// and marks finished results as delivered. Polls come often, so the write
    /// is skipped while it would change nothing that matters.
    pub(super) async fn touch(&self, request: &RequestRow, delivered: bool) -> Result<()> {
        let now = now_ms();
        let refresh_every = (self.policy.request_expiry.as_millis() as i64 / 4).min(5_000);
        let keeps_alive =
            request.state == request_state::ACTIVE && now - request.last_activity >= refresh_every;
        let first_delivery = delivered && request.delivered_at.is_none();
        if keeps_alive || first_delivery {
            self.store
                .touch_request(&request.id, now, delivered)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn find_request(&self, id: &str, kind: WorkerType) -> Result<RequestRow> {
        let not_found =
            || Rejection::not_found("RequestNotFound", format!("Request {id} not found"));
        // No id holds a NUL, and PostgreSQL cannot even look one up.
        if id.contains('\0') {
            return Err(not_found().into());
        }
        let request = self.store.request(id).await?.ok_or_else(not_found)?;
        if request.kind != kind.as_str() {
            return Err(not_found().into());
        }
        if request.purged || request.state == request_state::EXPIRED {
            return Err(Rejection::gone(
                "RequestExpired",
                format!("Request {id} expired or its results were purged after delivery"),
            )
            .into());
        }
        Ok(request)
    }

    /// The progress of a request. `jobs` are read after `request`, so they may
    /// be newer: the counts of finished and running generations come from the
    /// jobs, the same list the generations are taken from, so that a status
    /// never says done without its results, nor shows results it does not count.
    pub(super) async fn status_check(
        &self,
        request: &RequestRow,
        jobs: &[JobRow],
    ) -> Result<RequestStatusCheck> {
        let processing = jobs
            .iter()
            .filter(|j| j.state == crate::store::job_state::PROCESSING)
            .count() as u32;
        let finished = jobs.iter().filter(|j| j.is_finished()).count() as u32;
        let active = request.state == request_state::ACTIVE && i64::from(finished) < request.n;
        let queue_position = if active && request.n_waiting > 0 {
            self.store.queue_position(request).await?
        } else {
            0
        };
        // One read of the workers serves both the wait estimate and is_possible.
        let workers = if active {
            self.store.workers(Some(&request.kind)).await?
        } else {
            Vec::new()
        };
        let wait_time = if active {
            self.wait_estimate(request, queue_position, &workers)
                .await?
        } else {
            0
        };
        Ok(RequestStatusCheck {
            finished,
            processing,
            restarted: request.restarts as u32,
            waiting: request.n_waiting.max(0) as u32,
            done: !active && processing == 0,
            faulted: request.state == request_state::FAULTED,
            wait_time,
            queue_position,
            kudos: Kudos(jobs.iter().map(|j| j.kudos).sum()).as_f64(),
            is_possible: !active || request.n_waiting == 0 || self.is_possible(request, &workers),
        })
    }

    /// Seconds until this request is likely done: the work ahead of it and its
    /// own, at the recent pace of the workers online.
    async fn wait_estimate(
        &self,
        request: &RequestRow,
        queue_position: u32,
        workers: &[WorkerRow],
    ) -> Result<u32> {
        let kind_index = usize::from(request.kind != "text");
        let recent = self.recent_pace().await?;
        let (jobs, busy_ms) = recent
            .iter()
            .filter(|w| w.kind == request.kind)
            .fold((0i64, 0i64), |(j, b), w| (j + w.jobs, b + w.busy_ms));
        let job_secs = if jobs > 0 {
            busy_ms as f64 / 1000.0 / jobs as f64
        } else {
            DEFAULT_JOB_SECS[kind_index]
        };
        let online_since = self.online_since();
        let threads: i64 = workers
            .iter()
            .filter(|w| w.last_check_in >= online_since && !w.maintenance)
            .map(|w| w.threads.max(1))
            .sum();
        let generations_ahead = f64::from(queue_position) + request.n_waiting as f64;
        Ok((generations_ahead * job_secs / threads.max(1) as f64).ceil() as u32)
    }

    pub async fn text_status(&self, id: &str) -> Result<RequestStatusKobold> {
        let request = self.find_request(id, WorkerType::Text).await?;
        let jobs = self.store.jobs_of(id).await?;
        let check = self.status_check(&request, &jobs).await?;
        let generations = jobs
            .iter()
            .filter(|j| j.is_finished())
            .map(|j| GenerationKobold {
                text: j.generation.clone().unwrap_or_default(),
                seed: j.seed.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0),
                worker_id: j.worker_id.clone(),
                worker_name: j.worker_name.clone().unwrap_or_default(),
                model: j.model.clone(),
                id: j.id.clone(),
                state: j.state.clone(),
                gen_metadata: j.gen_metadata.clone().map(|m| m.0).unwrap_or_default(),
            })
            .collect();
        self.touch(&request, check.done).await?;
        Ok(RequestStatusKobold { check, generations })
    }

    /// The progress of an image request, without results (cheap, polled often).
    pub async fn image_check(&self, id: &str) -> Result<RequestStatusCheck> {
        let request = self.find_request(id, WorkerType::Image).await?;
        let jobs = self.store.jobs_of(id).await?;
        let check = self.status_check(&request, &jobs).await?;
        self.touch(&request, false).await?;
        Ok(check)
    }

    /// The status of an image request with its images, as URLs under
    /// `base_url` or inline base64 when the request asked for that.
    pub async fn image_status(&self, id: &str, base_url: &str) -> Result<RequestStatusStable> {
        let request = self.find_request(id, WorkerType::Image).await?;
        let jobs = self.store.jobs_of(id).await?;
        let check = self.status_check(&request, &jobs).await?;
        let mut generations = Vec::new();
        for job in jobs.iter().filter(|j| j.is_finished()) {
            let img = if !job.has_image {
                String::new()
            } else if request.r2 {
                super::jobs::image_url(base_url, &job.id)
            } else {
                self.store
                    .image(&job.id)
                    .await?
                    .map(|b| STANDARD.encode(b))
                    .unwrap_or_default()
            };
            generations.push(GenerationStable {
                img,
                seed: job.seed.clone().unwrap_or_default(),
                id: job.id.clone(),
                censored: job.state != "ok",
                worker_id: job.worker_id.clone(),
                worker_name: job.worker_name.clone().unwrap_or_default(),
                model: job.model.clone(),
                state: job.state.clone(),
                gen_metadata: job.gen_metadata.clone().map(|m| m.0).unwrap_or_default(),
            });
        }
        self.touch(&request, check.done).await?;
        Ok(RequestStatusStable {
            check,
            generations,
            shared: request.shared,
        })
    }

    /// Stops handing out the rest of a request. Jobs already with a worker
    /// finish and are paid as usual.
    pub async fn cancel_text(&self, id: &str) -> Result<RequestStatusKobold> {
        self.find_request(id, WorkerType::Text).await?;
        self.store.cancel_request(id, now_ms()).await?;
        self.text_status(id).await
    }

    pub async fn cancel_image(&self, id: &str, base_url: &str) -> Result<RequestStatusStable> {
        self.find_request(id, WorkerType::Image).await?;
        self.store.cancel_request(id, now_ms()).await?;
        self.image_status(id, base_url).await
    }
}

/// What an image worker receives besides the prompt: the parameters, the
/// source images and the censor flag, kept together until a worker pops it.
fn image_payload(input: &GenerationInputStable) -> Map<String, Value> {
    let p = &input.params;
    let mut payload = p.extra.clone();
    payload.insert("width".into(), json!(p.width));
    payload.insert("height".into(), json!(p.height));
    // Workers read the step count as `ddim_steps` only, as the AI Horde sends it.
    payload.insert("ddim_steps".into(), json!(p.steps));
    payload.insert("sampler_name".into(), json!(p.sampler_name));
    payload.insert("cfg_scale".into(), json!(p.cfg_scale));
    payload.insert("post_processing".into(), json!(p.post_processing));
    payload.insert("loras".into(), json!(p.loras));
    payload.insert("use_nsfw_censor".into(), json!(input.censor_nsfw));
    if let Some(seed) = &p.seed {
        payload.insert("seed".into(), json!(seed));
    }
    let mut stored = Map::new();
    stored.insert("payload".into(), Value::Object(payload));
    stored.insert("source_image".into(), json!(input.source_image));
    stored.insert("source_mask".into(), json!(input.source_mask));
    stored.insert("source_processing".into(), json!(input.source_processing));
    stored
}
