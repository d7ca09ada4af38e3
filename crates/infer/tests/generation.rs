//! Generation as a caller sees it: streaming, stop sequences, cancelling, limits, context cuts,
//! bad requests; and loading from bytes (the browser's way) or from broken files.

mod common;

use std::ops::ControlFlow;
use std::sync::OnceLock;

use common::{fixtures, gpu, load, reference};
use infer::{
    CancelToken, FinishReason, GenerateRequest, Generation, HfFiles, InferError, Model,
    ModelSource, SamplingParams,
};

const PROMPT: &str = "Once upon a time";

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| load(fixtures().join("tiny-llama.q8_0.gguf")))
}

fn request(max_tokens: usize) -> GenerateRequest {
    let mut request = GenerateRequest::new(PROMPT, max_tokens);
    request.stop_at_eos = false;
    request
}

/// Generates, and returns the result with the text the callback was given, piece by piece.
fn generate(model: &Model, request: &GenerateRequest) -> (Generation, Vec<String>) {
    let mut pieces = Vec::new();
    let generation = pollster::block_on(model.generate(request, |event| {
        pieces.push(event.text.to_string());
        ControlFlow::Continue(())
    }))
    .unwrap();
    (generation, pieces)
}

fn greedy_reference() -> Vec<u32> {
    common::ids(&reference()["variants"]["llama-gguf-q8_0"]["greedy"][0])
}

#[test]
fn tokens_stream_one_by_one_and_add_up_to_the_result() {
    let (generation, pieces) = generate(model(), &request(40));
    assert_eq!(generation.finish, FinishReason::Length);
    assert_eq!(generation.tokens, greedy_reference());
    assert_eq!(pieces.len(), 40, "one event per token");
    assert_eq!(pieces.concat(), generation.text);
    assert_eq!(
        generation.text,
        model().tokenizer().decode(&generation.tokens).unwrap()
    );
    assert!(generation.prefill_seconds > 0.0 && generation.decode_seconds > 0.0);
}

#[test]
fn a_stop_sequence_ends_the_text_before_it() {
    let (full, _) = generate(model(), &request(40));
    // A stop sequence from the middle of what the model writes anyway.
    let chars: Vec<(usize, char)> = full.text.char_indices().collect();
    let (from, _) = chars[chars.len() / 2];
    let (to, _) = chars[chars.len() / 2 + 3];
    let stop = full.text[from..to].to_string();
    let mut with_stop = request(40);
    with_stop.stop = vec!["never appears \u{1f372}".into(), stop.clone()];
    let (generation, pieces) = generate(model(), &with_stop);
    assert_eq!(generation.finish, FinishReason::Stop);
    let cut = full.text.find(&stop).unwrap();
    assert_eq!(generation.text, full.text[..cut]);
    assert_eq!(
        pieces.concat(),
        generation.text,
        "the stop sequence was never streamed"
    );
    assert!(generation.tokens.len() < 40);
}

#[test]
fn the_callback_or_a_cancel_token_stops_generation() {
    let mut seen = 0;
    let generation = pollster::block_on(model().generate(&request(40), |_| {
        seen += 1;
        if seen == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }))
    .unwrap();
    assert_eq!(
        (generation.finish, generation.tokens.len()),
        (FinishReason::Cancelled, 3)
    );

    let cancel = CancelToken::new();
    let mut cancellable = request(40);
    cancellable.cancel = Some(cancel.clone());
    let mut streamed = String::new();
    let generation = pollster::block_on(model().generate(&cancellable, |event| {
        streamed.push_str(event.text);
        if event.index == 4 {
            cancel.cancel();
        }
        ControlFlow::Continue(())
    }))
    .unwrap();
    assert_eq!(
        (generation.finish, generation.tokens.len()),
        (FinishReason::Cancelled, 5)
    );
    assert_eq!(generation.text, streamed);
}

/// A generation's tokens replay to its text, however it ended; tokens after its end do not
/// count.
#[test]
fn a_generation_replays_from_its_tokens() {
    let replays = |request: &GenerateRequest, generation: &Generation| {
        let tokens = common::reported_tokens(generation);
        let replay = model().replay(request, &tokens).unwrap();
        assert_eq!(
            (replay.text.as_str(), replay.generated),
            (generation.text.as_str(), tokens.len()),
            "{:?}",
            generation.finish
        );
        // Tokens after the end are not part of the generation.
        let mut more = tokens.clone();
        more.extend([5, 6]);
        if generation.finish != FinishReason::Cancelled {
            assert_eq!(model().replay(request, &more).unwrap(), replay);
        }
    };

    let (full, _) = generate(model(), &request(40));
    replays(&request(40), &full);

    let mut with_stop = request(40);
    let chars: Vec<char> = full.text.chars().collect();
    with_stop.stop = vec![chars[chars.len() / 2..chars.len() / 2 + 3].iter().collect()];
    let (stopped, _) = generate(model(), &with_stop);
    assert_eq!(stopped.finish, FinishReason::Stop);
    replays(&with_stop, &stopped);

    let (hot, ended) = (0..50)
        .find_map(|seed| {
            let mut hot = GenerateRequest::new(PROMPT, 100);
            hot.sampling = SamplingParams {
                temperature: 1.0,
                seed,
                ..SamplingParams::default()
            };
            let (generation, _) = generate(model(), &hot);
            (generation.finish == FinishReason::EndOfText).then_some((hot, generation))
        })
        .expect("a generation that ends its text");
    replays(&hot, &ended);

    // Cancelled after its first token, whose last character may begin a stop sequence: that
    // character was held back, so it is not part of the text.
    let first = model().tokenizer().decode(&full.tokens[..1]).unwrap();
    let last = first.chars().last().unwrap();
    let mut cancelled = request(40);
    cancelled.stop = vec![format!("{last}never")];
    let cancel = CancelToken::new();
    cancel.cancel();
    cancelled.cancel = Some(cancel);
    let (cut, _) = generate(model(), &cancelled);
    assert_eq!((cut.finish, cut.tokens.len()), (FinishReason::Cancelled, 1));
    assert_eq!(cut.text, first[..first.len() - last.len_utf8()]);
    replays(&cancelled, &cut);

    let vocab = model().config().vocab_size as u32;
    let replay = model().replay(&request(40), &[5, 6, vocab, 7]).unwrap();
    assert_eq!(
        replay.generated, 2,
        "no token after one outside the vocabulary"
    );
}

