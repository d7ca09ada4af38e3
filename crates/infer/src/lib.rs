//! Potluck's inference engine: Llama-family decoders (Llama 2/3, Qwen2/2.5, SmolLM, TinyLlama)
//! in WGSL compute shaders on wgpu, the same code natively (Vulkan, Metal, DX12) and in the
//! browser (WebGPU).
//!
//! ```no_run
//! # async fn example() -> infer::Result<()> {
//! use infer::{ChatMessage, GenerateRequest, Gpu, Model, ModelSource};
//! let gpu = Gpu::new().await?;
//! let model = Model::load(gpu, ModelSource::Path("SmolLM2-135M-Instruct.Q4_1.gguf".into())).await?;
//! let prompt = model.chat_prompt(&[ChatMessage::new("user", "What is the capital of France?")])?;
//! let answer = model
//!     .generate(&GenerateRequest::new(prompt, 64), |token| {
//!         print!("{}", token.text);
//!         std::ops::ControlFlow::Continue(())
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Weights come from Hugging Face directories (`config.json`, `tokenizer.json`, safetensors in
//! f32, f16 or bf16) or GGUF files (f32, f16, bf16, q8_0, q4_0, q4_1, with the tokenizer and chat
//! template in their metadata). Quantised weights stay quantised on the GPU and are dequantised
//! by the kernels as they read them.
//!
//! [`Model::score`] checks a generation someone else made: how each of its tokens stands under the
//! model and the request's own sampling rules ([`TokenScore`]), from one batched pass over the
//! prompt and the tokens, at about the cost of a prefill.
//!
//! Natively, GPU waits block the calling thread: run generation on a thread of its own (or
//! `spawn_blocking`), not on an async executor's worker.

mod config;
mod error;
mod generate;
mod gguf;
mod gpu;
mod model;
mod quant;
#[cfg(not(target_arch = "wasm32"))]
pub mod reference;
mod sampling;
mod score;
mod scoring;
mod session;
mod stops;
mod tensors;
mod tokenizer;
mod transcript;

pub use chat::{ChatMessage, ChatTemplate, TemplateError, FALLBACK_TEMPLATE};
pub use config::{Architecture, ModelConfig, RopeScaling, RopeStyle};
pub use error::{InferError, Result};
pub use generate::{CancelToken, FinishReason, GenerateRequest, Generation, Replay, TokenEvent};
pub use gguf::{Gguf, MetaValue};
pub use gpu::{Gpu, GpuInfo, GpuOptions};
pub use model::{HfFiles, Model, ModelInfo, ModelSource};
pub use quant::{dequantize, WeightType};
pub use sampling::SamplingParams;
pub use scoring::TokenScore;
pub use session::{KernelTime, Session, SessionOptions};
pub use tokenizer::{StreamDecoder, TextTokenizer};
