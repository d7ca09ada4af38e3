//! The engine against transformers on the tiny random-weight fixtures, for every weight format:
//! logits at every position (prefill in one batch, and one token at a time), and greedy
//! generation.
//!
//! Each variant's reference was computed in f32 from that variant's own weights (see
//! make_fixtures.py), so one tolerance holds for all formats: what is measured is the engine's
//! arithmetic (its f32 sums in another order, its cos/sin), not the precision of the format.

mod common;

use std::ops::ControlFlow;

use std::sync::Arc;

use common::{argmax, fixtures, gpu, ids, load_on, max_abs_diff, reference};
use infer::{GenerateRequest, Gpu, GpuOptions, Model, SessionOptions};
use safetensors::SafeTensors;

/// Largest absolute difference allowed between the engine's logits and transformers'. The
/// fixtures' logits are up to about 30 in size.
const TOLERANCE: f32 = 1e-3;

struct Variant {
    name: String,
    model: Model,
    greedy: Vec<Vec<u32>>,
}

fn variant(name: &str) -> Variant {
    variant_on(gpu(), name)
}

fn variant_on(gpu: Arc<Gpu>, name: &str) -> Variant {
    let reference = reference();
    let entry = &reference["variants"][name];
    Variant {
        name: name.to_string(),
        model: load_on(gpu, fixtures().join(entry["path"].as_str().unwrap())),
        greedy: entry["greedy"]
            .as_array()
            .unwrap()
            .iter()
            .map(ids)
            .collect(),
    }
}

fn prompts() -> Vec<Vec<u32>> {
    reference()["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| ids(&p["ids"]))
        .collect()
}

/// transformers' logits for prompt `index`: one row per position.
fn reference_logits(name: &str, index: usize) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(fixtures().join("reference.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tensor = file.tensor(&format!("{name}/{index}")).unwrap();
    let vocab = tensor.shape()[1];
    let values: Vec<f32> = tensor
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    values.chunks(vocab).map(<[f32]>::to_vec).collect()
}

fn check_logits(variant: &Variant) {
    for (index, prompt) in prompts().iter().enumerate() {
        let expected = reference_logits(&variant.name, index);

        // The whole prompt in one prefill step (tiled matrix-matrix kernels).
        let options = SessionOptions {
            all_logits: true,
            ..SessionOptions::new(64)
        };
        let mut session = pollster::block_on(variant.model.session(options)).unwrap();
        let batched = pollster::block_on(session.logits(prompt, true)).unwrap();
        assert_eq!(batched.len(), prompt.len());

        // One token at a time (the decoding kernels), the cache growing.
        let mut session =
            pollster::block_on(variant.model.session(SessionOptions::new(64))).unwrap();
        let mut stepwise = Vec::new();
        for &token in prompt {
            stepwise.extend(pollster::block_on(session.logits(&[token], false)).unwrap());
        }

        for (pos, want) in expected.iter().enumerate() {
            for (how, got) in [("prefill", &batched[pos]), ("decode", &stepwise[pos])] {
                let diff = max_abs_diff(got, want);
                assert!(
                    diff < TOLERANCE,
                    "{} prompt {index} position {pos} ({how}): logits differ by {diff}",
                    variant.name
                );
                assert_eq!(
                    argmax(got),
                    argmax(want),
                    "{} prompt {index} position {pos} ({how})",
                    variant.name
                );
            }
        }
    }
}

fn check_greedy(variant: &Variant) {
    let reference = reference();
    for (index, want) in variant.greedy.iter().enumerate() {
        let prompt = reference["prompts"][index]["text"].as_str().unwrap();
        let mut request = GenerateRequest::new(prompt, want.len());
        request.stop_at_eos = false;
        let mut streamed = Vec::new();
        let generation = pollster::block_on(variant.model.generate(&request, |event| {
            streamed.extend(event.token);
            ControlFlow::Continue(())
        }))
        .unwrap();
        assert_eq!(
            generation.prompt_tokens,
            ids(&reference["prompts"][index]["ids"]).len()
        );
        assert_eq!(
            &generation.tokens, want,
            "{} prompt {index}: greedy tokens",
            variant.name
        );
        assert_eq!(
            &streamed, want,
            "{} prompt {index}: the callback saw every token",
            variant.name
        );
        assert!(want.len() >= 32);
    }
}

macro_rules! fixture_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let variant = variant($name);
                check_logits(&variant);
                check_greedy(&variant);
            }
        )*
    };
}

