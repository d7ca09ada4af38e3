//! A session: one sequence's key/value cache and working buffers, and the forward pass over them.
//!
//! Every kernel launch of a forward pass is prepared when the session is made (bind groups and
//! their parameters); a step only writes the token count and position into one uniform and
//! encodes the launches. Decoding one token uses matrix-vector kernels, prefill of a batch the
//! tiled matrix-matrix kernels; both write the same cache.

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use crate::error::{InferError, Result};
use crate::gpu::kernels::{Dispatch, Grid, Kernel, Kernels};
use crate::gpu::weights::Linear;
use crate::gpu::{f32s, Gpu};
use crate::model::Model;
use crate::sampling::{SamplerParams, SamplingParams};

/// How big a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// Positions the cache holds: prompt and generated tokens together.
    pub capacity: usize,
    /// Most tokens one prefill step runs (the working buffers' height).
    pub batch: usize,
    /// Keep the logits of every token of a step (for evaluation), not only of the last.
    pub all_logits: bool,
}

impl SessionOptions {
    pub fn new(capacity: usize) -> Self {
        SessionOptions {
            capacity,
            batch: 64,
            all_logits: false,
        }
    }
}

/// `Step` of shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct StepParams {
    n_tokens: u32,
    pos0: u32,
    _pad: [u32; 2],
}

/// `Params` of shaders/matrix.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatrixParams {
    rows: u32,
    cols: u32,
    quants_offset: u32,
    flags: u32,
    out_offset: u32,
    out_stride: u32,
    _pad: [u32; 2],
}

const ADD_BIAS: u32 = 1;
const ACCUMULATE: u32 = 2;
const LAST_TOKEN: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EmbedParams {
    rows: u32,
    cols: u32,
    quants_offset: u32,
    first_row: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NormParams {
    dim: u32,
    eps: f32,
    _pad: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct HeadParams {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    /// RoPE: 1 for interleaved pairs. Attention: the score scale, as f32 bits.
    extra: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SwiGluParams {
    ffn: u32,
    _pad: [u32; 3],
}

/// Which matrix kernels a forward pass uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// One token: matrix-vector products.
    Decode,
    /// Several tokens: tiled matrix-matrix products.
    Prefill,
}

/// What a submitted step ends with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Nothing: a prefill chunk whose logits nobody needs.
    None,
    /// The last token's logits, copied for reading back.
    Logits,
    /// Every token's logits, copied for reading back.
    AllLogits,
    /// The next token sampled into the history and copied into readback slot `n`.
    Sample(usize),
}

/// Readback slots for sampled tokens, so several steps can be in flight.
pub(crate) const TOKEN_SLOTS: usize = 4;

pub struct Session {
    gpu: Arc<Gpu>,
    options: SessionOptions,
    vocab: usize,
    pos: usize,
    step: wgpu::Buffer,
    tokens: wgpu::Buffer,
    logits: wgpu::Buffer,
    logits_all: Option<wgpu::Buffer>,
    sampler: wgpu::Buffer,
    logits_readback: wgpu::Buffer,
    token_readback: Vec<wgpu::Buffer>,
    decode: Vec<Dispatch>,
    prefill: Vec<Dispatch>,
    head_last: Vec<Dispatch>,
    head_all: Vec<Dispatch>,
    sample: Dispatch,
}

/// Builds the launches of a session over its buffers.
struct Builder<'a> {
    gpu: &'a Gpu,
    kernels: &'a Kernels,
    step: &'a wgpu::Buffer,
    dummy: wgpu::Buffer,
}

