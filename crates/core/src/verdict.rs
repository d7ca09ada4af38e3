//! Verdicts on checked work: pure functions from what a check found to passed, failed or
//! undecided. How checks are chosen and what a verdict moves is in `horde/trust.rs`.
//!
//! A scored text passes when every token sits inside the request's own sampling limits (within
//! a tolerance for numbers that differ between devices) and the whole is not too improbable
//! under the model. An honest sampler never leaves its limits, and a greedy one always takes
//! the best token; junk, another model, a sampler that ignores the limits, or a replayed result
//! cannot keep that up for long. The improbability test (a one-sided z-test of the tokens'
//! surprise against the model's entropy) covers requests without limits.

use crate::policy::TrustPolicy;
use protocol::{ScoredTokens, TextScores, TokenScore};

/// A check's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Passed(Findings),
    Failed(Findings),
    /// The check cannot tell (a redone text differs, which an honest worker whose back end is
    /// not deterministic may cause).
    Inconclusive(Findings),
}

/// What a check found, for the record and the log; no text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub reason: &'static str,
    /// Tokens scored (or compared).
    pub tokens: usize,
    /// Tokens outside the request's limits.
    pub violations: usize,
    /// How improbable the generation is under the model, in standard deviations (positive:
    /// less probable than an honest draw).
    pub surprise: f64,
}

impl Verdict {
    pub fn findings(&self) -> &Findings {
        match self {
            Verdict::Passed(f) | Verdict::Failed(f) | Verdict::Inconclusive(f) => f,
        }
    }
}

/// The verdict on a scored text.
pub fn scored_text(scores: &TextScores, policy: &TrustPolicy) -> Verdict {
    let tokens = scores.scores.len();
    let violations = scores
        .scores
        .iter()
        .filter(|s| outside_limits(s, scores.greedy, policy))
        .count();
    let findings = |reason| Findings {
        reason,
        tokens,
        violations,
        surprise: surprise(&scores.scores),
    };
    if !scores.text_matches {
        return Verdict::Failed(findings("the text is not what its tokens say"));
    }
    if tokens == 0 {
        return Verdict::Failed(findings("nothing to score: not even an end of text"));
    }
    let allowed = match scores.tokens {
        ScoredTokens::Reported => 0,
        // A text tokenized again may be split differently from how it was generated.
        ScoredTokens::Tokenized => (tokens as f64 * policy.tokenized_violation_share) as usize,
    };
    if violations > allowed {
        return Verdict::Failed(findings("tokens outside the request's sampling limits"));
    }
    if findings("").surprise > policy.max_surprise {
        return Verdict::Failed(findings("too improbable under the model"));
    }
    Verdict::Passed(findings("every token within the limits"))
}

/// Whether a token breaks one of the request's limits by more than the tolerance.
fn outside_limits(s: &TokenScore, greedy: bool, policy: &TrustPolicy) -> bool {
    let logit = -policy.logit_tolerance;
    if greedy {
        return s.greedy_margin < logit;
    }
    s.top_k_margin.is_some_and(|m| m < logit)
        || s.top_p_margin.is_some_and(|m| m < -policy.mass_tolerance)
        || s.min_p_margin.is_some_and(|m| m < logit)
}

/// The tokens' total surprise (`-logprob`) against what honest draws would give (the sum of
/// the entropies), in standard deviations of that sum. Truncated and greedy sampling make an
/// honest text less surprising, never more, so only a large positive value means anything.
fn surprise(scores: &[TokenScore]) -> f64 {
    let (mut excess, mut variance) = (0.0_f64, 0.0_f64);
    for s in scores {
        excess += f64::from(-s.logprob) - f64::from(s.entropy);
        variance += f64::from(s.nll_variance.max(0.0));
    }
    // A floor on the spread, so that near-certain distributions (variance ~0) do not turn a
    // rounding difference into a huge score.
    excess / variance.max(scores.len() as f64 * 0.25).sqrt().max(1e-6)
}

/// The verdict on a text generated again with the same request and seed by a trusted worker.
/// The same engine gives the same tokens; another back end may not, so a difference is
/// undecided rather than failed.
pub fn redone_text(
    expected: &[u32],
    again: &[u32],
    expected_text: &str,
    again_text: &str,
) -> Verdict {
    let tokens = expected.len().max(again.len());
    let same = if expected.is_empty() || again.is_empty() {
        expected_text == again_text
    } else {
        let common = expected
            .iter()
            .zip(again)
            .take_while(|(a, b)| a == b)
            .count();
        // Devices may part ways at a near tie late in the text; before it, they agree.
        common * 2 >= tokens
    };
    let findings = |reason| Findings {
        reason,
        tokens,
        ..Findings::default()
    };
    if same {
        Verdict::Passed(findings("generated the same again"))
    } else {
        Verdict::Inconclusive(findings("generated differently again"))
    }
}

