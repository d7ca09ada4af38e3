//! Loading a model: its files, from disk or from bytes, to weights on the GPU, a tokenizer and
//! a chat template.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::config::{Architecture, ModelConfig};
use crate::error::{invalid, Result};
use crate::gguf::{Gguf, MetaValue};
use crate::gpu::kernels::Kernels;
use crate::gpu::weights::ModelWeights;
use crate::gpu::Gpu;
use crate::session::{Session, SessionOptions};
use crate::tensors::{self, TensorSet};
use crate::tokenizer::TextTokenizer;
use chat::{ChatMessage, ChatTemplate, FALLBACK_TEMPLATE};

/// The files of a Hugging Face model directory, as bytes (how the browser gets them).
#[derive(Default)]
pub struct HfFiles {
    pub config_json: String,
    pub tokenizer_json: Vec<u8>,
    pub tokenizer_config_json: Option<String>,
    pub generation_config_json: Option<String>,
    /// `chat_template.jinja`, where transformers 5 keeps the template.
    pub chat_template: Option<String>,
    /// The `*.safetensors` files (one, or the shards).
    pub safetensors: Vec<Vec<u8>>,
}

/// Where a model comes from.
pub enum ModelSource {
    /// A Hugging Face model directory, or a `.gguf` file.
    #[cfg(not(target_arch = "wasm32"))]
    Path(std::path::PathBuf),
    /// A GGUF file's bytes.
    Gguf(Vec<u8>),
    HuggingFace(HfFiles),
}

/// What a loaded model is.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub name: String,
    pub architecture: Architecture,
    /// Weights, counting a tied embedding once.
    pub parameters: u64,
    /// The matrices' storage types (`q4_1`, `q8_0`, ...).
    pub weight_types: Vec<&'static str>,
    pub context_length: usize,
    /// Bytes of weights one decoded token reads.
    pub bytes_per_token: u64,
}

/// Sessions are made in multiples of this many positions, so that requests of similar sizes
/// reuse the same one.
const CAPACITY_STEP: usize = 512;

/// A model on the GPU, ready to generate.
pub struct Model {
    pub(crate) gpu: Arc<Gpu>,
    pub(crate) kernels: Arc<Kernels>,
    pub(crate) config: ModelConfig,
    pub(crate) weights: ModelWeights,
    tokenizer: TextTokenizer,
    chat: ChatTemplate,
    info: ModelInfo,
    /// The last session, kept for the next generation or scoring (its buffers are the bulk of
    /// the work of making one).
    cached_session: Mutex<Option<Session>>,
}

/// A model's files in memory.
pub(crate) enum Files {
    Gguf(Vec<u8>),
    Hf(HfFiles),
}

impl ModelSource {
    /// The files' bytes, and a name for the model from its path.
    pub(crate) fn into_files(self) -> Result<(Files, String)> {
        Ok(match self {
            #[cfg(not(target_arch = "wasm32"))]
            ModelSource::Path(path) => {
                let name = |p: Option<&std::ffi::OsStr>| {
                    p.map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                };
                if path.is_dir() {
                    (Files::Hf(read_hf_directory(&path)?), name(path.file_name()))
                } else {
                    (Files::Gguf(read(&path)?), name(path.file_stem()))
                }
            }
            ModelSource::Gguf(bytes) => (Files::Gguf(bytes), "model".into()),
            ModelSource::HuggingFace(files) => (Files::Hf(files), "model".into()),
        })
    }
}

/// What a model's files say, before anything goes to the GPU. Tensors borrow the files.
pub(crate) struct Parsed<'a> {
    pub config: ModelConfig,
    pub tensors: TensorSet<'a>,
    pub tokenizer: TextTokenizer,
    pub chat_template: Option<String>,
    pub name: String,
}

impl Files {
    pub(crate) fn parse(&self, name: String) -> Result<Parsed<'_>> {
        match self {
            Files::Gguf(bytes) => parse_gguf(bytes, name),
            Files::Hf(files) => parse_hf(files, name),
        }
    }
}