impl Builder<'_> {
    fn uniform<T: Pod>(&self, label: &str, value: T) -> wgpu::Buffer {
        self.gpu.uniform_buffer(label, bytemuck::bytes_of(&value))
    }

    fn linear(
        &self,
        linear: &Linear,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        flags: u32,
        path: Path,
    ) -> Vec<Dispatch> {
        linear
            .parts
            .iter()
            .map(|part| {
                let bias_flag = if part.bias.is_some() { ADD_BIAS } else { 0 };
                let params = self.uniform(
                    "matrix params",
                    MatrixParams {
                        rows: part.rows,
                        cols: part.cols,
                        quants_offset: part.quants_offset,
                        flags: flags | bias_flag,
                        out_offset: part.out_offset,
                        out_stride: linear.rows,
                        _pad: [0; 2],
                    },
                );
                let (kernel, grid) = match path {
                    Path::Decode => {
                        let kernel = if self.gpu.info().matvec_rows {
                            Kernel::MatVecRows
                        } else {
                            Kernel::MatVec
                        };
                        (kernel(part.ty), Grid::folded(part.rows.div_ceil(8)))
                    }
                    Path::Prefill => (
                        Kernel::MatMul(part.ty),
                        Grid::PerTokenTile(part.rows.div_ceil(64), 32),
                    ),
                };
                let bias = part.bias.as_ref().unwrap_or(&self.dummy);
                Dispatch::new(
                    self.gpu,
                    self.kernels,
                    kernel,
                    &[&part.buffer, x, y, bias, &params, self.step],
                    grid,
                )
            })
            .collect()
    }

    fn rmsnorm(
        &self,
        x: &wgpu::Buffer,
        weight: &wgpu::Buffer,
        out: &wgpu::Buffer,
        dim: usize,
        eps: f32,
    ) -> Dispatch {
        let params = self.uniform(
            "norm params",
            NormParams {
                dim: dim as u32,
                eps,
                _pad: [0; 2],
            },
        );
        Dispatch::new(
            self.gpu,
            self.kernels,
            Kernel::RmsNorm,
            &[x, weight, out, &params],
            Grid::PerToken(1),
        )
    }
}

