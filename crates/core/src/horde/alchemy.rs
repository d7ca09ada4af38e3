//! Alchemy: an interrogation is one image and the forms asked of it (a caption, a CLIP
//! interrogation, an NSFW verdict, ..., or a post-processor: an upscale, a face fix, a removed
//! background), each served by an alchemist (`/api/v2/interrogate/*`).
//!
//! Each form is a request of its own (kind `interrogation`, one generation, the form's name as
//! its only model, the interrogation's id as its `group_id`; `store/alchemy.rs`). An alchemist
//! pops forms one by one, of any interrogation, as the AI Horde hands them out; so the forms go
//! through the same queue as text and images: priority by the requester's kudos, leases that
//! expire and requeue (and fault after `max_restarts`), idle expiry, the purge after delivery
//! and retention, and the kudos ledger (the form's reward to the alchemist's owner, held while
//! its work is unverified; the reward and the burn from the requester). The interrogation
//! itself is only its id, its forms and its image.
//!
//! The image comes inline (base64) or as an http(s) URL, which the server fetches once, under
//! the outbound rules (`outbound.rs`): alchemists download it from this server, from a URL that
//! works only while they hold one of its forms. A post-processor's alchemist uploads its image
//! to `r2_upload` as image workers do, and submits `{"<form>": "R2"}`; the status shows the
//! image's URL there.
//!
//! Alchemists' results are not checked (there is no reference to check a caption against): an
//! untrusted alchemist's rewards are held like any untrusted worker's, and stay held.

