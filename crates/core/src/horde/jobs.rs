//! The worker's side: pop a job, upload an image, submit the result.

use super::{validate, Account, Horde};
use crate::blacklist::Blacklist;
use crate::bridge_reference;
use crate::error::{CoreError, Rejection, Result};
use crate::kudos::{self, ImagePricing, ImageWork, Kudos, Pricing, TextWorkerRate};
use crate::matching::Capabilities;
use crate::names;
use crate::now_ms;
use crate::store::{
    Claimed, Completion, CompletionOutcome, JobRow, PopOutcome, PopQuery, RequestRow,
    WorkerCheckIn, WorkerRow,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use protocol::{
    GenerationMetadata, GenerationPayloadKobold, GenerationPayloadStable, GenerationSubmitted,
    NoValidRequestFound, PopInputKobold, PopInputStable, SubmitInputKobold, SubmitInputStable,
    SubmitState, WorkerType,
};
use serde_json::{json, Map, Value};

/// Candidates a pop examines at most.
const CANDIDATE_LIMIT: i64 = 500;
/// The largest image a worker may upload or submit inline.
pub const MAX_IMAGE_BYTES: usize = 16 * 1024 * 1024;

/// The URL at which the image of a job is served (and uploaded to).
pub fn image_url(base_url: &str, job_id: &str) -> String {
    format!("{}/api/v2/images/{job_id}", base_url.trim_end_matches('/'))
}

/// Where the worker of a job PUTs its image (`r2_upload`): the image's URL, with the job's
/// token.
pub(super) fn upload_url(base_url: &str, job: &JobRow) -> String {
    let token = job.upload_token.as_deref().unwrap_or_default();
    format!("{}?token={token}", image_url(base_url, &job.id))
}

/// An image upload from a worker to the `r2_upload` URL it got with its job.
pub struct ImageUpload<'a> {
    pub job_id: &'a str,
    pub token: &'a str,
    pub bytes: &'a [u8],
}

/// A stored image and its media type, read from its first bytes.
pub struct StoredImage {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// What both kinds of pop share, read from their inputs.
pub(super) struct PopCommon<'a> {
    pub kind: WorkerType,
    pub name: Option<&'a str>,
    /// The models it serves (an alchemist: its forms).
    pub models: &'a [String],
    pub amount: u32,
    pub threads: u32,
    pub bridge_agent: &'a str,
    /// `name#id` of accounts whose requests it serves first, with its owner's.
    pub priority_usernames: &'a [String],
    /// The address it pops from ([`super::canonical_address`]), if known.
    pub address: Option<&'a str>,
}

/// The most accounts a worker may name in `priority_usernames`.
const MAX_PRIORITY_USERNAMES: usize = 100;

/// The largest chat template a worker may announce (real ones are a few KiB).
const MAX_CHAT_TEMPLATE_BYTES: usize = 65_536;

