//! The same decoder as plain f32 loops on the CPU: every weight dequantised once at load, one
//! token at a time, matrix rows split over the CPU's threads. It is the benchmark's point of
//! comparison for the GPU engine, and a second implementation to test against.

use crate::config::{ModelConfig, RopeStyle};
use crate::error::{invalid, Result};
use crate::model::ModelSource;
use crate::tokenizer::TextTokenizer;

struct CpuLayer {
    attn_norm: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    q_bias: Option<Vec<f32>>,
    k_bias: Option<Vec<f32>>,
    v_bias: Option<Vec<f32>>,
    o: Vec<f32>,
    ffn_norm: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
}

pub struct CpuModel {
    config: ModelConfig,
    tokenizer: TextTokenizer,
    embed: Vec<f32>,
    /// None when the head is the embedding.
    head: Option<Vec<f32>>,
    output_norm: Vec<f32>,
    layers: Vec<CpuLayer>,
    inv_freq: Vec<f32>,
}

/// One sequence's key/value cache.
pub struct CpuState {
    pos: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

impl CpuModel {
    pub fn load(source: ModelSource) -> Result<CpuModel> {
        let (files, name) = source.into_files()?;
        let parsed = files.parse(name)?;
        let t = &parsed.tensors;
        let config = parsed.config;
        // Every tensor, checked against the config so that the loops below cannot go out of
        // bounds.
        let tensor = |name: &str, elements: usize| -> Result<Vec<f32>> {
            let values = t.require(name)?.to_f32();
            if values.len() != elements {
                return Err(invalid(format!(
                    "{name} has {} values, expected {elements}",
                    values.len()
                )));
            }
            Ok(values)
        };
        let optional =
            |name: &str, elements: usize| t.get(name).map(|_| tensor(name, elements)).transpose();
        let (h, q, kv, f) = (
            config.hidden_size,
            config.q_dim(),
            config.kv_dim(),
            config.intermediate_size,
        );
        let layers = (0..config.num_layers)
            .map(|l| {
                let n = |s: &str| format!("blk.{l}.{s}");
                Ok(CpuLayer {
                    attn_norm: tensor(&n("attn_norm.weight"), h)?,
                    q: tensor(&n("attn_q.weight"), q * h)?,
                    k: tensor(&n("attn_k.weight"), kv * h)?,
                    v: tensor(&n("attn_v.weight"), kv * h)?,
                    q_bias: optional(&n("attn_q.bias"), q)?,
                    k_bias: optional(&n("attn_k.bias"), kv)?,
                    v_bias: optional(&n("attn_v.bias"), kv)?,
                    o: tensor(&n("attn_output.weight"), h * q)?,
                    ffn_norm: tensor(&n("ffn_norm.weight"), h)?,
                    gate: tensor(&n("ffn_gate.weight"), f * h)?,
                    up: tensor(&n("ffn_up.weight"), f * h)?,
                    down: tensor(&n("ffn_down.weight"), h * f)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let vocab = config.vocab_size * h;
        Ok(CpuModel {
            inv_freq: config.inv_freq(),
            embed: tensor("token_embd.weight", vocab)?,
            head: optional("output.weight", vocab)?,
            output_norm: tensor("output_norm.weight", h)?,
            layers,
            tokenizer: parsed.tokenizer,
            config,
        })
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    pub fn state(&self, capacity: usize) -> CpuState {
        let kv = capacity * self.config.kv_dim();
        CpuState {
            pos: 0,
            keys: vec![vec![0.0; kv]; self.config.num_layers],
            values: vec![vec![0.0; kv]; self.config.num_layers],
        }
    }

    /// Runs one token at the state's next position and returns the logits after it.
    pub fn forward(&self, state: &mut CpuState, token: u32) -> Vec<f32> {
        let c = &self.config;
        let (h, hd, kv_dim, f) = (c.hidden_size, c.head_dim, c.kv_dim(), c.intermediate_size);
        let pos = state.pos;
        let mut x = self.embed[token as usize * h..(token as usize + 1) * h].to_vec();
        for (l, layer) in self.layers.iter().enumerate() {
            let xn = rmsnorm(&x, &layer.attn_norm, c.rms_norm_eps);
            let mut q = matvec(&layer.q, &xn, layer.q_bias.as_deref());
            let mut k = matvec(&layer.k, &xn, layer.k_bias.as_deref());
            let v = matvec(&layer.v, &xn, layer.v_bias.as_deref());
            for head in q.chunks_mut(hd).chain(k.chunks_mut(hd)) {
                self.rotate(head, pos);
            }
            state.keys[l][pos * kv_dim..(pos + 1) * kv_dim].copy_from_slice(&k);
            state.values[l][pos * kv_dim..(pos + 1) * kv_dim].copy_from_slice(&v);
            let group = c.num_heads / c.num_kv_heads;
            let mut att = vec![0.0; c.q_dim()];
            for (head, out) in att.chunks_mut(hd).enumerate() {
                let qh = &q[head * hd..(head + 1) * hd];
                let kv_off = head / group * hd;
                let mut scores: Vec<f32> = (0..=pos)
                    .map(|p| {
                        let key = &state.keys[l][p * kv_dim + kv_off..p * kv_dim + kv_off + hd];
                        dot(qh, key) / (hd as f32).sqrt()
                    })
                    .collect();
                softmax(&mut scores);
                for (p, w) in scores.iter().enumerate() {
                    let value = &state.values[l][p * kv_dim + kv_off..p * kv_dim + kv_off + hd];
                    for (o, v) in out.iter_mut().zip(value) {
                        *o += w * v;
                    }
                }
            }
            add(&mut x, &matvec(&layer.o, &att, None));
            let xn = rmsnorm(&x, &layer.ffn_norm, c.rms_norm_eps);
            let gate = matvec(&layer.gate, &xn, None);
            let up = matvec(&layer.up, &xn, None);
            let hidden: Vec<f32> = (0..f)
                .map(|i| gate[i] / (1.0 + (-gate[i]).exp()) * up[i])
                .collect();
            add(&mut x, &matvec(&layer.down, &hidden, None));
        }
        state.pos += 1;
        let xn = rmsnorm(&x, &self.output_norm, c.rms_norm_eps);
        matvec(self.head.as_ref().unwrap_or(&self.embed), &xn, None)
    }

    fn rotate(&self, head: &mut [f32], pos: usize) {
        let half = head.len() / 2;
        for (i, &freq) in self.inv_freq.iter().enumerate() {
            let angle = f64::from(pos as f32 * freq);
            let (sin, cos) = (angle.sin() as f32, angle.cos() as f32);
            let (a, b) = match self.config.rope_style {
                RopeStyle::Halves => (i, i + half),
                RopeStyle::Interleaved => (2 * i, 2 * i + 1),
            };
            let (xa, xb) = (head[a], head[b]);
            head[a] = xa * cos - xb * sin;
            head[b] = xb * cos + xa * sin;
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

fn rmsnorm(x: &[f32], weight: &[f32], eps: f32) -> Vec<f32> {
    let scale = 1.0 / (dot(x, x) / x.len() as f32 + eps).sqrt();
    x.iter().zip(weight).map(|(v, w)| v * scale * w).collect()
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// W x (+ b) for a row-major W, its rows split over the CPU's threads.
fn matvec(w: &[f32], x: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let cols = x.len();
    let rows = w.len() / cols;
    let mut out = vec![0.0; rows];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = rows.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (i, chunk) in out.chunks_mut(per_thread).enumerate() {
            scope.spawn(move || {
                for (j, o) in chunk.iter_mut().enumerate() {
                    let row = i * per_thread + j;
                    *o = dot(&w[row * cols..(row + 1) * cols], x) + bias.map_or(0.0, |b| b[row]);
                }
            });
        }
    });
    out
}
