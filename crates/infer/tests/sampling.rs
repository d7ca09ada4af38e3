//! The GPU sampler against its definition: every sampled token is checked against the logits
//! the model gives for that position (computed again, teacher-forced), and penalised greedy
//! decoding against the same penalties applied on the CPU.

mod common;

use std::ops::ControlFlow;
use std::sync::OnceLock;

use common::{argmax, fixtures, load};
use infer::{GenerateRequest, Model, SamplingParams, SessionOptions};

const PROMPT: &str = "Once upon a time";

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| load(fixtures().join("tiny-llama")))
}

fn generate(sampling: SamplingParams, max_tokens: usize) -> Vec<u32> {
    let mut request = GenerateRequest::new(PROMPT, max_tokens);
    request.sampling = sampling;
    request.stop_at_eos = false;
    pollster::block_on(model().generate(&request, |_| ControlFlow::Continue(())))
        .unwrap()
        .tokens
}

/// The prompt's tokens, and the logits that preceded each generated token.
fn logits_before_each(generated: &[u32]) -> (Vec<u32>, Vec<Vec<f32>>) {
    let prompt = model().tokenizer().encode(PROMPT, true).unwrap();
    let sequence: Vec<u32> = prompt.iter().chain(generated).copied().collect();
    let options = SessionOptions {
        all_logits: true,
        ..SessionOptions::new(128)
    };
    let mut session = pollster::block_on(model().session(options)).unwrap();
    let logits = pollster::block_on(session.logits(&sequence, true)).unwrap();
    let before = logits[prompt.len() - 1..sequence.len() - 1].to_vec();
    (prompt, before)
}

fn probabilities(logits: &[f32], temperature: f32) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let exp: Vec<f64> = logits
        .iter()
        .map(|&l| f64::from((l - max) / temperature).exp())
        .collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

fn rank(logits: &[f32], token: u32) -> usize {
    logits
        .iter()
        .filter(|&&l| l > logits[token as usize])
        .count()
}

fn sampled(temperature: f32, seed: u64) -> SamplingParams {
    SamplingParams {
        temperature,
        seed,
        ..SamplingParams::default()
    }
}

#[test]
fn a_seed_reproduces_its_tokens_and_another_seed_does_not() {
    let a = generate(sampled(1.5, 7), 40);
    assert_eq!(generate(sampled(1.5, 7), 40), a);
    assert_ne!(generate(sampled(1.5, 8), 40), a);
}

#[test]
fn top_k_one_is_greedy() {
    let greedy = generate(SamplingParams::greedy(), 40);
    let top1 = SamplingParams {
        top_k: 1,
        ..sampled(2.0, 3)
    };
    assert_eq!(generate(top1, 40), greedy);
}

#[test]
fn top_k_samples_only_among_the_k_best() {
    let tokens = generate(
        SamplingParams {
            top_k: 3,
            ..sampled(3.0, 11)
        },
        40,
    );
    let (_, logits) = logits_before_each(&tokens);
    let ranks: Vec<usize> = tokens
        .iter()
        .zip(&logits)
        .map(|(&t, l)| rank(l, t))
        .collect();
    assert!(ranks.iter().all(|&r| r < 3), "ranks {ranks:?}");
    assert!(
        ranks.iter().any(|&r| r > 0),
        "never anything but the best: {ranks:?}"
    );
}

#[test]
fn top_p_samples_only_from_the_nucleus() {
    let (temperature, top_p) = (4.0, 0.6);
    let tokens = generate(
        SamplingParams {
            top_p,
            ..sampled(temperature, 5)
        },
        40,
    );
    let (_, logits) = logits_before_each(&tokens);
    let mut outside_best = 0;
    for (step, (&token, l)) in tokens.iter().zip(&logits).enumerate() {
        let p = probabilities(l, temperature);
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        // The nucleus: the most likely tokens until their mass reaches top_p.
        let mut mass = 0.0;
        let nucleus: Vec<usize> = order
            .iter()
            .copied()
            .take_while(|&i| {
                let inside = mass < f64::from(top_p);
                mass += p[i];
                inside
            })
            .collect();
        assert!(
            nucleus.contains(&(token as usize)),
            "step {step}: token {token} outside the nucleus {nucleus:?}"
        );
        outside_best += usize::from(token as usize != order[0]);
    }
    assert!(
        outside_best > 0,
        "top-p never sampled beyond the best token"
    );
}

