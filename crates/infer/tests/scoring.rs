//! Scoring generations on the tiny fixture: an honest generation stays inside its request's
//! limits at every token, for every kind of limit, penalties and a cut prompt included; random
//! tokens, or tokens sampled under other settings, do not.

mod common;

use std::ops::ControlFlow;
use std::sync::OnceLock;

use common::{fixtures, load, reported_tokens, violations, SLACK};
use infer::{GenerateRequest, Generation, InferError, Model, SamplingParams};

const PROMPT: &str = "Once upon a time";
const TOKENS: usize = 48;

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| load(fixtures().join("tiny-llama")))
}

fn request(sampling: &SamplingParams) -> GenerateRequest {
    let mut request = GenerateRequest::new(PROMPT, TOKENS);
    request.sampling = sampling.clone();
    request
}

fn generate(request: &GenerateRequest) -> Generation {
    pollster::block_on(model().generate(request, |_| ControlFlow::Continue(()))).unwrap()
}

fn score(request: &GenerateRequest, tokens: &[u32]) -> Vec<infer::TokenScore> {
    pollster::block_on(model().score(request, tokens)).unwrap()
}

fn sampled(temperature: f32, seed: u64) -> SamplingParams {
    SamplingParams {
        temperature,
        seed,
        ..SamplingParams::default()
    }
}

/// Penalties over a window shorter than prompt and answer together.
fn penalised(sampling: SamplingParams) -> SamplingParams {
    SamplingParams {
        repetition_penalty: 1.3,
        presence_penalty: 0.4,
        frequency_penalty: 0.2,
        penalty_window: 16,
        ..sampling
    }
}

/// Every kind of limit, each with its own seed. The fixture's distributions are peaked, so most
/// cases sample hot, where the limits bite.
fn cases() -> Vec<(&'static str, SamplingParams)> {
    let greedy = |seed| SamplingParams {
        seed,
        ..SamplingParams::greedy()
    };
    vec![
        ("greedy", greedy(1)),
        (
            "temperature 0.8, top_k 20",
            SamplingParams {
                top_k: 20,
                ..sampled(0.8, 2)
            },
        ),
        (
            "temperature 3, top_k 5",
            SamplingParams {
                top_k: 5,
                ..sampled(3.0, 3)
            },
        ),
        (
            "temperature 3, top_p 0.5",
            SamplingParams {
                top_p: 0.5,
                ..sampled(3.0, 4)
            },
        ),
        (
            "temperature 3, min_p 0.2",
            SamplingParams {
                min_p: 0.2,
                ..sampled(3.0, 5)
            },
        ),
        ("greedy, penalties", penalised(greedy(6))),
        (
            "temperature 3, top_k 10, end of text banned",
            SamplingParams {
                top_k: 10,
                ban_end_of_text: true,
                ..sampled(3.0, 8)
            },
        ),
        (
            "temperature 3, penalties, top_k 10, top_p 0.9, min_p 0.05",
            penalised(SamplingParams {
                top_k: 10,
                top_p: 0.9,
                min_p: 0.05,
                ..sampled(3.0, 7)
            }),
        ),
    ]
}

#[test]
fn honest_generations_stay_inside_their_limits() {
    let mut drawn_below_the_best = 0;
    for (name, sampling) in cases() {
        let request = request(&sampling);
        let tokens = reported_tokens(&generate(&request));
        let scores = score(&request, &tokens);
        assert_eq!(
            scores.iter().map(|s| s.token).collect::<Vec<_>>(),
            tokens,
            "{name}"
        );
        let broken = violations(&scores, sampling.is_greedy());
        assert!(broken.is_empty(), "{name}: {broken:?}");
        for s in &scores {
            assert!(
                s.logprob <= 0.0 && s.entropy >= 0.0 && s.nll_variance >= 0.0,
                "{s:?}"
            );
            if sampling.is_greedy() {
                assert!(s.greedy_margin.abs() < SLACK, "{name}: {s:?}");
                assert_eq!(s.top_k_margin.or(s.top_p_margin).or(s.min_p_margin), None);
            }
        }
        let below_the_best = scores.iter().filter(|s| s.rank > 0).count();
        eprintln!(
            "{name}: {} tokens, {below_the_best} below the best",
            scores.len()
        );
        drawn_below_the_best += below_the_best;
    }
    assert!(
        drawn_below_the_best >= 10,
        "the sampled cases hardly left the best token: {drawn_below_the_best}"
    );
}

