//! The requester's side: queue a request, watch it, fetch results, cancel.

use super::pricing::{ImageAsk, ImageCost, TextAsk};
use super::styles::AppliedStyle;
use super::{image_input, text_input, validate, Account, Horde};
use crate::error::{Rejection, Result};
use crate::kudos::{self, Kudos, Pricing};
use crate::now_ms;
use crate::store::{request_state, JobRow, NewRequest, RequestRow, WorkerRow};
use protocol::{
    GenerationInputKobold, GenerationInputStable, GenerationKobold, GenerationStable, RequestAsync,
    RequestSingleWarning, RequestStatusCheck, RequestStatusKobold, RequestStatusStable, WorkerType,
};
use serde_json::{json, Map, Value};

/// Queue priority of the anonymous account: below every registered user.
pub(super) const ANONYMOUS_PRIORITY: i64 = i64::MIN / 4;
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

/// How a request is queued, besides the request itself.
struct Enqueue {
    dry_run: bool,
    /// A request a shared key cannot pay for in full queues as an anonymous one instead.
    allow_downgrade: bool,
    /// The style applied to it, if any.
    style: Option<AppliedStyle>,
}

/// A text request's parameters as `/api/v2` checks them (also a text style's).
pub(super) fn check_text_params(params: &protocol::TextParams) -> Result<()> {
    check_lengths(params, TextMinimums::HORDE)?;
    text_input::check(params)
}

impl Horde {
    /// Queues a text request from `/api/v2` or the web UI: the AI Horde's checks of its
    /// parameters first (`/v1` checks OpenAI's own).
    pub async fn submit_text(
        &self,
        account: &Account,
        input: GenerationInputKobold,
        client_hash: Option<String>,
    ) -> Result<RequestAsync> {
        check_text_params(&input.params)?;
        self.submit_text_with(account, input, client_hash, TextMinimums::HORDE)
            .await
    }

    pub async fn submit_text_with(
        &self,
        account: &Account,
        mut input: GenerationInputKobold,
        client_hash: Option<String>,
        minimums: TextMinimums,
    ) -> Result<RequestAsync> {
        self.refuse_in_maintenance().await?;
        let requester = self.requester(account, input.allow_downgrade).await?;
        let style = self.apply_text_style(&mut input).await?;
        let payer = style.as_ref().map(|s| s.payer(&requester).clone());
        let account = payer.as_ref().unwrap_or(&requester);
        let prompt = validate::prompt(input.prompt.as_deref())?.to_string();
        let params = &input.params;
        check_lengths(params, minimums)?;
        let context = usize::try_from(params.max_context_length).unwrap_or(usize::MAX);
        validate::prompt_within(
            &prompt,
            context.saturating_mul(validate::PROMPT_CHARS_PER_CONTEXT_TOKEN),
            "8 per token of max_context_length",
        )?;
        refuse_unserved_fields(
            input.proxied_account.as_deref(),
            input.softprompt.as_deref(),
        )?;
        if !input.extra_source_images.is_empty() {
            return Err(Rejection::invalid_field(
                "extra_source_images",
                "InvalidExtraSourceImages.",
                "This request type does not accept extra source images.",
            )
            .into());
        }
        if params.n > 1 && input.disable_batching && !account.user.trusted {
            return Err(Rejection::invalid_field(
                "disable_batching",
                "RequiresTrust",
                "Only trusted users can disable batching.",
            )
            .into());
        }
        let models = validate::models("models", &input.models)?;
        let cost = self
            .price_text(
                account,
                TextAsk {
                    prompt: &prompt,
                    max_length: params.max_length,
                    max_context_length: params.max_context_length,
                    models: &models,
                    n: params.n,
                    slow_workers: input.slow_workers,
                    allow_downgrade: input.allow_downgrade,
                },
            )
            .await?;
        let mut payload = params.sampling.clone();
        payload.insert("n".into(), json!(1));
        payload.insert("max_length".into(), json!(cost.max_length));
        payload.insert(
            "max_context_length".into(),
            json!(params.max_context_length),
        );
        let webhook = self.webhook_of(input.webhook.as_deref())?;
        let request = NewRequest {
            kind: "text".into(),
            prompt,
            params: Value::Object(payload),
            models,
            workers: input.workers,
            worker_blacklist: input.worker_blacklist,
            trusted_workers: input.trusted_workers,
            workers_keep_nothing: input.workers_keep_nothing,
            max_length: cost.max_length.into(),
            max_context_length: params.max_context_length.into(),
            n: params.n.into(),
            pricing: Some(Pricing::Text(cost.pricing)),
            tax: cost.tax,
            upfront_kudos: cost.upfront,
            slow_workers: cost.slow_workers,
            extra_slow_workers: input.extra_slow_workers,
            validated_backends: input.validated_backends,
            disable_batching: input.disable_batching,
            webhook,
            ..self.new_request(account, client_hash, cost.estimate)
        };
        let queued = Queued {
            per_generation: cost.per_generation,
            warnings: Vec::new(),
            no_worker_message: "Warning: No available workers can fulfill this request. It will \
                                expire in 20 minutes. Consider reducing the amount of tokens to \
                                generate.",
            no_worker_warning: false,
        };
        let options = Enqueue {
            dry_run: input.dry_run,
            allow_downgrade: input.allow_downgrade,
            style,
        };
        self.enqueue(account, request, queued, options).await
    }

