//! An image request's input checked as the AI Horde checks it (`ParamValidator`, the image
//! handler's `validate`, and its schema's types and limits), with its `rc` codes, and the facts
//! the rest of the request is built from. An image request's source images are taken inline as
//! base64 only (only an interrogation's image may be fetched from a URL, `alchemy.rs`), so a
//! URL is refused, naming its field.

use super::validate;
use crate::error::{Rejection, Result};
use crate::image_reference::{self, baseline};
use crate::model_reference::ModelReference;
use base64::{engine::general_purpose::STANDARD, Engine};
use protocol::{GenerationInputStable, RequestSingleWarning};
use serde_json::{Map, Value};
use std::io::Cursor;

/// The most LoRAs, textual inversions and extra source images one request may ask for.
const MAX_LORAS: usize = 5;
const MAX_TEXTUAL_INVERSIONS: usize = 20;
const MAX_EXTRA_SOURCE_IMAGES: usize = 5;
/// The most words a prompt may have.
const MAX_PROMPT_WORDS: usize = 7500;
/// ControlNet requests take at most this many steps (the AI Horde lowers them, silently).
const MAX_CONTROLNET_STEPS: u32 = 40;
/// The largest source image, in pixels (3072 × 3072), and in bytes once decoded from base64.
const MAX_SOURCE_PIXELS: u64 = 3072 * 3072;
const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

const CONTROL_TYPES: &[&str] = &[
    "canny",
    "hed",
    "depth",
    "normal",
    "openpose",
    "seg",
    "scribble",
    "fakescribbles",
    "hough",
];
const SOURCE_PROCESSINGS: &[&str] = &["img2img", "inpainting", "outpainting", "remix"];
/// Models that need a source image.
const SOURCE_IMAGE_MODELS: &[&str] = &["Stable Diffusion 2 Depth", "pix2pix"];

/// What the checks found, for building the request.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ImageFacts {
    /// The steps to run: ControlNet requests take at most 40.
    pub steps: u32,
    pub img2img: bool,
    pub controlnet: bool,
    pub return_control_map: bool,
    pub qr_code: bool,
    pub hires_fix: bool,
    pub loras: usize,
    pub textual_inversions: bool,
    /// The QR-code workflow cannot batch.
    pub disable_batching: bool,
    pub warnings: Vec<RequestSingleWarning>,
}

fn refuse(field: &'static str, rc: &'static str, message: impl Into<String>) -> Rejection {
    Rejection::invalid_field(field, rc, message)
}

/// The AI Horde's schema: a field of `params` of the wrong type or out of its range.
fn bad_param(field: &'static str, why: &str) -> Rejection {
    refuse(field, "BadRequest", format!("{field} {why}"))
}

fn number(
    params: &Map<String, Value>,
    key: &str,
    field: &'static str,
    range: (f64, f64),
) -> Result<Option<f64>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_f64() {
            Some(v) if v >= range.0 && v <= range.1 => Ok(Some(v)),
            _ => Err(bad_param(
                field,
                &format!("must be a number from {} to {}", range.0, range.1),
            )
            .into()),
        },
    }
}

fn integer(
    params: &Map<String, Value>,
    key: &str,
    field: &'static str,
    range: (i64, i64),
) -> Result<Option<i64>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_i64() {
            Some(v) if v >= range.0 && v <= range.1 => Ok(Some(v)),
            _ => Err(bad_param(
                field,
                &format!("must be a whole number from {} to {}", range.0, range.1),
            )
            .into()),
        },
    }
}

fn flag(params: &Map<String, Value>, key: &str, field: &'static str) -> Result<bool> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad_param(field, "must be true or false").into()),
    }
}

fn choice<'a>(
    params: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
    choices: &[&str],
) -> Result<Option<&'a str>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) if choices.contains(&v.as_str()) => Ok(Some(v.as_str())),
        Some(_) => Err(bad_param(field, &format!("must be one of {}", choices.join(", "))).into()),
    }
}