fn parse_gguf(bytes: &[u8], fallback_name: String) -> Result<Parsed<'_>> {
    let mut gguf = Gguf::parse(bytes)?;
    let tensors = TensorSet::new(std::mem::take(&mut gguf.tensors));
    let config = ModelConfig::from_gguf(&gguf, &tensors)?;
    let tokenizer = TextTokenizer::from_gguf(&gguf)?;
    let name = gguf
        .get("general.name")
        .and_then(MetaValue::as_str)
        .map_or(fallback_name, str::to_owned);
    let chat_template = gguf
        .get("tokenizer.chat_template")
        .and_then(MetaValue::as_str)
        .map(str::to_owned);
    Ok(Parsed {
        config,
        tensors,
        tokenizer,
        chat_template,
        name,
    })
}

fn parse_hf(files: &HfFiles, name: String) -> Result<Parsed<'_>> {
    let config = ModelConfig::from_hf_json(&files.config_json)?;
    let parsed_files = tensors::parse_safetensors(&files.safetensors)?;
    let tensors = TensorSet::new(tensors::from_safetensors(&parsed_files)?);
    let json = |text: Option<&str>, what: &str| -> Result<Value> {
        match text {
            Some(t) => serde_json::from_str(t).map_err(|e| invalid(format!("{what}: {e}"))),
            None => Ok(Value::Null),
        }
    };
    let model_config = json(Some(&files.config_json), "config.json")?;
    let tokenizer_config = json(
        files.tokenizer_config_json.as_deref(),
        "tokenizer_config.json",
    )?;
    let generation_config = json(
        files.generation_config_json.as_deref(),
        "generation_config.json",
    )?;

    let probe = TextTokenizer::from_json(&files.tokenizer_json, None, Vec::new())?;
    let token_id = |field: &str| {
        special_token_text(&tokenizer_config[field])
            .and_then(|text| probe.encode(&text, false).ok())
            .filter(|ids| ids.len() == 1)
            .map(|ids| ids[0])
    };
    let bos = ids_of(&model_config["bos_token_id"])
        .first()
        .copied()
        .or_else(|| token_id("bos_token"));
    let mut stop_ids = ids_of(&model_config["eos_token_id"]);
    stop_ids.extend(ids_of(&generation_config["eos_token_id"]));
    stop_ids.extend(token_id("eos_token"));
    stop_ids.sort_unstable();
    stop_ids.dedup();
    let tokenizer = TextTokenizer::from_json(&files.tokenizer_json, bos, stop_ids)?;
    let chat_template = match &tokenizer_config["chat_template"] {
        Value::String(t) => Some(t.clone()),
        // Several named templates: the default one.
        Value::Array(named) => named
            .iter()
            .find(|t| t["name"] == "default")
            .and_then(|t| t["template"].as_str())
            .map(str::to_owned),
        _ => files.chat_template.clone(),
    };
    Ok(Parsed {
        config,
        tensors,
        tokenizer,
        chat_template,
        name,
    })
}

impl Model {
    pub async fn load(gpu: Arc<Gpu>, source: ModelSource) -> Result<Model> {
        let (files, name) = source.into_files()?;
        let parsed = files.parse(name)?;
        Self::finish(gpu, parsed).await
    }

