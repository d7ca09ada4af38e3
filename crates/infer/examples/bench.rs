//! The engine's benchmark: for each model, load time, prefill and decode speed, and the weight
//! bandwidth decoding achieves next to the adapter's own copy bandwidth (the roofline: decoding
//! reads every weight once per token, so bandwidth bounds it); what checking a generation costs
//! next to generating it (scoring is one batched pass, generation one step per token); then the
//! same model on the CPU reference implementation.
//!
//! ```sh
//! cargo run --release -p infer --example bench                      # fixture + SmolLM2
//! cargo run --release -p infer --example bench -- --model F.gguf --decode-tokens 128
//! cargo run --release -p infer --example bench -- --profile --no-cpu   # each kernel's GPU time
//! ```

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use infer::reference::CpuModel;
use infer::{GenerateRequest, Gpu, GpuOptions, Model, ModelSource, SamplingParams, SessionOptions};
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
    /// Context lengths (prompt tokens) to measure decoding after: attention reads the whole
    /// cache, so decoding slows as the context grows.
    #[arg(long, value_delimiter = ',', default_value = "16,512,2048")]
    contexts: Vec<usize>,
    /// Also time each kernel of a decode step with GPU timestamps, at each context length.
    #[arg(long)]
    profile: bool,
}

/// Decode steps timed per context length by --profile.
const PROFILE_STEPS: usize = 8;

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
    let gpu = pollster::block_on(Gpu::with_options(GpuOptions {
        profile: args.profile,
        ..GpuOptions::default()
    }))?;
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

    decode_at_contexts(&model, args)?;
    if args.profile {
        profile(gpu, &model, args)?;
    }
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
    let prompt = prompt_of(model, args.check_prompt_tokens)?;
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

/// A text of at least `tokens` tokens (a few more at most).
fn prompt_of(model: &Model, tokens: usize) -> Result<String, Box<dyn std::error::Error>> {
    const SENTENCE: &str = "The quick brown fox jumps over the lazy dog. ";
    let per_sentence = model.tokenizer().encode(SENTENCE, false)?.len().max(1);
    let mut prompt = SENTENCE.repeat(tokens / per_sentence);
    while model.tokenizer().encode(&prompt, true)?.len() < tokens {
        prompt.push_str(SENTENCE);
    }
    Ok(prompt)
}

/// Decoding's speed after a prompt of each --contexts length, next to the first one's.
fn decode_at_contexts(model: &Model, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let longest = model.config().max_position_embeddings;
    let mut first = None;
    for &context in &args.contexts {
        if context + args.decode_tokens + 16 > longest {
            println!("  decode after {context} tokens: longer than the model's {longest}");
            continue;
        }
        let mut request = GenerateRequest::new(prompt_of(model, context)?, args.decode_tokens);
        request.stop_at_eos = false;
        let generation =
            pollster::block_on(model.generate(&request, |_| ControlFlow::Continue(())))?;
        let speed = (generation.tokens.len() - 1) as f64 / generation.decode_seconds;
        let base = *first.get_or_insert(speed);
        println!(
            "  decode after {} tokens: {speed:.1} tokens/s ({:.0}% of the first)",
            generation.prompt_tokens,
            100.0 * speed / base
        );
    }
    Ok(())
}

/// Where a decode step's time goes: each kernel's GPU time over a few steps after a prompt of
/// each --contexts length, summed by kernel, next to the step's wall time.
fn profile(gpu: &Gpu, model: &Model, args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if !gpu.has_timestamps() {
        println!("  profile: this adapter cannot time kernels (no timestamps inside passes)");
        return Ok(());
    }
    let vocab = model.config().vocab_size as u32;
    for &context in &args.contexts {
        if context + PROFILE_STEPS + 1 > model.config().max_position_embeddings {
            continue;
        }
        let options = SessionOptions::new((context + PROFILE_STEPS + 1).next_multiple_of(64));
        let mut session = pollster::block_on(model.session(options))?;
        let prompt: Vec<u32> = (0..context as u32)
            .map(|i| (i * 7919 + 13) % vocab)
            .collect();
        pollster::block_on(session.logits(&prompt, false))?;
        let mut by_kernel: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        let mut dispatches = 0;
        let started = Instant::now();
        for step in 0..PROFILE_STEPS {
            let times = pollster::block_on(session.profile_step(prompt[step % prompt.len()]))?;
            dispatches = times.len();
            for time in times {
                let entry = by_kernel.entry(time.kernel).or_default();
                entry.0 += time.seconds;
                entry.1 += 1;
            }
        }
        let wall = started.elapsed().as_secs_f64() / PROFILE_STEPS as f64;
        let steps = PROFILE_STEPS as f64;
        let total: f64 = by_kernel.values().map(|(s, _)| s).sum::<f64>() / steps;
        println!(
            "  profile after {context} tokens: {:.2} ms of kernels per token in {dispatches} \
             dispatches; {:.2} ms per step with its submit and readback",
            total * 1e3,
            wall * 1e3
        );
        let mut rows: Vec<_> = by_kernel.into_iter().collect();
        rows.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
        for (kernel, (seconds, count)) in rows {
            let per_token = seconds / steps;
            println!(
                "    {kernel:<18} {:>8.3} ms {:>5.1}%  ({} per token)",
                per_token * 1e3,
                100.0 * per_token / total,
                count / PROFILE_STEPS
            );
        }
    }
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
