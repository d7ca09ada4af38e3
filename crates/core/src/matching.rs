//! Which worker may take which request: one predicate used both to pick jobs on pop and to
//! tell a requester whether any worker could serve them, after the AI Horde's
//! `Worker.can_generate` (base, text and image) and its pop queries. A skipped request is
//! counted under the AI Horde's reason (`skipped` in a pop's answer).

use crate::blacklist::Blacklist;
use crate::bridge_reference;
use crate::image_reference::{self, baseline};
use crate::kudos::{tiles, TILE_SIDE};
use crate::model_reference::ModelReference;
use crate::store::{check_kind, RequestRow, WorkerRow, INTERROGATION};
use protocol::NoValidRequestFound;
use serde_json::Value;
use std::sync::Arc;

/// Why a worker cannot take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Models,
    WorkerId,
    Untrusted,
    KeepsPrompts,
    MaxLength,
    MaxContextLength,
    MaxPixels,
    Nsfw,
    Img2img,
    Painting,
    PostProcessing,
    Lora,
    Controlnet,
    StepCount,
    Blacklist,
    /// Its software cannot do what the request asks (`bridge_reference.rs`).
    BridgeVersion,
    /// Too slow for a request that refuses slow workers, or extra slow for one that did not
    /// allow extra slow ones.
    Performance,
    /// It takes only requests paid up front, and this requester cannot pay.
    Kudos,
}

impl Skip {
    pub fn count(self, skipped: &mut NoValidRequestFound) {
        let counter = match self {
            Skip::Models => &mut skipped.models,
            Skip::WorkerId => &mut skipped.worker_id,
            Skip::Untrusted => &mut skipped.untrusted,
            Skip::KeepsPrompts => &mut skipped.keeps_prompts,
            Skip::MaxLength => &mut skipped.max_length,
            Skip::MaxContextLength => &mut skipped.max_context_length,
            Skip::MaxPixels => &mut skipped.max_pixels,
            Skip::Nsfw => &mut skipped.nsfw,
            Skip::Img2img => &mut skipped.img2img,
            Skip::Painting => &mut skipped.painting,
            Skip::PostProcessing => &mut skipped.post_processing,
            Skip::Lora => &mut skipped.lora,
            Skip::Controlnet => &mut skipped.controlnet,
            Skip::StepCount => &mut skipped.step_count,
            Skip::Blacklist => &mut skipped.blacklist,
            Skip::BridgeVersion => &mut skipped.bridge_version,
            Skip::Performance => &mut skipped.performance,
            Skip::Kudos => &mut skipped.kudos,
        };
        *counter += 1;
    }
}

/// The pace a worker is credited with before it finished anything: one token, or one
/// megapixelstep, per second (the AI Horde's `SPEED_BASELINE_THINGS_PER_SEC`).
const BASELINE_SPEED: f64 = 1.0;
/// The megapixelsteps per second below which an image worker is slow.
const SLOW_IMAGE_SPEED: f64 = 0.5;
/// The steps a model takes at least and at most, where its reference does not say.
const DEFAULT_MIN_STEPS: u32 = 20;
const DEFAULT_MAX_STEPS: u32 = 40;

/// The tokens per second below which a text worker is slow: larger models may be slower.
fn slow_text_speed(billions: f64) -> f64 {
    if billions >= 20.0 {
        3.0
    } else if billions >= 13.0 {
        4.0
    } else {
        5.0
    }
}

/// What a worker can do, as it told us on its latest pop.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    pub worker_id: String,
    pub worker_name: String,
    pub owner_id: i64,
    pub trusted: bool,
    /// It may check others' work (`WorkerRow::may_check`).
    pub may_check: bool,
    /// It can score text (check jobs of kind `score`).
    pub can_score: bool,
    pub keeps_prompts: bool,
    pub models: Vec<String>,
    pub bridge_agent: String,
    pub max_length: i64,
    pub max_context_length: i64,
    /// The largest image it takes, in pixels (an alchemist: its `max_tiles` tiles' worth).
    pub max_pixels: i64,
    pub nsfw: bool,
    pub allow_img2img: bool,
    pub allow_painting: bool,
    pub allow_post_processing: bool,
    pub allow_lora: bool,
    pub allow_controlnet: bool,
    pub allow_sdxl_controlnet: bool,
    pub limit_max_steps: bool,
    pub extra_slow_worker: bool,
    /// It takes only requests whose requester holds their cost already; the store checks the
    /// requester's balance (`Skip::Kudos`).
    pub require_upfront_kudos: bool,
    /// Its recent pace, tokens or megapixelsteps per second; none before it finished anything.
    pub speed: Option<f64>,
    pub blacklist: Blacklist,
    /// Where its models' sizes, baselines and requirements are read.
    pub reference: Arc<ModelReference>,
}