use super::jobs::{image_url, media_type, upload_url, CallersJob, PopCommon, MAX_IMAGE_BYTES};
use super::{validate, Account, Horde, StoredImage};
use crate::error::{CoreError, Rejection, Result};
use crate::kudos::{self, Kudos, TILE_SIDE};
use crate::now_ms;
use crate::outbound::OutboundError;
use crate::store::{
    job_state, request_state, Claimed, Completion, JobRow, NewInterrogation, NewRequest,
    RequestRow, INTERROGATION,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use protocol::{
    GenerationSubmitted, InterrogationFormStatus, InterrogationPopFormPayload,
    InterrogationPopInput, InterrogationPopPayload, InterrogationStatus, InterrogationSubmitInput,
    ModelInterrogationFormStable, ModelInterrogationInputStable, NoValidInterrogationsFound,
    NoValidRequestFound, RequestInterrogationResponse, SubmitState, WorkerType,
};
use reqwest::Url;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The forms besides the post-processors (`image_reference::POST_PROCESSORS`): the AI Horde's.
pub const ANALYSIS_FORMS: &[&str] = &[
    "caption",
    "interrogation",
    "nsfw",
    "vectorize",
    "palette",
    "describe",
    "aesthetic",
];

/// The largest image fetched from a URL (the AI Horde's 5 MB).
const MAX_URL_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// How long fetching it may take.
const URL_IMAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most 512×512 tiles an image may have (the AI Horde's: more would run alchemists out of
/// memory).
const MAX_IMAGE_TILES: u32 = 255;
/// The most entries a list of forms may have (there are not so many forms; duplicates count).
const MAX_FORM_ENTRIES: usize = 100;
/// A form's payload: at most this many settings, flat, each name and text this long at most.
const MAX_PAYLOAD_KEYS: usize = 32;
const MAX_PAYLOAD_KEY_CHARS: usize = 64;
const MAX_PAYLOAD_TEXT_CHARS: usize = 1024;
/// The largest result a form may deliver, as JSON (an interrogation's tags are a few KiB).
const MAX_RESULT_BYTES: usize = 256 * 1024;
/// What a post-processor's result says in place of the image it uploaded to `r2_upload`.
const UPLOADED: &str = "R2";
fn is_post_processor(form: &str) -> bool {
    crate::image_reference::post_processor(form).is_some()
}

fn is_form(form: &str) -> bool {
    ANALYSIS_FORMS.contains(&form) || is_post_processor(form)
}

fn invalid(field: &'static str, rc: &'static str, message: impl Into<String>) -> CoreError {
    Rejection::invalid_field(field, rc, message).into()
}

impl Horde {
    /// Queues an interrogation: its image (fetched now if it is a URL) and a request per form.
    pub async fn submit_interrogation(
        &self,
        account: &Account,
        input: ModelInterrogationInputStable,
        client_hash: Option<String>,
    ) -> Result<RequestInterrogationResponse> {
        self.refuse_in_maintenance().await?;
        account.require_unfrozen()?;
        let forms = requested_forms(&input.forms)?;
        if !input.slow_workers {
            return Err(invalid(
                "slow_workers",
                "BadRequest",
                "Potluck does not measure alchemists' speed, so it cannot keep slow ones away: \
                 slow_workers must be true",
            ));
        }
        let webhook = self.webhook_of(input.webhook.as_deref())?;
        let image = self.source_image(input.source_image.as_deref()).await?;
        let (width, height) = image_size(&image)?;
        let tiles = kudos::tiles(width, height);
        if tiles > MAX_IMAGE_TILES {
            return Err(invalid(
                "source_image",
                "SourceImageResolutionExceeded",
                format!(
                    "The image is too large ({tiles} tiles of 512×512; at most \
                     {MAX_IMAGE_TILES}): alchemists would run out of memory"
                ),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let shared = self.new_request(account, client_hash, Kudos::ZERO);
        let forms: Vec<NewRequest> = forms
            .into_iter()
            .enumerate()
            .map(|(i, (name, payload))| NewRequest {
                id: uuid::Uuid::new_v4().to_string(),
                kind: INTERROGATION.into(),
                params: json!({"form": name, "payload": payload}),
                kudos_estimate: kudos::form_kudos(&name, is_post_processor(&name), tiles),
                models: vec![name],
                trusted_workers: input.trusted_workers,
                width: i64::from(width),
                height: i64::from(height),
                webhook: webhook.clone(),
                group_id: Some(id.clone()),
                // A millisecond apart, so that they are listed, and queued, in the order asked.
                now: shared.now + i as i64,
                ..shared.clone()
            })
            .collect();
        let interrogation = NewInterrogation {
            id: id.clone(),
            user_id: account.user.id,
            client_hash: shared.client_hash,
            image,
            forms,
        };
        self.store
            .insert_interrogation(&interrogation, self.concurrency(account).await?)
            .await?;
        tracing::info!(interrogation = %id, forms = interrogation.forms.len(), "interrogation queued");
        Ok(RequestInterrogationResponse { id, message: None })
    }

    /// The image of an interrogation: decoded from base64, or fetched from its URL.
    async fn source_image(&self, source: Option<&str>) -> Result<Vec<u8>> {
        let Some(source) = source.map(str::trim).filter(|s| !s.is_empty()) else {
            return Err(invalid(
                "source_image",
                "BadRequest",
                "source_image is required: an image in base64, or its http(s) URL",
            ));
        };
        // As the AI Horde tells them apart (no image's base64 starts so).
        if !source.starts_with("http") {
            let image = STANDARD.decode(source).map_err(|_| {
                invalid(
                    "source_image",
                    "ImageValidationFailed",
                    "source_image is neither an http(s) URL nor valid base64",
                )
            })?;
            if image.len() > MAX_IMAGE_BYTES {
                return Err(invalid(
                    "source_image",
                    "SourceImageSizeExceeded",
                    format!("The image may have at most {MAX_IMAGE_BYTES} bytes"),
                ));
            }
            return Ok(image);
        }
        let url: Url = source.parse().map_err(|_| {
            invalid(
                "source_image",
                "SourceImageUrlInvalid",
                "source_image is not a valid URL",
            )
        })?;
        self.outbound
            .fetch(&url, MAX_URL_IMAGE_BYTES, URL_IMAGE_TIMEOUT)
            .await
            .map_err(|e| match e {
                OutboundError::Refused(why) => invalid(
                    "source_image",
                    "SourceImageUrlInvalid",
                    format!("source_image cannot be fetched: {why}"),
                ),
                OutboundError::TooLarge => invalid(
                    "source_image",
                    "SourceImageSizeExceeded",
                    "The image at source_image is larger than 5 MB",
                ),
                OutboundError::Status(status) => invalid(
                    "source_image",
                    "SourceImageUrlInvalid",
                    format!("source_image answered with HTTP status {status}"),
                ),
                OutboundError::Failed => invalid(
                    "source_image",
                    "ImageValidationFailed",
                    "Something went wrong when retrieving the image at source_image",
                ),
            })
    }

    /// The state of each form of an interrogation, with the results of those done.
    pub async fn interrogation_status(
        &self,
        id: &str,
        base_url: &str,
    ) -> Result<InterrogationStatus> {
        let forms = self.interrogation_forms(id).await?;
        let jobs = self.store.interrogation_jobs(id).await?;
        let statuses: Vec<InterrogationFormStatus> = forms
            .iter()
            .map(|form| form_status(form, &jobs, base_url))
            .collect();
        let delivered = !statuses
            .iter()
            .any(|f| matches!(f.state.as_str(), "waiting" | "processing"));
        let now = now_ms();
        if forms.iter().any(|f| self.touch_due(f, delivered, now)) {
            self.store.touch_interrogation(id, now, delivered).await?;
        }
        Ok(InterrogationStatus {
            state: overall_state(&statuses).into(),
            forms: statuses,
        })
    }

    /// Stops handing out the forms no alchemist took yet; those under way finish and are paid
    /// as usual. Answers the status.
    pub async fn cancel_interrogation(
        &self,
        id: &str,
        base_url: &str,
    ) -> Result<InterrogationStatus> {
        self.interrogation_forms(id).await?;
        self.store.cancel_interrogation(id, now_ms()).await?;
        tracing::info!(interrogation = %id, "interrogation cancelled");
        self.interrogation_status(id, base_url).await
    }

    /// The forms of interrogation `id`: not found, or gone once every one expired or was purged.
    async fn interrogation_forms(&self, id: &str) -> Result<Vec<RequestRow>> {
        let not_found =
            || Rejection::not_found("RequestNotFound", format!("Interrogation {id} not found"));
        // No id holds a NUL, and PostgreSQL cannot even look one up.
        if id.contains('\0') {
            return Err(not_found().into());
        }
        let forms = self.store.interrogation_forms(id).await?;
        if forms.is_empty() {
            return Err(not_found().into());
        }
        if forms
            .iter()
            .all(|f| f.purged || f.state == request_state::EXPIRED)
        {
            return Err(Rejection::gone(
                "RequestExpired",
                format!("Interrogation {id} expired or its results were purged after delivery"),
            )
            .into());
        }
        Ok(forms)
    }

    /// An alchemist asks for forms: up to `amount`, its owner's and its priority users' first,
    /// then anyone's, best first.
    pub async fn pop_interrogation(
        &self,
        account: &Account,
        input: InterrogationPopInput,
        base_url: &str,
        address: Option<&str>,
    ) -> Result<InterrogationPopPayload> {
        let forms = worker_forms(&input.forms)?;
        validate::in_range("max_tiles", input.max_tiles.into(), 1, 256)?;
        let common = PopCommon {
            kind: WorkerType::Interrogation,
            name: input.name.as_deref(),
            models: &forms,
            amount: input.amount,
            threads: input.threads,
            bridge_agent: &input.bridge_agent,
            priority_usernames: &input.priority_usernames,
            address,
        };
        // An alchemist's largest image, in the pixels of its tiles.
        let max_pixels = i64::from(input.max_tiles) * i64::from(TILE_SIDE * TILE_SIDE);
        let worker = self
            .check_in(account, &common, |c| {
                c.max_pixels = max_pixels;
                c.uptime_reward = kudos::alchemy_uptime_reward();
            })
            .await?;
        let caps = self.capabilities(&worker, &*self.worker_speeds().await?);
        let mut popped = Vec::new();
        let mut skipped = NoValidRequestFound::default();
        while popped.len() < input.amount as usize {
            let (claimed, passed_by) = self.find_and_claim(&worker, &caps, &common).await?;
            skipped = passed_by;
            let Some(claimed) = claimed else {
                break;
            };
            popped.push(form_payload(claimed, base_url));
        }
        Ok(InterrogationPopPayload {
            forms: (!popped.is_empty()).then_some(popped),
            skipped: NoValidInterrogationsFound {
                worker_id: skipped.worker_id,
                untrusted: skipped.untrusted,
                bridge_version: 0,
                max_tiles: skipped.max_pixels,
            },
        })
    }

    /// An alchemist's result for a form it holds: the result keyed by the form's name, or a
    /// fault (the form goes back to the queue). `base_url` is this server's, for the URL of an
    /// uploaded image in the request's webhook.
    pub async fn submit_interrogation_result(
        &self,
        account: &Account,
        input: InterrogationSubmitInput,
        base_url: &str,
    ) -> Result<GenerationSubmitted> {
        let CallersJob {
            job,
            request,
            worker,
        } = self
            .job_of_caller(account, input.id.as_deref(), WorkerType::Interrogation)
            .await?;
        let (state, result) = match input.state {
            SubmitState::Faulted => (SubmitState::Faulted, None),
            // A form has nothing to censor: whatever else its alchemist says, it delivered.
            _ => (SubmitState::Ok, Some(form_result(input.result, &job)?)),
        };
        let reward = Kudos(request.kudos_estimate);
        // The AI Horde's fields; `request` is the interrogation.
        let webhook = match (&request.webhook, &result) {
            (Some(_), Some(result)) => Some(json!({
                "form": job.model, "state": "done",
                "result": result_with_urls(result.clone(), &job, base_url),
                "worker_id": worker.id, "worker_name": worker.name,
                "request": request.group_id, "id": job.id, "kudos": reward.as_f64(),
            })),
            _ => None,
        };
        let completion = Completion {
            generation: result.map(|r| r.to_string()),
            // Not checked (see the top of this file), but held all the same.
            hold: self.verification_for(&worker).hold,
            ..self.completion(
                &job,
                &request,
                state,
                Vec::new(),
                (reward, kudos::form_requester_cost(reward)),
            )
        };
        let submitted = self.complete(completion).await?;
        if let Some(body) = webhook {
            self.call_webhook(&request, body);
        }
        Ok(submitted)
    }

    /// The image of the form an alchemist holds as job `job_id`, for the URL it was given.
    pub async fn interrogation_image(&self, job_id: &str, token: &str) -> Result<StoredImage> {
        let not_found =
            || Rejection::not_found("RequestNotFound", "No form in progress matches this URL");
        if job_id.contains('\0') || token.contains('\0') {
            return Err(not_found().into());
        }
        let bytes = self
            .store
            .interrogation_image(job_id, token)
            .await?
            .ok_or_else(not_found)?;
        let content_type = media_type(&bytes).unwrap_or("application/octet-stream");
        Ok(StoredImage {
            bytes,
            content_type,
        })
    }
}

/// A form's name and the settings asked of it.
type AskedForm = (String, Option<Map<String, Value>>);

/// The forms a requester asks for, each once (a repeated one is dropped, as the AI Horde drops
/// it), with their payloads.
fn requested_forms(forms: &[ModelInterrogationFormStable]) -> Result<Vec<AskedForm>> {
    if forms.is_empty() {
        return Err(invalid("forms", "BadRequest", "Ask for at least one form"));
    }
    if forms.len() > MAX_FORM_ENTRIES {
        return Err(invalid(
            "forms",
            "BadRequest",
            format!("At most {MAX_FORM_ENTRIES} forms"),
        ));
    }
    let mut wanted: Vec<(String, Option<Map<String, Value>>)> = Vec::new();
    for form in forms {
        if !is_form(&form.name) {
            return Err(invalid(
                "forms",
                "BadRequest",
                format!("Unknown form {:?}", form.name),
            ));
        }
        if let Some(payload) = &form.payload {
            check_payload(payload)?;
        }
        if !wanted.iter().any(|(name, _)| *name == form.name) {
            wanted.push((form.name.clone(), form.payload.clone()));
        }
    }
    Ok(wanted)
}

/// A form's payload goes to the alchemist as it is: flat settings, bounded.
fn check_payload(payload: &Map<String, Value>) -> Result<()> {
    let refuse = |why: String| invalid("forms", "BadRequest", format!("A form's payload {why}"));
    if payload.len() > MAX_PAYLOAD_KEYS {
        return Err(refuse(format!(
            "may have at most {MAX_PAYLOAD_KEYS} settings"
        )));
    }
    for (key, value) in payload {
        if key.chars().count() > MAX_PAYLOAD_KEY_CHARS {
            return Err(refuse(format!(
                "may name settings of at most {MAX_PAYLOAD_KEY_CHARS} characters"
            )));
        }
        let flat = match value {
            Value::String(text) => text.chars().count() <= MAX_PAYLOAD_TEXT_CHARS,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if !flat {
            return Err(refuse(format!(
                "holds texts of at most {MAX_PAYLOAD_TEXT_CHARS} characters, numbers and \
                 booleans, not {key:?}"
            )));
        }
    }
    Ok(())
}

/// The forms an alchemist serves, each a known one.
fn worker_forms(forms: &[String]) -> Result<Vec<String>> {
    if let Some(unknown) = forms.iter().find(|f| !is_form(f)) {
        return Err(invalid(
            "forms",
            "BadRequest",
            format!("Unknown form {unknown:?}"),
        ));
    }
    validate::models("forms", forms)
}

/// The size of an image in a format alchemists read (WebP, PNG, JPEG), from its header.
fn image_size(image: &[u8]) -> Result<(u32, u32)> {
    if media_type(image).is_none() {
        return Err(invalid(
            "source_image",
            "ImageValidationFailed",
            "source_image is not a WebP, PNG or JPEG image",
        ));
    }
    image::ImageReader::new(std::io::Cursor::new(image))
        .with_guessed_format()
        .ok()
        .and_then(|reader| reader.into_dimensions().ok())
        .ok_or_else(|| {
            invalid(
                "source_image",
                "SourceImageUnreadable",
                "source_image cannot be read",
            )
        })
}

/// What an alchemist gets for a form it popped: where to download the image, and, for a
/// post-processor, where to upload its own.
fn form_payload(claimed: Claimed, base_url: &str) -> InterrogationPopFormPayload {
    let Claimed { request, jobs, .. } = claimed;
    let job = &jobs[0];
    let form = request.models.0.first().cloned().unwrap_or_default();
    let payload = request
        .params
        .and_then(|p| p.0.get("payload").and_then(Value::as_object).cloned());
    let token = job.upload_token.as_deref().unwrap_or_default();
    InterrogationPopFormPayload {
        id: job.id.clone(),
        source_image: format!(
            "{}/api/v2/interrogate/source/{}?token={token}",
            base_url.trim_end_matches('/'),
            job.id
        ),
        r2_upload: is_post_processor(&form).then(|| upload_url(base_url, job)),
        form,
        payload,
    }
}

/// A delivered result: an object, bounded, whose "R2" (a post-processor's image) was uploaded.
fn form_result(result: Option<Value>, job: &JobRow) -> Result<Value> {
    let Some(Value::Object(result)) = result else {
        return Err(invalid(
            "result",
            "BadRequest",
            "result is required: an object keyed by the form's name",
        ));
    };
    if Value::Object(result.clone()).to_string().len() > MAX_RESULT_BYTES {
        return Err(invalid(
            "result",
            "BadRequest",
            format!("result may have at most {MAX_RESULT_BYTES} bytes"),
        ));
    }
    if result.values().any(|v| v == UPLOADED) && !job.has_image {
        return Err(invalid(
            "result",
            "ImageValidationFailed",
            "The result says R2 but no image was uploaded to r2_upload",
        ));
    }
    Ok(Value::Object(result))
}

/// A result as requesters see it: an uploaded image ("R2") as its URL on this server.
fn result_with_urls(mut result: Value, job: &JobRow, base_url: &str) -> Value {
    if let Some(fields) = result.as_object_mut() {
        for value in fields.values_mut().filter(|v| *v == UPLOADED) {
            if job.has_image {
                *value = json!(image_url(base_url, &job.id));
            }
        }
    }
    result
}

/// A form's state (the AI Horde's names) and, once done, its result.
fn form_status(form: &RequestRow, jobs: &[JobRow], base_url: &str) -> InterrogationFormStatus {
    let name = form.models.0.first().cloned().unwrap_or_default();
    let mut own = jobs.iter().filter(|j| j.request_id == form.id);
    if let Some(job) = own.clone().find(|j| j.is_finished()) {
        let result = job
            .generation
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .map(|result| result_with_urls(result, job, base_url));
        return InterrogationFormStatus {
            form: name,
            state: "done".into(),
            result,
        };
    }
    let state = if own.any(|j| j.state == job_state::PROCESSING) {
        "processing"
    } else {
        match form.state.as_str() {
            request_state::ACTIVE => "waiting",
            request_state::CANCELLED => "cancelled",
            // Faulted, or expired before any alchemist took it: it will never be done.
            _ => "faulted",
        }
    };
    InterrogationFormStatus {
        form: name,
        state: state.into(),
        result: None,
    }
}

/// An interrogation's state from its forms', as the AI Horde sums them up.
fn overall_state(forms: &[InterrogationFormStatus]) -> &'static str {
    let all = |state: &str| forms.iter().all(|f| f.state == state);
    let any = |state: &str| forms.iter().any(|f| f.state == state);
    if all("faulted") {
        "faulted"
    } else if all("done") {
        "done"
    } else if any("processing") {
        "processing"
    } else if any("waiting") {
        "waiting"
    } else {
        "partial"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, payload: Option<Value>) -> ModelInterrogationFormStable {
        ModelInterrogationFormStable {
            name: name.into(),
            payload: payload.and_then(|p| p.as_object().cloned()),
        }
    }

    #[test]
    fn forms_are_known_bounded_and_asked_once() {
        let forms = requested_forms(&[
            form("caption", None),
            form("GFPGAN", Some(json!({"facefixer_strength": 0.5}))),
            form("caption", Some(json!({"num_beams": 3}))),
        ])
        .unwrap();
        let names: Vec<&str> = forms.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["caption", "GFPGAN"]);
        assert!(forms[0].1.is_none(), "the first of a repeated form counts");
        for bad in [
            vec![],
            vec![form("telepathy", None)],
            vec![form("nsfw", Some(json!({"nested": {"a": 1}})))],
            vec![form("nsfw", Some(json!({"long": "x".repeat(2000)})))],
        ] {
            let error = requested_forms(&bad).unwrap_err();
            assert_eq!(error.rejection().unwrap().field, Some("forms"));
        }
    }

    fn status(state: &str) -> InterrogationFormStatus {
        InterrogationFormStatus {
            form: "caption".into(),
            state: state.into(),
            result: None,
        }
    }

    #[test]
    fn the_overall_state_sums_up_the_forms() {
        let of = |states: &[&str]| {
            let forms: Vec<_> = states.iter().map(|s| status(s)).collect();
            overall_state(&forms)
        };
        assert_eq!(of(&["done", "done"]), "done");
        assert_eq!(of(&["faulted", "faulted"]), "faulted");
        assert_eq!(of(&["done", "processing", "waiting"]), "processing");
        assert_eq!(of(&["done", "waiting"]), "waiting");
        assert_eq!(of(&["done", "faulted"]), "partial");
        assert_eq!(of(&["cancelled", "done"]), "partial");
    }
}
