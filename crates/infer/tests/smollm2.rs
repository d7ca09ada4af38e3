//! The real SmolLM2-135M-Instruct (GGUF, Q4_1 with a Q8_0 embedding) against transformers'
//! GGUF loader (`fixtures/smollm2-reference.json`): the tokenizer built from the GGUF metadata,
//! the chat template, the top-1 next token at every position of fixed prompts, and the greedy
//! answer to a chat question. And scoring: honest answers stay inside their sampling limits,
//! random tokens do not.
//!
//! The model is not in the repository: `scripts/fetch-smollm2.sh` puts it in
//! ~/.cache/potluck-models (or $POTLUCK_MODELS). Without it these tests say so and pass, unless
//! POTLUCK_REQUIRE_MODELS=1 (as scripts/test.sh sets), when they fail.

mod common;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::{argmax, fixtures, ids, load, reported_tokens, violations};
use infer::{ChatMessage, FinishReason, GenerateRequest, Model, SamplingParams, SessionOptions};
use serde_json::Value;

fn model_path() -> PathBuf {
    let cache = std::env::var_os("POTLUCK_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/potluck-models")
        });
    cache.join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = model_path();
            if path.exists() {
                return Some(load(path));
            }
            let required = std::env::var("POTLUCK_REQUIRE_MODELS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{} is missing: run scripts/fetch-smollm2.sh",
                path.display()
            );
            eprintln!(
                "skipped: {} is missing (scripts/fetch-smollm2.sh fetches it)",
                path.display()
            );
            None
        })
        .as_ref()
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("smollm2-reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_gguf_tokenizer_and_chat_template_match_transformers() {
    let Some(model) = model() else { return };
    let reference = reference();
    for prompt in reference["prompts"].as_array().unwrap() {
        let text = prompt["text"].as_str().unwrap();
        assert_eq!(
            model.tokenizer().encode(text, true).unwrap(),
            ids(&prompt["ids"]),
            "{text:?}"
        );
    }
    let chat = &reference["chat"];
    let messages: Vec<ChatMessage> = serde_json::from_value(chat["messages"].clone()).unwrap();
    let rendered = model.chat_prompt(&messages).unwrap();
    assert_eq!(rendered, chat["rendered"].as_str().unwrap());
    assert_eq!(
        model.tokenizer().encode(&rendered, true).unwrap(),
        ids(&chat["ids"])
    );
}

#[test]
fn the_top_token_agrees_with_transformers_at_every_position() {
    let Some(model) = model() else { return };
    let options = SessionOptions {
        all_logits: true,
        ..SessionOptions::new(64)
    };
    let mut session = pollster::block_on(model.session(options)).unwrap();
    for prompt in reference()["prompts"].as_array().unwrap() {
        let tokens = ids(&prompt["ids"]);
        let want = ids(&prompt["top1"]);
        session.reset();
        let logits = pollster::block_on(session.logits(&tokens, true)).unwrap();
        let got: Vec<u32> = logits.iter().map(|l| argmax(l)).collect();
        assert_eq!(got, want, "{:?}", prompt["text"]);
    }
}

#[test]
fn the_chat_answer_is_transformers_greedy_answer() {
    let Some(model) = model() else { return };
    let chat = &reference()["chat"];
    let want = ids(&chat["greedy_answer"]);
    let prompt = chat["rendered"].as_str().unwrap();
    let mut streamed = String::new();
    let generation =
        pollster::block_on(model.generate(&GenerateRequest::new(prompt, 48), |event| {
            streamed.push_str(event.text);
            ControlFlow::Continue(())
        }))
        .unwrap();
    // transformers' answer ends with the end-of-turn token, which ends ours and is not kept.
    assert_eq!(model.tokenizer().stop_ids(), &[*want.last().unwrap()]);
    assert_eq!(generation.finish, FinishReason::EndOfText);
    assert_eq!(generation.tokens, want[..want.len() - 1]);
    assert_eq!(generation.text, chat["answer_text"].as_str().unwrap());
    assert_eq!(streamed, generation.text);
    eprintln!("SmolLM2: {:?}", generation.text);
}

#[test]
fn honest_answers_score_inside_their_limits_and_random_tokens_do_not() {
    let Some(model) = model() else { return };
    let prompt = reference()["chat"]["rendered"]
        .as_str()
        .unwrap()
        .to_string();
    let request = |sampling: SamplingParams| {
        let mut request = GenerateRequest::new(prompt.clone(), 16);
        request.sampling = sampling;
        request
    };
    let limited = SamplingParams {
        temperature: 1.0,
        top_k: 40,
        top_p: 0.9,
        min_p: 0.05,
        repetition_penalty: 1.1,
        seed: 1,
        ..SamplingParams::default()
    };
    for sampling in [SamplingParams::greedy(), limited.clone()] {
        let request = request(sampling.clone());
        let generation =
            pollster::block_on(model.generate(&request, |_| ControlFlow::Continue(()))).unwrap();
        let scores =
            pollster::block_on(model.score(&request, &reported_tokens(&generation))).unwrap();
        let broken = violations(&scores, sampling.is_greedy());
        assert!(broken.is_empty(), "{sampling:?}: {broken:?}");
    }
    let vocab = model.config().vocab_size as u32;
    let random: Vec<u32> = (0..16u32).map(|i| (i * 7919 + 13) % vocab).collect();
    let scores = pollster::block_on(model.score(&request(limited), &random)).unwrap();
    let broken = violations(&scores, false).len();
    eprintln!("SmolLM2: random tokens break the limits {broken}/16 times");
    assert!(broken > 12, "{broken}");
}
