//! How a generated token stands under the sampling rules that should have chosen it: the
//! sampler's arithmetic (`shaders/sample.wgsl`) on the CPU, for one position's logits, with
//! margins that say how far inside or outside each of the rules' limits the token is. An honest
//! sampler never leaves the limits; the margins leave room for another device's rounding.
//!
//! As the shader does, in order: the penalties for the tokens of the last `penalty_window`
//! positions; then greedy requests take the highest logit, and the others divide the logits by
//! the temperature and draw among the candidates: the `top_k` highest values, of those the
//! fewest highest holding `top_p` of their (renormalised) probability, and the values at least
//! `ln(min_p)` below the highest.

use crate::sampling::SamplingParams;

/// How one generated token stands under the model and the request's own sampling rules, at its
/// position. Logits are after the penalties; probabilities are of the penalised logits divided
/// by the temperature (1 for greedy requests), over the whole vocabulary. A margin is positive
/// inside its limit and negative outside; a limit the request does not set has none, and a
/// greedy request has only `greedy_margin`.
#[derive(Clone, Debug, PartialEq)]
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
    /// The token's logit minus the highest logit: 0 for the best token, never positive.
    pub greedy_margin: f32,
    /// The token's logit minus the `top_k`-th highest logit (ties counted as many): a
    /// candidate when `>= 0`. None without a `top_k` below the vocabulary's size.
    pub top_k_margin: Option<f32>,
    /// `top_p` minus the probability, among the top-k candidates (all tokens without `top_k`)
    /// renormalised, of the candidates whose value (logit / temperature) is strictly higher
    /// than the token's: a candidate when `> 0` (at exactly 0 the ones above already hold
    /// `top_p`). A token outside the top-k has `top_p - 1`. None without a `top_p` below 1.
    pub top_p_margin: Option<f32>,
    /// The token's log probability minus `ln(min_p × the best probability)`, that is its value
    /// minus the highest value minus `ln(min_p)`: a candidate when `>= 0`. None without a
    /// `min_p` above 0.
    pub min_p_margin: Option<f32>,
}

/// Scores the token at `position` of `history` (prompt and generated tokens) from the logits
/// the model gave for it (those of the position before), which this penalises in place for the
/// tokens of the `penalty_window` positions before it, and for the `banned` tokens (which it
/// never chooses), as the sampler does.
pub(crate) fn score_position(
    logits: &mut [f32],
    history: &[u32],
    position: usize,
    sampling: &SamplingParams,
    banned: &[u32],
) -> TokenScore {
    let window = position.saturating_sub(sampling.penalty_window as usize)..position;
    penalise(logits, &history[window], sampling);
    score(logits, history[position], sampling, banned)
}

/// Applies the repetition, presence and frequency penalties for the `recent` tokens, with the
/// sampler's f32 arithmetic.
fn penalise(logits: &mut [f32], recent: &[u32], sampling: &SamplingParams) {
    let mut recent = recent.to_vec();
    recent.sort_unstable();
    for run in recent.chunk_by(|a, b| a == b) {
        let l = &mut logits[run[0] as usize];
        *l = if *l > 0.0 {
            *l / sampling.repetition_penalty
        } else {
            *l * sampling.repetition_penalty
        };
        *l -= sampling.presence_penalty + sampling.frequency_penalty * run.len() as f32;
    }
}

/// The value the sampler gives a banned token, after the temperature: far below any other,
/// finite (so that scores stay numbers in JSON), and with a weight of 0.
const BANNED_VALUE: f32 = -3.0e38;

