//! A popped text job, and how the AI Horde's (KoboldAI's) generation parameters become the
//! engine's settings.
//!
//! Parameters the engine has: `max_length`, `max_context_length`, `temperature`, `top_k`,
//! `top_p`, `min_p`, `rep_pen`, `rep_pen_range`, `stop_sequence`, `singleline`, `frmttriminc`,
//! `frmtrmblln`, `use_default_badwordsids` (which bans the model's end-of-text tokens, as
//! KoboldAI does), a seed (`seed` or `sampler_seed`), and Potluck's `presence_penalty` and
//! `frequency_penalty` (from the OpenAI-compatible API). Missing ones take KoboldAI's defaults.
//! `potluck_stream` asks the worker to send its text as it goes. A check job (a pop with a
//! `score_check`) carries the checked job's parameters.
//! Ignored, as samplers the engine does not have: `top_a`, `typical`, `tfs`, `rep_pen_slope`,
//! `sampler_order`, `smoothing_factor`, `dynatemp_*`, `frmtadsnsp`, `frmtrmspch`. Out-of-range
//! values are clamped to the nearest sensible one, not refused: the requester asked for a
//! generation, and gets one.

use std::time::Duration;

use infer::SamplingParams;
use protocol::{GenerationPayloadKobold, ScoreCheck};
use serde_json::{Map, Value};

/// What a worker can take, as it tells the server when it pops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most tokens it generates for one job.
    pub max_length: u32,
    /// Most tokens of prompt and answer together.
    pub max_context_length: u32,
}

/// How one job is to be generated.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationSettings {
    pub max_tokens: usize,
    pub context_length: usize,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    /// Cut the text after its last complete sentence (KoboldAI's `frmttriminc`).
    pub trim_incomplete_sentence: bool,
    /// Drop empty lines (`frmtrmblln`).
    pub remove_blank_lines: bool,
}

/// A text job as popped.
#[derive(Clone, Debug, PartialEq)]
pub struct TextJob {
    pub id: String,
    pub model: String,
    pub prompt: String,
    pub settings: GenerationSettings,
    /// How long the server waits for the result before giving the job to another worker.
    pub ttl: Duration,
    /// Someone streams the result: send the text as it is generated.
    pub stream: bool,
    /// A check job: score this generation of the job, another worker's, instead of generating.
    pub score_check: Option<ScoreCheck>,
}

/// What the server says when no `ttl` comes with a job (its default for text).
pub const DEFAULT_TTL: Duration = Duration::from_secs(150);

/// KoboldAI's defaults, for parameters a request leaves out.
const DEFAULT_TEMPERATURE: f32 = 0.7;
const DEFAULT_TOP_P: f32 = 0.92;
const DEFAULT_TOP_K: u32 = 100;
const DEFAULT_REP_PEN: f32 = 1.1;
const DEFAULT_REP_PEN_RANGE: u32 = 320;
const MAX_STOP_SEQUENCES: usize = 32;
/// Limits that cut nothing.
const UNLIMITED: Limits = Limits {
    max_length: u32::MAX,
    max_context_length: u32::MAX,
};

impl TextJob {
    /// The job in a pop answer, if there is one.
    pub fn from_pop(popped: GenerationPayloadKobold, limits: Limits) -> Option<TextJob> {
        let id = popped.id.filter(|id| !id.is_empty())?;
        let mut payload = popped.payload.unwrap_or_default();
        let prompt = match payload.remove("prompt") {
            Some(Value::String(prompt)) => prompt,
            _ => String::new(),
        };
        // A check is scored with the settings the checked worker generated with. The server gives
        // a job only to workers whose limits cover it, so that worker's limits cut nothing; this
        // one's (which say how much it generates in time, not what it can score) must not either.
        let limits = if popped.score_check.is_some() {
            UNLIMITED
        } else {
            limits
        };
        Some(TextJob {
            id,
            model: popped.model.unwrap_or_default(),
            prompt,
            settings: GenerationSettings::from_params(
                &payload,
                limits,
                rand::random::<u32>().into(),
            ),
            ttl: popped.ttl.map_or(DEFAULT_TTL, Duration::from_secs),
            stream: payload
                .get("potluck_stream")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            score_check: popped.score_check,
        })
    }
}

