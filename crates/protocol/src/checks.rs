//! Potluck: the wire types of verification. A share of untrusted workers' text jobs is scored by
//! a trusted worker serving the same model: it gets a check job (a pop whose payload carries a
//! [`ScoreCheck`]), runs one prefill over the prompt and the checked tokens, and submits a
//! [`TextScores`] instead of a generation. The server turns the scores into a verdict.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// What a check job asks the checker to score: the generation another worker submitted for
/// the job's prompt and parameters (in the pop's `payload`, as for any job).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct ScoreCheck {
    /// The text the checked worker submitted.
    pub text: String,
    /// The token ids it generated (end of text included, when it stopped there), as Potluck
    /// workers report them; without them the checker tokenizes `text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
}

/// Where the scored tokens came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScoredTokens {
    /// The ids the checked worker reported.
    #[default]
    Reported,
    /// The checker's tokenization of the submitted text (for workers that report no ids; a
    /// weaker check, since a text can have several tokenizations).
    Tokenized,
}

/// A checker's answer to a [`ScoreCheck`], submitted as `scores` in place of a generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct TextScores {
    pub tokens: ScoredTokens,
    /// With reported ids: whether they decode, formatted as the job's parameters ask, to the
    /// submitted text. Always true for tokenized text.
    pub text_matches: bool,
    /// The request's sampling is greedy (temperature 0 or top-k 1): every token must be the
    /// best one.
    pub greedy: bool,
    /// One per scored token, in order.
    pub scores: Vec<TokenScore>,
}

/// How one generated token stands under the model and the request's own sampling rules, at its
/// position (the prompt and the tokens before it as context). Logits are after the repetition,
/// presence and frequency penalties; probabilities are of the penalised logits divided by the
/// request's temperature (1 for greedy requests), over the whole vocabulary.
///
/// The margins say how far inside (positive) or outside (negative) each of the request's
/// limits the token is; a limit the request does not set has none. A greedy request
/// (temperature 0 or top_k 1) has only `greedy_margin`; its ties go to the lowest id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(default)]
pub struct TokenScore {
    pub token: u32,
    /// Tokens with a strictly higher logit.
    pub rank: u32,
    /// Natural log of the token's probability.
    pub logprob: f32,
    /// The distribution's entropy (nats): the expected `-logprob` of an honest draw.
    pub entropy: f32,
    /// The variance of `-logprob` under the distribution.
    pub nll_variance: f32,
    /// The token's logit minus the highest logit (0 for the best token, never positive): what a
    /// greedy request is checked with.
    pub greedy_margin: f32,
    /// The token's logit minus the `top_k`-th highest logit (equal logits counted as many);
    /// inside when ≥ 0. None unless 0 < top_k < the vocabulary's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k_margin: Option<f32>,
    /// `top_p` minus the probability, among the top-k candidates (all tokens without top_k)
    /// renormalised, of the candidates whose logit / temperature is strictly higher; inside
    /// when > 0; `top_p − 1` outside the top-k. In probability, not logits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p_margin: Option<f32>,
    /// The token's log probability minus `ln(min_p × the best probability)`; inside when ≥ 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_p_margin: Option<f32>,
}
