//! A model's hyperparameters, from a Hugging Face `config.json` or from GGUF metadata.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{invalid, unsupported, Result};
use crate::gguf::{Gguf, MetaValue};
use crate::tensors::TensorSet;

/// The decoder families the engine runs. They share one computation; Qwen2 adds biases to the
/// q/k/v projections (read from the weights, so a Llama with `attention_bias` works too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
}

/// Which elements of a head a rotary pair rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Element i with element i + head_dim/2 (Hugging Face's `rotate_half`; GGUF's NEOX).
    Halves,
    /// Element 2i with 2i + 1 (GGUF Llama files, whose converter permuted Q and K rows for it).
    Interleaved,
}

/// How rotary frequencies are stretched for long contexts.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Every frequency divided by `factor` (positions interpolated).
    Linear {
        factor: f64,
    },
    /// Llama 3.1's: low frequencies divided by `factor`, high ones kept, a smooth ramp between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
    /// One divisor per frequency, as GGUF's `rope_freqs` tensor stores a scaling.
    Factors(Vec<f32>),
}

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f32,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub rope_style: RopeStyle,
    /// The longest context the model was trained for.
    pub max_position_embeddings: usize,
}

impl ModelConfig {
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// The rotary angle per position of each pair of a head: inv_freq[i] = θ^(−2i/d), scaled.
    pub fn inv_freq(&self) -> Vec<f32> {
        let d = self.head_dim as f64;
        (0..self.head_dim / 2)
            .map(|i| {
                let freq = 1.0 / self.rope_theta.powf(2.0 * i as f64 / d);
                let divisor = match &self.rope_scaling {
                    RopeScaling::None => 1.0,
                    RopeScaling::Linear { factor } => *factor,
                    RopeScaling::Factors(factors) => f64::from(factors[i]),
                    RopeScaling::Llama3 {
                        factor,
                        low_freq_factor,
                        high_freq_factor,
                        original_max_position_embeddings: old,
                    } => {
                        let wavelen = 2.0 * std::f64::consts::PI / freq;
                        if wavelen < old / high_freq_factor {
                            1.0
                        } else if wavelen > old / low_freq_factor {
                            *factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            1.0 / ((1.0 - smooth) / factor + smooth)
                        }
                    }
                };
                (freq / divisor) as f32
            })
            .collect()
    }

    fn validate(self) -> Result<Self> {
        let dims = [
            self.vocab_size,
            self.hidden_size,
            self.intermediate_size,
            self.num_layers,
            self.num_heads,
            self.num_kv_heads,
            self.head_dim,
        ];
        if dims.contains(&0) {
            return Err(invalid("a model dimension is zero"));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(invalid(format!(
                "{} attention heads do not share {} key/value heads evenly",
                self.num_heads, self.num_kv_heads
            )));
        }
        if !self.head_dim.is_multiple_of(2) || self.head_dim > crate::gpu::MAX_HEAD_DIM {
            return Err(unsupported(format!("head dimension {}", self.head_dim)));
        }
        if let RopeScaling::Factors(f) = &self.rope_scaling {
            if f.len() != self.head_dim / 2 {
                return Err(invalid("rope_freqs has the wrong length"));
            }
        }
        Ok(self)
    }

    /// From a Hugging Face `config.json` (transformers 4's `rope_theta`/`rope_scaling` or 5's
    /// `rope_parameters`).
    pub fn from_hf_json(json: &str) -> Result<ModelConfig> {
        let hf: HfConfig =
            serde_json::from_str(json).map_err(|e| invalid(format!("config.json: {e}")))?;
        let architecture = match hf.model_type.as_str() {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            other => return Err(unsupported(format!("model_type {other:?}"))),
        };
        if hf.hidden_act.as_deref().is_some_and(|act| act != "silu") {
            return Err(unsupported(format!("activation {:?}", hf.hidden_act)));
        }
        if hf.use_sliding_window == Some(true) {
            return Err(unsupported("sliding-window attention"));
        }
        let rope = hf.rope_parameters.as_ref().or(hf.rope_scaling.as_ref());
        let rope_theta = hf
            .rope_theta
            .or_else(|| {
                rope.and_then(|r| r.get("rope_theta"))
                    .and_then(Value::as_f64)
            })
            .unwrap_or(10000.0);
        let num_kv_heads = hf.num_key_value_heads.unwrap_or(hf.num_attention_heads);
        ModelConfig {
            architecture,
            vocab_size: hf.vocab_size,
            hidden_size: hf.hidden_size,
            intermediate_size: hf.intermediate_size,
            num_layers: hf.num_hidden_layers,
            num_heads: hf.num_attention_heads,
            num_kv_heads,
            head_dim: hf
                .head_dim
                .unwrap_or(hf.hidden_size / hf.num_attention_heads.max(1)),
            rms_norm_eps: hf.rms_norm_eps.unwrap_or(1e-6) as f32,
            rope_theta,
            rope_scaling: rope
                .map(hf_rope_scaling)
                .transpose()?
                .unwrap_or(RopeScaling::None),
            rope_style: RopeStyle::Halves,
            max_position_embeddings: hf.max_position_embeddings.unwrap_or(2048),
        }
        .validate()
    }

