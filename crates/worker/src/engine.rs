//! The `engine` back end: our own engine (`crates/infer`) with a model on this machine's GPU. It
//! generates, and it scores other workers' generations of its model (check jobs).

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use infer::{FinishReason, GenerateRequest, InferError, Model};
use protocol::{ChatTemplateInfo, ScoreCheck, ScoredTokens, TextScores, TokenScore};

use crate::backend::{Backend, BackendError, Generated, JobControl, StopReason};
use crate::job::{Limits, TextJob};

/// The share of a job's time limit its generation may take: the rest is for the queue's pace,
/// the submit, and machines slower than their warm-up said.
const TTL_SHARE: f64 = 0.7;

#[derive(Clone)]
pub struct EngineBackend {
    model: Arc<Model>,
    name: String,
    limits: Limits,
}

impl EngineBackend {
    /// `name` is the model's name on the server; `limits` are capped at what the model can do.
    pub fn new(model: Arc<Model>, name: String, limits: Limits) -> Self {
        let context = model.info().context_length.min(u32::MAX as usize) as u32;
        let max_context_length = limits.max_context_length.min(context);
        let limits = Limits {
            max_context_length,
            max_length: limits
                .max_length
                .min(max_context_length.saturating_sub(1))
                .max(1),
        };
        EngineBackend {
            model,
            name,
            limits,
        }
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Measures how fast this machine decodes, with a short warm-up generation that also
    /// compiles the kernels before the first job, and cuts the job size to what it generates
    /// well within a job's `ttl` (at least 8 tokens). Returns the tokens per second.
    pub async fn fit_to(&mut self, ttl: Duration) -> Result<f64, BackendError> {
        let mut request = GenerateRequest::new("Once upon a time", 16);
        request.stop_at_eos = false;
        let generation = self
            .model
            .generate(&request, |_| ControlFlow::Continue(()))
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))?;
        // The first token is the prompt's; the rest are decoded one at a time.
        let decoded = generation.tokens.len().saturating_sub(1) as f64;
        let speed = decoded / generation.decode_seconds.max(1e-6);
        let fits = (speed * ttl.as_secs_f64() * TTL_SHARE) as u32;
        if fits < self.limits.max_length {
            tracing::warn!(
                "taking jobs of at most {fits} tokens, which finish within the server's {} s limit",
                ttl.as_secs()
            );
            self.limits.max_length = fits.max(8);
        }
        Ok(speed)
    }

    /// A job's generation as the engine's request.
    pub fn request(job: &TextJob) -> GenerateRequest {
        let settings = &job.settings;
        GenerateRequest {
            prompt: job.prompt.clone(),
            max_tokens: settings.max_tokens,
            sampling: settings.sampling.clone(),
            stop: settings.stop.clone(),
            stop_at_eos: true,
            add_special_tokens: true,
            context_length: Some(settings.context_length),
            cancel: None,
        }
    }
}

