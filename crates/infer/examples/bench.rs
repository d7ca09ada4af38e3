//! The engine's benchmark: for each model, load time, prefill and decode speed, and the weight
//! bandwidth decoding achieves next to the adapter's own copy bandwidth (the roofline: decoding
//! reads every weight once per token, so bandwidth bounds it); what checking a generation costs
//! next to generating it (scoring is one batched pass, generation one step per token); then the
//! same model on the CPU reference implementation.
//!
//! ```sh
//! cargo run --release -p infer --example bench                      # fixture + SmolLM2
//! cargo run --release -p infer --example bench -- --model F.gguf --decode-tokens 128
//! ```

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use infer::reference::CpuModel;
use infer::{GenerateRequest, Gpu, Model, ModelSource, SamplingParams, SessionOptions};
use web_time::Instant;

#[derive(Parser)]
struct Args {
    /// Models to measure (a .gguf file or a Hugging Face directory); by default the q4_1
    /// fixture and SmolLM2-135M-Instruct from scripts/fetch-smollm2.sh's cache.
    #[arg(long)]
    model: Vec<PathBuf>,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 128)]
    prompt_tokens: usize,
    /// Tokens generated for the decode measurement.
    #[arg(long, default_value_t = 64)]
    decode_tokens: usize,
    /// Prompt length for the check measurement (a generation of --decode-tokens is scored).
    #[arg(long, default_value_t = 100)]
    check_prompt_tokens: usize,
    /// Tokens the CPU reference decodes (it is slow on big models).
    #[arg(long, default_value_t = 16)]
    cpu_tokens: usize,
    /// Skip the CPU reference.
    #[arg(long)]
    no_cpu: bool,
}

fn default_models() -> Vec<PathBuf> {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny-llama.q4_1.gguf");
    let cache = std::env::var_os("POTLUCK_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/potluck-models"))
        })
        .unwrap_or_default();
    let smollm2 = cache.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if !smollm2.exists() {
        eprintln!(
            "({} is missing: run scripts/fetch-smollm2.sh to measure it too)",
            smollm2.display()
        );
    }
    [fixture, smollm2]
        .into_iter()
        .filter(|p| p.exists())
        .collect()
}

/// Bytes per second of a GPU buffer-to-buffer copy (each byte read once and written once).
fn copy_bandwidth(gpu: &Gpu) -> f64 {
    let bytes = (256u64 << 20).min(gpu.info().max_binding_bytes);
    let (seconds, reps) = gpu.time_copies(bytes, 10);
    2.0 * bytes as f64 * reps as f64 / seconds
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let gpu = pollster::block_on(Gpu::new())?;
    let info = gpu.info();
    println!(
        "adapter: {} ({}, {}, {})",
        info.name, info.backend, info.device_type, info.driver
    );
    let copy = copy_bandwidth(&gpu);
    println!("copy bandwidth: {:.2} GB/s", copy / 1e9);
    let models = if args.model.is_empty() {
        default_models()
    } else {
        args.model.clone()
    };
    for path in models {
        println!();
        bench_model(&gpu, &path, &args, copy)?;
    }
    Ok(())
}