impl Horde {
    /// A text worker asks for jobs, from `address` ([`super::canonical_address`]) if known.
    pub async fn pop_text(
        &self,
        account: &Account,
        input: PopInputKobold,
        address: Option<&str>,
    ) -> Result<GenerationPayloadKobold> {
        let common = PopCommon {
            kind: WorkerType::Text,
            name: input.name.as_deref(),
            models: &input.models,
            amount: input.amount,
            threads: input.threads,
            bridge_agent: &input.bridge_agent,
            priority_usernames: &input.priority_usernames,
            address,
        };
        let chat_template = match &input.chat_template {
            Some(template) => {
                validate::no_nul("chat_template", &template.template)?;
                if template.template.len() > MAX_CHAT_TEMPLATE_BYTES {
                    return Err(Rejection::invalid_field(
                        "chat_template",
                        "BadRequest",
                        format!("A chat template may have at most {MAX_CHAT_TEMPLATE_BYTES} bytes"),
                    )
                    .into());
                }
                serde_json::to_string(template).ok()
            }
            None => None,
        };
        let uptime_reward = kudos::text_uptime_reward(
            input.max_context_length,
            input.models.first().map(String::as_str),
            &self.policy.model_reference,
            bridge_reference::is_validated_text_backend(&input.bridge_agent),
        );
        let check_in = |c: &mut WorkerCheckIn| {
            c.max_length = input.max_length.into();
            c.max_context_length = input.max_context_length.into();
            c.uptime_reward = uptime_reward;
            c.extra_slow_worker = input.extra_slow_worker;
            c.require_upfront_kudos = input.require_upfront_kudos;
            c.chat_template = chat_template.clone();
            c.browser = input.browser;
            c.keeps_prompts = input.keeps_prompts;
            c.can_score = input.can_score && !input.browser;
        };
        let worker = self.check_in(account, &common, check_in).await?;
        let caps = self.capabilities(&worker, &*self.worker_speeds().await?);
        let (popped, skipped) = self.find_and_claim(&worker, &caps, &common).await?;
        let Some(Claimed {
            request,
            jobs,
            model,
        }) = popped
        else {
            // An empty object, not null, as in the AI Horde: horde-sdk
            // requires `payload` to be an object even when there is no job.
            return Ok(GenerationPayloadKobold {
                payload: Some(Map::new()),
                skipped,
                messages: self.pop_messages(&worker).await?,
                ..Default::default()
            });
        };
        let mut payload = request
            .params
            .clone()
            .map(|p| p.0)
            .and_then(into_object)
            .unwrap_or_default();
        payload.insert(
            "prompt".into(),
            json!(request.prompt.clone().unwrap_or_default()),
        );
        let score_check = self.score_check_of(&request).await?;
        Ok(GenerationPayloadKobold {
            payload: Some(payload),
            id: jobs.first().map(|j| j.id.clone()),
            ids: jobs.iter().map(|j| j.id.clone()).collect(),
            skipped,
            softprompt: None,
            model: Some(model),
            ttl: Some(self.job_ttl_secs(WorkerType::Text, &request, &caps)),
            score_check,
            messages: self.pop_messages(&worker).await?,
        })
    }

    /// An image worker asks for jobs, from `address` ([`super::canonical_address`]) if known.
    pub async fn pop_image(
        &self,
        account: &Account,
        input: PopInputStable,
        base_url: &str,
        address: Option<&str>,
    ) -> Result<GenerationPayloadStable> {
        let common = PopCommon {
            kind: WorkerType::Image,
            name: input.name.as_deref(),
            models: &input.models,
            amount: input.amount,
            threads: input.threads,
            bridge_agent: &input.bridge_agent,
            priority_usernames: &input.priority_usernames,
            address,
        };
        // Refused before the check-in: a pop that is refused changes nothing.
        let blacklist = Blacklist::new(&input.blacklist)?;
        let uptime_reward = kudos::image_uptime_reward(input.models.len(), input.allow_lora);
        let check_in = |c: &mut WorkerCheckIn| {
            c.max_pixels = i64::try_from(input.max_pixels).unwrap_or(i64::MAX);
            c.nsfw = input.nsfw;
            c.allow_img2img = input.allow_img2img;
            c.allow_painting = input.allow_painting;
            c.allow_post_processing = input.allow_post_processing;
            c.allow_lora = input.allow_lora;
            c.allow_controlnet = input.allow_controlnet;
            c.allow_sdxl_controlnet = input.allow_sdxl_controlnet;
            c.limit_max_steps = input.limit_max_steps;
            c.extra_slow_worker = input.extra_slow_worker;
            c.require_upfront_kudos = input.require_upfront_kudos;
            c.uptime_reward = uptime_reward;
            c.keeps_prompts = input.keeps_prompts;
        };
        let worker = self.check_in(account, &common, check_in).await?;
        let caps = Capabilities {
            blacklist,
            ..self.capabilities(&worker, &*self.worker_speeds().await?)
        };
        let (popped, skipped) = self.find_and_claim(&worker, &caps, &common).await?;
        let Some(Claimed {
            request,
            jobs,
            model,
        }) = popped
        else {
            return Ok(GenerationPayloadStable {
                payload: Some(Map::new()),
                skipped,
                source_processing: "img2img".into(),
                messages: self.pop_messages(&worker).await?,
                ..Default::default()
            });
        };
        let mut stored = request
            .params
            .clone()
            .map(|p| p.0)
            .and_then(into_object)
            .unwrap_or_default();
        let mut payload = stored
            .remove("payload")
            .and_then(into_object)
            .unwrap_or_default();
        let (positive, negative) =
            split_negative_prompt(request.prompt.as_deref().unwrap_or_default());
        let prompt = match negative {
            Some(negative) => format!("{positive} ### {negative}"),
            None => positive.to_string(),
        };
        payload.insert("prompt".into(), json!(prompt));
        payload.insert("n_iter".into(), json!(jobs.len()));
        if !payload.contains_key("seed") {
            payload.insert("seed".into(), json!(rand::random::<u32>().to_string()));
        }
        let text = |key: &str| stored.get(key).and_then(Value::as_str).map(str::to_string);
        let extra_source_images = stored
            .get("extra_source_images")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let uploads: Vec<String> = jobs.iter().map(|j| upload_url(base_url, j)).collect();
        Ok(GenerationPayloadStable {
            payload: Some(payload),
            id: jobs.first().map(|j| j.id.clone()),
            ids: jobs.iter().map(|j| j.id.clone()).collect(),
            skipped,
            model: Some(model),
            source_image: text("source_image"),
            source_processing: text("source_processing").unwrap_or_else(|| "img2img".into()),
            source_mask: text("source_mask"),
            extra_source_images,
            r2_upload: uploads.first().cloned(),
            r2_uploads: uploads,
            ttl: Some(self.job_ttl_secs(WorkerType::Image, &request, &caps)),
            messages: self.pop_messages(&worker).await?,
        })
    }

