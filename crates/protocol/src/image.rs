//! Image generation (`/api/v2/generate/*`), the "Stable" models of the original.

use crate::common::{GenerationMetadata, NoValidRequestFound, RequestStatusCheck, SubmitState};
use crate::worker_messages::PopMessage;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Image parameters: the fields the queue and the kudos need are typed; the
/// rest (karras, clip_skip, tiling, …) pass through to the worker.
/// Samplers the image workers of the AI Horde know.
pub const SAMPLERS: &[&str] = &[
    "k_dpmpp_2m",
    "k_dpm_adaptive",
    "k_dpm_fast",
    "k_heun",
    "lcm",
    "k_euler_a",
    "k_lms",
    "k_dpmpp_sde",
    "dpmsolver",
    "k_dpm_2_a",
    "DDIM",
    "k_dpmpp_2s_a",
    "k_dpm_2",
    "k_euler",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct ImageParams {
    pub n: u32,
    pub width: u32,
    pub height: u32,
    pub steps: u32,
    pub sampler_name: String,
    pub cfg_scale: f64,
    pub seed: Option<String>,
    pub post_processing: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub loras: Vec<Value>,
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

impl Default for ImageParams {
    fn default() -> Self {
        ImageParams {
            n: 1,
            width: 512,
            height: 512,
            steps: 30,
            sampler_name: "k_euler_a".into(),
            cfg_scale: 7.5,
            seed: None,
            post_processing: Vec::new(),
            loras: Vec::new(),
            extra: Map::new(),
        }
    }
}

/// An extra image for workflows that take several (Stable Cascade's remix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct ExtraSourceImage {
    /// Base64 (Potluck does not fetch images by URL).
    pub image: String,
    pub strength: f64,
}

impl Default for ExtraSourceImage {
    fn default() -> Self {
        ExtraSourceImage {
            image: String::new(),
            strength: 1.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct GenerationInputStable {
    /// The prompt; text after `###` is the negative prompt.
    pub prompt: Option<String>,
    pub params: ImageParams,
    pub models: Vec<String>,
    pub workers: Vec<String>,
    pub worker_blacklist: bool,
    pub trusted_workers: bool,
    /// Potluck: only workers that keep nothing (no `keeps_prompts`) may take this request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub workers_keep_nothing: bool,
    pub slow_workers: bool,
    pub extra_slow_workers: bool,
    pub nsfw: bool,
    pub censor_nsfw: bool,
    /// Return images as URLs served by Potluck (true) or inline base64 (false).
    pub r2: bool,
    pub shared: bool,
    pub dry_run: bool,
    pub allow_downgrade: bool,
    pub disable_batching: bool,
    pub replacement_filter: bool,
    pub validated_backends: bool,
    pub source_image: Option<String>,
    pub source_processing: String,
    pub source_mask: Option<String>,
    pub extra_source_images: Vec<ExtraSourceImage>,
    pub webhook: Option<String>,
    pub proxied_account: Option<String>,
    pub style: Option<String>,
}

impl Default for GenerationInputStable {
    fn default() -> Self {
        GenerationInputStable {
            prompt: None,
            params: ImageParams::default(),
            models: Vec::new(),
            workers: Vec::new(),
            worker_blacklist: false,
            trusted_workers: false,
            workers_keep_nothing: false,
            slow_workers: true,
            extra_slow_workers: false,
            nsfw: false,
            censor_nsfw: false,
            r2: true,
            shared: false,
            dry_run: false,
            allow_downgrade: false,
            disable_batching: false,
            replacement_filter: true,
            // What the AI Horde's parser fills in when it is missing (its model says true).
            validated_backends: false,
            source_image: None,
            source_processing: "img2img".into(),
            source_mask: None,
            extra_source_images: Vec::new(),
            webhook: None,
            proxied_account: None,
            style: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GenerationStable {
    /// A URL served by Potluck, or base64 when the request asked `r2: false`.
    pub img: String,
    pub seed: String,
    pub id: String,
    pub censored: bool,
    pub worker_id: String,
    pub worker_name: String,
    pub model: String,
    pub state: String,
    pub gen_metadata: Vec<GenerationMetadata>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RequestStatusStable {
    #[serde(flatten)]
    pub check: RequestStatusCheck,
    pub generations: Vec<GenerationStable>,
    pub shared: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct PopInputStable {
    pub name: Option<String>,
    pub models: Vec<String>,
    pub max_pixels: u64,
    pub nsfw: bool,
    pub priority_usernames: Vec<String>,
    pub bridge_agent: String,
    pub threads: u32,
    pub require_upfront_kudos: bool,
    pub amount: u32,
    pub blacklist: Vec<String>,
    pub allow_img2img: bool,
    pub allow_painting: bool,
    pub allow_unsafe_ipaddr: bool,
    pub allow_post_processing: bool,
    pub allow_controlnet: bool,
    pub allow_sdxl_controlnet: bool,
    pub allow_lora: bool,
    pub limit_max_steps: bool,
    pub extra_slow_worker: bool,
    /// Potluck: the worker keeps prompts or results it is given (logs, caches, training).
    /// Requests with `workers_keep_nothing` pass such a worker by.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keeps_prompts: bool,
}

impl Default for PopInputStable {
    fn default() -> Self {
        PopInputStable {
            name: None,
            models: Vec::new(),
            max_pixels: 262_144,
            nsfw: false,
            priority_usernames: Vec::new(),
            bridge_agent: "unknown:0:unknown".into(),
            threads: 1,
            require_upfront_kudos: false,
            amount: 1,
            blacklist: Vec::new(),
            allow_img2img: true,
            allow_painting: true,
            allow_unsafe_ipaddr: true,
            allow_post_processing: true,
            allow_controlnet: false,
            allow_sdxl_controlnet: false,
            allow_lora: false,
            limit_max_steps: false,
            extra_slow_worker: false,
            keeps_prompts: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GenerationPayloadStable {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Map<String, Value>>,
    pub id: Option<String>,
    pub ids: Vec<String>,
    pub skipped: NoValidRequestFound,
    pub model: Option<String>,
    pub source_image: Option<String>,
    pub source_processing: String,
    pub source_mask: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_source_images: Option<Vec<ExtraSourceImage>>,
    /// Where the worker PUTs the finished image (a URL of this server).
    pub r2_upload: Option<String>,
    pub r2_uploads: Vec<String>,
    pub ttl: Option<u64>,
    /// Messages to this worker that have not expired, with every pop, as the AI Horde sends them.
    #[serde(default)]
    pub messages: Vec<PopMessage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct SubmitInputStable {
    pub id: Option<String>,
    /// Base64 image, or `R2` when it was uploaded to `r2_upload`.
    pub generation: Option<String>,
    pub state: SubmitState,
    pub seed: Option<i64>,
    pub censored: bool,
    pub gen_metadata: Vec<GenerationMetadata>,
}
