//! Kudos: the amounts, and every formula that produces one, in one place.
//!
//! Amounts are kept as integer hundredths so that sums are exact: the ledger always adds up to
//! every balance. The API shows them as decimal numbers.
//!
//! The formulas are the AI Horde's (`horde/classes/{kobold,stable}/{processing_generation,
//! waiting_prompt}.py`, `horde/classes/base/{user,worker}.py`), with the differences named:
//!
//! **Text**, per generation, with `B` the model's billions of parameters from the model
//! reference (`model_reference.rs`, never from the name a worker gives its model):
//! - the worker earns `tokens × (max(B, 13) / 13)^0.2 × B / 125 × C`, × 0.3 when its back end
//!   is not a validated one (`bridge_reference.rs`), where `tokens` are the tokens it delivered,
//!   counted the AI Horde's quick way (`max(ceil(characters / 4), 20)`, at most `max_length`),
//!   and `C = clamp(1.2 + 2.2^log2(P / 1024), 0.1, 30)` is the context term of the prompt's
//!   `P` tokens, counted the same way and at most `max_context_length`. (The AI Horde caps `P`
//!   at `max_length`: it counts the prompt with the generation's counter. A worker reads up to
//!   `max_context_length` of the prompt, so Potluck caps it there.)
//! - a model outside the reference earns the floor, `C` alone whatever the tokens; a trusted
//!   owner's worker earns `tokens × C × 2.7 / 100` for it instead.
//! - the estimate shown before it runs (`dry_run`, and the `kudos` of the answer) is the reward
//!   for `max_length` tokens of the first model named at full rate (a 13B model when none is
//!   named; the floor for a model outside the reference), so that it is what a validated worker
//!   delivering every token is paid. The AI Horde's estimate divides by 100, not 125, and uses
//!   the requested `max_context_length` for `C`, so it overstates what is then charged.
//! - the requester pays the reward plus 1 kudos.
//!
//! **Images**, per image (the AI Horde's legacy formula; its neural kudos model is not used):
//! - the request's base: `round(0.1232 × steps + R × 0.1232 × steps × 8.75, 2)` with
//!   `R = (width × height − 64²)^1.75 / (1024² − 64²)^1.75`, × 1.2 per post-processor, × 3 for
//!   ControlNet unless it only returns the control map (each step rounded to hundredths), then
//!   + 3 per LoRA and + 1 with textual inversions.
//! - the worker earns the base × its model's baseline multiplier: SDXL × 2 (× 4 for the QR-code
//!   workflow), Stable Cascade × 4 (× 7 with hires fix), Flux and Z-Image × 8, Qwen × 12, others
//!   × 1. The baseline comes from the model reference; the AI Horde also guesses it from a name
//!   (`[Flux]`), which Potluck never does.
//! - the requester pays `((reward × 1.3 for img2img) × each post-processor's factor + 1)`,
//!   × 1.2 without slow workers, × 1.1 with a worker list used as a blacklist.
//!
//! **Interrogation forms** (alchemy), per form: 3 per 512×512 tile of the image for a
//! post-processor, 3 for an interrogation, 1 for any other form; the requester pays it plus 1.
//!
//! **Per request**, on top: 1 kudos, plus 5 per extra source image, charged when it is queued.
//! `dry_run` answers `cost per generation × n + that`, exactly what is then charged when every
//! generation is delivered by the first model named (for text: every token; for images with no
//! model named, an SDXL model, as the AI Horde assumes). The AI Horde's image estimate applies
//! the baseline multiplier after the requester's burn, not before, so it differs by the burn.
//! Anonymous requesters pay nothing and keep no kudos; censored images are not charged.
//!
//! **Upfront kudos**: a large request needs its requester to hold its cost already (beyond the
//! account's floor and what its other requests reserved): text over a token limit
//! (`text_upfront_limit`) costs `max_length × the largest model's B / 21` per generation, images
//! over a resolution (`image_upfront_limit`) or over their steps cost their `dry_run`; any
//! request that refuses slow workers needs it.
//!
//! **Uptime**: a worker online and out of maintenance earns, every 10 minutes: text
//! `(25 + 15 × min(max_context_length, 262144) / 1024) × max(B / 7, 0.25)` of its first model
//! (× 0.3 for a back end that is not validated; half the base for a model outside the
//! reference); image `50 + 2 × models served`, + 30 when it takes LoRAs; alchemist 40.
//!
//! **Floors**: a registered account's spendable balance never stays below its floor: 25 kudos
//! for one signed in through a provider, 14 for a pseudonymous one. A movement that would leave
//! it lower is topped up by a `floor` ledger line in the same transaction (the AI Horde's
//! `FLOOR_ADJUSTMENT`), so the ledger still sums to every balance. Kudos below the floor cannot
//! be given away or reserved.