    /// Registers the worker on its first pop, refreshes it on later ones, and
    /// refuses workers that may not pop now. A worker in maintenance checks in: it still
    /// serves its owner's requests (`find_and_claim`).
    pub(super) async fn check_in(
        &self,
        account: &Account,
        common: &PopCommon<'_>,
        kind_specific: impl FnOnce(&mut WorkerCheckIn),
    ) -> Result<WorkerRow> {
        account.require_registered("AnonForbiddenWorker", "run workers")?;
        account.require_unfrozen()?;
        let name = names::chosen("name", "TooLongWorkerName", common.name, 1, 100)?;
        let models = validate::models("models", common.models)?;
        validate::in_range("amount", common.amount.into(), 1, 20)?;
        validate::in_range("threads", common.threads.into(), 1, 50)?;
        validate::no_nul("bridge_agent", common.bridge_agent)?;
        let existing = self.store.worker_by_name(&name).await?;
        if let Some(existing) = &existing {
            if existing.owner_id != account.user.id {
                return Err(Rejection::forbidden(
                    "WrongCredentials",
                    "Wrong credentials to submit as this worker",
                )
                .into());
            }
            if existing.kind != common.kind.as_str() {
                return Err(Rejection::bad_request(
                    "PolymorphicNameConflict",
                    format!("The name {name:?} belongs to a {} worker", existing.kind),
                )
                .into());
            }
        }
        if existing.is_none() {
            self.require_invited(account).await?;
            self.refuse_one_worker_too_many(account).await?;
            self.refuse_look_alike_worker(&name, account.user.id, None)
                .await?;
        }
        let mut check_in = WorkerCheckIn {
            chat_template: None,
            new_id: uuid::Uuid::new_v4().to_string(),
            name,
            owner_id: account.user.id,
            kind: common.kind.as_str().into(),
            models,
            max_length: 0,
            max_context_length: 0,
            max_pixels: 0,
            nsfw: false,
            allow_img2img: false,
            allow_painting: false,
            allow_post_processing: false,
            allow_lora: false,
            allow_controlnet: false,
            allow_sdxl_controlnet: false,
            limit_max_steps: false,
            extra_slow_worker: false,
            require_upfront_kudos: false,
            threads: common.threads.into(),
            bridge_agent: common.bridge_agent.chars().take(1000).collect(),
            browser: false,
            keeps_prompts: false,
            can_score: false,
            hold_rewards: false,
            address: common.address.and_then(|a| self.address_hashes(a)),
            now: now_ms(),
            stale_ms: self.policy.worker_stale.as_millis() as i64,
            uptime_reward: Kudos::ZERO,
        };
        kind_specific(&mut check_in);
        // A moderator vouched for its owner (and it is no browser tab), or it earned trust.
        let vouched = account.user.trusted && !check_in.browser;
        let earned = existing.as_ref().is_some_and(|w| w.auto_trusted);
        check_in.hold_rewards = !vouched && !earned;
        let worker = self.store.check_in_worker(&check_in).await?;
        if existing.is_none() {
            self.suspect_worker_name(worker.owner_id, &worker.id, &worker.name)
                .await?;
        }
        Ok(worker)
    }

