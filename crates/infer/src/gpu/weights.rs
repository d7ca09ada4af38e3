//! A model's weights on the GPU.
//!
//! Matrices keep their file's type (the kernels dequantise as they read). Matrices that are
//! read by the same input are concatenated by rows where their types agree (q, k and v; gate
//! and up), so that one dispatch reads them all; a matrix larger than one binding may hold is
//! split by rows. Either way a linear layer is a list of parts, each writing its rows at an
//! offset of the output.

use std::collections::BTreeSet;

use crate::config::ModelConfig;
use crate::error::{invalid, Result};
use crate::gpu::Gpu;
use crate::quant::{self, WeightType};
use crate::tensors::{TensorSet, TensorView};

/// One buffer of matrix rows.
#[derive(Clone)]
pub(crate) struct MatrixPart {
    pub buffer: wgpu::Buffer,
    pub ty: WeightType,
    pub rows: u32,
    pub cols: u32,
    pub quants_offset: u32,
    /// Where this part's first row goes in the output (also the first token id, for an
    /// embedding).
    pub out_offset: u32,
    pub bias: Option<wgpu::Buffer>,
}

/// y = W x (+ b) with W given in parts.
#[derive(Clone)]
pub(crate) struct Linear {
    pub parts: Vec<MatrixPart>,
    /// Output size: all parts' rows.
    pub rows: u32,
    /// Bytes of weights one full read of the matrix touches.
    pub bytes: u64,
}

/// A matrix (and its bias, if any) that a linear layer is made of.
pub(crate) struct Source<'t, 'a> {
    pub weight: &'t TensorView<'a>,
    pub bias: Option<&'t TensorView<'a>>,
    pub rows: usize,
    pub cols: usize,
}

impl<'t, 'a> Source<'t, 'a> {
    /// The tensor `name` (and `bias_name`, if the model has it), checked to be rows × cols.
    pub fn new(
        tensors: &'t TensorSet<'a>,
        name: &str,
        bias_name: Option<&str>,
        rows: usize,
        cols: usize,
    ) -> Result<Self> {
        let weight = tensors.require(name)?;
        if weight.matrix_shape()? != (rows, cols) || weight.shape.len() != 2 {
            return Err(invalid(format!(
                "{name} has shape {:?}, expected [{rows}, {cols}]",
                weight.shape
            )));
        }
        let bias = bias_name.and_then(|b| tensors.get(b));
        if let Some(bias) = bias {
            if bias.elements() != rows {
                return Err(invalid(format!(
                    "{} has {} values, expected {rows}",
                    bias.name,
                    bias.elements()
                )));
            }
        }
        Ok(Source {
            weight,
            bias,
            rows,
            cols,
        })
    }
}

impl Linear {
    /// The sources' rows one after the other, packed into as few parts as types and the
    /// binding size allow.
    pub fn load(gpu: &Gpu, label: &str, sources: &[Source<'_, '_>]) -> Result<Linear> {
        let cols = sources[0].cols;
        // Rows of one source that go into one part.
        struct Piece<'s> {
            data: &'s [u8],
            bias: Vec<f32>,
            rows: usize,
        }
        let mut parts = Vec::new();
        let mut pending: Vec<Piece> = Vec::new();
        let mut pending_ty = sources[0].weight.ty;
        let mut out_offset = 0usize;
        let mut bytes = 0u64;
        let mut flush =
            |pending: &mut Vec<Piece>, ty: WeightType, out_offset: &mut usize| -> Result<()> {
                if pending.is_empty() {
                    return Ok(());
                }
                let slices: Vec<&[u8]> = pending.iter().map(|p| p.data).collect();
                let packed = quant::pack_rows(ty, cols, &slices)?;
                let rows: usize = pending.iter().map(|p| p.rows).sum();
                let has_bias = pending.iter().any(|p| !p.bias.is_empty());
                let bias = has_bias.then(|| {
                    let values: Vec<f32> = pending
                        .iter()
                        .flat_map(|p| {
                            if p.bias.is_empty() {
                                vec![0.0; p.rows]
                            } else {
                                p.bias.clone()
                            }
                        })
                        .collect();
                    gpu.storage_buffer(&format!("{label} bias"), bytemuck::cast_slice(&values))
                });
                parts.push(MatrixPart {
                    buffer: gpu.storage_buffer(label, bytemuck::cast_slice(&packed.words)),
                    ty,
                    rows: rows as u32,
                    cols: cols as u32,
                    quants_offset: packed.quants_offset,
                    out_offset: *out_offset as u32,
                    bias,
                });
                *out_offset += rows;
                pending.clear();
                Ok(())
            };
        for source in sources {
            let ty = source.weight.ty;
            let row_bytes = ty.size_of(cols)?;
            // Leave room for the scales' padding to a whole word.
            let max_rows =
                ((gpu.info().max_binding_bytes as usize).saturating_sub(64) / row_bytes).max(1);
            bytes += source.weight.data.len() as u64;
            let bias = source.bias.map(TensorView::to_f32);
            let mut row = 0;
            while row < source.rows {
                let in_pending: usize = pending.iter().map(|p| p.rows).sum();
                if ty != pending_ty || in_pending == max_rows {
                    flush(&mut pending, pending_ty, &mut out_offset)?;
                    pending_ty = ty;
                }
                let in_pending: usize = pending.iter().map(|p| p.rows).sum();
                let take = (max_rows - in_pending).min(source.rows - row);
                pending.push(Piece {
                    data: &source.weight.data[row * row_bytes..(row + take) * row_bytes],
                    bias: bias
                        .as_ref()
                        .map(|b| b[row..row + take].to_vec())
                        .unwrap_or_default(),
                    rows: take,
                });
                row += take;
            }
        }
        flush(&mut pending, pending_ty, &mut out_offset)?;
        Ok(Linear {
            parts,
            rows: out_offset as u32,
            bytes,
        })
    }
}