#[test]
fn a_prompt_too_long_for_the_context_loses_its_beginning() {
    let prompt = reference()["prompts"][1]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let full = model().tokenizer().encode(&prompt, true).unwrap().len();
    let mut cut = GenerateRequest::new(prompt, 4);
    cut.context_length = Some(16);
    let (generation, _) = generate(model(), &cut);
    assert_eq!(generation.prompt_tokens, 12);
    assert_eq!(generation.truncated_prompt_tokens, full - 12);
    assert_eq!(generation.tokens.len(), 4);
}

#[test]
fn sessions_are_reused_without_leaking_state() {
    let (first, _) = generate(model(), &request(40));
    let (again, _) = generate(model(), &request(40));
    assert_eq!(first.tokens, again.tokens);
    // A longer request needs a bigger session; a short one reuses it.
    let (long, _) = generate(model(), &request(500));
    assert_eq!(long.tokens[..40], first.tokens[..]);
    let (short, _) = generate(model(), &request(40));
    assert_eq!(short.tokens, first.tokens);
}

#[test]
fn bad_requests_are_errors() {
    let invalid = |request: GenerateRequest| {
        let result = pollster::block_on(model().generate(&request, |_| ControlFlow::Continue(())));
        assert!(
            matches!(result, Err(InferError::InvalidRequest(_))),
            "{result:?}"
        );
    };
    invalid(request(0));
    invalid(request(512));
    let mut empty = GenerateRequest::new("", 4);
    empty.add_special_tokens = false;
    invalid(empty);
    let mut hot = request(4);
    hot.sampling = SamplingParams {
        temperature: -1.0,
        ..SamplingParams::default()
    };
    invalid(hot);
    let mut small = request(4);
    small.context_length = Some(4);
    invalid(small);
}

#[test]
fn models_load_from_bytes_as_from_files() {
    let bytes = std::fs::read(fixtures().join("tiny-llama.q8_0.gguf")).unwrap();
    let from_bytes = pollster::block_on(Model::load(gpu(), ModelSource::Gguf(bytes))).unwrap();
    assert_eq!(
        generate(&from_bytes, &request(40)).0.tokens,
        greedy_reference()
    );

    let dir = fixtures().join("tiny-llama");
    let text = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let files = HfFiles {
        config_json: text("config.json").unwrap(),
        tokenizer_json: std::fs::read(dir.join("tokenizer.json")).unwrap(),
        tokenizer_config_json: text("tokenizer_config.json"),
        generation_config_json: None,
        chat_template: text("chat_template.jinja"),
        safetensors: vec![std::fs::read(dir.join("model.safetensors")).unwrap()],
    };
    let from_bytes =
        pollster::block_on(Model::load(gpu(), ModelSource::HuggingFace(files))).unwrap();
    let want = common::ids(&reference()["variants"]["llama-f32"]["greedy"][0]);
    assert_eq!(generate(&from_bytes, &request(40)).0.tokens, want);
}

#[test]
fn broken_model_files_are_errors_not_panics() {
    let bytes = std::fs::read(fixtures().join("tiny-llama.q4_1.gguf")).unwrap();
    for cut in [0, 4, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
        let result =
            pollster::block_on(Model::load(gpu(), ModelSource::Gguf(bytes[..cut].to_vec())));
        assert!(
            matches!(result, Err(InferError::InvalidModel(_))),
            "cut at {cut}: {:?}",
            result.err()
        );
    }
    let mut flipped = bytes.clone();
    for b in &mut flipped[24..600] {
        *b ^= 0x5a;
    }
    assert!(pollster::block_on(Model::load(gpu(), ModelSource::Gguf(flipped))).is_err());

    let missing = pollster::block_on(Model::load(
        gpu(),
        ModelSource::Path(fixtures().join("no-such-model.gguf")),
    ));
    assert!(
        matches!(missing, Err(InferError::Io { .. })),
        "{:?}",
        missing.err()
    );
    let not_a_model = pollster::block_on(Model::load(gpu(), ModelSource::Path(fixtures())));
    assert!(
        matches!(not_a_model, Err(InferError::InvalidModel(_))),
        "{:?}",
        not_a_model.err()
    );
}