use crate::image_reference::{self, baseline};
use crate::model_reference::ModelReference;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub};

/// An amount of kudos, in hundredths.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Kudos(pub i64);

impl Kudos {
    pub const ZERO: Kudos = Kudos(0);

    /// Rounds to the nearest hundredth; non-finite input counts as zero.
    pub fn from_f64(value: f64) -> Kudos {
        if value.is_finite() {
            Kudos((value * 100.0).round() as i64)
        } else {
            Kudos(0)
        }
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    pub fn hundredths(self) -> i64 {
        self.0
    }

    /// This amount `n` times.
    pub fn times(self, n: i64) -> Kudos {
        Kudos(self.0.saturating_mul(n))
    }
}

impl fmt::Display for Kudos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.as_f64())
    }
}

impl Add for Kudos {
    type Output = Kudos;
    fn add(self, rhs: Kudos) -> Kudos {
        Kudos(self.0 + rhs.0)
    }
}

impl AddAssign for Kudos {
    fn add_assign(&mut self, rhs: Kudos) {
        self.0 += rhs.0;
    }
}

impl Sub for Kudos {
    type Output = Kudos;
    fn sub(self, rhs: Kudos) -> Kudos {
        Kudos(self.0 - rhs.0)
    }
}

impl Neg for Kudos {
    type Output = Kudos;
    fn neg(self) -> Kudos {
        Kudos(-self.0)
    }
}

/// Seconds of uptime that earn one uptime reward.
pub const UPTIME_REWARD_INTERVAL_SECS: i64 = 600;

// --- floors -------------------------------------------------------------------------------

/// The lowest spendable balance of an account signed in through a provider.
pub const LINKED_FLOOR: Kudos = Kudos(2500);
/// The lowest spendable balance of a pseudonymous account.
pub const PSEUDONYMOUS_FLOOR: Kudos = Kudos(1400);

/// The floor of a registered account's balance (`linked`: signed in through a provider).
pub fn floor(linked: bool) -> Kudos {
    if linked {
        LINKED_FLOOR
    } else {
        PSEUDONYMOUS_FLOOR
    }
}

/// Kudos an account may spend up front, give away or reserve: what it holds above its floor
/// and beyond what its other requests reserved (never negative).
pub fn available(balance: Kudos, linked: bool, reserved: Kudos) -> Kudos {
    Kudos((balance - floor(linked) - reserved).0.max(0))
}

// --- text ---------------------------------------------------------------------------------

/// The AI Horde's divisor of a known model's text reward.
const TEXT_DIVISOR: f64 = 125.0;
/// What the rewards of a back end that is not validated are cut to.
const UNVALIDATED_SHARE: f64 = 0.3;
/// The size at and above which the parameter bonus starts.
const BONUS_FROM_BILLIONS: f64 = 13.0;
/// The size a request naming no model is priced at.
const DEFAULT_REQUEST_BILLIONS: f64 = 13.0;
/// The size a trusted owner's worker is paid at for a model outside the reference.
const TRUSTED_UNKNOWN_BILLIONS: f64 = 2.7;
/// The fewest tokens a text counts for.
const MIN_COUNTED_TOKENS: u32 = 20;

