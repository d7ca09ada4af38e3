//! Kudos: the amounts, and every formula that produces one, in one place.
//!
//! Amounts are kept as integer hundredths so that sums are exact: the ledger
//! always adds up to every balance. The API shows them as decimal numbers.
//!
//! The formulas (after the AI Horde's, simplified where it uses lookup tables):
//! - text, per generation of `tokens` tokens with model `m` billion parameters
//!   and a requested context of `ctx` tokens:
//!   `tokens × (max(m, 13) / 13)^0.2 × m / 100 × clamp(1.2 + 2.2^log2(ctx / 1024), 0.1, 30)`.
//!   `m` comes from the model reference (`model_reference.rs`), never from the name a
//!   worker gives its model. A model outside the reference earns the AI Horde's floor: the
//!   context term alone, whatever the tokens; its owner being trusted, the rate of a 2.7B
//!   model. The estimate shown up front uses `max_length` tokens (and 13B when no model
//!   was named); the worker's reward uses the tokens it delivered, counted as
//!   `max(ceil(characters / 4), 20)` and at most `max_length`.
//! - image, per image: `1.25 × megapixelsteps` where megapixelsteps is
//!   `width × height × steps / 10^6`, × 1.3 for img2img and × 1.2 per
//!   post-processor.
//! - the requester pays the worker's reward plus a burn of 1 kudos per
//!   generation; anonymous requesters pay nothing and keep no kudos.
//! - a worker that stays online and out of maintenance earns an uptime reward
//!   every 10 minutes: text `25 + 15 × min(max_context_length, 262144) / 1024`,
//!   image `50 + 2 × models served`.

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

/// The burn a requester pays per generation on top of the worker's reward.
pub const BURN_PER_GENERATION: Kudos = Kudos(100);

/// Seconds of uptime that earn one uptime reward.
pub const UPTIME_REWARD_INTERVAL_SECS: i64 = 600;

/// Model size assumed when no model is named.
const DEFAULT_REQUEST_BILLIONS: f64 = 13.0;
/// The rate of a model outside the reference served by a trusted owner's worker.
const TRUSTED_UNKNOWN_BILLIONS: f64 = 2.7;

fn context_multiplier(max_context_length: u32) -> f64 {
    let ratio = f64::from(max_context_length.max(1)) / 1024.0;
    (1.2 + 2.2_f64.powf(ratio.log2())).clamp(0.1, 30.0)
}

fn text_kudos(tokens: u32, billions: f64, max_context_length: u32) -> Kudos {
    let parameter_bonus = (billions.max(13.0) / 13.0).powf(0.2);
    Kudos::from_f64(
        f64::from(tokens) * parameter_bonus * billions / 100.0
            * context_multiplier(max_context_length),
    )
}

/// The cost of one text generation shown before it runs.
pub fn text_estimate(
    max_length: u32,
    max_context_length: u32,
    models: &[String],
    reference: &ModelReference,
) -> Kudos {
    match models.first() {
        Some(model) => match reference.text_billions(model) {
            Some(billions) => text_kudos(max_length, billions, max_context_length),
            None => unknown_model_floor(max_context_length),
        },
        None => text_kudos(max_length, DEFAULT_REQUEST_BILLIONS, max_context_length),
    }
}

/// What a generation of a model outside the reference earns: the AI Horde's floor.
fn unknown_model_floor(max_context_length: u32) -> Kudos {
    Kudos::from_f64(context_multiplier(max_context_length))
}

/// Tokens a text generation counts for: a quick estimate from its length.
pub fn delivered_tokens(generation: &str, max_length: u32) -> u32 {
    let chars = generation.chars().count() as u32;
    chars.div_ceil(4).max(20).min(max_length)
}

/// The worker's reward for one text generation. `trusted_owner`: the worker's owner is
/// trusted, which lifts a model outside the reference from the floor to a small model's rate.
pub fn text_reward(
    tokens: u32,
    model: &str,
    max_context_length: u32,
    reference: &ModelReference,
    trusted_owner: bool,
) -> Kudos {
    match reference.text_billions(model) {
        Some(billions) => text_kudos(tokens, billions, max_context_length),
        None if trusted_owner => text_kudos(tokens, TRUSTED_UNKNOWN_BILLIONS, max_context_length),
        None => unknown_model_floor(max_context_length),
    }
}