/// The verdict on an image generated again with the same request and seed: the same picture,
/// give or take what encoders and devices change, is within a few bits of perceptual hash.
pub fn redone_image(distance: u32, policy: &TrustPolicy) -> Verdict {
    let findings = |reason| Findings {
        reason,
        violations: distance as usize,
        ..Findings::default()
    };
    if distance <= policy.image_hash_distance {
        Verdict::Passed(findings("the same picture again"))
    } else {
        Verdict::Failed(findings("a different picture for the same seed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn honest(logprob: f32) -> TokenScore {
        TokenScore {
            logprob,
            entropy: 2.0,
            nll_variance: 1.0,
            top_k_margin: Some(1.0),
            top_p_margin: Some(0.3),
            ..TokenScore::default()
        }
    }

    fn scores(scores: Vec<TokenScore>) -> TextScores {
        TextScores {
            tokens: ScoredTokens::Reported,
            text_matches: true,
            greedy: false,
            scores,
        }
    }

    #[test]
    fn an_honest_text_passes() {
        let policy = TrustPolicy::default();
        let text = scores((0..40).map(|i| honest(-1.0 - (i % 3) as f32)).collect());
        assert!(matches!(scored_text(&text, &policy), Verdict::Passed(_)));
    }

    #[test]
    fn one_token_outside_a_limit_fails_a_reported_text() {
        let policy = TrustPolicy::default();
        let mut tokens: Vec<_> = (0..40).map(|_| honest(-2.0)).collect();
        tokens[7].top_p_margin = Some(-0.2);
        let verdict = scored_text(&scores(tokens), &policy);
        assert!(matches!(verdict, Verdict::Failed(_)));
        assert_eq!(verdict.findings().violations, 1);
    }

    #[test]
    fn a_difference_within_the_tolerance_is_no_violation() {
        let policy = TrustPolicy::default();
        let mut tokens: Vec<_> = (0..10).map(|_| honest(-2.0)).collect();
        tokens[0].top_k_margin = Some(-0.01);
        tokens[1].top_p_margin = Some(-0.005);
        assert!(matches!(
            scored_text(&scores(tokens), &policy),
            Verdict::Passed(_)
        ));
    }

    #[test]
    fn greedy_requests_need_the_best_token() {
        let policy = TrustPolicy::default();
        let mut text = scores(vec![TokenScore::default(); 5]);
        text.greedy = true;
        assert!(matches!(scored_text(&text, &policy), Verdict::Passed(_)));
        text.scores[2].greedy_margin = -3.0;
        assert!(matches!(scored_text(&text, &policy), Verdict::Failed(_)));
    }

    #[test]
    fn improbable_text_fails_even_without_limits() {
        let policy = TrustPolicy::default();
        // Junk: each token far less probable than the model's usual choices.
        let junk: Vec<_> = (0..30)
            .map(|_| TokenScore {
                logprob: -10.0,
                ..honest(0.0)
            })
            .map(|s| TokenScore {
                top_k_margin: None,
                top_p_margin: None,
                ..s
            })
            .collect();
        let verdict = scored_text(&scores(junk), &policy);
        assert!(matches!(verdict, Verdict::Failed(_)), "{verdict:?}");
        assert!(verdict.findings().surprise > 5.0);
    }

    #[test]
    fn a_text_that_is_not_its_tokens_fails() {
        let policy = TrustPolicy::default();
        let mut text = scores(vec![honest(-1.0); 5]);
        text.text_matches = false;
        assert!(matches!(scored_text(&text, &policy), Verdict::Failed(_)));
        assert!(matches!(
            scored_text(&scores(Vec::new()), &policy),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn a_tokenized_text_may_have_a_few_violations() {
        let policy = TrustPolicy::default();
        let mut tokens: Vec<_> = (0..40).map(|_| honest(-2.0)).collect();
        tokens[3].top_k_margin = Some(-5.0);
        let mut text = scores(tokens);
        text.tokens = ScoredTokens::Tokenized;
        assert!(matches!(scored_text(&text, &policy), Verdict::Passed(_)));
        for s in text.scores.iter_mut().take(10) {
            s.top_k_margin = Some(-5.0);
        }
        assert!(matches!(scored_text(&text, &policy), Verdict::Failed(_)));
    }

    #[test]
    fn redone_texts_and_images() {
        let policy = TrustPolicy::default();
        assert!(matches!(
            redone_text(&[1, 2, 3, 4], &[1, 2, 3, 4], "", ""),
            Verdict::Passed(_)
        ));
        assert!(matches!(
            redone_text(&[1, 2, 3, 4], &[1, 2, 3, 9], "", ""),
            Verdict::Passed(_)
        ));
        assert!(matches!(
            redone_text(&[1, 2, 3, 4], &[7, 8, 9, 9], "", ""),
            Verdict::Inconclusive(_)
        ));
        assert!(matches!(
            redone_text(&[], &[], "a", "a"),
            Verdict::Passed(_)
        ));
        assert!(matches!(redone_image(3, &policy), Verdict::Passed(_)));
        assert!(matches!(redone_image(30, &policy), Verdict::Failed(_)));
    }
}