fn objects<'a>(
    params: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<Vec<&'a Map<String, Value>>> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_object()
                    .ok_or_else(|| bad_param(field, "must be a list of objects").into())
            })
            .collect(),
        Some(_) => Err(bad_param(field, "must be a list of objects").into()),
    }
}

fn text<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
    lengths: (usize, usize),
) -> Result<Option<&'a str>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) if (lengths.0..=lengths.1).contains(&v.chars().count()) => {
            Ok(Some(v.as_str()))
        }
        Some(_) => Err(bad_param(
            field,
            &format!(
                "must be a text of {} to {} characters",
                lengths.0, lengths.1
            ),
        )
        .into()),
    }
}

/// Checks an image request's input (its models already validated) for a requester who is
/// `trusted` or not, and says what it asks for.
pub(super) fn check(
    input: &GenerationInputStable,
    models: &[String],
    trusted: bool,
    reference: &ModelReference,
) -> Result<ImageFacts> {
    let p = &input.params;
    let extra = &p.extra;
    let prompt = input.prompt.as_deref().unwrap_or_default();
    if prompt.split_whitespace().count() > MAX_PROMPT_WORDS {
        return Err(refuse(
            "prompt",
            "InvalidPromptSize",
            "Too large prompt. Please reduce the amount of tokens contained.",
        )
        .into());
    }
    validate::in_range("params.n", p.n.into(), 1, 20)?;
    for (field, size) in [("params.width", p.width), ("params.height", p.height)] {
        if !(64..=3072).contains(&size) || size % 64 != 0 {
            return Err(refuse(
                field,
                "InvalidSize",
                format!("{field} must be a multiple of 64 between 64 and 3072, not {size}"),
            )
            .into());
        }
    }
    if p.steps == 0 || p.steps > 500 {
        return Err(refuse(
            "params.steps",
            "TooManySteps",
            "steps must be between 1 and 500",
        )
        .into());
    }
    if !protocol::SAMPLERS.contains(&p.sampler_name.as_str()) {
        return Err(refuse(
            "params.sampler_name",
            "UnsupportedSampler",
            format!("Unknown sampler {:?}", p.sampler_name),
        )
        .into());
    }
    if !(0.0..=100.0).contains(&p.cfg_scale) {
        return Err(refuse(
            "params.cfg_scale",
            "BadCFGNumber",
            "cfg_scale must be between 0 and 100",
        )
        .into());
    }
    if (p.cfg_scale * 100.0).round() / 100.0 != p.cfg_scale {
        return Err(refuse(
            "params.cfg_scale",
            "BadCFGDecimals",
            "cfg_scale must be rounded to 2 decimal places",
        )
        .into());
    }
    check_post_processing(&p.post_processing)?;
    flag(extra, "karras", "params.karras")?;
    flag(extra, "tiling", "params.tiling")?;
    let hires_fix = flag(extra, "hires_fix", "params.hires_fix")?;
    let transparent = flag(extra, "transparent", "params.transparent")?;
    let return_control_map = flag(extra, "return_control_map", "params.return_control_map")?;
    let init_as_image = flag(extra, "image_is_control", "params.image_is_control")?
        || flag(extra, "init_as_image", "params.init_as_image")?;
    let clip_skip = integer(extra, "clip_skip", "params.clip_skip", (1, 12))?.unwrap_or(1);
    number(
        extra,
        "denoising_strength",
        "params.denoising_strength",
        (0.01, 1.0),
    )?;
    number(
        extra,
        "hires_fix_denoising_strength",
        "params.hires_fix_denoising_strength",
        (0.01, 1.0),
    )?;
    number(
        extra,
        "facefixer_strength",
        "params.facefixer_strength",
        (0.0, 1.0),
    )?;
    integer(extra, "seed_variation", "params.seed_variation", (1, 1000))?;
    let control_type = choice(extra, "control_type", "params.control_type", CONTROL_TYPES)?;
    let workflow = choice(extra, "workflow", "params.workflow", &["qr_code"])?;
    if extra.get("special").is_some_and(|s| !s.is_null()) {
        return Err(refuse(
            "params.special",
            "SpecialFieldNeedsSpecialUser",
            "Only special users can send a special field.",
        )
        .into());
    }
    let loras = check_loras(&p.loras)?;
    let textual_inversions = check_textual_inversions(extra)?;
    let extra_texts = objects(extra, "extra_texts", "params.extra_texts")?;
    for item in &extra_texts {
        if text(item, "text", "params.extra_texts", (1, 50_000))?.is_none() {
            return Err(bad_param("params.extra_texts", "need a text").into());
        }
        text(item, "reference", "params.extra_texts", (3, 1000))?;
    }
    if !SOURCE_PROCESSINGS.contains(&input.source_processing.as_str()) {
        return Err(bad_param(
            "source_processing",
            &format!("must be one of {}", SOURCE_PROCESSINGS.join(", ")),
        )
        .into());
    }

    let baselines: Vec<&str> = models.iter().map(|m| reference.image_baseline(m)).collect();
    let any_baseline = |names: &[&str]| baselines.iter().any(|b| names.contains(b));
    if let Some(model) = models
        .iter()
        .find(|m| image_reference::post_processor(m).is_some())
    {
        return Err(refuse(
            "models",
            "UnexpectedModelName",
            format!("{model} is a post-processor, not a model"),
        )
        .into());
    }
    if models.iter().any(|m| m.contains("horde_special")) {
        return Err(Rejection::forbidden(
            "SpecialModelNeedsSpecialUser",
            "Only special users can request a special model.",
        )
        .into());
    }
    let warnings = requirement_warnings(p, clip_skip, models, reference);
    if hires_fix && any_baseline(&[baseline::FLUX, baseline::QWEN, baseline::Z_IMAGE]) {
        return Err(refuse(
            "params.hires_fix",
            "HiResMismatch",
            "HiRes Fix does not work with these models currently.",
        )
        .into());
    }
    if loras.len() > MAX_LORAS {
        return Err(refuse(
            "params.loras",
            "TooManyLoras",
            "You cannot request more than 5 loras per generation.",
        )
        .into());
    }
    if textual_inversions > MAX_TEXTUAL_INVERSIONS {
        return Err(refuse(
            "params.tis",
            "TooManyTIs",
            "You cannot request more than 20 Textual Inversions per generation.",
        )
        .into());
    }
    if transparent
        && baselines
            .iter()
            .any(|b| ![baseline::SDXL, baseline::SD1].contains(b))
    {
        return Err(refuse("params.transparent", "InvalidTransparencyModel", "Generating Transparent images is only possible for Stable Diffusion 1.5 and XL models.").into());
    }
    let qr_code = workflow == Some("qr_code");
    if qr_code
        && !baselines
            .iter()
            .all(|b| [baseline::SD1, baseline::SDXL].contains(b))
    {
        return Err(refuse(
            "params.workflow",
            "ControlNetMismatch.",
            "QR Code controlnet only works with SD 1.5 and SDXL models currently",
        )
        .into());
    }

    let source_image = input.source_image.as_deref().filter(|s| !s.is_empty());
    let source_mask = input.source_mask.as_deref().filter(|s| !s.is_empty());
    if source_image.is_none() && source_mask.is_some() {
        return Err(refuse(
            "source_mask",
            "SourceMaskUnnecessary",
            "Please do not pass a source_mask unless you are sending a source_image as well",
        )
        .into());
    }
    let painting = matches!(
        input.source_processing.as_str(),
        "inpainting" | "outpainting"
    );
    if let Some(control) = control_type {
        if ["normal", "mlsd", "hough"].contains(&control)
            && baselines
                .iter()
                .any(|b| b.starts_with("stable diffusion 2"))
        {
            return Err(refuse(
                "params.control_type",
                "ControlNetUnsupported",
                "No current model available for this particular ControlNet for SD2.x",
            )
            .into());
        }
        if models.iter().any(|m| m == "pix2pix") {
            return Err(refuse(
                "params.control_type",
                "ControlNetUnsupported",
                "You cannot use ControlNet with these models.",
            )
            .into());
        }
        if source_image.is_none() {
            return Err(refuse(
                "source_image",
                "ControlNetSourceMissing",
                "Controlnet Requires a source image.",
            )
            .into());
        }
        if input.source_processing == "inpainting" {
            return Err(refuse(
                "params.control_type",
                "ControlNetInpaintingMismatch",
                "ControlNet cannot be used with inpainting at this time",
            )
            .into());
        }
        if any_baseline(&[
            baseline::SDXL,
            baseline::CASCADE,
            baseline::FLUX,
            baseline::QWEN,
            baseline::Z_IMAGE,
        ]) {
            return Err(refuse(
                "params.control_type",
                "ControlNetMismatch",
                "ControlNet does not work with these models currently.",
            )
            .into());
        }
    }
    if transparent {
        if !input.extra_source_images.is_empty() {
            return Err(refuse(
                "params.transparent",
                "InvalidTransparencyImg2Img",
                "Generating Transparent images is not supported during img2img workflows.",
            )
            .into());
        }
        if control_type.is_some() {
            return Err(refuse("params.transparent", "InvalidTransparencyCN", "Generating Transparent images is not supported during controlnet workflows currently.").into());
        }
    }
    if input.source_processing == "remix" && baselines.iter().any(|b| *b != baseline::CASCADE) {
        return Err(refuse(
            "source_processing",
            "InvalidRemix",
            "Image Remix is only available for Stable Cascade models.",
        )
        .into());
    }
    if !input.extra_source_images.is_empty() {
        if input.source_processing != "remix" {
            return Err(refuse(
                "extra_source_images",
                "InvalidExtraSourceImages.",
                "This request type does not accept extra source images.",
            )
            .into());
        }
        if input.extra_source_images.len() > MAX_EXTRA_SOURCE_IMAGES {
            return Err(refuse(
                "extra_source_images",
                "TooManyExtraSourceImages.",
                "You can send a maximum of 5 extra source images.",
            )
            .into());
        }
        if input.extra_source_images.len() > 1 && !trusted {
            return Err(refuse(
                "extra_source_images",
                "MoreThanMinExtraSourceImage.",
                "Only trusted users can send more than 1 extra source images.",
            )
            .into());
        }
    }
    if !extra_texts.is_empty() && !qr_code {
        return Err(refuse(
            "params.extra_texts",
            "InvalidExtraTexts.",
            "This request type does not accept extra texts.",
        )
        .into());
    }
    if qr_code
        && !extra_texts
            .iter()
            .any(|t| t.get("reference").and_then(Value::as_str) == Some("qr_code"))
    {
        return Err(refuse(
            "params.extra_texts",
            "MissingExtraTexts.",
            "This request requires you pass the required extra texts for this workflow.",
        )
        .into());
    }
    if init_as_image && return_control_map {
        return Err(refuse(
            "params.return_control_map",
            "ControlNetInvalidPayload",
            "Invalid ControlNet parameters - cannot send inital map and return the same map",
        )
        .into());
    }
    if source_image.is_none()
        && models
            .iter()
            .any(|m| SOURCE_IMAGE_MODELS.contains(&m.as_str()))
    {
        return Err(refuse(
            "source_image",
            "SourceImageRequiredForModel",
            "These models need a source image.",
        )
        .into());
    }
    if p.n > 1 && input.disable_batching && !trusted {
        return Err(refuse(
            "disable_batching",
            "RequiresTrust",
            "Only trusted users can disable batching.",
        )
        .into());
    }

    if let Some(image) = source_image {
        let decoded = source("source_image", image)?;
        if painting && source_mask.is_none() && !decoded.has_alpha {
            return Err(refuse(
                "source_image",
                "InpaintingMissingMask",
                "Inpainting requests must either include a mask, or an alpha channel.",
            )
            .into());
        }
    }
    if let Some(mask) = source_mask {
        source("source_mask", mask)?;
    }
    for extra_image in &input.extra_source_images {
        source("extra_source_images", &extra_image.image)?;
    }

    let steps = match control_type {
        Some(_) => p.steps.min(MAX_CONTROLNET_STEPS),
        None => p.steps,
    };
    Ok(ImageFacts {
        steps,
        img2img: source_image.is_some(),
        controlnet: control_type.is_some(),
        return_control_map,
        qr_code,
        hires_fix,
        loras: loras.len(),
        textual_inversions: textual_inversions > 0,
        disable_batching: input.disable_batching || qr_code,
        warnings,
    })
}