/// Tokens of a text counted the AI Horde's quick way: a quarter of its characters, at least 20.
fn quick_tokens(text: &str) -> u32 {
    let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    chars.div_ceil(4).max(MIN_COUNTED_TOKENS)
}

/// Tokens a generation counts for, at most `max_length`.
pub fn delivered_tokens(generation: &str, max_length: u32) -> u32 {
    quick_tokens(generation).min(max_length)
}

/// Tokens of the prompt the context term counts, at most `max_context_length`.
pub fn context_tokens(prompt: &str, max_context_length: u32) -> u32 {
    quick_tokens(prompt).min(max_context_length)
}

/// The context term: larger contexts need much more memory.
fn context_multiplier(context_tokens: u32) -> f64 {
    let ratio = f64::from(context_tokens.max(1)) / 1024.0;
    (1.2 + 2.2_f64.powf(ratio.log2())).clamp(0.1, 30.0)
}

fn parameter_bonus(billions: f64) -> f64 {
    (billions.max(BONUS_FROM_BILLIONS) / BONUS_FROM_BILLIONS).powf(0.2)
}

/// Who served a text generation, as far as its reward is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextWorkerRate {
    /// Its owner is trusted: a model outside the reference earns a small model's rate.
    pub trusted_owner: bool,
    /// Its back end is validated; otherwise a known model's reward is cut to 30 %.
    pub validated_backend: bool,
}

impl TextWorkerRate {
    /// The rate estimates are made at.
    const FULL: TextWorkerRate = TextWorkerRate {
        trusted_owner: false,
        validated_backend: true,
    };
}

fn known_text_reward(tokens: u32, billions: f64, context: f64, validated: bool) -> Kudos {
    let mut kudos = f64::from(tokens) * parameter_bonus(billions) * billions / TEXT_DIVISOR;
    if !validated {
        kudos *= UNVALIDATED_SHARE;
    }
    Kudos::from_f64(kudos * context)
}

/// The worker's reward for `tokens` tokens of `model`, with a prompt of `context_tokens`.
pub fn text_reward(
    tokens: u32,
    model: &str,
    context_tokens: u32,
    reference: &ModelReference,
    rate: TextWorkerRate,
) -> Kudos {
    let context = context_multiplier(context_tokens);
    match reference.text_billions(model) {
        Some(billions) => known_text_reward(tokens, billions, context, rate.validated_backend),
        None if rate.trusted_owner => {
            Kudos::from_f64(f64::from(tokens) * context * TRUSTED_UNKNOWN_BILLIONS / 100.0)
        }
        // The AI Horde's floor for a model it does not know.
        None => Kudos::from_f64(context),
    }
}

/// The reward shown before a text request runs: `max_length` tokens of its first model.
pub fn text_estimate(
    max_length: u32,
    context_tokens: u32,
    models: &[String],
    reference: &ModelReference,
) -> Kudos {
    match models.first() {
        Some(model) => text_reward(
            max_length,
            model,
            context_tokens,
            reference,
            TextWorkerRate::FULL,
        ),
        None => known_text_reward(
            max_length,
            DEFAULT_REQUEST_BILLIONS,
            context_multiplier(context_tokens),
            true,
        ),
    }
}

/// The burn a text or alchemy requester pays per generation on top of the worker's reward.
const BURN: Kudos = Kudos(100);

/// What a text requester pays for a generation whose worker earned `reward`.
pub fn text_requester_cost(reward: Kudos) -> Kudos {
    reward + BURN
}

/// The most tokens a text request may ask for without upfront kudos, with `queued`
/// generations waiting and `threads` worker threads online: `512 + 5 × threads − 0.9 × queued`,
/// between 256 and 512.
pub fn text_upfront_limit(queued: u64, threads: u64) -> u32 {
    let limit = 512.0 + threads as f64 * 5.0 - (queued as f64 * 0.9).round_ties_even();
    limit.clamp(256.0, 512.0) as u32
}