impl Session {
    pub(crate) fn new(model: &Model, options: SessionOptions) -> Result<Session> {
        let config = &model.config;
        if options.capacity == 0 || options.batch == 0 {
            return Err(InferError::InvalidRequest(
                "a session needs room for a token".into(),
            ));
        }
        if options.capacity > config.max_position_embeddings {
            return Err(InferError::InvalidRequest(format!(
                "a context of {} positions is longer than the model's {}",
                options.capacity, config.max_position_embeddings
            )));
        }
        let gpu = model.gpu.clone();
        let (h, q, kv, f, v) = (
            config.hidden_size,
            config.q_dim(),
            config.kv_dim(),
            config.intermediate_size,
            config.vocab_size,
        );
        let (cap, batch) = (options.capacity, options.batch);
        let f32_buffer =
            |label: &str, values: usize| gpu.scratch_buffer(label, (values * 4) as u64);
        let step = gpu.uniform_buffer("step", bytemuck::bytes_of(&StepParams::zeroed()));
        let b = Builder {
            gpu: &gpu,
            kernels: &model.kernels,
            step: &step,
            dummy: f32_buffer("no bias", 4),
        };

        let x = f32_buffer("x", batch * h);
        let xn = f32_buffer("x normed", batch * h);
        let qkv = f32_buffer("qkv", batch * (q + 2 * kv));
        let att = f32_buffer("attention", batch * q);
        let gate_up = f32_buffer("gate_up", batch * 2 * f);
        let ffn = f32_buffer("ffn", batch * f);
        let logits = f32_buffer("logits", v);
        let logits_all = options
            .all_logits
            .then(|| f32_buffer("logits of every token", batch * v));
        let tokens = gpu.scratch_buffer("tokens", (cap as u64 + 1) * 4);
        let rope = gpu.storage_buffer(
            "rope",
            bytemuck::cast_slice(&rope_table(&config.inv_freq(), cap)),
        );

        let embed: Vec<Dispatch> = model
            .weights
            .embed
            .parts
            .iter()
            .map(|part| {
                let params = b.uniform(
                    "embed params",
                    EmbedParams {
                        rows: part.rows,
                        cols: part.cols,
                        quants_offset: part.quants_offset,
                        first_row: part.out_offset,
                    },
                );
                let grid = Grid::PerToken((part.cols / 8).div_ceil(64));
                Dispatch::new(
                    &gpu,
                    &model.kernels,
                    Kernel::Embed(part.ty),
                    &[&part.buffer, &tokens, &x, &params, &step],
                    grid,
                )
            })
            .collect();

        let heads = |extra: u32| HeadParams {
            n_heads: config.num_heads as u32,
            n_kv_heads: config.num_kv_heads as u32,
            head_dim: config.head_dim as u32,
            extra,
        };
        let interleaved = u32::from(config.rope_style == crate::config::RopeStyle::Interleaved);
        let rope_params = b.uniform("rope params", heads(interleaved));
        let scale = 1.0 / (config.head_dim as f32).sqrt();
        let attention_params = b.uniform("attention params", heads(scale.to_bits()));
        let swiglu_params = b.uniform(
            "swiglu params",
            SwiGluParams {
                ffn: f as u32,
                _pad: [0; 3],
            },
        );
        let rope_groups = (((config.num_heads + config.num_kv_heads) * config.head_dim / 2).max(kv)
            as u32)
            .div_ceil(64);
        let eps = config.rms_norm_eps;

        let mut decode = embed.clone();
        let mut prefill = embed;
        for layer in &model.weights.layers {
            let k_cache = f32_buffer("k cache", cap * kv);
            let v_cache = f32_buffer("v cache", cap * kv);
            let attention_input = [&qkv, &k_cache, &v_cache, &att, &attention_params, &step];
            for (path, list) in [(Path::Decode, &mut decode), (Path::Prefill, &mut prefill)] {
                list.push(b.rmsnorm(&x, &layer.attn_norm, &xn, h, eps));
                list.extend(b.linear(&layer.qkv, &xn, &qkv, 0, path));
                list.push(Dispatch::new(
                    &gpu,
                    &model.kernels,
                    Kernel::RopeStore,
                    &[&qkv, &k_cache, &v_cache, &rope, &rope_params, &step],
                    Grid::PerToken(rope_groups),
                ));
                list.push(Dispatch::new(
                    &gpu,
                    &model.kernels,
                    Kernel::Attention,
                    &attention_input,
                    Grid::PerToken(config.num_heads as u32),
                ));
                list.extend(b.linear(&layer.attn_output, &att, &x, ACCUMULATE, path));
                list.push(b.rmsnorm(&x, &layer.ffn_norm, &xn, h, eps));
                list.extend(b.linear(&layer.gate_up, &xn, &gate_up, 0, path));
                list.push(Dispatch::new(
                    &gpu,
                    &model.kernels,
                    Kernel::SwiGlu,
                    &[&gate_up, &ffn, &swiglu_params, &step],
                    Grid::PerToken((f as u32).div_ceil(64)),
                ));
                list.extend(b.linear(&layer.down, &ffn, &x, ACCUMULATE, path));
            }
        }
        let norm = b.rmsnorm(&x, &model.weights.output_norm, &xn, h, eps);
        let mut head_last = vec![norm.clone()];
        head_last.extend(b.linear(&model.weights.head, &xn, &logits, LAST_TOKEN, Path::Decode));
        let mut head_all = vec![norm];
        if let Some(all) = &logits_all {
            head_all.extend(b.linear(&model.weights.head, &xn, all, 0, Path::Prefill));
        }

        let sampler = gpu.uniform_buffer(
            "sampler params",
            bytemuck::bytes_of(&SamplerParams::zeroed()),
        );
        let counts = gpu.scratch_buffer("token counts", (v * 4) as u64);
        let work = f32_buffer("sampling work", v);
        let sample = Dispatch::new(
            &gpu,
            &model.kernels,
            Kernel::Sample,
            &[&logits, &tokens, &counts, &work, &sampler, &step],
            Grid::Fixed(1, 1),
        );
        let logits_readback = gpu.readback_buffer(
            "logits readback",
            (v * if options.all_logits { batch } else { 1 } * 4) as u64,
        );
        let token_readback = (0..TOKEN_SLOTS)
            .map(|_| gpu.readback_buffer("token readback", 4))
            .collect();
        Ok(Session {
            gpu,
            options,
            vocab: v,
            pos: 0,
            step,
            tokens,
            logits,
            logits_all,
            sampler,
            logits_readback,
            token_readback,
            decode,
            prefill,
            head_last,
            head_all,
            sample,
        })
    }

    pub fn options(&self) -> SessionOptions {
        self.options
    }