    /// Claims the best request this worker may serve, or says why none fit. Its owner's
    /// requests and those of the accounts it named in `priority_usernames` go first (among
    /// them, by priority and age), as in the AI Horde; a worker in maintenance or paused serves its owner's requests alone, and
    /// one in maintenance that finds none is told so (403 `WorkerMaintenance`).
    pub(super) async fn find_and_claim(
        &self,
        worker: &WorkerRow,
        caps: &Capabilities,
        common: &PopCommon<'_>,
    ) -> Result<(Option<Claimed>, NoValidRequestFound)> {
        let only_owner = worker.maintenance || worker.paused;
        let priority_users = match only_owner {
            true => vec![worker.owner_id],
            false => priority_users(worker.owner_id, common.priority_usernames)?,
        };
        let ttl_ms = |request: &RequestRow| -> i64 {
            self.job_ttl_secs(common.kind, request, caps) as i64 * 1000
        };
        let query = PopQuery {
            kind: common.kind.as_str(),
            worker: caps,
            amount: common.amount.into(),
            now: now_ms(),
            ttl_ms: &ttl_ms,
            // Image jobs upload their image with it; interrogation forms download theirs too.
            with_upload_token: common.kind != WorkerType::Text,
            scan_limit: CANDIDATE_LIMIT,
            priority_users: &priority_users,
            only_priority: only_owner,
        };
        let PopOutcome {
            claimed,
            mut skipped,
        } = self.store.pop(&query).await?;
        if let Some(claimed) = &claimed {
            let kind = common.kind.as_str();
            metrics::counter!("potluck_jobs_popped_total", "kind" => kind)
                .increment(claimed.jobs.len() as u64);
        }
        if claimed.is_none() {
            if worker.maintenance {
                let message = worker.maintenance_msg.clone().unwrap_or_else(|| {
                    "This worker is in maintenance mode; its owner can lift it with PUT /api/v2/workers/{id}".into()
                });
                return Err(Rejection::forbidden("WorkerMaintenance", message).into());
            }
            skipped.models = self
                .requests_for_other_models(common.kind.as_str(), &caps.models)
                .await?;
        }
        Ok((claimed, skipped))
    }

    /// Seconds a worker has for a job of this request: an extra slow worker has three times
    /// as long for an image, as in the AI Horde.
    fn job_ttl_secs(&self, kind: WorkerType, request: &RequestRow, caps: &Capabilities) -> u64 {
        match kind {
            WorkerType::Text => self.policy.text_ttl_secs(),
            WorkerType::Image => {
                let secs = self.policy.image_ttl_secs(
                    request.width as u32,
                    request.height as u32,
                    request.steps as u32,
                );
                if caps.extra_slow_worker {
                    secs * 3
                } else {
                    secs
                }
            }
            WorkerType::Interrogation => self.policy.alchemy_ttl_secs(),
        }
    }