/// What an image request asks of its worker beyond its columns, read from its stored
/// parameters (`horde/requests.rs` writes them: the worker's `payload`, and beside it the
/// source images and how to process them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageAsks {
    pub sampler: String,
    pub karras: bool,
    pub post_processing: Vec<String>,
    /// Name and whether it names a version.
    pub loras: Vec<(String, bool)>,
    pub textual_inversions: bool,
    pub controlnet: bool,
    pub return_control_map: bool,
    pub qr_code: bool,
    pub hires_fix: bool,
    pub clip_skip: u64,
    pub tiling: bool,
    pub transparent: bool,
    /// `inpainting` or `outpainting`.
    pub painting: bool,
    pub extra_source_images: bool,
}

impl ImageAsks {
    pub fn of(request: &RequestRow) -> ImageAsks {
        // Without parameters (a purged request), what the AI Horde assumes.
        let stored = request.params.as_ref().map_or(&Value::Null, |p| &p.0);
        let payload = &stored["payload"];
        let flag = |key: &str| payload[key].as_bool().unwrap_or(false);
        let list = |value: &Value| value.as_array().cloned().unwrap_or_default();
        ImageAsks {
            sampler: payload["sampler_name"]
                .as_str()
                .unwrap_or("k_euler_a")
                .into(),
            karras: payload["karras"].as_bool().unwrap_or(true),
            post_processing: list(&payload["post_processing"])
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            loras: list(&payload["loras"])
                .iter()
                .map(|l| {
                    let name = l["name"].as_str().unwrap_or_default().to_string();
                    (name, l["is_version"].as_bool().unwrap_or(false))
                })
                .collect(),
            textual_inversions: !list(&payload["tis"]).is_empty(),
            controlnet: payload["control_type"].is_string(),
            return_control_map: flag("return_control_map"),
            qr_code: payload["workflow"].as_str() == Some("qr_code"),
            hires_fix: flag("hires_fix"),
            clip_skip: payload["clip_skip"].as_u64().unwrap_or(1),
            tiling: flag("tiling"),
            transparent: flag("transparent"),
            painting: matches!(
                stored["source_processing"].as_str(),
                Some("inpainting" | "outpainting")
            ),
            extra_source_images: !list(&stored["extra_source_images"]).is_empty(),
        }
    }

    /// The steps it costs (`image_reference::accurate_steps`).
    pub fn accurate_steps(&self, request: &RequestRow) -> u32 {
        image_reference::accurate_steps(&self.sampler, u32::try_from(request.steps).unwrap_or(0))
    }
}

impl Capabilities {
    pub fn of(worker: &WorkerRow) -> Self {
        Capabilities {
            worker_id: worker.id.clone(),
            worker_name: worker.name.clone(),
            owner_id: worker.owner_id,
            trusted: worker.trusted(),
            may_check: worker.may_check(),
            can_score: worker.can_score,
            keeps_prompts: worker.keeps_prompts,
            models: worker.models.0.clone(),
            bridge_agent: worker.bridge_agent.clone(),
            max_length: worker.max_length,
            max_context_length: worker.max_context_length,
            max_pixels: worker.max_pixels,
            nsfw: worker.nsfw,
            allow_img2img: worker.allow_img2img,
            allow_painting: worker.allow_painting,
            allow_post_processing: worker.allow_post_processing,
            allow_lora: worker.allow_lora,
            allow_controlnet: worker.allow_controlnet,
            allow_sdxl_controlnet: worker.allow_sdxl_controlnet,
            limit_max_steps: worker.limit_max_steps,
            extra_slow_worker: worker.extra_slow_worker,
            require_upfront_kudos: worker.require_upfront_kudos,
            speed: None,
            blacklist: Blacklist::default(),
            reference: ModelReference::bundled(),
        }
    }

    /// The model this worker would run for the request, or `None` if it serves none of them.
    pub fn model_for(&self, request: &RequestRow) -> Option<String> {
        if request.models.0.is_empty() {
            return self.models.first().cloned().or_else(|| Some(String::new()));
        }
        self.models
            .iter()
            .find(|m| request.models.0.contains(m))
            .cloned()
    }