impl GenerationSettings {
    /// The settings for these parameters; `fallback_seed` when they name no seed.
    pub fn from_params(params: &Map<String, Value>, limits: Limits, fallback_seed: u64) -> Self {
        let float = |key: &str, default: f32| {
            params
                .get(key)
                .and_then(Value::as_f64)
                .map_or(default, |v| v as f32)
        };
        let int = |key: &str| params.get(key).and_then(Value::as_u64);
        let flag = |key: &str| params.get(key).and_then(Value::as_bool).unwrap_or(false);

        let max_length = int("max_length")
            .unwrap_or(80)
            .clamp(1, u64::from(limits.max_length));
        let context = int("max_context_length")
            .unwrap_or(u64::from(limits.max_context_length))
            .min(u64::from(limits.max_context_length))
            .max(max_length + 1);
        let mut stop: Vec<String> = match params.get("stop_sequence") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .take(MAX_STOP_SEQUENCES)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        if flag("singleline") {
            stop.push("\n".into());
        }
        let temperature = float("temperature", DEFAULT_TEMPERATURE);
        let top_p = float("top_p", DEFAULT_TOP_P);
        let min_p = float("min_p", 0.0);
        let rep_pen = float("rep_pen", DEFAULT_REP_PEN);
        let penalty = |key: &str| {
            let value = float(key, 0.0);
            if value.is_finite() {
                value.clamp(-2.0, 2.0)
            } else {
                0.0
            }
        };
        let sampling = SamplingParams {
            temperature: if temperature.is_finite() {
                temperature.max(0.0)
            } else {
                DEFAULT_TEMPERATURE
            },
            top_k: int("top_k").map_or(DEFAULT_TOP_K, |k| k.min(u64::from(u32::MAX)) as u32),
            top_p: if top_p > 0.0 && top_p <= 1.0 {
                top_p
            } else {
                1.0
            },
            min_p: if (0.0..1.0).contains(&min_p) {
                min_p
            } else {
                0.0
            },
            repetition_penalty: if rep_pen.is_finite() && rep_pen > 0.0 {
                rep_pen
            } else {
                1.0
            },
            penalty_window: int("rep_pen_range")
                .map_or(DEFAULT_REP_PEN_RANGE, |r| r.min(u64::from(u32::MAX)) as u32),
            seed: seed(params).unwrap_or(fallback_seed),
            presence_penalty: penalty("presence_penalty"),
            frequency_penalty: penalty("frequency_penalty"),
            ban_end_of_text: flag("use_default_badwordsids"),
        };
        GenerationSettings {
            max_tokens: max_length as usize,
            context_length: context as usize,
            sampling,
            stop,
            trim_incomplete_sentence: flag("frmttriminc"),
            remove_blank_lines: flag("frmtrmblln"),
        }
    }

