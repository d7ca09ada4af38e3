//! Tensors as model files hold them, by name, whatever the file format.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};

use crate::error::{invalid, unsupported, Result};
use crate::quant::{self, WeightType};

/// One tensor in a model file: its name, type, row-major shape and bytes.
pub struct TensorView<'a> {
    pub name: String,
    pub ty: WeightType,
    pub shape: Vec<usize>,
    pub data: &'a [u8],
}

impl TensorView<'_> {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// (rows, columns) of a matrix; a vector is one row.
    pub fn matrix_shape(&self) -> Result<(usize, usize)> {
        match self.shape[..] {
            [cols] => Ok((1, cols)),
            [rows, cols] => Ok((rows, cols)),
            _ => Err(invalid(format!(
                "{} is not a matrix: {:?}",
                self.name, self.shape
            ))),
        }
    }

    /// The values as f32 (for vectors such as norm weights and biases, and the CPU reference).
    pub fn to_f32(&self) -> Vec<f32> {
        quant::dequantize(self.ty, self.data)
    }
}

/// The tensors of a model, by the engine's names (GGUF's: `token_embd.weight`,
/// `blk.0.attn_q.weight`, ...), whatever names the file used.
pub struct TensorSet<'a> {
    by_name: HashMap<String, TensorView<'a>>,
}

impl<'a> TensorSet<'a> {
    pub fn new(tensors: impl IntoIterator<Item = TensorView<'a>>) -> Self {
        TensorSet {
            by_name: tensors.into_iter().map(|t| (t.name.clone(), t)).collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&TensorView<'a>> {
        self.by_name.get(name)
    }

    pub fn require(&self, name: &str) -> Result<&TensorView<'a>> {
        self.get(name)
            .ok_or_else(|| invalid(format!("the model has no tensor {name}")))
    }

    pub fn iter(&self) -> impl Iterator<Item = &TensorView<'a>> {
        self.by_name.values()
    }
}

/// The tensors of safetensors files, renamed from Hugging Face's names to the engine's.
pub fn from_safetensors<'a>(files: &[SafeTensors<'a>]) -> Result<Vec<TensorView<'a>>> {
    let mut out = Vec::new();
    for file in files {
        for (hf_name, view) in file.tensors() {
            let ty = match view.dtype() {
                Dtype::F32 => WeightType::F32,
                Dtype::F16 => WeightType::F16,
                Dtype::BF16 => WeightType::BF16,
                other => {
                    return Err(unsupported(format!(
                        "safetensors dtype {other:?} ({hf_name})"
                    )))
                }
            };
            let Some(name) = engine_name(&hf_name) else {
                // Rotary caches and the like that some exports include: not weights.
                tracing::debug!(
                    tensor = hf_name,
                    "ignoring a tensor the engine does not use"
                );
                continue;
            };
            out.push(TensorView {
                name,
                ty,
                shape: view.shape().to_vec(),
                data: view.data(),
            });
        }
    }
    Ok(out)
}

/// Parses safetensors files' headers (the bytes stay where they are).
pub fn parse_safetensors(files: &[Vec<u8>]) -> Result<Vec<SafeTensors<'_>>> {
    files
        .iter()
        .map(|bytes| {
            SafeTensors::deserialize(bytes).map_err(|e| invalid(format!("safetensors: {e}")))
        })
        .collect()
}

/// The engine's (GGUF's) name for a Hugging Face Llama/Qwen2 tensor name.
fn engine_name(hf: &str) -> Option<String> {
    let global = match hf {
        "model.embed_tokens.weight" => Some("token_embd.weight"),
        "model.norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(name) = global {
        return Some(name.to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, suffix) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let gguf_suffix = match suffix {
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        _ => return None,
    };
    Some(format!("blk.{layer}.{gguf_suffix}"))
}

#[cfg(test)]
mod tests {
    use super::engine_name;

    #[test]
    fn hugging_face_names_map_to_gguf_names() {
        assert_eq!(
            engine_name("model.layers.12.mlp.up_proj.weight").as_deref(),
            Some("blk.12.ffn_up.weight")
        );
        assert_eq!(
            engine_name("lm_head.weight").as_deref(),
            Some("output.weight")
        );
        assert_eq!(
            engine_name("model.layers.0.self_attn.rotary_emb.inv_freq"),
            None
        );
        assert_eq!(engine_name("model.layers.x.mlp.up_proj.weight"), None);
    }
}