    /// How many of the request's waiting generations this worker may take at once, when it
    /// asked for `amount`: one for a request that disables batching; for images, no more than
    /// its pixels allow (the AI Horde's `get_safe_amount`).
    pub fn batch_for(&self, request: &RequestRow, amount: i64) -> i64 {
        let batch = if request.disable_batching {
            1
        } else if request.kind == "image" {
            self.safe_image_batch(request, amount)
        } else {
            amount
        };
        batch.min(request.n_waiting).max(1)
    }

    fn safe_image_batch(&self, request: &RequestRow, amount: i64) -> i64 {
        let asks = ImageAsks::of(request);
        let safe_generations = self.max_pixels as f64 / 3.5 * amount as f64;
        let mut pixels = (request.width * request.height) as f64;
        let mut post_processing = 1.0 + asks.post_processing.len() as f64 * 0.4;
        let heavy = asks
            .post_processing
            .iter()
            .any(|p| image_reference::post_processor(p).is_some_and(|p| p.heavy));
        if heavy || asks.transparent {
            post_processing *= 1.8;
        }
        pixels *= post_processing;
        let batching = request
            .models
            .0
            .iter()
            .map(|m| image_reference::batching_multiplier(self.reference.image_baseline(m)))
            .fold(1.0, f64::max);
        pixels *= batching;
        let safe = (safe_generations / pixels.max(1.0)).round_ties_even() as i64;
        safe.clamp(1, amount.max(1))
    }

    /// Ok when this worker may take the request, else the first reason it may not.
    pub fn check(&self, request: &RequestRow) -> Result<(), Skip> {
        if self.model_for(request).is_none() {
            return Err(Skip::Models);
        }
        let workers = &request.workers.0;
        if !workers.is_empty() {
            let listed = workers
                .iter()
                .any(|w| w == &self.worker_id || w == &self.worker_name);
            if listed == request.worker_blacklist {
                return Err(Skip::WorkerId);
            }
        }
        if let Some(kind) = request.check_kind.as_deref() {
            // A check goes to a worker a moderator vouched for, never the checked one's owner's.
            if request.exclude_owner == Some(self.owner_id) {
                return Err(Skip::WorkerId);
            }
            if !self.may_check || (kind == check_kind::SCORE && !self.can_score) {
                return Err(Skip::Untrusted);
            }
        }
        if request.trusted_workers && !self.trusted {
            return Err(Skip::Untrusted);
        }
        if request.workers_keep_nothing && self.keeps_prompts {
            return Err(Skip::KeepsPrompts);
        }
        if request.kind == INTERROGATION {
            // Its width and height are the image's; the tiles are what an alchemist works in.
            let tiles = tiles(request.width as u32, request.height as u32);
            let tile_pixels = i64::from(TILE_SIDE * TILE_SIDE);
            if i64::from(tiles) * tile_pixels > self.max_pixels {
                return Err(Skip::MaxPixels);
            }
            return Ok(());
        }
        if request.kind == "text" {
            self.check_text(request)
        } else {
            self.check_image(request)
        }
    }

    fn check_text(&self, request: &RequestRow) -> Result<(), Skip> {
        if request.max_length > self.max_length {
            return Err(Skip::MaxLength);
        }
        if request.max_context_length > self.max_context_length {
            return Err(Skip::MaxContextLength);
        }
        if request.validated_backends
            && !bridge_reference::is_validated_text_backend(&self.bridge_agent)
        {
            return Err(Skip::BridgeVersion);
        }
        if !request.slow_workers {
            let billions = self
                .models
                .first()
                .and_then(|m| self.reference.text_billions(m))
                .unwrap_or(1.0);
            if self.speed.unwrap_or(BASELINE_SPEED) < slow_text_speed(billions) {
                return Err(Skip::Performance);
            }
        }
        Ok(())
    }