/// What a large text request needs its requester to hold: `max_length × B / 21` per generation
/// of the largest model named (B = 1 for one outside the reference), or 20 per generation when
/// none is named.
pub fn text_upfront(
    max_length: u32,
    models: &[String],
    n: u32,
    reference: &ModelReference,
) -> Kudos {
    if models.is_empty() {
        return Kudos(2000).times(n.into());
    }
    let largest = models
        .iter()
        .map(|m| reference.text_billions(m).unwrap_or(1.0))
        .fold(0.0, f64::max);
    Kudos::from_f64(f64::from(max_length) * largest / 21.0).times(n.into())
}

/// The uptime reward of a text worker serving `first_model` (its first) up to
/// `max_context_length`.
pub fn text_uptime_reward(
    max_context_length: u32,
    first_model: Option<&str>,
    reference: &ModelReference,
    validated_backend: bool,
) -> Kudos {
    let mut base = 25.0 + 15.0 * f64::from(max_context_length.min(262_144)) / 1024.0;
    let Some(billions) = first_model.and_then(|m| reference.text_billions(m)) else {
        return Kudos::from_f64(base * 0.5);
    };
    let size = (billions / 7.0).max(0.25);
    if !validated_backend {
        base *= UNVALIDATED_SHARE;
    }
    Kudos::from_f64(base * size)
}

// --- images -------------------------------------------------------------------------------

/// What an image request's kudos depend on, fixed when it is queued and stored with it, so that
/// the estimate, the reward and the charge are computed alike.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImagePricing {
    /// The request's base (the AI Horde's `wp.kudos`), before the model's multiplier.
    pub base: Kudos,
    /// The product of its post-processors' cost factors.
    pub post_processing_factor: f64,
    pub img2img: bool,
    pub slow_workers: bool,
    pub worker_blacklist: bool,
    pub hires_fix: bool,
    pub qr_code: bool,
}

/// An image request as its base reads it.
#[derive(Debug, Clone, Default)]
pub struct ImageWork<'a> {
    pub width: u32,
    pub height: u32,
    /// The steps asked for (the legacy formula reads them so, whatever the sampler).
    pub steps: u32,
    pub post_processing: &'a [String],
    pub controlnet: bool,
    pub return_control_map: bool,
    pub loras: usize,
    pub textual_inversions: bool,
}

/// The amount of image work the records count: width × height × steps in millions.
pub fn megapixelsteps(width: u32, height: u32, steps: u32) -> f64 {
    f64::from(width) * f64::from(height) * f64::from(steps) / 1_000_000.0
}

/// The legacy formula's base, rounded as the AI Horde rounds it.
pub fn image_base(work: &ImageWork<'_>) -> Kudos {
    let round2 = |v: f64| (v * 100.0).round() / 100.0;
    let area = f64::from(work.width) * f64::from(work.height);
    let smallest = 64.0 * 64.0;
    let size = ((area - smallest).max(0.0) / (1024.0 * 1024.0 - smallest)).powf(1.75);
    let steps = f64::from(work.steps);
    let mut kudos = round2(0.1232 * steps + size * 0.1232 * steps * 8.75);
    for _ in work.post_processing {
        kudos = round2(kudos * 1.2);
    }
    if work.controlnet && !work.return_control_map {
        kudos = round2(kudos * 3.0);
    }
    kudos += 3.0 * work.loras as f64;
    if work.textual_inversions {
        kudos += 1.0;
    }
    Kudos::from_f64(kudos)
}

/// The product of the requester's cost factors of these post-processors.
pub fn post_processing_factor(post_processing: &[String]) -> f64 {
    post_processing
        .iter()
        .filter_map(|name| image_reference::post_processor(name))
        .map(|p| p.cost)
        .product()
}

/// The side of the tiles alchemists work in.
pub const TILE_SIDE: u32 = 512;