    pub async fn submit_image(
        &self,
        account: &Account,
        mut input: GenerationInputStable,
        client_hash: Option<String>,
    ) -> Result<RequestAsync> {
        self.refuse_in_maintenance().await?;
        let requester = self.requester(account, input.allow_downgrade).await?;
        let style = self.apply_image_style(&mut input).await?;
        let payer = style.as_ref().map(|s| s.payer(&requester).clone());
        let account = payer.as_ref().unwrap_or(&requester);
        let prompt = validate::prompt(input.prompt.as_deref())?.to_string();
        validate::prompt_within(&prompt, validate::MAX_IMAGE_PROMPT_CHARS, "image prompts")?;
        let prompt = self
            .filtered_image_prompt(account, prompt, input.replacement_filter, input.nsfw)
            .await?;
        refuse_unserved_fields(input.proxied_account.as_deref(), None)?;
        let models = validate::models("models", &input.models)?;
        let reference = &self.policy.model_reference;
        let facts = image_input::check(&input, &models, account.user.trusted, reference)?;
        let p = &input.params;
        let loras: Vec<(&str, bool)> = p
            .loras
            .iter()
            .map(|l| {
                let name = l["name"].as_str().unwrap_or_default();
                (name, l["is_version"].as_bool().unwrap_or(false))
            })
            .collect();
        let cost = self
            .price_image(
                account,
                ImageAsk {
                    width: p.width,
                    height: p.height,
                    steps: facts.steps,
                    sampler: &p.sampler_name,
                    post_processing: &p.post_processing,
                    controlnet: facts.controlnet,
                    return_control_map: facts.return_control_map,
                    loras,
                    textual_inversions: facts.textual_inversions,
                    hires_fix: facts.hires_fix,
                    qr_code: facts.qr_code,
                    img2img: facts.img2img,
                    worker_blacklist: input.worker_blacklist,
                    extra_source_images: input.extra_source_images.len(),
                    models: &models,
                    n: p.n,
                    slow_workers: input.slow_workers,
                    allow_downgrade: input.allow_downgrade,
                },
            )
            .await?;
        let payload = image_payload(&input, &cost);
        let webhook = self.webhook_of(input.webhook.as_deref())?;
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
            width: cost.width.into(),
            height: cost.height.into(),
            steps: cost.steps.into(),
            img2img: facts.img2img,
            post_processors: p.post_processing.len() as i64,
            loras: p.loras.len() as i64,
            n: p.n.into(),
            pricing: Some(Pricing::Image(cost.pricing)),
            tax: cost.tax,
            upfront_kudos: cost.upfront,
            slow_workers: cost.slow_workers,
            extra_slow_workers: input.extra_slow_workers,
            validated_backends: input.validated_backends,
            disable_batching: facts.disable_batching,
            webhook,
            ..self.new_request(account, client_hash, cost.estimate)
        };
        let queued = Queued {
            per_generation: cost.per_generation,
            warnings: facts.warnings,
            no_worker_message: "Warning: No available workers can fulfill this request. It will \
                                expire in 20 minutes unless a worker appears. Please confider \
                                reducing its size of the request or choosing a different model.",
            no_worker_warning: true,
        };
        let options = Enqueue {
            dry_run: input.dry_run,
            allow_downgrade: input.allow_downgrade,
            style,
        };
        self.enqueue(account, request, queued, options).await
    }

    /// The fields every request shares; the kind-specific ones are filled in by the caller.
    pub(super) fn new_request(
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
            pricing: None,
            tax: Kudos::ZERO,
            upfront_kudos: Kudos::ZERO,
            slow_workers: true,
            extra_slow_workers: false,
            validated_backends: false,
            disable_batching: false,
            check_kind: None,
            exclude_owner: None,
            shared_key_id: account.shared_key.as_ref().map(|key| key.id),
            webhook: None,
            group_id: None,
            now: now_ms(),
        }
    }

    /// Queues the request (or, for a dry run, only says what it would cost): its cost per
    /// generation × n plus its tax, the warnings, and the AI Horde's message when no worker
    /// online can serve it now.
    async fn enqueue(
        &self,
        account: &Account,
        mut request: NewRequest,
        queued: Queued,
        options: Enqueue,
    ) -> Result<RequestAsync> {
        account.require_unfrozen()?;
        let n = u32::try_from(request.n).unwrap_or(1);
        let total_kudos = kudos::request_total(queued.per_generation, n, request.tax);
        let total = total_kudos.as_f64();
        if let Some(key) = &account.shared_key {
            // The key a style brings pays for the style's own settings, whatever its limits.
            if !options
                .style
                .as_ref()
                .is_some_and(AppliedStyle::brings_payer)
            {
                super::shared_keys::within_limits(key, &request)?;
            }
            if key
                .kudos
                .is_some_and(|left| total_kudos.hundredths() > left)
            {
                if !options.allow_downgrade {
                    return Err(Rejection::forbidden(
                        "SharedKeyInsufficientKudos",
                        format!(
                            "This shared key does not have enough remaining kudos ({}) to \
                             fulfill this request ({total}).",
                            Kudos(key.kudos.unwrap_or_default()).as_f64()
                        ),
                    )
                    .into());
                }
                request.priority = ANONYMOUS_PRIORITY;
            }
        }
        if options.dry_run {
            return Ok(RequestAsync {
                id: None,
                kudos: total,
                message: None,
                warnings: queued.warnings,
            });
        }
        let modes = self.current_modes().await?;
        self.store
            .insert_request(&request, self.concurrency(account).await?)
            .await?;
        if let Some(style) = &options.style {
            self.record_style_use(account, style).await?;
        }
        let stored = self.store.request(&request.id).await?;
        let mut warnings = queued.warnings;
        let mut message = None;
        // During a raid nobody is told that no worker can serve them: it would tell an attacker
        // which workers were stopped.
        if let Some(stored) = stored.as_ref().filter(|_| !modes.raid) {
            let workers = self.store.workers(Some(&stored.kind)).await?;
            if !self.is_possible(stored, &workers).await? {
                message = Some(queued.no_worker_message.to_string());
                if queued.no_worker_warning {
                    warnings.push(RequestSingleWarning {
                        code: "NoAvailableWorker".into(),
                        message: queued.no_worker_message.into(),
                    });
                }
            }
        }
        tracing::info!(request = %request.id, kind = %request.kind, n = request.n, "request queued");
        Ok(RequestAsync {
            id: Some(request.id),
            kudos: total,
            message,
            warnings,
        })
    }

    /// How many active requests the account may have at once (per client, if anonymous);
    /// during a raid, new and anonymous accounts get fewer.
    pub(super) async fn concurrency(&self, account: &Account) -> Result<u32> {
        let raid = self.current_modes().await?.raid;
        Ok(if raid && self.is_new_or_anonymous(account) {
            super::modes::RAID_CONCURRENCY
        } else if account.is_anonymous() {
            self.policy.anonymous_concurrency
        } else {
            u32::try_from(account.user.concurrency).unwrap_or(0)
        })
    }

    /// Whether some online worker among `workers` (those of the request's kind)
    /// could take this request now.
    async fn is_possible(&self, request: &RequestRow, workers: &[WorkerRow]) -> Result<bool> {
        let speeds = self.worker_speeds().await?;
        Ok(workers
            .iter()
            .filter(|w| self.takes_jobs(w))
            .any(|w| self.capabilities(w, &speeds).check(request).is_ok()))
    }

    /// Records the requester's look: it keeps an active request from expiring
    /// and marks finished results as delivered. Polls come often, so the write
    /// is skipped while it would change nothing that matters.
    pub(super) async fn touch(&self, request: &RequestRow, delivered: bool) -> Result<()> {
        let now = now_ms();
        if self.touch_due(request, delivered, now) {
            self.store
                .touch_request(&request.id, now, delivered)
                .await?;
        }
        Ok(())
    }

    /// Whether a look at `request` now should be recorded: it keeps an active request alive
    /// (now and then), or it is the first delivery of its results.
    pub(super) fn touch_due(&self, request: &RequestRow, delivered: bool, now: i64) -> bool {
        let refresh_every = (self.policy.request_expiry.as_millis() as i64 / 4).min(5_000);
        let keeps_alive =
            request.state == request_state::ACTIVE && now - request.last_activity >= refresh_every;
        let first_delivery = delivered && request.delivered_at.is_none();
        keeps_alive || first_delivery
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
            is_possible: !active
                || request.n_waiting == 0
                || self.is_possible(request, &workers).await?,
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
            let img = match job.has_image {
                true => self.delivered_image(&request, &job.id, base_url).await?,
                false => String::new(),
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

/// What the request says besides its answer: what a generation costs, its warnings, and what
/// to say when no worker online can serve it now (`no_worker_warning`: as a warning too).
struct Queued {
    per_generation: Kudos,
    warnings: Vec<RequestSingleWarning>,
    no_worker_message: &'static str,
    no_worker_warning: bool,
}

/// The counts and lengths a text request may ask for.
fn check_lengths(params: &protocol::TextParams, minimums: TextMinimums) -> Result<()> {
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
    )
}

/// Fields the AI Horde accepts that Potluck does not serve: refused, naming the field, rather
/// than ignored. `proxied_account` is for the AI Horde's service accounts (Potluck has none, and
/// the AI Horde refuses it from every other account alike); soft prompts are long gone from the
/// back ends Potluck's workers run.
fn refuse_unserved_fields(proxied_account: Option<&str>, softprompt: Option<&str>) -> Result<()> {
    if proxied_account.is_some_and(|a| !a.is_empty()) {
        return Err(Rejection::invalid_field(
            "proxied_account",
            "OnlyServiceAccountProxy",
            "Only service accounts can provide a proxied_account value.",
        )
        .into());
    }
    if softprompt.is_some_and(|s| !s.is_empty()) {
        return Err(Rejection::invalid_field(
            "softprompt",
            "BadRequest",
            "softprompt is not served here: no worker of this server loads soft prompts",
        )
        .into());
    }
    Ok(())
}

/// What an image worker receives besides the prompt: the parameters (with the size and steps
/// the request costs, after any downgrade), the source images and the censor flag, kept
/// together until a worker pops it.
fn image_payload(input: &GenerationInputStable, cost: &ImageCost) -> Map<String, Value> {
    let p = &input.params;
    let mut payload = p.extra.clone();
    payload.insert("width".into(), json!(cost.width));
    payload.insert("height".into(), json!(cost.height));
    // Workers read the step count as `ddim_steps` only, as the AI Horde sends it.
    payload.insert("ddim_steps".into(), json!(cost.steps));
    payload.insert("sampler_name".into(), json!(p.sampler_name));
    payload.insert("cfg_scale".into(), json!(p.cfg_scale));
    // The AI Horde's default when a request does not say.
    payload.entry("karras").or_insert_with(|| json!(true));
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
    if !input.extra_source_images.is_empty() {
        stored.insert(
            "extra_source_images".into(),
            json!(input.extra_source_images),
        );
    }
    stored
}