    /// Waiting requests that name models this worker does not serve.
    async fn requests_for_other_models(&self, kind: &str, models: &[String]) -> Result<u32> {
        let queued = self.queue_shape().await?;
        let other = queued
            .iter()
            .filter(|q| {
                q.kind == kind
                    && !q.models.0.is_empty()
                    && !q.models.0.iter().any(|m| models.contains(m))
            })
            .map(|q| q.requests)
            .sum::<i64>();
        Ok(u32::try_from(other).unwrap_or(u32::MAX))
    }

    pub async fn submit_text_result(
        &self,
        account: &Account,
        input: SubmitInputKobold,
    ) -> Result<GenerationSubmitted> {
        let CallersJob {
            job,
            request,
            worker,
        } = self
            .job_of_caller(account, input.id.as_deref(), WorkerType::Text)
            .await?;
        if request.is_check() && input.state != SubmitState::Faulted {
            return self.submit_text_check(&job, &request, input).await;
        }
        let generation = match (input.state, input.generation) {
            (SubmitState::Faulted, generation) => generation,
            (_, Some(generation)) => Some(generation.replace('\0', "\u{fffd}")),
            (_, None) => {
                return Err(Rejection::invalid_field(
                    "generation",
                    "BadRequest",
                    "generation is required",
                )
                .into());
            }
        };
        let token_ids = validate::token_ids(input.token_ids)?;
        let tokens = kudos::delivered_tokens(
            generation.as_deref().unwrap_or_default(),
            request.max_length as u32,
        );
        let context_tokens = match request.pricing.as_ref().map(|p| &p.0) {
            Some(Pricing::Text(pricing)) => pricing.context_tokens,
            // Queued before its pricing was stored: what the context allowed.
            _ => request.max_context_length as u32,
        };
        let rate = TextWorkerRate {
            trusted_owner: worker.owner_trusted,
            validated_backend: bridge_reference::is_validated_text_backend(&worker.bridge_agent),
        };
        let reward = kudos::text_reward(
            tokens,
            &job.model,
            context_tokens,
            &self.policy.model_reference,
            rate,
        );
        let cost = kudos::text_requester_cost(reward);
        let verification = self.verification_for(&worker);
        let check = match (&generation, input.state) {
            (Some(text), SubmitState::Ok) if verification.check => Some(
                self.text_check_of(
                    &job,
                    &request,
                    &worker,
                    text,
                    token_ids.as_deref(),
                    &input.seed.to_string(),
                )
                .await?,
            ),
            _ => None,
        };
        // The AI Horde's fields.
        let webhook = match (&request.webhook, &generation, input.state) {
            (Some(_), Some(text), state) if state != SubmitState::Faulted => Some(json!({
                "text": text, "seed": input.seed, "worker_id": worker.id,
                "worker_name": worker.name, "model": job.model, "id": job.id,
                "state": state.as_str(), "gen_metadata": input.gen_metadata,
                "request": request.id, "kudos": reward.as_f64(),
            })),
            _ => None,
        };
        let completion = Completion {
            generation,
            image: None,
            seed: input.seed.to_string(),
            things: f64::from(tokens),
            prompt_tokens: input.prompt_tokens.map(i64::from),
            completion_tokens: input.completion_tokens.map(i64::from),
            finish_reason: input
                .finish_reason
                .filter(|r| matches!(r.as_str(), "stop" | "length")),
            token_ids,
            hold: verification.hold,
            check,
            ..self.completion(
                &job,
                &request,
                input.state,
                input.gen_metadata,
                (reward, cost),
            )
        };
        let submitted = self.complete(completion).await?;
        self.announce_job_end(&request.id, &job.id).await;
        if let Some(body) = webhook {
            self.call_webhook(&request, body);
        }
        Ok(submitted)
    }