fixture_tests! {
    llama_safetensors_f32 => "llama-f32",
    llama_safetensors_f16 => "llama-f16",
    llama_safetensors_bf16 => "llama-bf16",
    llama_gguf_f32 => "llama-gguf-f32",
    llama_gguf_f16 => "llama-gguf-f16",
    llama_gguf_q8_0 => "llama-gguf-q8_0",
    llama_gguf_q4_0 => "llama-gguf-q4_0",
    llama_gguf_q4_1 => "llama-gguf-q4_1",
    qwen2_safetensors_f32 => "qwen2-f32",
    qwen2_gguf_q8_0 => "qwen2-gguf-q8_0",
}

/// Matrices larger than one binding are split by rows (the output head of a big vocabulary
/// would be): with bindings of 4 KiB every matrix here is, into up to 40 parts.
#[test]
fn matrices_split_over_many_buffers_compute_the_same() {
    let options = GpuOptions {
        max_binding_bytes: Some(4096),
        ..GpuOptions::default()
    };
    let small = pollster::block_on(Gpu::with_options(options)).unwrap();
    for name in ["llama-f32", "llama-gguf-q4_1", "qwen2-gguf-q8_0"] {
        let variant = variant_on(small.clone(), name);
        check_logits(&variant);
        check_greedy(&variant);
    }
}

/// Decoding's matrix-vector products come in two forms, chosen by the adapter's type (a
/// workgroup per rows for GPUs, a thread per row for CPU adapters): each is run here on the
/// test adapter, whichever it would choose, for every weight format.
#[test]
fn both_matrix_vector_forms_compute_the_same() {
    for rows in [false, true] {
        let options = GpuOptions {
            matvec_rows: Some(rows),
            ..GpuOptions::default()
        };
        let forced = pollster::block_on(Gpu::with_options(options)).unwrap();
        assert_eq!(forced.info().matvec_rows, rows);
        for name in [
            "llama-f32",
            "llama-f16",
            "llama-bf16",
            "llama-gguf-q8_0",
            "llama-gguf-q4_0",
            "llama-gguf-q4_1",
        ] {
            let variant = variant_on(forced.clone(), name);
            check_logits(&variant);
            check_greedy(&variant);
        }
    }
}

/// A profiled decode step (each kernel timed by GPU timestamps) is a real step: the tokens after
/// it see the same cache as after a plain one.
#[test]
fn a_profiled_step_times_every_kernel_and_computes_the_same() {
    let options = GpuOptions {
        profile: true,
        ..GpuOptions::default()
    };
    let timed = pollster::block_on(Gpu::with_options(options)).unwrap();
    assert!(
        timed.has_timestamps(),
        "lavapipe has timestamps inside passes"
    );
    let timed_rows = timed.info().matvec_rows;
    let variant = variant_on(timed, "llama-gguf-q4_1");
    let prompt = &prompts()[0];
    let (next, after) = (prompt[0], prompt[1]);

    let mut profiled = pollster::block_on(variant.model.session(SessionOptions::new(64))).unwrap();
    pollster::block_on(profiled.logits(prompt, false)).unwrap();
    let times = pollster::block_on(profiled.profile_step(next)).unwrap();
    let kernels: Vec<&str> = times.iter().map(|t| t.kernel.as_str()).collect();
    let matvec = if timed_rows {
        "MatVecRows(Q4_1)"
    } else {
        "MatVec(Q4_1)"
    };
    for kernel in [
        "RmsNorm",
        matvec,
        "RopeStore",
        "Attention",
        "SwiGlu",
        "Sample",
    ] {
        assert!(kernels.contains(&kernel), "{kernel} in {kernels:?}");
    }
    assert_eq!(kernels.last(), Some(&"Sample"));
    assert!(times.iter().all(|t| t.seconds >= 0.0), "{times:?}");
    assert!(
        times.iter().map(|t| t.seconds).sum::<f64>() > 0.0,
        "{times:?}"
    );
    let then = pollster::block_on(profiled.logits(&[after], false)).unwrap();

    let mut plain = pollster::block_on(variant.model.session(SessionOptions::new(64))).unwrap();
    let mut tokens = prompt.clone();
    tokens.extend([next, after]);
    let expected = pollster::block_on(plain.logits(&tokens, false)).unwrap();
    assert!(max_abs_diff(&then[0], &expected[0]) < TOLERANCE);
}