    fn check_image(&self, request: &RequestRow) -> Result<(), Skip> {
        let asks = ImageAsks::of(request);
        let can = |feature: &str| bridge_reference::has_capability(&self.bridge_agent, feature);
        let baselines: Vec<&str> = self
            .models
            .iter()
            .map(|m| self.reference.image_baseline(m))
            .collect();
        let inpainting_model =
            |m: &String| self.reference.image_model(m).is_some_and(|m| m.inpainting);
        if request.width * request.height > self.max_pixels {
            return Err(Skip::MaxPixels);
        }
        if request.nsfw && !self.nsfw {
            return Err(Skip::Nsfw);
        }
        if request.img2img && !self.allow_img2img {
            return Err(Skip::Img2img);
        }
        if request.img2img && !can("img2img") {
            return Err(Skip::BridgeVersion);
        }
        if asks.painting {
            if !self.allow_painting {
                return Err(Skip::Painting);
            }
            if !can("inpainting") {
                return Err(Skip::BridgeVersion);
            }
            if !self.models.iter().any(inpainting_model) {
                return Err(Skip::Models);
            }
        } else if !self.models.is_empty() && self.models.iter().all(inpainting_model) {
            // A worker serving only inpainting models is kept for inpainting.
            return Err(Skip::Models);
        }
        if !request.img2img
            && [&self.models, &request.models.0]
                .iter()
                .any(|models| models.as_slice() == ["stable_diffusion_inpainting"])
        {
            return Err(Skip::Models);
        }
        if !bridge_reference::supports_sampler(&self.bridge_agent, &asks.sampler, asks.karras) {
            return Err(Skip::BridgeVersion);
        }
        if !asks.post_processing.is_empty() {
            if !self.allow_post_processing {
                return Err(Skip::PostProcessing);
            }
            if !can("post-processing") || !asks.post_processing.iter().all(|p| can(p)) {
                return Err(Skip::BridgeVersion);
            }
        }
        if (asks.tiling && !can("tiling"))
            || (asks.return_control_map && !can("return_control_map"))
        {
            return Err(Skip::BridgeVersion);
        }
        if asks.controlnet {
            if !self.allow_controlnet {
                return Err(Skip::Controlnet);
            }
            if !can("controlnet") || !can("image_is_control") {
                return Err(Skip::BridgeVersion);
            }
        }
        if asks.qr_code {
            if !can("controlnet") || !can("qr_code") {
                return Err(Skip::BridgeVersion);
            }
            if baselines.contains(&baseline::SDXL) && !self.allow_sdxl_controlnet {
                return Err(Skip::Controlnet);
            }
        }
        if asks.hires_fix
            && (!can("hires_fix")
                || (baselines.contains(&baseline::CASCADE) && !can("stable_cascade_2pass")))
        {
            return Err(Skip::BridgeVersion);
        }
        if baselines.contains(&baseline::FLUX) && !can("flux") {
            return Err(Skip::BridgeVersion);
        }
        if asks.clip_skip > 1 && !can("clip_skip") {
            return Err(Skip::BridgeVersion);
        }
        if !asks.loras.is_empty() {
            if !self.allow_lora {
                return Err(Skip::Lora);
            }
            if !can("lora") || (asks.loras.iter().any(|(_, v)| *v) && !can("lora_versions")) {
                return Err(Skip::BridgeVersion);
            }
        }
        if asks.textual_inversions && !can("textual_inversion") {
            return Err(Skip::BridgeVersion);
        }
        if asks.transparent && (!can("layer_diffuse") || !self.allow_sdxl_controlnet) {
            return Err(Skip::BridgeVersion);
        }
        if asks.extra_source_images && !can("extra_source_images") {
            return Err(Skip::BridgeVersion);
        }
        if self.limit_max_steps && self.too_many_steps(request, &asks) {
            return Err(Skip::StepCount);
        }
        if !request.slow_workers && self.speed.unwrap_or(BASELINE_SPEED) < SLOW_IMAGE_SPEED {
            return Err(Skip::Performance);
        }
        if self.extra_slow_worker && !request.extra_slow_workers {
            return Err(Skip::Performance);
        }
        if request
            .prompt
            .as_deref()
            .is_some_and(|prompt| self.blacklist.matches(prompt))
        {
            return Err(Skip::Blacklist);
        }
        Ok(())
    }