/// The 512×512 tiles an image of this size is cut into (the AI Horde's measure of alchemy work).
pub fn tiles(width: u32, height: u32) -> u32 {
    width.div_ceil(TILE_SIDE) * height.div_ceil(TILE_SIDE)
}

/// The kudos of one interrogation form, up front and as the alchemist's reward (the AI
/// Horde's): 3 per tile for a post-processor, 3 for an interrogation (CLIP is the heaviest of
/// the analyses), 1 for any other.
pub fn form_kudos(form: &str, post_processor: bool, tiles: u32) -> Kudos {
    let kudos = match form {
        _ if post_processor => 3 * i64::from(tiles),
        "interrogation" => 3,
        _ => 1,
    };
    Kudos(kudos * 100)
}

/// What a requester pays for a form whose alchemist earned `reward`.
pub fn form_requester_cost(reward: Kudos) -> Kudos {
    reward + BURN
}

/// The baseline a request naming no model is priced at, as the AI Horde assumes.
pub const DEFAULT_ESTIMATE_BASELINE: &str = baseline::SDXL;

impl ImagePricing {
    /// How much more a model of this baseline earns than the base.
    pub fn baseline_multiplier(&self, baseline_name: &str) -> f64 {
        match baseline_name {
            baseline::SDXL if self.qr_code => 4.0,
            baseline::SDXL => 2.0,
            baseline::CASCADE if self.hires_fix => 7.0,
            baseline::CASCADE => 4.0,
            baseline::FLUX | baseline::Z_IMAGE => 8.0,
            baseline::QWEN => 12.0,
            _ => 1.0,
        }
    }

    /// The worker's reward for one image of a model of this baseline.
    pub fn reward(&self, baseline_name: &str) -> Kudos {
        Kudos::from_f64(self.base.as_f64() * self.baseline_multiplier(baseline_name))
    }

    /// What the requester pays for an image whose worker earned `reward`.
    pub fn requester_cost(&self, reward: Kudos) -> Kudos {
        let mut kudos = reward.as_f64();
        if self.img2img {
            kudos *= 1.3;
        }
        kudos = kudos * self.post_processing_factor + 1.0;
        if !self.slow_workers {
            kudos *= 1.2;
        }
        if self.worker_blacklist {
            kudos *= 1.1;
        }
        Kudos::from_f64(kudos)
    }
}

/// The resolution (per side) an image request may reach without upfront kudos, with `queued`
/// generations waiting and `threads` worker threads online, for models of these baselines:
/// `1024 + 10 × threads − 0.9 × queued`, at least 576 (768 for SD 2, 1024 for SDXL, Stable
/// Cascade and Flux, which need it), at most 1024.
pub fn image_upfront_limit<'a>(
    queued: u64,
    threads: u64,
    baselines: impl IntoIterator<Item = &'a str>,
) -> u32 {
    let mut limit = 1024.0 + threads as f64 * 10.0 - (queued as f64 * 0.9).round_ties_even();
    limit = limit.max(576.0);
    for name in baselines {
        let least = match name {
            baseline::SD2 => 768.0,
            baseline::SDXL | baseline::CASCADE | baseline::FLUX => 1024.0,
            _ => 0.0,
        };
        limit = limit.max(least);
    }
    limit.min(1024.0) as u32
}

/// The uptime reward of an image worker.
pub fn image_uptime_reward(models_served: usize, allow_lora: bool) -> Kudos {
    let lora = if allow_lora { 30.0 } else { 0.0 };
    Kudos::from_f64(50.0 + 2.0 * models_served as f64 + lora)
}

// --- requests -----------------------------------------------------------------------------

/// What a text request's kudos depend on besides its columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextPricing {
    /// The prompt's tokens, as the context term counts them.
    pub context_tokens: u32,
}

/// What a request's kudos depend on, stored with it when it is queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Pricing {
    Text(TextPricing),
    Image(ImagePricing),
}

