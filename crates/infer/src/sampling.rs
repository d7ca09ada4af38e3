//! How the next token is chosen. The choosing runs on the GPU (`shaders/sample.wgsl`); this is
//! its parameters and their checks.

use bytemuck::{Pod, Zeroable};

use crate::error::{InferError, Result};

/// Sampling settings, with the usual meanings (those of transformers and llama.cpp).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Divides the logits; 0 always takes the most likely token (greedy).
    pub temperature: f32,
    /// Only the k most likely tokens; 0 for all.
    pub top_k: u32,
    /// Only the most likely tokens whose probabilities add up to this; 1 for all.
    pub top_p: f32,
    /// Only tokens at least this many times as likely as the most likely one; 0 for all.
    pub min_p: f32,
    /// A recent token's logit is divided by this when positive, multiplied when negative; 1: off.
    pub repetition_penalty: f32,
    /// Subtracted once from the logit of every recent token (OpenAI's presence penalty).
    pub presence_penalty: f32,
    /// Subtracted from a recent token's logit per occurrence (OpenAI's frequency penalty).
    pub frequency_penalty: f32,
    /// How many positions back (prompt included) the penalties look.
    pub penalty_window: u32,
    /// The same seed, prompt and settings give the same tokens on the same device.
    pub seed: u64,
    /// Never choose the model's end-of-text tokens, so the text runs to `max_tokens` (KoboldAI's
    /// `use_default_badwordsids`).
    pub ban_end_of_text: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_window: 64,
            seed: 0,
            ban_end_of_text: false,
        }
    }
}

/// The sampler's uniform, laid out as `Params` in sample.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct SamplerParams {
    vocab: u32,
    greedy: u32,
    temperature: f32,
    top_k: u32,
    top_p: f32,
    min_p: f32,
    repetition_penalty: f32,
    presence_penalty: f32,
    frequency_penalty: f32,
    penalty_window: u32,
    seed_lo: u32,
    seed_hi: u32,
    /// Token ids never chosen; [`NO_TOKEN`] pads the unused places.
    banned: [u32; MAX_BANNED],
}

/// How many tokens the sampler can ban: the end-of-text tokens of the models we know number at
/// most three (Llama 3's end of text, of turn and of message).
const MAX_BANNED: usize = 4;
const NO_TOKEN: u32 = u32::MAX;

impl SamplingParams {
    pub fn greedy() -> Self {
        Self::default()
    }

    /// Whether these settings always pick the most likely token.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0 || self.top_k == 1
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(InferError::InvalidRequest(format!("sampling: {what}")));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature must be 0 or more");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if !(0.0..1.0).contains(&self.min_p) {
            return bad("min_p must be in [0, 1)");
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad("repetition_penalty must be more than 0");
        }
        if !(self.presence_penalty.is_finite() && self.frequency_penalty.is_finite()) {
            return bad("penalties must be finite");
        }
        Ok(())
    }

    /// The tokens these settings never choose, of a model whose end-of-text tokens are
    /// `stop_ids`.
    pub(crate) fn banned<'a>(&self, stop_ids: &'a [u32]) -> &'a [u32] {
        if self.ban_end_of_text {
            &stop_ids[..stop_ids.len().min(MAX_BANNED)]
        } else {
            &[]
        }
    }

    pub(crate) fn to_gpu(&self, vocab: u32, stop_ids: &[u32]) -> SamplerParams {
        let mut banned = [NO_TOKEN; MAX_BANNED];
        for (slot, &id) in banned.iter_mut().zip(self.banned(stop_ids)) {
            *slot = id;
        }
        SamplerParams {
            vocab,
            greedy: u32::from(self.is_greedy()),
            temperature: if self.is_greedy() {
                1.0
            } else {
                self.temperature
            },
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repetition_penalty,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            penalty_window: self.penalty_window,
            seed_lo: self.seed as u32,
            seed_hi: (self.seed >> 32) as u32,
            banned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_settings_outside_their_range() {
        assert!(SamplingParams::default().validate().is_ok());
        for bad in [
            SamplingParams {
                temperature: -1.0,
                ..Default::default()
            },
            SamplingParams {
                temperature: f32::NAN,
                ..Default::default()
            },
            SamplingParams {
                top_p: 0.0,
                ..Default::default()
            },
            SamplingParams {
                top_p: 1.5,
                ..Default::default()
            },
            SamplingParams {
                min_p: 1.0,
                ..Default::default()
            },
            SamplingParams {
                repetition_penalty: 0.0,
                ..Default::default()
            },
            SamplingParams {
                frequency_penalty: f32::INFINITY,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn greedy_is_temperature_zero_or_top_k_one() {
        assert!(SamplingParams::greedy().is_greedy());
        assert!(SamplingParams {
            temperature: 0.7,
            top_k: 1,
            ..Default::default()
        }
        .is_greedy());
        assert!(!SamplingParams {
            temperature: 0.7,
            ..Default::default()
        }
        .is_greedy());
    }
}