    /// A worker's finished image; `base_url` is this server's, for the image's URL in the
    /// request's webhook.
    pub async fn submit_image_result(
        &self,
        account: &Account,
        input: SubmitInputStable,
        base_url: &str,
    ) -> Result<GenerationSubmitted> {
        let CallersJob {
            job,
            request,
            worker,
        } = self
            .job_of_caller(account, input.id.as_deref(), WorkerType::Image)
            .await?;
        let state = match input.state {
            SubmitState::Ok if input.censored => SubmitState::Censored,
            state => state,
        };
        let image = match (state, input.generation.as_deref()) {
            (SubmitState::Faulted, _) => None,
            (_, Some("R2")) | (_, Some("r2")) if job.has_image => None,
            (_, Some("R2")) | (_, Some("r2")) => {
                return Err(Rejection::invalid_field(
                    "generation",
                    "ImageValidationFailed",
                    "The generation says R2 but no image was uploaded to r2_upload",
                )
                .into());
            }
            (_, Some(inline)) if !inline.is_empty() => Some(decode_image(inline)?),
            _ if job.has_image => None,
            _ => {
                return Err(Rejection::invalid_field(
                    "generation",
                    "ImageValidationFailed",
                    "No image was submitted",
                )
                .into());
            }
        };
        let things = kudos::megapixelsteps(
            request.width as u32,
            request.height as u32,
            request.steps as u32,
        );
        let verification = self.verification_for(&worker);
        let checking = request.is_check() || (verification.check && state == SubmitState::Ok);
        // The picture a check compares: the one submitted inline, or the one uploaded.
        let picture = match (&image, checking && state != SubmitState::Faulted) {
            (Some(inline), true) => Some(inline.clone()),
            (None, true) => self.store.image(&job.id).await?,
            _ => None,
        };
        if request.is_check() && state != SubmitState::Faulted {
            let picture = picture.unwrap_or_default();
            return self
                .submit_image_check(&job, &request, &picture, things)
                .await;
        }
        let check = picture
            .as_deref()
            .and_then(crate::image_hash::perceptual_hash)
            .map(|hash| {
                let seed = input.seed.unwrap_or_default().to_string();
                self.image_check_of(&job, &request, &worker, &seed, hash)
            });
        let pricing = image_pricing(&request);
        let reward = pricing.reward(self.policy.model_reference.image_baseline(&job.model));
        let cost = pricing.requester_cost(reward);
        let seed = input.seed.unwrap_or_default();
        // The AI Horde's fields, but the image's, which is known once it is stored.
        let webhook = (request.webhook.is_some() && state != SubmitState::Faulted).then(|| {
            json!({
                "seed": seed, "worker_id": worker.id, "worker_name": worker.name,
                "model": job.model, "id": job.id, "censored": state != SubmitState::Ok,
                "gen_metadata": input.gen_metadata, "request": request.id,
                "kudos": reward.as_f64(),
            })
        });
        let completion = Completion {
            generation: None,
            image,
            seed: seed.to_string(),
            things,
            hold: verification.hold,
            check,
            ..self.completion(&job, &request, state, input.gen_metadata, (reward, cost))
        };
        let submitted = self.complete(completion).await?;
        if let Some(mut body) = webhook {
            body["img"] = json!(self.delivered_image(&request, &job.id, base_url).await?);
            self.call_webhook(&request, body);
        }
        Ok(submitted)
    }

    /// A delivered image as its requester gets it: a URL of this server, or base64 when the
    /// request asked for no URLs (`r2: false`).
    pub(super) async fn delivered_image(
        &self,
        request: &RequestRow,
        job_id: &str,
        base_url: &str,
    ) -> Result<String> {
        if request.r2 {
            return Ok(image_url(base_url, job_id));
        }
        let image = self.store.image(job_id).await?;
        Ok(image
            .map(|bytes| STANDARD.encode(bytes))
            .unwrap_or_default())
    }