/// Random token ids, reproducibly.
fn random_tokens(count: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % vocab as u64) as u32
        })
        .collect()
}

#[test]
fn random_tokens_and_other_settings_break_the_limits() {
    let vocab = model().config().vocab_size;
    // Sampled very hot and without limits: text the others could not have written.
    let mut hot = request(&sampled(8.0, 8));
    hot.stop_at_eos = false;
    let unlimited = generate(&hot).tokens;
    for (name, sampling) in cases() {
        let request = request(&sampling);
        let random = random_tokens(TOKENS, vocab, 11);
        let random_broken = violations(&score(&request, &random), sampling.is_greedy()).len();
        let other_broken = violations(&score(&request, &unlimited), sampling.is_greedy()).len();
        eprintln!(
            "{name}: random tokens break a limit {random_broken}/{} times, \
             unlimited sampling {other_broken}/{}",
            random.len(),
            unlimited.len()
        );
        assert!(random_broken * 2 > random.len(), "{name}: {random_broken}");
        assert!(other_broken > 0, "{name}");
    }
}

#[test]
fn a_prompt_cut_to_the_context_is_scored_as_generation_cut_it() {
    let prompt = common::reference()["prompts"][1]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let mut request = GenerateRequest::new(prompt, 8);
    request.context_length = Some(16);
    // Greedy with penalties over the whole context: the best token only if positions match.
    request.sampling = SamplingParams {
        penalty_window: 64,
        ..penalised(SamplingParams::greedy())
    };
    let generation = generate(&request);
    assert!(generation.truncated_prompt_tokens > 0);
    let scores = score(&request, &reported_tokens(&generation));
    assert!(violations(&scores, true).is_empty(), "{scores:?}");
}

#[test]
fn scoring_refuses_what_no_generation_has() {
    let request = request(&SamplingParams::greedy());
    let refused = |tokens: &[u32]| {
        let result = pollster::block_on(model().score(&request, tokens));
        assert!(
            matches!(result, Err(InferError::InvalidRequest(_))),
            "{result:?}"
        );
    };
    refused(&[5; TOKENS + 1]);
    refused(&[5, model().config().vocab_size as u32]);
    assert!(score(&request, &[]).is_empty());
}

#[test]
fn a_banned_end_of_text_is_scored_as_the_sampler_banned_it() {
    let eos = model().tokenizer().stop_ids()[0];
    let eos_text = model().tokenizer().token_text(eos).unwrap();
    // Greedy where the penalties make the end of text the best token: the honest generation
    // takes the best of the others, and only a scorer that bans it too sees that as greedy.
    let mut request = GenerateRequest::new(format!("{PROMPT}{}", eos_text.repeat(48)), 16);
    request.sampling = SamplingParams {
        frequency_penalty: -2.0,
        penalty_window: 128,
        ban_end_of_text: true,
        ..SamplingParams::greedy()
    };
    let tokens = reported_tokens(&generate(&request));
    assert_eq!(tokens.len(), 16);
    let scores = score(&request, &tokens);
    assert!(violations(&scores, true).is_empty(), "{scores:?}");
    request.sampling.ban_end_of_text = false;
    assert!(!violations(&score(&request, &tokens), true).is_empty());
}

#[test]
fn an_end_of_text_where_it_was_banned_breaks_the_limits() {
    let eos = model().tokenizer().stop_ids()[0];
    let sampling = SamplingParams {
        min_p: 0.01,
        ban_end_of_text: true,
        ..sampled(1.0, 10)
    };
    let request = request(&sampling);
    let mut tokens = generate(&request).tokens;
    tokens.truncate(8);
    tokens.push(eos);
    let scores = score(&request, &tokens);
    assert_eq!(violations(&scores, false), [scores.last().unwrap()]);
    let last = scores.last().unwrap();
    assert!(last.logprob.is_finite() && last.logprob < -1e30, "{last:?}");
}

#[test]
fn generation_after_scoring_is_unchanged() {
    let request = request(&sampled(1.0, 9));
    let before = generate(&request);
    score(&request, &random_tokens(TOKENS, 100, 3));
    // The scoring session is kept and serves the next generation.
    assert_eq!(generate(&request).tokens, before.tokens);
}