    /// Positions already in the cache.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Forgets the sequence (the cache is overwritten from position 0 on).
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Runs `tokens` through the model after what the session holds, and returns the logits of
    /// the last token (or, with `all` and a session made with `all_logits`, of each token).
    pub async fn logits(&mut self, tokens: &[u32], all: bool) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::new();
        if all {
            self.each_logits(tokens, 0, |row| out.push(row.to_vec()))
                .await?;
        } else if !tokens.is_empty() {
            self.check_room(tokens.len(), 0)?;
            self.write_tokens(tokens);
            let submission = self.submit_prefill(tokens.len(), Tail::Logits);
            let bytes = self
                .gpu
                .read(&self.logits_readback, (self.vocab * 4) as u64, submission)
                .await?;
            out.push(f32s(&bytes));
        }
        Ok(out)
    }

    /// Runs `tokens` through the model after what the session holds (made with `all_logits`),
    /// and calls `each` with the logits of each token from `tokens[first..]`, in order, batch by
    /// batch; the tokens before `first` are run without computing theirs.
    pub(crate) async fn each_logits(
        &mut self,
        tokens: &[u32],
        first: usize,
        mut each: impl FnMut(&mut [f32]),
    ) -> Result<()> {
        if self.logits_all.is_none() {
            return Err(InferError::InvalidRequest(
                "this session keeps only the last logits".into(),
            ));
        }
        self.check_room(tokens.len(), 0)?;
        self.write_tokens(tokens);
        if first > 0 {
            self.submit_prefill(first, Tail::None);
        }
        for chunk in tokens[first..].chunks(self.options.batch) {
            let submission = self.submit(chunk.len(), Tail::AllLogits);
            let bytes = self
                .gpu
                .read(
                    &self.logits_readback,
                    (chunk.len() * self.vocab * 4) as u64,
                    submission,
                )
                .await?;
            f32s(&bytes).chunks_mut(self.vocab).for_each(&mut each);
        }
        Ok(())
    }

    pub(crate) fn check_room(&self, tokens: usize, extra: usize) -> Result<()> {
        if self.pos + tokens + extra > self.options.capacity {
            return Err(InferError::InvalidRequest(format!(
                "{} more positions do not fit a context of {} holding {}",
                tokens + extra,
                self.options.capacity,
                self.pos
            )));
        }
        Ok(())
    }

    /// Puts tokens into the history at the current position (where the next step reads them).
    pub(crate) fn write_tokens(&self, tokens: &[u32]) {
        self.gpu.queue.write_buffer(
            &self.tokens,
            (self.pos * 4) as u64,
            bytemuck::cast_slice(tokens),
        );
    }

    pub(crate) fn set_sampling(
        &self,
        sampling: &SamplingParams,
        vocab_size: usize,
        stop_ids: &[u32],
    ) {
        let params = sampling.to_gpu(vocab_size as u32, stop_ids);
        self.gpu
            .queue
            .write_buffer(&self.sampler, 0, bytemuck::bytes_of(&params));
    }

    /// Prefills `tokens` (already written) in batches; the last batch ends with `tail`.
    pub(crate) fn submit_prefill(&mut self, count: usize, tail: Tail) -> wgpu::SubmissionIndex {
        let mut remaining = count;
        loop {
            let n = remaining.min(self.options.batch);
            remaining -= n;
            let submission = self.submit(n, if remaining == 0 { tail } else { Tail::None });
            if remaining == 0 {
                return submission;
            }
        }
    }

    /// The kernels of one forward pass over `n` tokens ending with `tail`, in order.
    fn step_dispatches(&self, n: usize, tail: Tail) -> impl Iterator<Item = &Dispatch> {
        let body = if n == 1 { &self.decode } else { &self.prefill };
        let head: &[Dispatch] = match tail {
            Tail::None => &[],
            Tail::Logits | Tail::Sample(_) => &self.head_last,
            Tail::AllLogits => &self.head_all,
        };
        let sample = matches!(tail, Tail::Sample(_)).then_some(&self.sample);
        body.iter().chain(head).chain(sample)
    }

    /// Tells the kernels how many tokens the next pass runs, from the current position.
    fn write_step(&self, n: usize) {
        let step = StepParams {
            n_tokens: n as u32,
            pos0: self.pos as u32,
            _pad: [0; 2],
        };
        self.gpu
            .queue
            .write_buffer(&self.step, 0, bytemuck::bytes_of(&step));
    }

    /// Encodes and submits one forward pass over `n` tokens at the current position, which the
    /// pass then advances by `n`.
    pub(crate) fn submit(&mut self, n: usize, tail: Tail) -> wgpu::SubmissionIndex {
        self.write_step(n);
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for dispatch in self.step_dispatches(n, tail) {
                dispatch.encode(&mut pass, n as u32);
            }
        }
        let logits_bytes = (self.vocab * 4) as u64;
        match tail {
            Tail::None => {}
            Tail::Logits => encoder.copy_buffer_to_buffer(
                &self.logits,
                0,
                &self.logits_readback,
                0,
                logits_bytes,
            ),
            Tail::AllLogits => {
                let all = self.logits_all.as_ref().expect("checked by the caller");
                encoder.copy_buffer_to_buffer(
                    all,
                    0,
                    &self.logits_readback,
                    0,
                    logits_bytes * n as u64,
                );
            }
            Tail::Sample(slot) => {
                let at = ((self.pos + n) * 4) as u64;
                encoder.copy_buffer_to_buffer(&self.tokens, at, &self.token_readback[slot], 0, 4);
            }
        }
        self.pos += n;
        self.gpu.queue.submit([encoder.finish()])
    }

    /// The token a `Tail::Sample(slot)` step chose.
    pub(crate) async fn read_token(
        &self,
        slot: usize,
        submission: wgpu::SubmissionIndex,
    ) -> Result<u32> {
        let bytes = self
            .gpu
            .read(&self.token_readback[slot], 4, submission)
            .await?;
        Ok(u32::from_le_bytes(bytes[..4].try_into().unwrap()))
    }
}