/// The charge for queueing a request, whatever it generates: 1 kudos, and 5 per extra source
/// image (the AI Horde's `horde_tax`).
pub fn request_tax(extra_source_images: usize) -> Kudos {
    Kudos(100 + 500 * extra_source_images as i64)
}

/// What a request costs in all when each of its `n` generations costs `per_generation`.
pub fn request_total(per_generation: Kudos, n: u32, tax: Kudos) -> Kudos {
    per_generation.times(n.into()) + tax
}

/// The uptime reward of an alchemist (the AI Horde's).
pub fn alchemy_uptime_reward() -> Kudos {
    Kudos(40 * 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_earn_by_kind_and_tiles() {
        assert_eq!(tiles(512, 512), 1);
        assert_eq!(tiles(513, 512), 2);
        assert_eq!(tiles(1024, 1536), 6);
        assert_eq!(form_kudos("caption", false, 6), Kudos(100));
        assert_eq!(form_kudos("interrogation", false, 6), Kudos(300));
        assert_eq!(form_kudos("GFPGAN", true, 6), Kudos(1800));
    }

    fn reference() -> ModelReference {
        ModelReference::parse(
            r#"{"format": "potluck-model-reference/1",
                "text": [{"name": "x/Model-13B", "parameters": 13000000000},
                         {"name": "x/Model-70B", "parameters": 70000000000},
                         {"name": "x/Model-1B", "parameters": 1000000000}],
                "image": [{"name": "sdxl", "baseline": "stable_diffusion_xl"},
                          {"name": "cascade", "baseline": "stable_cascade"},
                          {"name": "flux", "baseline": "flux_1"}]}"#,
        )
        .unwrap()
    }

    const VALIDATED: TextWorkerRate = TextWorkerRate::FULL;
    const UNVALIDATED: TextWorkerRate = TextWorkerRate {
        trusted_owner: false,
        validated_backend: false,
    };

    #[test]
    fn context_term() {
        assert!((context_multiplier(1024) - 2.2).abs() < 1e-9);
        assert!((context_multiplier(2048) - 3.4).abs() < 1e-9);
        // A short prompt: 20 tokens, 1.2 + 2.2^log2(20/1024).
        assert!((context_multiplier(20) - 1.211_368).abs() < 1e-6);
        assert_eq!(context_multiplier(1_048_576), 30.0);
        assert_eq!(context_tokens("Once upon a time", 2048), 20);
        assert_eq!(context_tokens(&"a".repeat(8000), 2048), 2000);
        assert_eq!(context_tokens(&"a".repeat(8000), 1024), 1024);
    }

    #[test]
    fn text_rewards_are_the_ai_hordes() {
        let reference = reference();
        // 80 tokens of a 13B model, prompt of 1024 tokens: 80 × 13 / 125 × 2.2 = 18.304.
        assert_eq!(
            text_reward(80, "x/Model-13B", 1024, &reference, VALIDATED),
            Kudos(1830)
        );
        // Not validated: 30 %, rounded after: 18.304 × 0.3 = 5.4912.
        assert_eq!(
            text_reward(80, "x/Model-13B", 1024, &reference, UNVALIDATED),
            Kudos(549)
        );
        // 70B: bonus (70/13)^0.2 = 1.40034; 100 × 1.40034 × 70 / 125 × 3.4 = 266.62.
        assert_eq!(
            text_reward(100, "x/Model-70B", 2048, &reference, VALIDATED),
            Kudos(26662)
        );
        // The README's walk-through: 20 tokens of 13B, a 20-token prompt, an unknown bridge:
        // 20 × 13 / 125 × 0.3 × 1.211368 = 0.7559.
        assert_eq!(
            text_reward(20, "x/Model-13B", 20, &reference, UNVALIDATED),
            Kudos(76)
        );
        assert_eq!(delivered_tokens("short", 80), 20);
        assert_eq!(delivered_tokens(&"a".repeat(400), 80), 80);
        assert_eq!(delivered_tokens(&"a".repeat(200), 80), 50);
    }

    #[test]
    fn a_model_outside_the_reference_earns_the_floor_whatever_its_name() {
        let reference = reference();
        let farm = "Farm-Llama-405B";
        for tokens in [20, 400] {
            assert_eq!(
                text_reward(tokens, farm, 2048, &reference, VALIDATED),
                Kudos(340)
            );
        }
        assert_eq!(
            text_estimate(400, 2048, &[farm.into()], &reference),
            Kudos(340)
        );
        // A trusted owner's worker: 100 × 3.4 × 2.7 / 100.
        let trusted = TextWorkerRate {
            trusted_owner: true,
            validated_backend: false,
        };
        assert_eq!(
            text_reward(100, farm, 2048, &reference, trusted),
            Kudos(918)
        );
    }

    #[test]
    fn the_estimate_is_the_full_reward_for_every_token() {
        let reference = reference();
        let models = ["x/Model-13B".to_string()];
        let estimate = text_estimate(80, 1024, &models, &reference);
        assert_eq!(
            estimate,
            text_reward(80, &models[0], 1024, &reference, VALIDATED)
        );
        // No model named: a 13B model.
        assert_eq!(text_estimate(80, 1024, &[], &reference), estimate);
        assert_eq!(text_requester_cost(estimate), Kudos(1930));
        // dry_run: (18.30 + 1) × 2 generations + 1.
        assert_eq!(
            request_total(text_requester_cost(estimate), 2, request_tax(0)),
            Kudos(3960)
        );
    }

    #[test]
    fn text_upfront_kudos() {
        let reference = reference();
        assert_eq!(text_upfront_limit(0, 0), 512);
        assert_eq!(text_upfront_limit(300, 4), 262);
        assert_eq!(text_upfront_limit(400, 4), 256);
        assert_eq!(text_upfront_limit(100, 10), 472);
        // round() is Python's, half to even: 0.9 × 5 = 4.5 rounds to 4.
        assert_eq!(text_upfront_limit(5, 0), 508);
        let models = ["x/Model-1B".to_string(), "x/Model-70B".to_string()];
        // The largest model: 600 × 70 / 21 = 2000 per generation.
        assert_eq!(text_upfront(600, &models, 2, &reference), Kudos(400_000));
        assert_eq!(
            text_upfront(600, &["unknown".into()], 1, &reference),
            Kudos(2857)
        );
        assert_eq!(text_upfront(600, &[], 3, &reference), Kudos(6000));
    }

    #[test]
    fn text_uptime() {
        let reference = reference();
        // 25 + 15 × 4096 / 1024 = 85; 13B / 7 = 1.857.
        assert_eq!(
            text_uptime_reward(4096, Some("x/Model-13B"), &reference, true),
            Kudos(15786)
        );
        assert_eq!(
            text_uptime_reward(4096, Some("x/Model-13B"), &reference, false),
            Kudos(4736)
        );
        // At least a quarter: 1B / 7 < 0.25.
        assert_eq!(
            text_uptime_reward(4096, Some("x/Model-1B"), &reference, true),
            Kudos(2125)
        );
        assert_eq!(
            text_uptime_reward(4096, Some("Farm-405B"), &reference, true),
            Kudos(4250)
        );
        assert_eq!(
            text_uptime_reward(4096, None, &reference, true),
            Kudos(4250)
        );
    }

    fn work(width: u32, height: u32, steps: u32) -> ImageWork<'static> {
        ImageWork {
            width,
            height,
            steps,
            ..ImageWork::default()
        }
    }

    #[test]
    fn the_legacy_image_base() {
        // 512 × 512 × 30: 3.696 + 0.086580 × 32.34 = 6.496 → 6.50.
        assert_eq!(image_base(&work(512, 512, 30)), Kudos(650));
        // 1024 × 1024 × 30: 3.696 + 1 × 32.34 = 36.036 → 36.04.
        assert_eq!(image_base(&work(1024, 1024, 30)), Kudos(3604));
        // 64 × 64: the size term is zero.
        assert_eq!(image_base(&work(64, 64, 10)), Kudos(123));
        let pp = ["GFPGAN".to_string(), "RealESRGAN_x4plus".to_string()];
        let extras = ImageWork {
            post_processing: &pp,
            controlnet: true,
            loras: 2,
            textual_inversions: true,
            ..work(512, 512, 30)
        };
        // 6.50 × 1.2 = 7.80, × 1.2 = 9.36, × 3 = 28.08, + 6 + 1.
        assert_eq!(image_base(&extras), Kudos(3508));
        let map_only = ImageWork {
            return_control_map: true,
            ..extras.clone()
        };
        assert_eq!(image_base(&map_only), Kudos(1636));
    }

    #[test]
    fn image_rewards_and_charges() {
        let pricing = ImagePricing {
            base: Kudos(650),
            post_processing_factor: 1.0,
            slow_workers: true,
            ..ImagePricing::default()
        };
        assert_eq!(pricing.reward(baseline::SD1), Kudos(650));
        assert_eq!(pricing.reward(baseline::SDXL), Kudos(1300));
        assert_eq!(pricing.reward(baseline::CASCADE), Kudos(2600));
        assert_eq!(pricing.reward(baseline::FLUX), Kudos(5200));
        assert_eq!(pricing.reward(baseline::QWEN), Kudos(7800));
        let qr_hires = ImagePricing {
            qr_code: true,
            hires_fix: true,
            ..pricing.clone()
        };
        assert_eq!(qr_hires.reward(baseline::SDXL), Kudos(2600));
        assert_eq!(qr_hires.reward(baseline::CASCADE), Kudos(4550));
        assert_eq!(pricing.requester_cost(Kudos(650)), Kudos(750));
        let everything = ImagePricing {
            img2img: true,
            post_processing_factor: post_processing_factor(&[
                "RealESRGAN_x4plus".into(),
                "GFPGAN".into(),
            ]),
            slow_workers: false,
            worker_blacklist: true,
            ..pricing
        };
        // ((6.50 × 1.3) × 1.05 + 1) × 1.2 × 1.1 = 13.0317.
        assert_eq!(everything.requester_cost(Kudos(650)), Kudos(1303));
    }

    #[test]
    fn image_upfront_resolution() {
        assert_eq!(image_upfront_limit(0, 0, []), 1024);
        assert_eq!(image_upfront_limit(1000, 0, []), 576);
        assert_eq!(image_upfront_limit(1000, 0, [baseline::SD2]), 768);
        assert_eq!(
            image_upfront_limit(1000, 0, [baseline::SD1, baseline::SDXL]),
            1024
        );
        assert_eq!(image_upfront_limit(300, 10, []), 854);
    }

    #[test]
    fn floors_and_what_may_be_spent() {
        assert_eq!(floor(true), Kudos(2500));
        assert_eq!(floor(false), Kudos(1400));
        assert_eq!(available(Kudos(5000), false, Kudos(1000)), Kudos(2600));
        assert_eq!(available(Kudos(0), false, Kudos(0)), Kudos(0));
    }

    #[test]
    fn uptime_and_tax() {
        assert_eq!(image_uptime_reward(3, false), Kudos(5600));
        assert_eq!(image_uptime_reward(3, true), Kudos(8600));
        assert_eq!(request_tax(0), Kudos(100));
        assert_eq!(request_tax(2), Kudos(1100));
    }

    #[test]
    fn amounts_round_to_hundredths() {
        assert_eq!(Kudos::from_f64(0.125).0, 13);
        assert_eq!(Kudos::from_f64(-0.125).0, -13);
        assert_eq!(Kudos::from_f64(f64::NAN), Kudos::ZERO);
        assert_eq!(Kudos(1234).to_string(), "12.34");
    }
}