    /// The job with this id, if the caller owns the worker it was given to.
    pub(super) async fn job_of_caller(
        &self,
        account: &Account,
        id: Option<&str>,
        kind: WorkerType,
    ) -> Result<CallersJob> {
        account.require_registered("AnonForbiddenWorker", "run workers")?;
        let id = id
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Rejection::invalid_field("id", "BadRequest", "id is required"))?;
        let not_found = || {
            Rejection::not_found(
                "InvalidJobID",
                format!("Processing generation {id} not found"),
            )
        };
        let job = self.store.job(id).await?.ok_or_else(not_found)?;
        let request = self
            .store
            .request(&job.request_id)
            .await?
            .ok_or_else(not_found)?;
        if request.kind != kind.as_str() {
            return Err(not_found().into());
        }
        let worker = self.store.worker(&job.worker_id).await?;
        match worker {
            Some(worker) if worker.owner_id == account.user.id => Ok(CallersJob {
                job,
                request,
                worker,
            }),
            _ => Err(Rejection::forbidden(
                "WrongCredentials",
                "This job was given to a worker you do not own",
            )
            .into()),
        }
    }

    /// A finished job's completion, paying `reward` to its worker and charging `cost` to its
    /// requester, as far as its state and requester allow.
    pub(super) fn completion(
        &self,
        job: &JobRow,
        request: &RequestRow,
        state: SubmitState,
        gen_metadata: Vec<GenerationMetadata>,
        (reward, cost): (Kudos, Kudos),
    ) -> Completion {
        let reward = if state == SubmitState::Faulted {
            Kudos::ZERO
        } else {
            reward
        };
        // Censored results are not charged to the requester, as in the AI Horde.
        let charged = request.user_id != 0 && state == SubmitState::Ok;
        Completion {
            job_id: job.id.clone(),
            worker_id: job.worker_id.clone(),
            state,
            generation: None,
            image: None,
            seed: String::new(),
            gen_metadata,
            reward,
            cost: if charged { cost } else { Kudos::ZERO },
            things: 0.0,
            max_restarts: self.policy.max_restarts,
            prompt_tokens: None,
            completion_tokens: None,
            finish_reason: None,
            token_ids: None,
            hold: false,
            check: None,
            now: now_ms(),
        }
    }

    pub(super) async fn complete(&self, completion: Completion) -> Result<GenerationSubmitted> {
        let id = completion.job_id.clone();
        match self.store.complete_job(&completion).await? {
            CompletionOutcome::Rewarded(reward) => {
                tracing::info!(job = %id, reward = %reward, "generation submitted");
                metrics::counter!("potluck_jobs_submitted_total", "outcome" => "done").increment(1);
                metrics::counter!("potluck_kudos_rewarded_hundredths_total")
                    .increment(u64::try_from(reward.0).unwrap_or(0));
                Ok(GenerationSubmitted {
                    reward: reward.as_f64(),
                })
            }
            CompletionOutcome::Requeued => {
                tracing::info!(job = %id, "worker reported a fault; generation re-queued");
                metrics::counter!("potluck_jobs_submitted_total", "outcome" => "faulted")
                    .increment(1);
                Ok(GenerationSubmitted { reward: 0.0 })
            }
            refused => Err(refusal(&id, refused)),
        }
    }

    /// Stores an image uploaded by the worker of a job in progress.
    pub async fn upload_image(&self, upload: ImageUpload<'_>) -> Result<()> {
        if upload.bytes.is_empty() || upload.bytes.len() > MAX_IMAGE_BYTES {
            return Err(Rejection::bad_request(
                "ImageValidationFailed",
                "The image is empty or too large",
            )
            .into());
        }
        if media_type(upload.bytes).is_none() {
            return Err(Rejection::bad_request(
                "ImageValidationFailed",
                "Upload a WebP, PNG or JPEG image",
            )
            .into());
        }
        if !self
            .store
            .attach_image(upload.job_id, upload.token, upload.bytes)
            .await?
        {
            return Err(Rejection::forbidden(
                "WrongCredentials",
                "No job in progress matches this upload URL",
            )
            .into());
        }
        Ok(())
    }

    pub async fn image(&self, job_id: &str) -> Result<StoredImage> {
        let bytes = self.store.image(job_id).await?.ok_or_else(|| {
            Rejection::not_found(
                "RequestNotFound",
                "No such image, or it was purged after delivery",
            )
        })?;
        let content_type = media_type(&bytes).unwrap_or("application/octet-stream");
        Ok(StoredImage {
            bytes,
            content_type,
        })
    }
}

