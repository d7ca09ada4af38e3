//! What the engine's tests share: one GPU for the whole test binary, and the fixtures made by
//! `fixtures/make_fixtures.py`.
#![allow(dead_code)] // each test binary uses part of this

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use infer::{Generation, Gpu, Model, ModelSource, TokenScore};
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The adapter wgpu picks (lavapipe, Mesa's software Vulkan, on CI). Tests share it: opening a
/// device per test would cost more than most tests.
pub fn gpu() -> Arc<Gpu> {
    static GPU: OnceLock<Arc<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = pollster::block_on(Gpu::new())
            .expect("no GPU adapter: install a Vulkan driver (Debian: mesa-vulkan-drivers)");
        eprintln!("GPU: {:?}", gpu.info());
        gpu
    })
    .clone()
}

pub fn load(path: PathBuf) -> Model {
    load_on(gpu(), path)
}

pub fn load_on(gpu: Arc<Gpu>, path: PathBuf) -> Model {
    pollster::block_on(Model::load(gpu, ModelSource::Path(path.clone())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// reference.json.
pub fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

/// The largest absolute difference between two equally long lists.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// How far outside a limit an honest token may seem: the scorer's logits come from a prefill,
/// the generator's from decoding, which round differently.
pub const SLACK: f32 = 1e-3;

/// The scores that break a limit of their request by more than [`SLACK`]: for a greedy
/// request, that of the best token.
pub fn violations(scores: &[TokenScore], greedy: bool) -> Vec<&TokenScore> {
    scores
        .iter()
        .filter(|s| {
            (greedy && s.greedy_margin < -SLACK)
                || [s.top_k_margin, s.top_p_margin, s.min_p_margin]
                    .into_iter()
                    .flatten()
                    .any(|m| m < -SLACK)
        })
        .collect()
}

/// A generation's tokens as a worker reports them: the end-of-text token included.
pub fn reported_tokens(generation: &Generation) -> Vec<u32> {
    generation
        .tokens
        .iter()
        .chain(&generation.end_token)
        .copied()
        .collect()
}