fn check_post_processing(post_processing: &[String]) -> Result<()> {
    let field = "params.post_processing";
    if let Some(unknown) = post_processing
        .iter()
        .find(|pp| image_reference::post_processor(pp).is_none())
    {
        return Err(refuse(
            field,
            "BadRequest",
            format!("Unknown post-processor {unknown:?}"),
        )
        .into());
    }
    for (i, pp) in post_processing.iter().enumerate() {
        if post_processing[..i].contains(pp) {
            return Err(refuse(field, "BadRequest", format!("{pp} is named twice")).into());
        }
    }
    let upscalers = post_processing
        .iter()
        .filter(|pp| image_reference::post_processor(pp).is_some_and(|p| p.upscaler))
        .count();
    if upscalers > 1 {
        return Err(refuse(
            field,
            "TooManyUpscalers",
            "Cannot use more than 1 upscaler at a time.",
        )
        .into());
    }
    Ok(())
}

/// The LoRAs, checked against the AI Horde's schema: a name, strengths from −5 to 5, a trigger
/// of at most 30 characters; a version is named by its number.
fn check_loras(loras: &[Value]) -> Result<Vec<&Map<String, Value>>> {
    let field = "params.loras";
    let loras: Vec<&Map<String, Value>> = loras
        .iter()
        .map(|l| {
            l.as_object()
                .ok_or_else(|| bad_param(field, "must be a list of objects"))
        })
        .collect::<std::result::Result<_, _>>()?;
    for lora in &loras {
        let name =
            text(lora, "name", field, (1, 255))?.ok_or_else(|| bad_param(field, "need a name"))?;
        number(lora, "model", field, (-5.0, 5.0))?;
        number(lora, "clip", field, (-5.0, 5.0))?;
        text(lora, "inject_trigger", field, (1, 30))?;
        if flag(lora, "is_version", field)? && !name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse(
                field,
                "BadLoraVersion",
                "explicit LoRa version requests have to be a version ID (i.e integer).",
            )
            .into());
        }
    }
    Ok(loras)
}