    /// Whether the request takes more steps than the models need on average (halfway between
    /// their least and most): the request's models when it names several, else the worker's.
    fn too_many_steps(&self, request: &RequestRow, asks: &ImageAsks) -> bool {
        let models = if request.models.0.len() > 1 {
            &request.models.0
        } else {
            &self.models
        };
        let steps = f64::from(asks.accurate_steps(request));
        models.iter().any(|m| {
            let needs = self.reference.image_requirements(m);
            let least = needs.min_steps.unwrap_or(DEFAULT_MIN_STEPS);
            let most = needs.max_steps.unwrap_or(DEFAULT_MAX_STEPS);
            steps > f64::from(least + most) / 2.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::types::Json;

    fn request(kind: &str) -> RequestRow {
        RequestRow {
            id: "r".into(),
            kind: kind.into(),
            user_id: 1,
            prompt: Some("a cat".into()),
            params: None,
            models: Json(vec![]),
            workers: Json(vec![]),
            worker_blacklist: false,
            trusted_workers: false,
            workers_keep_nothing: false,
            nsfw: false,
            r2: true,
            shared: false,
            max_length: 80,
            max_context_length: 1024,
            width: 512,
            height: 512,
            steps: 30,
            img2img: false,
            post_processors: 0,
            loras: 0,
            n: 1,
            n_waiting: 1,
            n_done: 0,
            restarts: 0,
            priority: 0,
            kudos_estimate: 0,
            state: "active".into(),
            created_at: 0,
            last_activity: 0,
            delivered_at: None,
            purged: false,
            check_kind: None,
            exclude_owner: None,
            pricing: None,
            upfront_kudos: 0,
            slow_workers: true,
            extra_slow_workers: false,
            validated_backends: false,
            disable_batching: false,
            webhook: None,
            group_id: None,
        }
    }

    fn worker() -> Capabilities {
        Capabilities {
            worker_id: "w1".into(),
            worker_name: "Worker One".into(),
            models: vec!["m1".into()],
            max_length: 512,
            max_context_length: 2048,
            max_pixels: 512 * 512,
            ..Capabilities::default()
        }
    }

    #[test]
    fn matches_by_model_and_limits() {
        let w = worker();
        let mut r = request("text");
        assert_eq!(w.check(&r), Ok(()));
        r.models = Json(vec!["other".into()]);
        assert_eq!(w.check(&r), Err(Skip::Models));
        r.models = Json(vec!["other".into(), "m1".into()]);
        assert_eq!(w.model_for(&r).as_deref(), Some("m1"));
        r.max_length = 1000;
        assert_eq!(w.check(&r), Err(Skip::MaxLength));
        r.max_length = 80;
        r.max_context_length = 4096;
        assert_eq!(w.check(&r), Err(Skip::MaxContextLength));
    }

    #[test]
    fn worker_lists_and_trust() {
        let w = worker();
        let mut r = request("text");
        r.workers = Json(vec!["someone-else".into()]);
        assert_eq!(w.check(&r), Err(Skip::WorkerId));
        r.worker_blacklist = true;
        assert_eq!(w.check(&r), Ok(()));
        r.workers = Json(vec!["w1".into()]);
        assert_eq!(w.check(&r), Err(Skip::WorkerId));
        r.workers = Json(vec![]);
        r.trusted_workers = true;
        assert_eq!(w.check(&r), Err(Skip::Untrusted));
    }

    #[test]
    fn workers_that_keep_prompts() {
        let mut w = worker();
        let mut r = request("text");
        w.keeps_prompts = true;
        assert_eq!(w.check(&r), Ok(()));
        r.workers_keep_nothing = true;
        assert_eq!(w.check(&r), Err(Skip::KeepsPrompts));
        w.keeps_prompts = false;
        assert_eq!(w.check(&r), Ok(()));
    }

    #[test]
    fn interrogation_forms_by_tiles() {
        let mut w = worker();
        w.max_pixels = 4 * 512 * 512;
        let mut r = request(INTERROGATION);
        r.models = Json(vec!["m1".into()]);
        r.width = 1024;
        r.height = 1024;
        assert_eq!(w.check(&r), Ok(()));
        r.width = 1025;
        assert_eq!(w.check(&r), Err(Skip::MaxPixels));
    }

    #[test]
    fn image_limits() {
        let mut w = worker();
        let mut r = request("image");
        assert_eq!(w.check(&r), Ok(()));
        r.width = 1024;
        assert_eq!(w.check(&r), Err(Skip::MaxPixels));
        r.width = 512;
        r.nsfw = true;
        assert_eq!(w.check(&r), Err(Skip::Nsfw));
        r.nsfw = false;
        w.blacklist = Blacklist::new(&["CAT".into()]).unwrap();
        assert_eq!(w.check(&r), Err(Skip::Blacklist));
    }
}