/// Scores `token` among penalised `logits`, with the `banned` tokens out of the running.
fn score(logits: &[f32], token: u32, sampling: &SamplingParams, banned: &[u32]) -> TokenScore {
    let greedy = sampling.is_greedy();
    // What the sampler draws from: the logits over the temperature (as they are for greedy).
    let mut values: Vec<f32> = if greedy {
        logits.to_vec()
    } else {
        logits.iter().map(|&l| l / sampling.temperature).collect()
    };
    let mut logits = logits.to_vec();
    for &id in banned {
        if let (Some(logit), Some(value)) =
            (logits.get_mut(id as usize), values.get_mut(id as usize))
        {
            (*logit, *value) = (BANNED_VALUE, BANNED_VALUE);
        }
    }
    let own = logits[token as usize];
    let best = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let softmax = Softmax::of(&values);
    let (entropy, nll_variance) = softmax.entropy_and_variance(&values);
    let own_value = values[token as usize];

    let top_k = (!greedy && sampling.top_k > 0 && (sampling.top_k as usize) < logits.len())
        .then(|| kth_highest(&logits, sampling.top_k as usize));
    // Dividing by the temperature keeps the order, so the k-th value is the k-th logit's.
    let candidate_floor = match top_k {
        Some(kth) => kth / sampling.temperature,
        None => f32::NEG_INFINITY,
    };
    let top_p_margin = (!greedy && sampling.top_p < 1.0).then(|| {
        let (mut candidates, mut above) = (0.0, 0.0);
        for (&value, &weight) in values.iter().zip(&softmax.weights) {
            if value >= candidate_floor {
                candidates += weight;
                if value > own_value {
                    above += weight;
                }
            }
        }
        (f64::from(sampling.top_p) - above / candidates) as f32
    });
    let min_p_margin = (!greedy && sampling.min_p > 0.0).then(|| {
        (f64::from(own_value) - f64::from(softmax.max) - f64::from(sampling.min_p).ln()) as f32
    });
    TokenScore {
        token,
        rank: logits.iter().filter(|&&l| l > own).count() as u32,
        logprob: (f64::from(own_value) - softmax.log_sum) as f32,
        entropy: entropy as f32,
        nll_variance: nll_variance as f32,
        greedy_margin: own - best,
        top_k_margin: top_k.map(|kth| own - kth),
        top_p_margin,
        min_p_margin,
    }
}