/// A job the caller's worker holds, with its request and that worker.
pub(super) struct CallersJob {
    pub job: JobRow,
    pub request: RequestRow,
    pub worker: WorkerRow,
}

/// Why a submit of job `id` changed nothing, as the AI Horde says it.
pub(super) fn refusal(id: &str, outcome: CompletionOutcome) -> crate::error::CoreError {
    match outcome {
        CompletionOutcome::AlreadySubmitted => Rejection::bad_request(
            "DuplicateGen",
            format!("Processing generation {id} was already submitted"),
        ),
        CompletionOutcome::Aborted => Rejection::bad_request(
            "AbortedGen",
            format!("Processing generation {id} took too long and was given to another worker"),
        ),
        _ => Rejection::not_found(
            "InvalidJobID",
            format!("Processing generation {id} not found"),
        ),
    }
    .into()
}

/// The accounts whose requests a worker serves first: its owner, then those it names as
/// `name#id` (the id decides; accounts that do not exist have no requests). Anything else is
/// refused with the AI Horde's rc.
fn priority_users(owner_id: i64, usernames: &[String]) -> Result<Vec<i64>> {
    if usernames.len() > MAX_PRIORITY_USERNAMES {
        return Err(Rejection::invalid_field(
            "priority_usernames",
            "InvalidPriorityUsername",
            format!("A worker may name at most {MAX_PRIORITY_USERNAMES} priority usernames"),
        )
        .into());
    }
    let mut users = vec![owner_id];
    for username in usernames {
        let id = username
            .rsplit_once('#')
            .and_then(|(_, id)| id.parse::<i64>().ok())
            .filter(|id| *id >= 0)
            .ok_or_else(|| {
                Rejection::invalid_field(
                    "priority_usernames",
                    "InvalidPriorityUsername",
                    "Priority usernames need to be provided in the form of 'alias#number'. \
                     Example: 'db0#1'",
                )
            })?;
        if !users.contains(&id) {
            users.push(id);
        }
    }
    Ok(users)
}

/// What an image request's kudos depend on: as stored with it, or, for a request queued before
/// that was stored, from its columns.
pub(super) fn image_pricing(request: &RequestRow) -> ImagePricing {
    if let Some(Pricing::Image(pricing)) = request.pricing.as_ref().map(|p| &p.0) {
        return pricing.clone();
    }
    let work = ImageWork {
        width: request.width as u32,
        height: request.height as u32,
        steps: request.steps as u32,
        ..ImageWork::default()
    };
    ImagePricing {
        base: kudos::image_base(&work),
        post_processing_factor: 1.0,
        img2img: request.img2img,
        slow_workers: request.slow_workers,
        worker_blacklist: request.worker_blacklist,
        ..ImagePricing::default()
    }
}

fn into_object(value: Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The positive and negative halves of an AI Horde image prompt.
fn split_negative_prompt(prompt: &str) -> (&str, Option<&str>) {
    match prompt.split_once("###") {
        Some((positive, negative)) => (positive.trim(), Some(negative.trim())),
        None => (prompt, None),
    }
}

fn decode_image(inline: &str) -> Result<Vec<u8>> {
    let invalid = |why: &str| -> CoreError {
        Rejection::invalid_field("generation", "ImageValidationFailed", why.to_string()).into()
    };
    let bytes = STANDARD
        .decode(inline.trim())
        .map_err(|_| invalid("generation is not valid base64"))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(invalid("the image is too large"));
    }
    if media_type(&bytes).is_none() {
        return Err(invalid("generation is not a WebP, PNG or JPEG image"));
    }
    Ok(bytes)
}

/// The media type of an image, from its magic bytes.
pub(super) fn media_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_prompts_split_at_the_marker() {
        assert_eq!(
            split_negative_prompt("a cat ### dogs"),
            ("a cat", Some("dogs"))
        );
        assert_eq!(split_negative_prompt("a cat"), ("a cat", None));
    }

    #[test]
    fn media_types_from_magic_bytes() {
        assert_eq!(media_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(media_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(media_type(b"GIF89a"), None);
    }
}