/// The textual inversions, checked against the AI Horde's schema; returns how many.
fn check_textual_inversions(params: &Map<String, Value>) -> Result<usize> {
    let field = "params.tis";
    let tis = objects(params, "tis", field)?;
    for ti in &tis {
        if text(ti, "name", field, (1, 255))?.is_none() {
            return Err(bad_param(field, "need a name").into());
        }
        choice(ti, "inject_ti", field, &["prompt", "negprompt"])?;
        number(ti, "strength", field, (-5.0, 5.0))?;
    }
    Ok(tis.len())
}

/// The AI Horde's warnings where the request does not meet its models' requirements.
fn requirement_warnings(
    p: &protocol::ImageParams,
    clip_skip: i64,
    models: &[String],
    reference: &ModelReference,
) -> Vec<RequestSingleWarning> {
    let karras = p
        .extra
        .get("karras")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let scheduler = if karras { "karras" } else { "simple" };
    let mut warnings: Vec<RequestSingleWarning> = Vec::new();
    let mut warn = |code: &str, message: &str| {
        if !warnings.iter().any(|w| w.code == code) {
            warnings.push(RequestSingleWarning {
                code: code.into(),
                message: message.into(),
            });
        }
    };
    for needs in models.iter().map(|m| reference.image_requirements(m)) {
        if needs.clip_skip.is_some_and(|c| i64::from(c) != clip_skip) {
            warn("ClipSkipMismatch", "The clip skip specified for this generation does not match the requirements of one of the requested models.");
        }
        if needs.min_steps.is_some_and(|s| s > p.steps) {
            warn(
                "StepsTooFew",
                "The steps specified for this generation are too few for this model.",
            );
        }
        if needs.max_steps.is_some_and(|s| s < p.steps) {
            warn(
                "StepsTooMany",
                "The steps specified for this generation are too many for this model.",
            );
        }
        if needs.cfg_scale.is_some_and(|c| c != p.cfg_scale) {
            warn("CfgScaleMismatch", "The cfg scale specified for this generation does not match the requirements of one of the requested models.");
        }
        if needs.min_cfg_scale.is_some_and(|c| c > p.cfg_scale) {
            warn(
                "CfgScaleTooSmall",
                "The cfg_scale specified for this generation is too small for this model.",
            );
        }
        if needs.max_cfg_scale.is_some_and(|c| c < p.cfg_scale) {
            warn(
                "CfgScaleTooLarge",
                "The cfg_scale specified for this generation is too large for this model.",
            );
        }
        if needs
            .samplers
            .as_ref()
            .is_some_and(|s| !s.contains(&p.sampler_name))
        {
            warn("SamplerMismatch", "The requested sampler does not match the requirements for one of the requested models.");
        }
        if needs
            .schedulers
            .as_ref()
            .is_some_and(|s| !s.iter().any(|s| s == scheduler))
        {
            warn("SchedulerMismatch", "The requested scheduler does not match the requirements for one of the requested models.");
        }
    }
    warnings
}

