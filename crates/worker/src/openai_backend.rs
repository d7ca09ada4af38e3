//! The `openai` back end: a bridge to a local OpenAI-compatible server (llama.cpp's server,
//! vLLM, Ollama, KoboldCpp, `transformers serve`, ...), so volunteers with models our engine
//! does not run can serve them.
//!
//! Horde prompts are raw text, formatted by the requester, so jobs go to `/v1/completions`.
//! Sent: `model`, `prompt`, `max_tokens`, `temperature`, `top_p`, `stop`, `seed`, and, where the
//! job uses them, the common extensions `top_k`, `min_p` and `repetition_penalty` (llama.cpp,
//! vLLM and others take them). A server that refuses them (as OpenAI's own API and
//! `transformers serve` do, with a 400 or 422) gets the standard parameters alone from then on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::backend::{Backend, BackendError, Generated, JobControl, StopReason};
use crate::job::{Limits, TextJob};

#[derive(Clone)]
pub struct OpenAiBackend {
    client: reqwest::Client,
    /// `.../v1`
    base: String,
    /// The model's name on the bridged server.
    backend_model: String,
    /// The model's name on the Horde.
    name: String,
    api_key: Option<String>,
    limits: Limits,
    /// The server refused the extensions once: send standard parameters only.
    standard_only: Arc<AtomicBool>,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    text: String,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: usize,
    completion_tokens: usize,
}

impl OpenAiBackend {
    /// `url` is the server's address, with or without `/v1`.
    pub fn new(
        url: &str,
        backend_model: &str,
        name: &str,
        api_key: Option<String>,
        limits: Limits,
    ) -> Result<Self, BackendError> {
        let root = url.trim_end_matches('/');
        let root = root.strip_suffix("/v1").unwrap_or(root);
        if !(root.starts_with("http://") || root.starts_with("https://")) {
            return Err(BackendError::Failed(format!(
                "{url:?} is not an http(s) address"
            )));
        }
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| BackendError::Failed(e.to_string()))?;
        Ok(OpenAiBackend {
            client,
            base: format!("{root}/v1"),
            backend_model: backend_model.to_string(),
            name: name.to_string(),
            api_key,
            limits,
            standard_only: Arc::new(AtomicBool::new(false)),
        })
    }

    fn body(job: &TextJob, model: &str, extensions: bool) -> Value {
        let s = &job.settings;
        let mut body = json!({
            "model": model,
            "prompt": job.prompt,
            "max_tokens": s.max_tokens,
            "temperature": s.sampling.temperature,
            "top_p": s.sampling.top_p,
            "seed": s.sampling.seed,
            "stream": false,
        });
        // Some servers fail on an empty list.
        if !s.stop.is_empty() {
            body["stop"] = json!(s.stop);
        }
        if extensions {
            let p = &s.sampling;
            let used = [
                ("top_k", p.top_k > 0, json!(p.top_k)),
                ("min_p", p.min_p > 0.0, json!(p.min_p)),
                (
                    "repetition_penalty",
                    p.repetition_penalty != 1.0,
                    json!(p.repetition_penalty),
                ),
            ];
            for (key, _, value) in used.into_iter().filter(|(_, used, _)| *used) {
                body[key] = value;
            }
        }
        body
    }

    /// One completion request; `Ok(None)` when the server refused the request's fields.
    async fn complete(
        &self,
        body: &Value,
        control: &JobControl,
    ) -> Result<Option<Completion>, BackendError> {
        let mut request = self
            .client
            .post(format!("{}/completions", self.base))
            .json(body);
        // In the browser, fetch has no timeout; the loop's deadline still holds there.
        #[cfg(not(target_arch = "wasm32"))]
        {
            let left = control
                .deadline
                .saturating_duration_since(web_time::Instant::now());
            request = request.timeout(left.max(std::time::Duration::from_secs(1)));
        }
        #[cfg(target_arch = "wasm32")]
        let _ = control;
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let failed = |e: reqwest::Error| BackendError::Failed(format!("{}: {e}", self.base));
        let response = request.send().await.map_err(failed)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map(Some).map_err(failed);
        }
        let text = response.text().await.unwrap_or_default();
        if matches!(status.as_u16(), 400 | 422) {
            tracing::debug!(%status, body = text, "the server refused the request");
            return Ok(None);
        }
        Err(BackendError::Failed(format!(
            "{} answered {status}: {}",
            self.base,
            text.chars().take(300).collect::<String>()
        )))
    }
}

impl Backend for OpenAiBackend {
    fn models(&self) -> Vec<String> {
        vec![self.name.clone()]
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn describe(&self) -> String {
        format!(
            "{} through {} (model {})",
            self.name, self.base, self.backend_model
        )
    }

    async fn generate(
        &self,
        job: &TextJob,
        control: &JobControl,
    ) -> Result<Generated, BackendError> {
        let extensions = !self.standard_only.load(Ordering::Relaxed);
        let mut completion = self
            .complete(&Self::body(job, &self.backend_model, extensions), control)
            .await?;
        if completion.is_none() && extensions {
            tracing::warn!("{} refuses top_k, min_p and repetition_penalty; sending the standard parameters only", self.base);
            self.standard_only.store(true, Ordering::Relaxed);
            completion = self
                .complete(&Self::body(job, &self.backend_model, false), control)
                .await?;
        }
        let completion = completion
            .ok_or_else(|| BackendError::Failed(format!("{} refused the request", self.base)))?;
        let choice = completion
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| BackendError::Failed(format!("{} returned no choice", self.base)))?;
        let (text, finish_reason) = (choice.text, choice.finish_reason);
        let usage = completion.usage;
        let tokens = usage.as_ref().map_or(0, |u| u.completion_tokens);
        control.add_tokens(tokens, &text);
        if control.stop_reason() == Some(StopReason::Shutdown) {
            return Err(BackendError::Cancelled);
        }
        Ok(Generated {
            text,
            tokens,
            token_ids: None,
            prompt_tokens: usage.map(|u| u.prompt_tokens),
            cut_short: false,
            finish_reason: finish_reason.and_then(|r| match r.as_str() {
                "stop" => Some("stop"),
                "length" => Some("length"),
                _ => None,
            }),
        })
    }
}