impl Session {
    /// Runs one decode step of `token` (sampling the next one, as generation does) with a GPU
    /// timestamp between every two kernels, and returns each kernel's time, in the order they
    /// ran. Needs a GPU opened with `GpuOptions::profile` that has timestamps
    /// (`Gpu::has_timestamps`).
    pub async fn profile_step(&mut self, token: u32) -> Result<Vec<KernelTime>> {
        if !self.gpu.has_timestamps() {
            return Err(InferError::Gpu(
                "kernels can only be timed on a GPU opened to profile, with timestamps".into(),
            ));
        }
        self.check_room(1, 1)?;
        self.write_tokens(&[token]);
        self.write_step(1);
        let dispatches: Vec<&Dispatch> = self.step_dispatches(1, Tail::Sample(0)).collect();
        let kernels: Vec<Kernel> = dispatches.iter().map(|d| d.kernel()).collect();
        let stamps = kernels.len() as u32 + 1;
        let bytes = u64::from(stamps) * 8;
        let device = &self.gpu.device;
        let queries = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel times"),
            ty: wgpu::QueryType::Timestamp,
            count: stamps,
        });
        let resolved = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel times"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = self.gpu.readback_buffer("kernel times readback", bytes);
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for (i, dispatch) in dispatches.iter().enumerate() {
                pass.write_timestamp(&queries, i as u32);
                dispatch.encode(&mut pass, 1);
            }
            pass.write_timestamp(&queries, stamps - 1);
        }
        encoder.resolve_query_set(&queries, 0..stamps, &resolved, 0);
        encoder.copy_buffer_to_buffer(&resolved, 0, &readback, 0, bytes);
        let submission = self.gpu.queue.submit([encoder.finish()]);
        self.pos += 1;
        let ticks: Vec<u64> = self
            .gpu
            .read(&readback, bytes, submission)
            .await?
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let seconds_per_tick = f64::from(self.gpu.queue.get_timestamp_period()) * 1e-9;
        Ok(kernels
            .iter()
            .zip(ticks.windows(2))
            .map(|(kernel, pair)| KernelTime {
                kernel: format!("{kernel:?}"),
                seconds: pair[1].saturating_sub(pair[0]) as f64 * seconds_per_tick,
            })
            .collect())
    }
}

/// How long one kernel of a step ran on the GPU (`Session::profile_step`).
#[derive(Clone, Debug)]
pub struct KernelTime {
    /// The kernel, and for a matrix kernel the weights' type: `MatVec(Q4_1)`.
    pub kernel: String,
    pub seconds: f64,
}

/// cos and sin of every position's angle for every rotary pair, as transformers computes them
/// (the angle as an f32 product, its cosine exact).
fn rope_table(inv_freq: &[f32], positions: usize) -> Vec<[f32; 2]> {
    let mut table = Vec::with_capacity(positions * inv_freq.len());
    for pos in 0..positions {
        for &freq in inv_freq {
            let angle = f64::from(pos as f32 * freq);
            table.push([angle.cos() as f32, angle.sin() as f32]);
        }
    }
    table
}