async fn generate(
    model: Arc<Model>,
    request: GenerateRequest,
    control: JobControl,
) -> Result<Generated, BackendError> {
    let generation = model
        .generate(&request, |event| {
            control.add_tokens(usize::from(event.token.is_some()), event.text);
            if control.should_stop() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
        .map_err(failed)?;
    if control.stop_reason() == Some(StopReason::Shutdown) {
        return Err(BackendError::Cancelled);
    }
    let cut_short = generation.finish == FinishReason::Cancelled;
    let tokens = generation.tokens.len();
    let mut token_ids = generation.tokens;
    token_ids.extend(generation.end_token);
    Ok(Generated {
        text: generation.text,
        tokens,
        token_ids: Some(token_ids),
        prompt_tokens: Some(generation.prompt_tokens),
        cut_short,
        finish_reason: Some(match generation.finish {
            FinishReason::Stop | FinishReason::EndOfText => "stop",
            FinishReason::Length | FinishReason::Cancelled => "length",
        }),
    })
}

/// Scores another worker's generation of `job`: the token ids it reported, and whether they give
/// the text it submitted; or, without ids, the tokens of its text.
async fn score(
    model: Arc<Model>,
    job: TextJob,
    check: ScoreCheck,
) -> Result<TextScores, InferError> {
    let request = EngineBackend::request(&job);
    let (tokens, source, text_matches) = match check.token_ids {
        Some(mut ids) => {
            // What an honest worker submits with these ids: the engine's text for them,
            // formatted as the job asks (as `finished` in worker.rs does).
            let replay = model.replay(&request, &ids)?;
            let text_matches =
                replay.generated == ids.len() && job.settings.format(&replay.text) == check.text;
            // Ids past where the generation would have ended cannot be scored.
            ids.truncate(replay.generated);
            (ids, ScoredTokens::Reported, text_matches)
        }
        None => {
            let mut ids = model.tokenizer().encode(&check.text, false)?;
            // A text can tokenize longer than it was generated; what fits is scored.
            ids.truncate(request.max_tokens);
            (ids, ScoredTokens::Tokenized, true)
        }
    };
    let scores = model.score(&request, &tokens).await?;
    Ok(TextScores {
        tokens: source,
        text_matches,
        greedy: request.sampling.is_greedy(),
        scores: scores.into_iter().map(wire_score).collect(),
    })
}

/// The engine's score of a token as the wire carries it.
fn wire_score(score: infer::TokenScore) -> TokenScore {
    TokenScore {
        token: score.token,
        rank: score.rank,
        logprob: score.logprob,
        entropy: score.entropy,
        nll_variance: score.nll_variance,
        greedy_margin: score.greedy_margin,
        top_k_margin: score.top_k_margin,
        top_p_margin: score.top_p_margin,
        min_p_margin: score.min_p_margin,
    }
}

fn failed(error: InferError) -> BackendError {
    BackendError::Failed(error.to_string())
}

/// Runs the engine's `work`. Natively the engine blocks its thread while it waits for the GPU,
/// so the work gets a thread of its own; in the browser it runs as it is.
async fn on_engine_thread<T, F>(
    work: impl FnOnce() -> F + Send + 'static,
) -> Result<T, BackendError>
where
    F: Future<Output = Result<T, BackendError>>,
    T: Send + 'static,
{
    #[cfg(not(target_arch = "wasm32"))]
    {
        let (done, result) = futures_channel::oneshot::channel();
        std::thread::spawn(move || {
            let _ = done.send(pollster::block_on(work()));
        });
        result
            .await
            .unwrap_or_else(|_| Err(BackendError::Failed("the engine's thread died".into())))
    }
    #[cfg(target_arch = "wasm32")]
    {
        work().await
    }
}

impl Backend for EngineBackend {
    fn models(&self) -> Vec<String> {
        vec![self.name.clone()]
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn chat_template(&self) -> Option<ChatTemplateInfo> {
        let template = self.model.chat_template();
        Some(ChatTemplateInfo {
            template: template.source().to_string(),
            bos_token: template.bos_token().to_string(),
            eos_token: template.eos_token().to_string(),
        })
    }

    fn failure(&self) -> Option<String> {
        self.model.gpu().failure()
    }

    fn describe(&self) -> String {
        let info = self.model.info();
        let gpu = self.model.gpu().info();
        format!(
            "{} ({:.0}M parameters, {}) on {} ({})",
            self.name,
            info.parameters as f64 / 1e6,
            info.weight_types.join("+"),
            gpu.name,
            gpu.backend
        )
    }

    async fn generate(
        &self,
        job: &TextJob,
        control: &JobControl,
    ) -> Result<Generated, BackendError> {
        let request = Self::request(job);
        let (model, control) = (self.model.clone(), control.clone());
        on_engine_thread(move || generate(model, request, control)).await
    }

    fn can_score(&self) -> bool {
        true
    }

    async fn score(&self, job: &TextJob, check: &ScoreCheck) -> Result<TextScores, BackendError> {
        let (model, job, check) = (self.model.clone(), job.clone(), check.clone());
        on_engine_thread(move || async move { score(model, job, check).await.map_err(failed) })
            .await
    }
}