pub(crate) struct LayerWeights {
    pub attn_norm: wgpu::Buffer,
    /// q, k and v, in that order.
    pub qkv: Linear,
    pub attn_output: Linear,
    pub ffn_norm: wgpu::Buffer,
    /// gate, then up.
    pub gate_up: Linear,
    pub down: Linear,
}

pub(crate) struct ModelWeights {
    pub embed: Linear,
    pub layers: Vec<LayerWeights>,
    pub output_norm: wgpu::Buffer,
    /// The output head; the embedding's buffers when the model ties them.
    pub head: Linear,
}

impl ModelWeights {
    pub fn load(gpu: &Gpu, config: &ModelConfig, tensors: &TensorSet<'_>) -> Result<ModelWeights> {
        let h = config.hidden_size;
        let norm = |name: &str| -> Result<wgpu::Buffer> {
            let t = tensors.require(name)?;
            if t.elements() != h {
                return Err(invalid(format!(
                    "{name} has {} values, expected {h}",
                    t.elements()
                )));
            }
            Ok(gpu.storage_buffer(name, bytemuck::cast_slice(&t.to_f32())))
        };
        let source = |name: &str, bias: Option<&str>, rows, cols| {
            Source::new(tensors, name, bias, rows, cols)
        };
        let embed = Linear::load(
            gpu,
            "token_embd",
            &[source("token_embd.weight", None, config.vocab_size, h)?],
        )?;
        let head = match tensors.get("output.weight") {
            Some(_) => Linear::load(
                gpu,
                "output",
                &[source("output.weight", None, config.vocab_size, h)?],
            )?,
            None => embed.clone(),
        };
        let mut layers = Vec::with_capacity(config.num_layers);
        for l in 0..config.num_layers {
            let name = |suffix: &str| format!("blk.{l}.{suffix}");
            let (q, kv, f) = (config.q_dim(), config.kv_dim(), config.intermediate_size);
            let qkv = [("attn_q", q), ("attn_k", kv), ("attn_v", kv)]
                .into_iter()
                .map(|(m, rows)| {
                    source(
                        &name(&format!("{m}.weight")),
                        Some(&name(&format!("{m}.bias"))),
                        rows,
                        h,
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            layers.push(LayerWeights {
                attn_norm: norm(&name("attn_norm.weight"))?,
                qkv: Linear::load(gpu, &name("attn_qkv"), &qkv)?,
                attn_output: Linear::load(
                    gpu,
                    &name("attn_output"),
                    &[source(&name("attn_output.weight"), None, h, q)?],
                )?,
                ffn_norm: norm(&name("ffn_norm.weight"))?,
                gate_up: Linear::load(
                    gpu,
                    &name("ffn_gate_up"),
                    &[
                        source(&name("ffn_gate.weight"), None, f, h)?,
                        source(&name("ffn_up.weight"), None, f, h)?,
                    ],
                )?,
                down: Linear::load(
                    gpu,
                    &name("ffn_down"),
                    &[source(&name("ffn_down.weight"), None, h, f)?],
                )?,
            });
        }
        Ok(ModelWeights {
            embed,
            layers,
            output_norm: norm("output_norm.weight")?,
            head,
        })
    }

    /// Bytes of weights one decoding step reads: every matrix once, and one embedding row.
    pub fn bytes_per_token(&self) -> u64 {
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| l.qkv.bytes + l.attn_output.bytes + l.gate_up.bytes + l.down.bytes)
            .sum();
        layers + self.head.bytes + self.embed.bytes / u64::from(self.embed.rows)
    }

    /// The weight types of all matrices, to report what a model is made of.
    pub fn types(&self) -> BTreeSet<&'static str> {
        let linears = self
            .layers
            .iter()
            .flat_map(|l| [&l.qkv, &l.attn_output, &l.gate_up, &l.down])
            .chain([&self.embed, &self.head]);
        linears
            .flat_map(|l| l.parts.iter().map(|p| p.ty.name()))
            .collect()
    }
}