/// The amount of image work: width × height × steps in millions.
pub fn megapixelsteps(width: u32, height: u32, steps: u32) -> f64 {
    f64::from(width) * f64::from(height) * f64::from(steps) / 1_000_000.0
}

/// The kudos of one image, the same up front and as the worker's reward.
pub fn image_kudos(
    width: u32,
    height: u32,
    steps: u32,
    img2img: bool,
    post_processors: usize,
) -> Kudos {
    let mut kudos = 1.25 * megapixelsteps(width, height, steps);
    if img2img {
        kudos *= 1.3;
    }
    kudos *= 1.2_f64.powi(post_processors as i32);
    Kudos::from_f64(kudos)
}

/// What the requester pays for a generation whose worker earned `reward`.
pub fn requester_cost(reward: Kudos) -> Kudos {
    reward + BURN_PER_GENERATION
}

/// The uptime reward of a text worker.
pub fn text_uptime_reward(max_context_length: u32) -> Kudos {
    Kudos::from_f64(25.0 + 15.0 * f64::from(max_context_length.min(262_144)) / 1024.0)
}

/// The uptime reward of an image worker.
pub fn image_uptime_reward(models_served: usize) -> Kudos {
    Kudos::from_f64(50.0 + 2.0 * models_served as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_multiplier_is_clamped() {
        assert!((context_multiplier(1024) - 2.2).abs() < 1e-9);
        assert!((context_multiplier(2048) - 3.4).abs() < 1e-9);
        assert_eq!(context_multiplier(1_048_576), 30.0);
    }

    fn reference() -> ModelReference {
        ModelReference::parse(
            r#"{"format": "potluck-model-reference/1",
                "text": [{"name": "x/Model-13B", "parameters": 13000000000}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn text_formulas() {
        let reference = reference();
        // 80 tokens of a 13B model at 2048 context: 80 × 1 × 13/100 × 3.4.
        assert_eq!(text_estimate(80, 2048, &[], &reference), Kudos(3536));
        let known = ["x/Model-13B".to_string()];
        assert_eq!(text_estimate(80, 2048, &known, &reference), Kudos(3536));
        assert_eq!(
            text_reward(80, "x/Model-13B", 2048, &reference, false),
            Kudos(3536)
        );
        assert_eq!(delivered_tokens("short", 80), 20);
        assert_eq!(delivered_tokens(&"a".repeat(400), 80), 80);
        assert_eq!(delivered_tokens(&"a".repeat(200), 80), 50);
    }

    #[test]
    fn a_model_outside_the_reference_earns_the_floor_whatever_its_name() {
        let reference = reference();
        // The context term alone (3.4 at 2048), however many tokens and whatever size the
        // name claims.
        let farm = "Farm-Llama-405B";
        assert_eq!(text_reward(400, farm, 2048, &reference, false), Kudos(340));
        assert_eq!(text_reward(20, farm, 2048, &reference, false), Kudos(340));
        assert_eq!(
            text_estimate(400, 2048, &[farm.into()], &reference),
            Kudos(340)
        );
        // A trusted owner's worker earns a 2.7B model's rate: 100 × 2.7/100 × 3.4.
        assert_eq!(text_reward(100, farm, 2048, &reference, true), Kudos(918));
    }

    #[test]
    fn image_formula() {
        // 512 × 512 × 30 steps = 7.86432 megapixelsteps.
        assert_eq!(image_kudos(512, 512, 30, false, 0), Kudos(983));
        assert_eq!(
            image_kudos(512, 512, 30, true, 1),
            Kudos::from_f64(9.8304 * 1.3 * 1.2)
        );
    }

    #[test]
    fn amounts_round_to_hundredths() {
        assert_eq!(Kudos::from_f64(0.125).0, 13);
        assert_eq!(Kudos::from_f64(-0.125).0, -13);
        assert_eq!(Kudos::from_f64(f64::NAN), Kudos::ZERO);
        assert_eq!(Kudos(1234).to_string(), "12.34");
    }
}
