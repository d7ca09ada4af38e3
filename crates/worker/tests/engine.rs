//! The engine back end on the engine's tiny fixture model (any Vulkan driver; lavapipe on CI):
//! what it reports of a generation, and how it checks one: an honest generation passes, a text
//! or ids changed after the fact do not.

use std::sync::OnceLock;
use std::time::Duration;

use infer::{Gpu, Model, ModelSource};
use protocol::{GenerationPayloadKobold, ScoreCheck, ScoredTokens, TextScores};
use serde_json::{json, Value};
use web_time::Instant;
use worker::{Backend, EngineBackend, Generated, JobControl, Limits, TextJob};

fn backend() -> &'static EngineBackend {
    static BACKEND: OnceLock<EngineBackend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infer/fixtures/tiny-llama");
        let gpu = pollster::block_on(Gpu::new()).expect("no GPU adapter (lavapipe works)");
        let model = pollster::block_on(Model::load(gpu, ModelSource::Path(path.into()))).unwrap();
        let limits = Limits {
            max_length: 64,
            max_context_length: 512,
        };
        EngineBackend::new(std::sync::Arc::new(model), "tiny".into(), limits)
    })
}

/// A job for "Once upon a time" with these parameters, as popped.
fn job(params: Value) -> TextJob {
    popped(params, None)
}

/// A check of `check` against the job with these parameters, as popped.
fn check_job(params: Value, check: ScoreCheck) -> TextJob {
    popped(params, Some(check))
}

fn popped(params: Value, score_check: Option<ScoreCheck>) -> TextJob {
    let mut payload = json!({"prompt": "Once upon a time"});
    payload
        .as_object_mut()
        .unwrap()
        .extend(params.as_object().unwrap().clone());
    let popped = GenerationPayloadKobold {
        id: Some("j".into()),
        model: Some("tiny".into()),
        payload: payload.as_object().cloned(),
        score_check,
        ..Default::default()
    };
    TextJob::from_pop(popped, backend().limits()).unwrap()
}

fn generate(job: &TextJob) -> Generated {
    let control = JobControl::new(Instant::now() + Duration::from_secs(600));
    pollster::block_on(backend().generate(job, &control)).unwrap()
}

#[test]
fn token_ids_end_with_the_end_of_text_when_generation_ended_there() {
    let stop_ids = backend().model().tokenizer().stop_ids().to_vec();
    let generations: Vec<Generated> = (0..20)
        .map(|seed| {
            generate(&job(
                json!({"max_length": 64, "temperature": 1.0, "seed": seed}),
            ))
        })
        .collect();
    for generated in &generations {
        let ids = generated.token_ids.as_ref().unwrap();
        // Without stop sequences, "stop" is the end of text.
        let ended = generated.finish_reason == Some("stop");
        assert_eq!(ids.len(), generated.tokens + usize::from(ended));
        assert_eq!(ended, stop_ids.contains(ids.last().unwrap()));
    }
    assert!(
        generations.iter().any(|g| g.finish_reason == Some("stop"))
            && generations
                .iter()
                .any(|g| g.finish_reason == Some("length")),
        "both endings happen"
    );
}

/// What the worker submits for a generation: its formatted text and its ids.
fn submitted(params: &Value) -> ScoreCheck {
    let job = job(params.clone());
    let generated = generate(&job);
    ScoreCheck {
        text: job.settings.format(&generated.text),
        token_ids: generated.token_ids,
    }
}

fn score(params: &Value, check: ScoreCheck) -> TextScores {
    let job = check_job(params.clone(), check.clone());
    pollster::block_on(backend().score(&job, &check)).unwrap()
}

/// Whether each score stays inside its request's limits (or takes the best token, for greedy
/// requests), by more than another device's rounding.
fn honest(scores: &TextScores, greedy: bool) -> bool {
    const SLACK: f32 = 1e-3;
    scores.scores.iter().all(|s| {
        (!greedy || s.greedy_margin >= -SLACK)
            && [s.top_k_margin, s.top_p_margin, s.min_p_margin]
                .into_iter()
                .flatten()
                .all(|m| m >= -SLACK)
    })
}

#[test]
fn an_honest_generation_passes_its_check() {
    let cases = [
        json!({"max_length": 48, "temperature": 0, "seed": 1}),
        json!({"max_length": 48, "temperature": 3.0, "top_k": 5, "top_p": 1, "rep_pen": 1.2,
               "rep_pen_range": 16, "seed": 2}),
        json!({"max_length": 48, "temperature": 3.0, "top_k": 0, "top_p": 0.5, "rep_pen": 1,
               "seed": 3}),
        // Formatted, and ended by a stop sequence.
        json!({"max_length": 48, "temperature": 3.0, "top_k": 0, "top_p": 1, "min_p": 0.2,
               "rep_pen": 1, "stop_sequence": ["e"], "frmttriminc": true, "frmtrmblln": true,
               "seed": 4}),
    ];
    for params in cases {
        let submitted = submitted(&params);
        let scores = score(&params, submitted.clone());
        assert_eq!(scores.tokens, ScoredTokens::Reported);
        assert!(scores.text_matches, "{params}: {submitted:?}");
        assert_eq!(
            scores.scores.iter().map(|s| s.token).collect::<Vec<_>>(),
            submitted.token_ids.unwrap()
        );
        let greedy = params["temperature"] == 0;
        assert!(honest(&scores, greedy), "{params}: {scores:?}");
    }
}

#[test]
fn a_check_sees_a_changed_text_and_ids_past_the_end() {
    let params = json!({"max_length": 48, "temperature": 0, "seed": 1});
    let honest_submit = submitted(&params);
    let ids = honest_submit.token_ids.clone().unwrap();

    let mut changed = honest_submit.clone();
    changed.text.push_str(" and more");
    assert!(!score(&params, changed).text_matches);

    // Tokens after the last that the generation had: more than max_length.
    let mut longer = honest_submit.clone();
    longer.token_ids = Some(ids.iter().chain(&[5, 6]).copied().collect());
    let scores = score(&params, longer);
    assert!(!scores.text_matches);
    assert_eq!(
        scores.scores.len(),
        ids.len(),
        "what the generation had is scored"
    );

    // Ids of the same text, shifted: the text no longer matches, nor the greedy rule.
    let shifted = ScoreCheck {
        text: honest_submit.text.clone(),
        token_ids: Some(ids.iter().map(|id| (id + 1) % 300).collect()),
    };
    let scores = score(&params, shifted);
    assert!(!scores.text_matches && !honest(&scores, true));
}

#[test]
fn without_ids_the_text_is_tokenized_and_scored() {
    let params = json!({"max_length": 48, "temperature": 0, "seed": 1});
    let text = submitted(&params).text;
    let scores = score(
        &params,
        ScoreCheck {
            text: text.clone(),
            token_ids: None,
        },
    );
    assert_eq!(
        (scores.tokens, scores.text_matches),
        (ScoredTokens::Tokenized, true)
    );
    // The text's own tokenization can be longer than the generation (here it is): what fits
    // in max_length is scored.
    let tokens = backend().model().tokenizer().encode(&text, false).unwrap();
    assert_eq!(scores.scores.len(), tokens.len().min(48));
}
