//! The engine back end on the engine's tiny fixture model (any Vulkan driver; lavapipe on CI):
//! what it reports of a generation.

use std::sync::OnceLock;
use std::time::Duration;

use infer::{Gpu, Model, ModelSource};
use protocol::GenerationPayloadKobold;
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
    let mut payload = json!({"prompt": "Once upon a time"});
    payload
        .as_object_mut()
        .unwrap()
        .extend(params.as_object().unwrap().clone());
    let popped = GenerationPayloadKobold {
        id: Some("j".into()),
        model: Some("tiny".into()),
        payload: payload.as_object().cloned(),
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
