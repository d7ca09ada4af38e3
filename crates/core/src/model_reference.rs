//! The model reference: the text and image models the cluster knows, with their sizes. Rewards
//! and estimates read a model's size here, never from the name a worker chose for it; a model
//! outside the reference earns the AI Horde's floor (`kudos.rs`).
//!
//! The bundled catalogue (`data/model-reference.json`) is derived from the AI Horde's public
//! model references by `scripts/make-model-reference.py`; an operator may replace it with a file
//! of the same format (`--model-reference`).

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The catalogue shipped with Potluck.
const BUNDLED: &str = include_str!("../data/model-reference.json");

/// The format this code reads.
const FORMAT: &str = "potluck-model-reference/1";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TextModel {
    pub name: String,
    /// Parameters of the model (not of its quantised file).
    pub parameters: u64,
    #[serde(default)]
    pub baseline: Option<String>,
    #[serde(default)]
    pub nsfw: bool,
    /// The context it was trained for, where known.
    #[serde(default)]
    pub context_length: Option<u32>,
    /// The SHA-256 of the GGUF file Potluck's engine serves it from, where there is one.
    #[serde(default)]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageModel {
    pub name: String,
    pub baseline: String,
    #[serde(default)]
    pub nsfw: bool,
    #[serde(default)]
    pub inpainting: bool,
    #[serde(default)]
    pub requirements: ImageRequirements,
}

/// What an image model needs of a request, where its reference says: the upfront kudos, the
/// step limit of workers that limit their steps, and the request's warnings read them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ImageRequirements {
    pub min_steps: Option<u32>,
    pub max_steps: Option<u32>,
    pub cfg_scale: Option<f64>,
    pub min_cfg_scale: Option<f64>,
    pub max_cfg_scale: Option<f64>,
    pub clip_skip: Option<u32>,
    pub samplers: Option<Vec<String>>,
    pub schedulers: Option<Vec<String>>,
}

/// The baseline the AI Horde assumes for an image model it does not know.
pub const DEFAULT_IMAGE_BASELINE: &str = "stable diffusion 1";

#[derive(Debug, Deserialize)]
struct File {
    format: String,
    #[serde(default)]
    text: Vec<TextModel>,
    #[serde(default)]
    image: Vec<ImageModel>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelReferenceError {
    #[error("cannot read the model reference {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the model reference is not valid: {0}")]
    Invalid(String),
}

#[derive(Debug, Default)]
pub struct ModelReference {
    text: HashMap<String, TextModel>,
    image: HashMap<String, ImageModel>,
}

impl ModelReference {
    /// The catalogue shipped with Potluck, parsed once.
    pub fn bundled() -> Arc<ModelReference> {
        static BUNDLED_REFERENCE: OnceLock<Arc<ModelReference>> = OnceLock::new();
        BUNDLED_REFERENCE
            .get_or_init(|| {
                Arc::new(Self::parse(BUNDLED).expect("the bundled model reference is valid"))
            })
            .clone()
    }

    /// An operator's catalogue, in the bundled one's format.
    pub fn load(path: &Path) -> Result<ModelReference, ModelReferenceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelReferenceError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(json: &str) -> Result<ModelReference, ModelReferenceError> {
        let file: File =
            serde_json::from_str(json).map_err(|e| ModelReferenceError::Invalid(e.to_string()))?;
        if file.format != FORMAT {
            return Err(ModelReferenceError::Invalid(format!(
                "its format is {:?}, not {FORMAT:?}",
                file.format
            )));
        }
        if let Some(zero) = file.text.iter().find(|m| m.parameters == 0) {
            return Err(ModelReferenceError::Invalid(format!(
                "{} has no parameters",
                zero.name
            )));
        }
        Ok(ModelReference {
            text: file.text.into_iter().map(|m| (m.name.clone(), m)).collect(),
            image: file
                .image
                .into_iter()
                .map(|m| (m.name.clone(), m))
                .collect(),
        })
    }

    /// The text model a worker's model name stands for, as the AI Horde finds it: the name
    /// without a `::user` suffix, else that without its quantisation marker.
    pub fn text_model(&self, name: &str) -> Option<&TextModel> {
        let name = name.split_once("::").map_or(name, |(model, _)| model);
        self.text
            .get(name)
            .or_else(|| self.text.get(without_quantisation(name).as_ref()))
    }

    pub fn image_model(&self, name: &str) -> Option<&ImageModel> {
        self.image.get(name)
    }