fn bench_model(
    gpu: &Arc<Gpu>,
    path: &Path,
    args: &Args,
    copy: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let model = pollster::block_on(Model::load(
        gpu.clone(),
        ModelSource::Path(path.to_path_buf()),
    ))?;
    gpu.wait_idle();
    let load = started.elapsed().as_secs_f64();
    let info = model.info().clone();
    println!(
        "model: {} ({:.1}M parameters, {}, {:.1} MB of weights per token)",
        info.name,
        info.parameters as f64 / 1e6,
        info.weight_types.join("+"),
        info.bytes_per_token as f64 / 1e6
    );
    println!("  load: {load:.3} s");

    // Kernels compile on first use: one short generation first, so they are not timed.
    let vocab = model.config().vocab_size as u32;
    let prompt: Vec<u32> = (0..args.prompt_tokens as u32)
        .map(|i| (i * 7919 + 13) % vocab)
        .collect();
    let mut warm = GenerateRequest::new("Hello", 2);
    warm.stop_at_eos = false;
    pollster::block_on(model.generate(&warm, |_| ControlFlow::Continue(())))?;
    let options = SessionOptions::new(args.prompt_tokens.next_multiple_of(64));
    let mut session = pollster::block_on(model.session(options))?;
    pollster::block_on(session.logits(&prompt[..2], false))?;

    session.reset();
    let t = Instant::now();
    pollster::block_on(session.logits(&prompt, false))?;
    let prefill = args.prompt_tokens as f64 / t.elapsed().as_secs_f64();
    println!(
        "  prefill: {prefill:.1} tokens/s ({} tokens)",
        args.prompt_tokens
    );

    let mut request = GenerateRequest::new("Once upon a time", args.decode_tokens);
    request.stop_at_eos = false;
    let generation = pollster::block_on(model.generate(&request, |_| ControlFlow::Continue(())))?;
    let decode = (generation.tokens.len() - 1) as f64 / generation.decode_seconds;
    let achieved = info.bytes_per_token as f64 * decode;
    println!(
        "  decode: {decode:.1} tokens/s ({} tokens)",
        generation.tokens.len()
    );
    println!(
        "  weights read: {:.2} GB/s = {:.1}% of the copy bandwidth",
        achieved / 1e9,
        100.0 * achieved / copy
    );

    check(&model, args)?;

    if !args.no_cpu {
        let cpu = CpuModel::load(ModelSource::Path(path.to_path_buf()))?;
        let mut state = cpu.state(args.prompt_tokens + args.cpu_tokens);
        let t = Instant::now();
        for &token in &prompt {
            cpu.forward(&mut state, token);
        }
        let cpu_prefill = args.prompt_tokens as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut token = 0;
        for _ in 0..args.cpu_tokens {
            let logits = cpu.forward(&mut state, token);
            token = argmax(&logits);
        }
        let cpu_decode = args.cpu_tokens as f64 / t.elapsed().as_secs_f64();
        println!(
            "  CPU reference ({} threads, f32): prefill {cpu_prefill:.1} tokens/s, decode {cpu_decode:.1} tokens/s",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        println!(
            "  GPU / CPU reference: prefill {:.2}x, decode {:.2}x",
            prefill / cpu_prefill,
            decode / cpu_decode
        );
    }
    Ok(())
}

/// Generates --decode-tokens after a prompt of about --check-prompt-tokens, then scores them as a
/// trusted worker checks another's generation, and compares the two.
fn check(model: &Model, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut prompt = String::new();
    while model.tokenizer().encode(&prompt, true)?.len() < args.check_prompt_tokens {
        prompt.push_str("The quick brown fox jumps over the lazy dog. ");
    }
    let mut request = GenerateRequest::new(prompt, args.decode_tokens);
    request.stop_at_eos = false;
    request.sampling = SamplingParams {
        temperature: 0.8,
        top_k: 40,
        top_p: 0.95,
        repetition_penalty: 1.1,
        seed: 1,
        ..SamplingParams::default()
    };
    let generation = pollster::block_on(model.generate(&request, |_| ControlFlow::Continue(())))?;
    let generating = generation.prefill_seconds + generation.decode_seconds;
    let decode = (generation.tokens.len() - 1) as f64 / generation.decode_seconds;
    // The first scoring makes the session that keeps every token's logits: not timed.
    pollster::block_on(model.score(&request, &generation.tokens))?;
    let t = Instant::now();
    let scores = pollster::block_on(model.score(&request, &generation.tokens))?;
    let checking = t.elapsed().as_secs_f64();
    let scored = scores.len() as f64 / checking;
    println!(
        "  check: {scored:.1} scored tokens/s ({} tokens after a {}-token prompt in {checking:.3} s), \
         decode {decode:.1} tokens/s: {:.1}x; the whole generation took {generating:.3} s, {:.1}x the check",
        scores.len(),
        generation.prompt_tokens,
        scored / decode,
        generating / checking
    );
    // The cluster's work spent on checks when a share `rate` of the jobs is checked: every job of
    // a new worker, the floor (potluck's default 5%) for one with a long clean record.
    let cost = checking / generating;
    let share = |rate: f64| 100.0 * rate * cost / (1.0 + rate * cost);
    println!(
        "  checks take {:.1}% of the cluster's work when every job is checked, {:.1}% at the 5% floor",
        share(1.0),
        share(0.05)
    );
    Ok(())
}

fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}