    /// Applies the text formatting the request asked for to a generated text, which also
    /// loses its NUL characters (see [`without_nul`]).
    pub fn format(&self, text: &str) -> String {
        let mut text = without_nul(text);
        if self.remove_blank_lines {
            text = text
                .split('\n')
                .filter(|line| !line.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n");
        }
        if self.trim_incomplete_sentence {
            if let Some(end) = text.rfind(['.', '!', '?', '"', '*', '\n']) {
                text.truncate(end + 1);
            }
        }
        text
    }
}

/// A text without its NUL characters. A model can write one (a byte-fallback token for byte 0),
/// but no server takes one: PostgreSQL text cannot hold it, so a result with one is refused and
/// the job would be lost.
pub fn without_nul(text: &str) -> String {
    text.replace('\0', "")
}

/// A seed given as a number or as a string of digits.
fn seed(params: &Map<String, Value>) -> Option<u64> {
    ["seed", "sampler_seed"]
        .iter()
        .find_map(|key| match params.get(*key)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: Limits = Limits {
        max_length: 256,
        max_context_length: 2048,
    };

    fn settings(params: Value) -> GenerationSettings {
        GenerationSettings::from_params(params.as_object().unwrap(), LIMITS, 7)
    }

    #[test]
    fn horde_parameters_map_to_the_engine() {
        let s = settings(json!({
            "max_length": 64, "max_context_length": 1024, "temperature": 0.5, "top_k": 40,
            "top_p": 0.9, "min_p": 0.05, "rep_pen": 1.2, "rep_pen_range": 128,
            "stop_sequence": ["\nUser:", ""], "singleline": true, "seed": "42", "top_a": 0.3,
            "presence_penalty": 0.5, "frequency_penalty": 9, "use_default_badwordsids": true,
        }));
        assert!(s.sampling.ban_end_of_text);
        assert_eq!(
            (s.sampling.presence_penalty, s.sampling.frequency_penalty),
            (0.5, 2.0)
        );
        assert_eq!((s.max_tokens, s.context_length), (64, 1024));
        let p = &s.sampling;
        assert_eq!(
            (p.temperature, p.top_k, p.top_p, p.min_p),
            (0.5, 40, 0.9, 0.05)
        );
        assert_eq!(
            (p.repetition_penalty, p.penalty_window, p.seed),
            (1.2, 128, 42)
        );
        assert_eq!(s.stop, vec!["\nUser:".to_string(), "\n".to_string()]);
    }

    #[test]
    fn missing_parameters_take_koboldai_defaults_and_the_workers_limits() {
        let s = settings(json!({}));
        assert_eq!((s.max_tokens, s.context_length), (80, 2048));
        assert!(!s.sampling.ban_end_of_text);
        assert_eq!(
            (s.sampling.temperature, s.sampling.top_k, s.sampling.seed),
            (0.7, 100, 7)
        );
        // More than the worker said it takes is cut to its limits.
        let s = settings(json!({"max_length": 100000, "max_context_length": 100000}));
        assert_eq!((s.max_tokens, s.context_length), (256, 2048));
    }

    #[test]
    fn nonsense_values_are_clamped_not_refused() {
        let s = settings(
            json!({"temperature": -3, "top_p": 7, "min_p": 2, "rep_pen": 0, "max_length": 0,
                                 "max_context_length": 1, "sampler_seed": 5}),
        );
        assert!(s.sampling.validate().is_ok());
        assert_eq!(
            (s.sampling.temperature, s.sampling.top_p, s.sampling.min_p),
            (0.0, 1.0, 0.0)
        );
        assert_eq!((s.max_tokens, s.context_length, s.sampling.seed), (1, 2, 5));
    }

    #[test]
    fn formatting_trims_and_removes_blank_lines() {
        let mut s = settings(json!({"frmttriminc": true, "frmtrmblln": true}));
        assert_eq!(s.format("One.\n\n  \nTwo! And thr"), "One.\nTwo!");
        s.trim_incomplete_sentence = false;
        assert_eq!(s.format("a\n\nb"), "a\nb");
    }

    #[test]
    fn formatting_drops_nul_characters() {
        let s = settings(json!({}));
        assert_eq!(s.format("a\0b\0\0 c"), "ab c");
    }

    #[test]
    fn a_pop_without_a_job_is_none() {
        assert_eq!(
            TextJob::from_pop(GenerationPayloadKobold::default(), LIMITS),
            None
        );
        let popped = GenerationPayloadKobold {
            id: Some("j1".into()),
            model: Some("m".into()),
            payload: json!({"prompt": "Hi", "max_length": 8})
                .as_object()
                .cloned(),
            ttl: Some(30),
            ..Default::default()
        };
        let job = TextJob::from_pop(popped, LIMITS).unwrap();
        assert_eq!(
            (job.id.as_str(), job.prompt.as_str(), job.ttl),
            ("j1", "Hi", Duration::from_secs(30))
        );
        assert_eq!(job.settings.max_tokens, 8);
        // Only a requester who streams asks for the text as it goes.
        assert!(!job.stream);
        assert_eq!(job.score_check, None);
    }

    #[test]
    fn a_check_job_keeps_the_checked_jobs_settings_beyond_this_workers_limits() {
        let payload = json!({"prompt": "Hi", "max_length": 300, "max_context_length": 4096});
        let popped = GenerationPayloadKobold {
            id: Some("c1".into()),
            payload: payload.as_object().cloned(),
            score_check: Some(ScoreCheck {
                text: "Hello".into(),
                token_ids: Some(vec![1, 2]),
            }),
            ..Default::default()
        };
        let job = TextJob::from_pop(popped.clone(), LIMITS).unwrap();
        assert_eq!(job.score_check, popped.score_check);
        assert_eq!(
            (job.settings.max_tokens, job.settings.context_length),
            (300, 4096)
        );
        // The same job to generate is cut to the worker's limits.
        let popped = GenerationPayloadKobold {
            score_check: None,
            ..popped
        };
        let job = TextJob::from_pop(popped, LIMITS).unwrap();
        assert_eq!(
            (job.settings.max_tokens, job.settings.context_length),
            (256, 2048)
        );
    }
}