    /// The baseline of an image model: the reference's, else the AI Horde's default. Unlike the
    /// AI Horde, never guessed from the name (`[SDXL]`, `[Flux]`): rewards scale with it.
    pub fn image_baseline(&self, name: &str) -> &str {
        self.image_model(name)
            .map_or(DEFAULT_IMAGE_BASELINE, |m| m.baseline.as_str())
    }

    /// What an image model requires, empty for a model outside the reference.
    pub fn image_requirements(&self, name: &str) -> ImageRequirements {
        self.image_model(name)
            .map(|m| m.requirements.clone())
            .unwrap_or_default()
    }

    /// Whether the reference knows a model of this kind by this name.
    pub fn knows(&self, kind: protocol::WorkerType, name: &str) -> bool {
        match kind {
            protocol::WorkerType::Text => self.text_model(name).is_some(),
            protocol::WorkerType::Image => self.image_model(name).is_some(),
            // Alchemists serve forms, which no reference lists.
            protocol::WorkerType::Interrogation => false,
        }
    }

    /// Billions of parameters of a known text model.
    pub fn text_billions(&self, name: &str) -> Option<f64> {
        self.text_model(name)
            .map(|m| m.parameters as f64 / 1_000_000_000.0)
    }

    pub fn text_models(&self) -> usize {
        self.text.len()
    }

    pub fn image_models(&self) -> usize {
        self.image.len()
    }
}

/// The name without its quantisation marker, as the AI Horde's `no_q_regex` removes it (a
/// separator, a word, then `Q` and a bit count with what follows: `-GGUF-Q4_K_M`, `.Q8_0`).
fn without_quantisation(name: &str) -> std::borrow::Cow<'_, str> {
    static MARKER: OnceLock<regex::Regex> = OnceLock::new();
    MARKER
        .get_or_init(|| {
            regex::Regex::new(r"[.,-][a-zA-Z0-9]+?-?Q(-[Ii]nt)?[2-9]{1,2}([_.-][0-9a-zA-Z]+)*")
                .expect("a valid pattern")
        })
        .replace_all(name, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_reference_parses_and_knows_smollm2() {
        let reference = ModelReference::bundled();
        assert!(reference.text_models() > 1000);
        assert!(reference.image_models() > 100);
        let smol = reference.text_model("SmolLM2-135M-Instruct").unwrap();
        assert_eq!(smol.parameters, 134_515_008);
        assert_eq!(smol.context_length, Some(8192));
        assert!(reference.image_model("stable_diffusion").is_some());
        assert_eq!(reference.image_baseline("SDXL 1.0"), "stable_diffusion_xl");
        assert_eq!(
            reference.image_baseline("Mine [SDXL]"),
            DEFAULT_IMAGE_BASELINE
        );
        let cascade = reference.image_requirements("Stable Cascade 1.0");
        assert_eq!((cascade.min_steps, cascade.max_steps), (Some(20), Some(30)));
        assert_eq!(
            reference.image_requirements("nope"),
            ImageRequirements::default()
        );
    }

    #[test]
    fn names_are_found_as_the_ai_horde_finds_them() {
        let reference = ModelReference::parse(
            r#"{"format": "potluck-model-reference/1",
                "text": [{"name": "org/Model-7B", "parameters": 7000000000}]}"#,
        )
        .unwrap();
        assert_eq!(reference.text_billions("org/Model-7B"), Some(7.0));
        assert_eq!(reference.text_billions("org/Model-7B::alice#12"), Some(7.0));
        assert_eq!(
            reference.text_billions("org/Model-7B-GGUF-Q4_K_M"),
            Some(7.0)
        );
        assert_eq!(reference.text_billions("org/Model-7B.i1-Q6_K"), Some(7.0));
        // A worker's own name for a model is never read for its size.
        assert_eq!(reference.text_billions("org/Farm-Llama-405B"), None);
        assert_eq!(reference.text_billions("org/Model-7B-Quantum"), None);
    }

    #[test]
    fn a_reference_of_another_format_is_refused() {
        assert!(ModelReference::parse(r#"{"format": "x", "text": []}"#).is_err());
        assert!(ModelReference::parse(
            r#"{"format": "potluck-model-reference/1", "text": [{"name": "a", "parameters": 0}]}"#
        )
        .is_err());
        assert!(ModelReference::parse("[]").is_err());
    }
}