/// The k-th highest of `values` (1 for the highest), counting equal values as many.
fn kth_highest(values: &[f32], k: usize) -> f32 {
    let mut sorted = values.to_vec();
    let (_, kth, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    *kth
}

/// A softmax in f64: each value's weight relative to the highest value, and the log of the
/// normaliser.
struct Softmax {
    max: f32,
    /// `exp(value - max)`.
    weights: Vec<f64>,
    sum: f64,
    /// `ln(sum(exp(value)))`.
    log_sum: f64,
}

impl Softmax {
    fn of(values: &[f32]) -> Softmax {
        let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f64> = values
            .iter()
            .map(|&v| (f64::from(v) - f64::from(max)).exp())
            .collect();
        let sum: f64 = weights.iter().sum();
        Softmax {
            max,
            log_sum: f64::from(max) + sum.ln(),
            weights,
            sum,
        }
    }

    /// The mean and the variance of `-logprob`, in two passes (the variance around the mean,
    /// not a difference of large sums).
    fn entropy_and_variance(&self, values: &[f32]) -> (f64, f64) {
        let nll = |v: f32| self.log_sum - f64::from(v);
        let expect = |f: &dyn Fn(f32) -> f64| -> f64 {
            let total: f64 = values
                .iter()
                .zip(&self.weights)
                .filter(|(_, &w)| w > 0.0)
                .map(|(&v, &w)| w * f(v))
                .sum();
            total / self.sum
        };
        let entropy = expect(&nll);
        let variance = expect(&|v| (nll(v) - entropy).powi(2));
        (entropy, variance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f32 = 1e-5;

    fn sampling(temperature: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            ..SamplingParams::default()
        }
    }

    fn scores(logits: &[f32], sampling: &SamplingParams) -> Vec<TokenScore> {
        (0..logits.len() as u32)
            .map(|token| score(logits, token, sampling, &[]))
            .collect()
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < EPS
    }

    /// Logits whose softmax (at temperature 1) is `p`.
    fn logits_of(p: &[f64]) -> Vec<f32> {
        p.iter().map(|&p| p.ln() as f32).collect()
    }

    #[test]
    fn greedy_requests_have_only_the_greedy_margin() {
        let logits = [1.0, 3.0, 2.0, 3.0];
        let s = scores(&logits, &SamplingParams::greedy());
        assert_eq!(
            s.iter().map(|s| s.greedy_margin).collect::<Vec<_>>(),
            [-2.0, 0.0, -1.0, 0.0]
        );
        // Ties share a rank: tokens strictly above.
        assert_eq!(s.iter().map(|s| s.rank).collect::<Vec<_>>(), [3, 0, 2, 0]);
        assert!(s
            .iter()
            .all(|s| s.top_k_margin.is_none() && s.top_p_margin.is_none()));
        // top_k 1 is greedy too, whatever else is set; its probabilities are at temperature 1.
        let top1 = SamplingParams {
            top_k: 1,
            top_p: 0.5,
            min_p: 0.5,
            ..sampling(0.3)
        };
        let s = score(&logits, 2, &top1, &[]);
        assert_eq!((s.greedy_margin, s.min_p_margin), (-1.0, None));
        assert_eq!(
            s.logprob,
            score(&logits, 2, &SamplingParams::greedy(), &[]).logprob
        );
    }

    #[test]
    fn limits_the_request_does_not_set_have_no_margin() {
        let s = score(&[1.0, 2.0, 3.0], 0, &sampling(1.0), &[]);
        assert_eq!(
            (s.top_k_margin, s.top_p_margin, s.min_p_margin),
            (None, None, None)
        );
        assert_eq!(s.greedy_margin, -2.0);
        // A top_k of the whole vocabulary or more limits nothing, as in the sampler.
        let all = SamplingParams {
            top_k: 3,
            ..sampling(1.0)
        };
        assert_eq!(score(&[1.0, 2.0, 3.0], 0, &all, &[]).top_k_margin, None);
    }

    #[test]
    fn the_top_k_margin_is_zero_at_the_kth_logit() {
        let top2 = SamplingParams {
            top_k: 2,
            ..sampling(0.5)
        };
        let margins: Vec<f32> = scores(&[5.0, 4.0, 3.0, 1.0], &top2)
            .iter()
            .map(|s| s.top_k_margin.unwrap())
            .collect();
        // In logits, not divided by the temperature.
        assert_eq!(margins, [1.0, 0.0, -1.0, -3.0]);
        // Ties at the k-th logit are all candidates, as in the sampler.
        let margins: Vec<f32> = scores(&[5.0, 4.0, 4.0, 1.0], &top2)
            .iter()
            .map(|s| s.top_k_margin.unwrap())
            .collect();
        assert_eq!(margins, [1.0, 0.0, 0.0, -3.0]);
    }

    #[test]
    fn the_top_p_margin_is_top_p_minus_the_mass_above() {
        let logits = logits_of(&[0.5, 0.3, 0.2]);
        let margins = |top_p: f32, top_k: u32| -> Vec<f32> {
            let params = SamplingParams {
                top_p,
                top_k,
                ..sampling(1.0)
            };
            scores(&logits, &params)
                .iter()
                .map(|s| s.top_p_margin.unwrap())
                .collect()
        };
        let m = margins(0.6, 0);
        assert!(
            close(m[0], 0.6) && close(m[1], 0.1) && close(m[2], -0.2),
            "{m:?}"
        );
        // At exactly the mass above, the token is out: those above hold top_p already.
        let m = margins(0.5, 0);
        assert!(close(m[1], 0.0), "{m:?}");
        // Among the top 2, renormalised: 0.625 and 0.375; the third is outside them all.
        let m = margins(0.7, 2);
        assert!(
            close(m[0], 0.7) && close(m[1], 0.075) && close(m[2], -0.3),
            "{m:?}"
        );
    }

    #[test]
    fn the_top_p_mass_is_of_the_tempered_distribution() {
        let logits = logits_of(&[0.5, 0.3, 0.2]);
        let params = SamplingParams {
            top_p: 0.9,
            ..sampling(2.0)
        };
        // At temperature 2 the probabilities are proportional to the square roots.
        let roots: Vec<f64> = [0.5f64, 0.3, 0.2].iter().map(|p| p.sqrt()).collect();
        let best = roots[0] / roots.iter().sum::<f64>();
        let m = score(&logits, 1, &params, &[]).top_p_margin.unwrap();
        assert!(close(m, (0.9 - best) as f32), "{m}");
    }

    #[test]
    fn ties_are_not_above_a_token() {
        let params = SamplingParams {
            top_p: 0.4,
            ..sampling(1.0)
        };
        let s = scores(&logits_of(&[0.4, 0.4, 0.2]), &params);
        // Each of the tied best has nothing strictly above it.
        assert!(close(s[0].top_p_margin.unwrap(), 0.4));
        assert!(close(s[1].top_p_margin.unwrap(), 0.4));
        assert!(close(s[2].top_p_margin.unwrap(), -0.4));
    }

    #[test]
    fn the_min_p_margin_compares_with_min_p_times_the_best() {
        let logits = logits_of(&[0.5, 0.3, 0.2]);
        let margin = |min_p: f32, token: u32, temperature: f32| {
            let params = SamplingParams {
                min_p,
                ..sampling(temperature)
            };
            score(&logits, token, &params, &[]).min_p_margin.unwrap()
        };
        // 0.2 is exactly 0.4 x 0.5.
        assert!(close(margin(0.4, 2, 1.0), 0.0));
        assert!(close(margin(0.5, 2, 1.0), (0.2f32 / 0.25).ln()));
        assert!(close(margin(0.5, 1, 1.0), (0.3f32 / 0.25).ln()));
        assert!(close(margin(0.5, 0, 1.0), -(0.5f32.ln())));
        // Probabilities at the temperature: at 2, p(2)/p(0) is sqrt(0.4).
        assert!(close(margin(0.5, 2, 2.0), 0.5 * 0.4f32.ln() - 0.5f32.ln()));
    }

    #[test]
    fn logprob_entropy_and_variance_are_of_the_tempered_distribution() {
        let uniform = score(&[2.0; 4], 1, &sampling(0.7), &[]);
        assert!(close(uniform.logprob, -(4.0f32.ln())));
        assert!(close(uniform.entropy, 4.0f32.ln()));
        assert!(close(uniform.nll_variance, 0.0));

        let p = [0.75f64, 0.25];
        let s = score(&logits_of(&p), 1, &sampling(1.0), &[]);
        let entropy = -(p[0] * p[0].ln() + p[1] * p[1].ln());
        let variance = p[0] * p[0].ln().powi(2) + p[1] * p[1].ln().powi(2) - entropy.powi(2);
        assert!(close(s.logprob, 0.25f32.ln()));
        assert!(close(s.entropy, entropy as f32));
        assert!(close(s.nll_variance, variance as f32));

        // At temperature 2 the logits [0, -ln 4] become [0, -ln 2]: probabilities 2/3 and 1/3.
        let s = score(&[0.0, -(4.0f32.ln())], 1, &sampling(2.0), &[]);
        assert!(close(s.logprob, (1.0f32 / 3.0).ln()));
    }

    #[test]
    fn the_distribution_holds_up_with_extreme_logits() {
        let mut logits = vec![-1e4f32; 50_000];
        logits[7] = 30.0;
        let s = score(&logits, 7, &sampling(1.0), &[]);
        assert_eq!((s.logprob, s.entropy, s.nll_variance), (0.0, 0.0, 0.0));
        let s = score(&logits, 8, &sampling(1.0), &[]);
        assert!(close(s.logprob, -1e4 - 30.0) && s.logprob.is_finite());
    }

    #[test]
    fn penalties_apply_to_the_window_before_the_position() {
        let params = SamplingParams {
            repetition_penalty: 2.0,
            presence_penalty: 0.5,
            frequency_penalty: 0.25,
            penalty_window: 3,
            ..SamplingParams::greedy()
        };
        // Positions 0..5 of the history; token 5 is scored, its window is positions 2, 3, 4.
        let history = [0, 3, 1, 2, 1, 4];
        let mut logits = vec![4.0, 4.0, -1.0, 1.0, 2.0];
        let s = score_position(&mut logits, &history, 5, &params, &[]);
        // Token 0 and 3 are outside the window; 1 (twice): 4 / 2 - 0.5 - 0.5; 2 (once, a
        // negative logit): -1 x 2 - 0.5 - 0.25.
        assert_eq!(logits, [4.0, 1.0, -2.75, 1.0, 2.0]);
        assert_eq!((s.token, s.greedy_margin, s.rank), (4, -2.0, 1));
        // A window longer than the history takes all of it.
        let mut logits = vec![4.0, 4.0, -1.0, 1.0, 2.0];
        let long = SamplingParams {
            penalty_window: 100,
            ..params
        };
        score_position(&mut logits, &history, 5, &long, &[]);
        assert_eq!(logits, [1.25, 1.0, -2.75, -0.25, 2.0]);
    }

    #[test]
    fn neutral_penalties_change_nothing() {
        let mut logits = vec![0.3, -0.7, 1.9];
        score_position(&mut logits, &[0, 1, 2, 1], 3, &sampling(1.0), &[]);
        assert_eq!(logits, [0.3, -0.7, 1.9]);
    }

    /// The sampler's candidates, written the other way round: sort, keep the top k (and ties),
    /// then tokens while the mass before them is under top_p, then those within min_p of the
    /// best.
    fn candidates(logits: &[f32], params: &SamplingParams) -> Vec<bool> {
        let values: Vec<f64> = logits
            .iter()
            .map(|&l| f64::from(l / params.temperature))
            .collect();
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let max = values[order[0]];
        let mut inside = vec![false; values.len()];
        let k = match params.top_k {
            0 => values.len(),
            k => (k as usize).min(values.len()),
        };
        let kth = values[order[k - 1]];
        let kept: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| values[i] >= kth)
            .collect();
        let total: f64 = kept.iter().map(|&i| (values[i] - max).exp()).sum();
        for &i in &kept {
            let before: f64 = kept
                .iter()
                .filter(|&&j| values[j] > values[i])
                .map(|&j| (values[j] - max).exp())
                .sum();
            let nucleus = params.top_p >= 1.0 || before / total < f64::from(params.top_p);
            let min_p = params.min_p <= 0.0 || values[i] - max >= f64::from(params.min_p).ln();
            inside[i] = nucleus && min_p;
        }
        inside
    }

    /// Uniform floats in [0, 1), reproducibly.
    fn noise(seed: u64) -> impl FnMut() -> f32 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    #[test]
    fn the_margins_say_exactly_which_tokens_the_sampler_may_draw() {
        let mut next = noise(1);
        let mut drawable = 0;
        for case in 0..300 {
            let vocab = 2 + (next() * 60.0) as usize;
            // Coarse logits, so that ties happen.
            let logits: Vec<f32> = (0..vocab).map(|_| (next() * 24.0).round() / 4.0).collect();
            let params = SamplingParams {
                temperature: 0.25 + next() * 2.0,
                top_k: [0, 2, 5, 20][case % 4],
                top_p: [1.0, 0.9, 0.5, 0.2][case / 4 % 4],
                min_p: [0.0, 0.05, 0.3][case / 16 % 3],
                ..SamplingParams::default()
            };
            let inside = candidates(&logits, &params);
            for (token, &inside) in inside.iter().enumerate() {
                let s = score(&logits, token as u32, &params, &[]);
                let margins_say = s.top_k_margin.is_none_or(|m| m >= 0.0)
                    && s.top_p_margin.is_none_or(|m| m > 0.0)
                    && s.min_p_margin.is_none_or(|m| m >= 0.0);
                assert_eq!(
                    margins_say, inside,
                    "case {case}, token {token}: {s:?} {params:?} {logits:?}"
                );
                drawable += usize::from(inside);
            }
        }
        assert!(drawable > 600, "{drawable} drawable tokens");
    }
}
