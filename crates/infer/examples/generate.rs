//! Generates text with a model and prints it as it comes.
//!
//! ```sh
//! cargo run --release -p infer --example generate -- \
//!     --model "$(scripts/fetch-smollm2.sh)" --chat --prompt "What is the capital of France?"
//! ```

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use clap::Parser;
use infer::{ChatMessage, GenerateRequest, Gpu, Model, ModelSource, SamplingParams};

#[derive(Parser)]
struct Args {
    /// A .gguf file or a Hugging Face model directory.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    prompt: String,
    /// Treat the prompt as a user's chat message, through the model's chat template.
    #[arg(long)]
    chat: bool,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 0)]
    top_k: u32,
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 0.0)]
    min_p: f32,
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Text that ends the answer (may be given several times).
    #[arg(long)]
    stop: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let gpu = pollster::block_on(Gpu::new())?;
    eprintln!(
        "GPU: {} ({}, {})",
        gpu.info().name,
        gpu.info().backend,
        gpu.info().device_type
    );
    let model = pollster::block_on(Model::load(gpu, ModelSource::Path(args.model)))?;
    let info = model.info();
    eprintln!(
        "model: {} ({:?}, {:.0}M parameters, {})",
        info.name,
        info.architecture,
        info.parameters as f64 / 1e6,
        info.weight_types.join("+")
    );
    let prompt = if args.chat {
        model.chat_prompt(&[ChatMessage::new("user", &args.prompt)])?
    } else {
        args.prompt
    };
    let mut request = GenerateRequest::new(prompt, args.max_tokens);
    request.stop = args.stop;
    request.sampling = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
        ..SamplingParams::default()
    };
    let mut stdout = std::io::stdout();
    let generation = pollster::block_on(model.generate(&request, |event| {
        let _ = write!(stdout, "{}", event.text);
        let _ = stdout.flush();
        ControlFlow::Continue(())
    }))?;
    println!();
    let decoded = generation.tokens.len().saturating_sub(1);
    eprintln!(
        "{} prompt tokens in {:.3} s; {} tokens, {:.1} tokens/s; finished: {:?}",
        generation.prompt_tokens,
        generation.prefill_seconds,
        generation.tokens.len(),
        decoded as f64 / generation.decode_seconds.max(1e-9),
        generation.finish
    );
    Ok(())
}