#[test]
fn a_banned_end_of_text_is_never_chosen() {
    let eos = model().tokenizer().stop_ids()[0];
    let eos_text = model().tokenizer().token_text(eos).unwrap();
    // A prompt full of end-of-text tokens, and a negative frequency penalty that makes the
    // end of text by far the likeliest next token (the fixture's logits span about 70).
    let mut request = GenerateRequest::new(format!("{PROMPT}{}", eos_text.repeat(48)), 16);
    request.stop_at_eos = false;
    request.sampling = SamplingParams {
        frequency_penalty: -2.0,
        penalty_window: 128,
        ..SamplingParams::greedy()
    };
    let generate = |request: &GenerateRequest| {
        pollster::block_on(model().generate(request, |_| ControlFlow::Continue(())))
            .unwrap()
            .tokens
    };
    assert_eq!(
        generate(&request)[0],
        eos,
        "the test does not call for the end of text"
    );
    request.sampling.ban_end_of_text = true;
    let banned = generate(&request);
    assert_eq!(banned.len(), 16);
    assert!(!banned.contains(&eos), "{banned:?}");
}

#[test]
fn min_p_drops_tokens_much_less_likely_than_the_best() {
    let (temperature, min_p) = (4.0, 0.3);
    let tokens = generate(
        SamplingParams {
            min_p,
            ..sampled(temperature, 9)
        },
        40,
    );
    let (_, logits) = logits_before_each(&tokens);
    for (step, (&token, l)) in tokens.iter().zip(&logits).enumerate() {
        let p = probabilities(l, temperature);
        let best = p.iter().copied().fold(0.0, f64::max);
        assert!(
            p[token as usize] >= f64::from(min_p) * best * 0.999,
            "step {step}: p {} < {min_p} x {best}",
            p[token as usize]
        );
    }
}

#[test]
fn the_first_token_follows_the_softmax_of_its_logits() {
    let temperature = 12.0;
    let (_, logits) = logits_before_each(&[0]);
    let p = probabilities(&logits[0], temperature);
    let draws = 400;
    let mut counts = vec![0usize; p.len()];
    for seed in 0..draws {
        counts[generate(sampled(temperature, seed), 1)[0] as usize] += 1;
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    assert!(
        p[order[0]] < 0.8,
        "the distribution is too peaked to test: {}",
        p[order[0]]
    );
    for &token in &order[..5] {
        let freq = counts[token] as f64 / draws as f64;
        let sigma = (p[token] * (1.0 - p[token]) / draws as f64).sqrt();
        assert!(
            (freq - p[token]).abs() < 4.0 * sigma + 0.01,
            "token {token}: drawn {freq:.3} of the time, probability {:.3}",
            p[token]
        );
    }
}

#[test]
fn penalties_match_the_same_penalties_applied_on_the_cpu() {
    let sampling = SamplingParams {
        repetition_penalty: 1.8,
        presence_penalty: 0.5,
        frequency_penalty: 0.7,
        penalty_window: 16,
        ..SamplingParams::greedy()
    };
    let tokens = generate(sampling.clone(), 40);
    let (prompt, logits) = logits_before_each(&tokens);
    let history: Vec<u32> = prompt.iter().chain(&tokens).copied().collect();
    for (step, l) in logits.iter().enumerate() {
        let target = prompt.len() + step;
        let window = &history[target.saturating_sub(sampling.penalty_window as usize)..target];
        let mut penalised = l.clone();
        for (token, value) in penalised.iter_mut().enumerate() {
            let count = window.iter().filter(|&&t| t as usize == token).count();
            if count > 0 {
                *value = if *value > 0.0 {
                    *value / sampling.repetition_penalty
                } else {
                    *value * sampling.repetition_penalty
                };
                *value -= sampling.presence_penalty + sampling.frequency_penalty * count as f32;
            }
        }
        assert_eq!(tokens[step], argmax(&penalised), "step {step}");
    }
    assert_ne!(
        tokens,
        generate(SamplingParams::greedy(), 40),
        "the penalties changed nothing"
    );
}