/// A source image as it was sent: base64 of a PNG, JPEG or WebP picture of at most 3072 ×
/// 3072 pixels.
pub(super) struct SourceImage {
    pub has_alpha: bool,
}

pub(super) fn source(field: &'static str, value: &str) -> Result<SourceImage> {
    if value.starts_with("http://") || value.starts_with("https://") {
        return Err(refuse(field, "SourceImageUrlInvalid", format!("{field}: Potluck takes source images inline, as base64, and does not fetch them from a URL")).into());
    }
    let unreadable = || {
        refuse(
            field,
            "SourceImageUnreadable",
            format!("{field} is not a base64 PNG, JPEG or WebP image"),
        )
    };
    let bytes = STANDARD.decode(value.trim()).map_err(|_| unreadable())?;
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(refuse(
            field,
            "SourceImageSizeExceeded",
            format!("{field} is larger than 16 MiB"),
        )
        .into());
    }
    let reader = image::ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|_| unreadable())?;
    let decoder = reader.into_decoder().map_err(|_| unreadable())?;
    use image::ImageDecoder;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_SOURCE_PIXELS {
        return Err(refuse(
            field,
            "SourceImageResolutionExceeded",
            "Image size cannot exceed 3072*3072 pixels",
        )
        .into());
    }
    Ok(SourceImage {
        has_alpha: decoder.color_type().has_alpha(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ExtraSourceImage, ImageParams};
    use serde_json::json;

    fn reference() -> ModelReference {
        ModelReference::parse(
            r#"{"format": "potluck-model-reference/1",
                "image": [{"name": "sd", "baseline": "stable diffusion 1"},
                          {"name": "xl", "baseline": "stable_diffusion_xl",
                           "requirements": {"clip_skip": 2, "max_steps": 8, "samplers": ["k_euler"]}},
                          {"name": "flux", "baseline": "flux_1"},
                          {"name": "cascade", "baseline": "stable_cascade"}]}"#,
        )
        .unwrap()
    }

    fn png(alpha: bool) -> String {
        let mut bytes = Vec::new();
        let picture: image::DynamicImage = if alpha {
            image::RgbaImage::new(8, 8).into()
        } else {
            image::RgbImage::new(8, 8).into()
        };
        picture
            .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
            .unwrap();
        STANDARD.encode(bytes)
    }

    fn input(params: serde_json::Value) -> GenerationInputStable {
        GenerationInputStable {
            prompt: Some("a cat".into()),
            params: serde_json::from_value::<ImageParams>(params).unwrap(),
            ..GenerationInputStable::default()
        }
    }

    fn rc(input: &GenerationInputStable, models: &[&str]) -> &'static str {
        let models: Vec<String> = models.iter().map(|m| m.to_string()).collect();
        match check(input, &models, false, &reference()) {
            Ok(_) => "ok",
            Err(e) => e.rejection().unwrap().rc,
        }
    }

    #[test]
    fn schema_limits_and_precision() {
        assert_eq!(rc(&input(json!({})), &[]), "ok");
        assert_eq!(
            rc(&input(json!({"cfg_scale": 7.123})), &[]),
            "BadCFGDecimals"
        );
        assert_eq!(rc(&input(json!({"clip_skip": 13})), &[]), "BadRequest");
        assert_eq!(
            rc(&input(json!({"denoising_strength": 0})), &[]),
            "BadRequest"
        );
        assert_eq!(
            rc(&input(json!({"control_type": "laser"})), &[]),
            "BadRequest"
        );
        assert_eq!(rc(&input(json!({"hires_fix": "yes"})), &[]), "BadRequest");
        assert_eq!(
            rc(&input(json!({"special": {}})), &[]),
            "SpecialFieldNeedsSpecialUser"
        );
        assert_eq!(
            rc(
                &input(json!({"post_processing": ["GFPGAN", "GFPGAN"]})),
                &[]
            ),
            "BadRequest"
        );
        assert_eq!(
            rc(
                &input(json!({"post_processing": ["RealESRGAN_x4plus", "NMKD_Siax"]})),
                &[]
            ),
            "TooManyUpscalers"
        );
    }

    #[test]
    fn loras_and_textual_inversions() {
        let six: Vec<_> = (0..6).map(|i| json!({"name": format!("{i}")})).collect();
        assert_eq!(rc(&input(json!({"loras": six})), &[]), "TooManyLoras");
        assert_eq!(
            rc(
                &input(json!({"loras": [{"name": "abc", "is_version": true}]})),
                &[]
            ),
            "BadLoraVersion"
        );
        assert_eq!(
            rc(
                &input(json!({"loras": [{"name": "123", "is_version": true, "model": 2}]})),
                &[]
            ),
            "ok"
        );
        assert_eq!(
            rc(&input(json!({"loras": [{"name": "x", "model": 6}]})), &[]),
            "BadRequest"
        );
        assert_eq!(rc(&input(json!({"loras": [{}]})), &[]), "BadRequest");
        let tis: Vec<_> = (0..21).map(|i| json!({"name": format!("{i}")})).collect();
        assert_eq!(rc(&input(json!({"tis": tis})), &[]), "TooManyTIs");
        assert_eq!(
            rc(
                &input(json!({"tis": [{"name": "t", "inject_ti": "x"}]})),
                &[]
            ),
            "BadRequest"
        );
    }

    #[test]
    fn models_and_baselines() {
        assert_eq!(rc(&input(json!({})), &["GFPGAN"]), "UnexpectedModelName");
        assert_eq!(
            rc(&input(json!({"hires_fix": true})), &["flux"]),
            "HiResMismatch"
        );
        assert_eq!(
            rc(&input(json!({"transparent": true})), &["flux"]),
            "InvalidTransparencyModel"
        );
        assert_eq!(
            rc(&input(json!({"workflow": "qr_code"})), &["sd"]),
            "MissingExtraTexts."
        );
        assert_eq!(
            rc(
                &input(
                    json!({"workflow": "qr_code", "extra_texts": [{"text": "x", "reference": "qr_code"}]})
                ),
                &["sd"]
            ),
            "ok"
        );
        assert_eq!(
            rc(
                &input(json!({"extra_texts": [{"text": "x", "reference": "qr_code"}]})),
                &["sd"]
            ),
            "InvalidExtraTexts."
        );
        assert_eq!(
            rc(&input(json!({})), &["pix2pix"]),
            "SourceImageRequiredForModel"
        );
    }

    #[test]
    fn warnings_from_the_models_requirements() {
        let models = vec!["xl".to_string()];
        let facts = check(&input(json!({"steps": 30})), &models, false, &reference()).unwrap();
        let codes: Vec<_> = facts.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(
            codes,
            ["ClipSkipMismatch", "StepsTooMany", "SamplerMismatch"]
        );
    }

    #[test]
    fn controlnet_and_source_images() {
        let mut cn = input(json!({"control_type": "canny", "steps": 60}));
        assert_eq!(rc(&cn, &["sd"]), "ControlNetSourceMissing");
        cn.source_image = Some(png(false));
        let facts = check(&cn, &["sd".into()], false, &reference()).unwrap();
        assert_eq!(
            (facts.steps, facts.controlnet, facts.img2img),
            (40, true, true)
        );
        assert_eq!(rc(&cn, &["xl"]), "ControlNetMismatch");
        cn.source_processing = "inpainting".into();
        assert_eq!(rc(&cn, &["sd"]), "ControlNetInpaintingMismatch");

        let mut inpaint = input(json!({}));
        inpaint.source_processing = "inpainting".into();
        inpaint.source_image = Some(png(false));
        assert_eq!(rc(&inpaint, &[]), "InpaintingMissingMask");
        inpaint.source_image = Some(png(true));
        assert_eq!(rc(&inpaint, &[]), "ok");
        inpaint.source_image = Some("https://example.org/cat.png".into());
        assert_eq!(rc(&inpaint, &[]), "SourceImageUrlInvalid");
        inpaint.source_image = Some("not base64!".into());
        assert_eq!(rc(&inpaint, &[]), "SourceImageUnreadable");

        let mut mask_only = input(json!({}));
        mask_only.source_mask = Some(png(false));
        assert_eq!(rc(&mask_only, &[]), "SourceMaskUnnecessary");
    }

    #[test]
    fn extra_source_images_are_for_remix_only() {
        let mut remix = input(json!({}));
        remix.extra_source_images = vec![ExtraSourceImage {
            image: png(false),
            strength: 1.0,
        }];
        assert_eq!(rc(&remix, &["cascade"]), "InvalidExtraSourceImages.");
        remix.source_processing = "remix".into();
        assert_eq!(rc(&remix, &["sd"]), "InvalidRemix");
        assert_eq!(rc(&remix, &["cascade"]), "ok");
        remix
            .extra_source_images
            .push(remix.extra_source_images[0].clone());
        assert_eq!(rc(&remix, &["cascade"]), "MoreThanMinExtraSourceImage.");
        remix.extra_source_images[1].image = "https://example.org/x.png".into();
        let models = vec!["cascade".to_string()];
        let refused = check(&remix, &models, true, &reference()).unwrap_err();
        assert_eq!(
            refused.rejection().unwrap().field,
            Some("extra_source_images")
        );
    }

    #[test]
    fn batching_needs_trust() {
        let mut many = input(json!({"n": 3}));
        many.disable_batching = true;
        assert_eq!(rc(&many, &[]), "RequiresTrust");
        let facts = check(&many, &[], true, &reference()).unwrap();
        assert!(facts.disable_batching);
    }
}