    /// From GGUF metadata (and its `rope_freqs` tensor, if any).
    pub fn from_gguf(gguf: &Gguf<'_>, tensors: &TensorSet<'_>) -> Result<ModelConfig> {
        let arch = gguf
            .get("general.architecture")
            .and_then(MetaValue::as_str)
            .ok_or_else(|| invalid("GGUF without general.architecture"))?;
        let (architecture, rope_style) = match arch {
            "llama" => (Architecture::Llama, RopeStyle::Interleaved),
            "qwen2" => (Architecture::Qwen2, RopeStyle::Halves),
            other => return Err(unsupported(format!("GGUF architecture {other:?}"))),
        };
        let key = |name: &str| gguf.get(&format!("{arch}.{name}"));
        let int = |name: &str| -> Result<usize> {
            key(name)
                .and_then(MetaValue::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| invalid(format!("GGUF without {arch}.{name}")))
        };
        let float =
            |name: &str, default: f64| key(name).and_then(MetaValue::as_f64).unwrap_or(default);

        let num_heads = int("attention.head_count")?;
        let hidden_size = int("embedding_length")?;
        let head_dim = match key("attention.key_length").and_then(MetaValue::as_u64) {
            Some(len) => len as usize,
            None => hidden_size / num_heads.max(1),
        };
        if let Some(rot) = key("rope.dimension_count").and_then(MetaValue::as_u64) {
            if rot as usize != head_dim {
                return Err(unsupported("rotary embedding over part of a head"));
            }
        }
        let vocab_size = match key("vocab_size").and_then(MetaValue::as_u64) {
            Some(v) => v as usize,
            None => tensors.require("token_embd.weight")?.matrix_shape()?.0,
        };
        let scaling_type = key("rope.scaling.type")
            .and_then(MetaValue::as_str)
            .unwrap_or("none");
        let rope_scaling = if let Some(factors) = tensors.get("rope_freqs.weight") {
            RopeScaling::Factors(factors.to_f32())
        } else {
            match scaling_type {
                "none" => RopeScaling::None,
                "linear" => RopeScaling::Linear {
                    factor: float("rope.scaling.factor", 1.0),
                },
                other => return Err(unsupported(format!("rope scaling {other:?}"))),
            }
        };
        ModelConfig {
            architecture,
            vocab_size,
            hidden_size,
            intermediate_size: int("feed_forward_length")?,
            num_layers: int("block_count")?,
            num_heads,
            num_kv_heads: key("attention.head_count_kv")
                .and_then(MetaValue::as_u64)
                .map_or(num_heads, |v| v as usize),
            head_dim,
            rms_norm_eps: float("attention.layer_norm_rms_epsilon", 1e-5) as f32,
            rope_theta: float("rope.freq_base", 10000.0),
            rope_scaling,
            rope_style,
            max_position_embeddings: int("context_length").unwrap_or(2048),
        }
        .validate()
    }
}

#[derive(Deserialize)]
struct HfConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<Value>,
    rope_parameters: Option<Value>,
    max_position_embeddings: Option<usize>,
    hidden_act: Option<String>,
    use_sliding_window: Option<bool>,
}

fn hf_rope_scaling(params: &Value) -> Result<RopeScaling> {
    let kind = params
        .get("rope_type")
        .or_else(|| params.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let number = |name: &str| {
        params
            .get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| invalid(format!("rope scaling {kind} without {name}")))
    };
    Ok(match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: number("factor")?,
        },
        "llama3" => RopeScaling::Llama3 {
            factor: number("factor")?,
            low_freq_factor: number("low_freq_factor")?,
            high_freq_factor: number("high_freq_factor")?,
            original_max_position_embeddings: number("original_max_position_embeddings")?,
        },
        other => return Err(unsupported(format!("rope scaling {other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA: &str = r#"{"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}"#;

    #[test]
    fn reads_both_spellings_of_rotary_settings() {
        let classic = ModelConfig::from_hf_json(LLAMA).unwrap();
        assert_eq!(
            (classic.head_dim, classic.kv_dim(), classic.rope_theta),
            (16, 32, 500000.0)
        );
        assert!(
            matches!(classic.rope_scaling, RopeScaling::Llama3 { factor, .. } if factor == 8.0)
        );

        let v5 = r#"{"model_type": "qwen2", "vocab_size": 100, "hidden_size": 64,
            "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}}"#;
        let v5 = ModelConfig::from_hf_json(v5).unwrap();
        assert_eq!(
            (v5.architecture, v5.num_kv_heads, v5.rope_theta),
            (Architecture::Qwen2, 4, 1e6)
        );
        assert_eq!(v5.rope_scaling, RopeScaling::None);
    }

    #[test]
    fn llama3_scaling_keeps_high_frequencies_and_divides_low_ones() {
        let config = ModelConfig::from_hf_json(LLAMA).unwrap();
        let scaled = config.inv_freq();
        let plain = ModelConfig {
            rope_scaling: RopeScaling::None,
            ..config
        }
        .inv_freq();
        assert_eq!(scaled[0], plain[0]);
        assert!((scaled[7] - plain[7] / 8.0).abs() < 1e-12);
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let other = LLAMA.replace("\"llama\"", "\"gpt2\"");
        assert!(matches!(
            ModelConfig::from_hf_json(&other),
            Err(crate::InferError::Unsupported(_))
        ));
        let uneven = LLAMA.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
        assert!(matches!(
            ModelConfig::from_hf_json(&uneven),
            Err(crate::InferError::InvalidModel(_))
        ));
        let yarn = LLAMA.replace("\"llama3\"", "\"yarn\"");
        assert!(ModelConfig::from_hf_json(&yarn).is_err());
        assert!(ModelConfig::from_hf_json("{").is_err());
    }
}