    async fn finish(gpu: Arc<Gpu>, parsed: Parsed<'_>) -> Result<Model> {
        let Parsed {
            config,
            tensors,
            tokenizer,
            chat_template,
            name,
        } = parsed;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(invalid(format!(
                "the tokenizer has {} tokens, the model only {}",
                tokenizer.vocab_size(),
                config.vocab_size
            )));
        }
        let weights = gpu
            .checked("uploading the weights", || {
                ModelWeights::load(&gpu, &config, &tensors)
            })
            .await?;
        let token_text = |id: Option<u32>| id.and_then(|id| tokenizer.token_text(id));
        let chat = ChatTemplate::new(
            chat_template.as_deref().unwrap_or(FALLBACK_TEMPLATE),
            token_text(tokenizer.bos_id()),
            token_text(tokenizer.stop_ids().first().copied()),
        )?;
        let parameters = tensors.iter().map(|t| t.elements() as u64).sum();
        let info = ModelInfo {
            name,
            architecture: config.architecture,
            parameters,
            weight_types: weights.types().into_iter().collect(),
            context_length: config.max_position_embeddings,
            bytes_per_token: weights.bytes_per_token(),
        };
        tracing::info!(model = info.name, parameters, types = ?info.weight_types, "model loaded");
        Ok(Model {
            kernels: Arc::new(Kernels::new(gpu.clone())),
            gpu,
            config,
            weights,
            tokenizer,
            chat,
            info,
            cached_session: Mutex::new(None),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// The model's chat template (or [`FALLBACK_TEMPLATE`] for models without one).
    pub fn chat_template(&self) -> &ChatTemplate {
        &self.chat
    }

    /// The prompt for a conversation, through the model's chat template (or, for models without
    /// one, [`FALLBACK_TEMPLATE`]), ending where the assistant's answer begins.
    pub fn chat_prompt(&self, messages: &[ChatMessage]) -> Result<String> {
        Ok(self.chat.render(messages, true)?)
    }

    /// A fresh session (key/value cache and working buffers) for up to `options.capacity`
    /// positions.
    pub async fn session(&self, options: SessionOptions) -> Result<Session> {
        self.gpu
            .checked("making a session", || Session::new(self, options))
            .await
    }

    /// The cached session if it is big enough (and keeps every token's logits, if `all_logits`),
    /// else a new one. A session that keeps them serves generation as well, so a worker that
    /// both generates and scores keeps one session.
    pub(crate) async fn take_session(&self, positions: usize, all_logits: bool) -> Result<Session> {
        let cached = self
            .cached_session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut session) = cached {
            let options = session.options();
            if options.capacity >= positions && (options.all_logits || !all_logits) {
                session.reset();
                return Ok(session);
            }
        }
        let capacity = positions
            .next_multiple_of(CAPACITY_STEP)
            .min(self.config.max_position_embeddings);
        self.session(SessionOptions {
            all_logits,
            ..SessionOptions::new(capacity)
        })
        .await
    }

    /// Keeps a session for the next [`Model::take_session`].
    pub(crate) fn keep_session(&self, session: Session) {
        *self
            .cached_session
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(session);
    }
}

/// A special token as tokenizer_config.json writes it: a string or `{"content": ...}`.
fn special_token_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Token ids as configs write them: one number or a list.
fn ids_of(value: &Value) -> Vec<u32> {
    match value {
        Value::Number(n) => n.as_u64().map(|v| v as u32).into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_u64)
            .map(|v| v as u32)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| crate::InferError::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn read_hf_directory(dir: &std::path::Path) -> Result<HfFiles> {
    let optional = |name: &str| -> Result<Option<String>> {
        let path = dir.join(name);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read(&path)?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| invalid(format!("{name} is not UTF-8")))
    };
    let config_json = optional("config.json")?
        .ok_or_else(|| invalid(format!("{} has no config.json", dir.display())))?;
    let mut weights: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| crate::InferError::Io {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    weights.sort();
    if weights.is_empty() {
        return Err(invalid(format!(
            "{} has no .safetensors file",
            dir.display()
        )));
    }
    Ok(HfFiles {
        config_json,
        tokenizer_json: read(&dir.join("tokenizer.json"))?,
        tokenizer_config_json: optional("tokenizer_config.json")?,
        generation_config_json: optional("generation_config.json")?,
        chat_template: optional("chat_template.jinja")?,
        safetensors: weights.iter().map(|p| read(p)).collect::<Result<_>>()?,
    })
}
