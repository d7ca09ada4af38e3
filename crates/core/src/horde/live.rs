//! What the OpenAI-compatible API needs beyond the AI Horde's: workers' live text relayed to
//! waiting requesters, the models' chat templates, and results with their token counts.

use std::collections::BTreeSet;

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::relay::RelayEvent;
use crate::store::{job_state, request_state};
use protocol::{ChatTemplateInfo, GenerationProgress, GenerationProgressAnswer, WorkerType};

/// The most text one progress message may carry.
const MAX_PROGRESS_BYTES: usize = 65_536;

/// Whether any worker serves a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelAvailability {
    /// No worker ever said it serves it.
    Unknown,
    /// Workers served it, none is online now.
    Offline,
    /// Online workers serve it; the largest context and answer among them.
    Online {
        max_context_length: u32,
        max_length: u32,
    },
}

/// A finished (or ended) text request, as the OpenAI API reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct TextOutcome {
    /// Every generation is done (or the request ended).
    pub done: bool,
    pub faulted: bool,
    pub cancelled: bool,
    pub results: Vec<TextResult>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TextResult {
    pub job_id: String,
    pub text: String,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub finish_reason: Option<String>,
}

impl Horde {
    /// A worker's text so far for a job it holds, relayed to whoever streams the request. The
    /// answer tells the worker to stop when the requester went away (or the job is no longer
    /// its own to finish).
    pub async fn text_progress(
        &self,
        account: &Account,
        input: GenerationProgress,
    ) -> Result<GenerationProgressAnswer> {
        if input.text.len() > MAX_PROGRESS_BYTES || input.text.contains('\0') {
            return Err(Rejection::invalid_field(
                "text",
                "BadRequest",
                format!("text must be at most {MAX_PROGRESS_BYTES} bytes and hold no NUL"),
            )
            .into());
        }
        let (job, request) = self
            .job_of_caller(account, input.id.as_deref(), WorkerType::Text)
            .await?;
        if request.state != request_state::ACTIVE || job.state != job_state::PROCESSING {
            return Ok(GenerationProgressAnswer { cancelled: true });
        }
        if !input.text.is_empty() {
            let event = RelayEvent::Delta {
                job_id: job.id,
                offset: input.offset,
                text: input.text,
            };
            self.relay.publish(&request.id, event).await?;
        }
        Ok(GenerationProgressAnswer { cancelled: false })
    }

    /// Tells whoever waits on `request_id` that one of its jobs ended.
    pub(super) async fn announce_job_end(&self, request_id: &str, job_id: &str) {
        let event = RelayEvent::JobEnded {
            job_id: job_id.to_string(),
        };
        // Listeners poll the database too: an event lost here only delays them.
        if let Err(error) = self.relay.publish(request_id, event).await {
            tracing::warn!(%error, "could not announce the end of a job");
        }
    }

    /// The chat template the workers serving `model` announced most recently.
    pub async fn chat_template_for(&self, model: &str) -> Result<Option<ChatTemplateInfo>> {
        let templates = self.store.chat_templates().await?;
        Ok(templates
            .into_iter()
            .filter(|(models, _)| models.iter().any(|m| m == model))
            .find_map(|(_, json)| serde_json::from_str(&json).ok()))
    }

    pub async fn text_model_availability(&self, model: &str) -> Result<ModelAvailability> {
        let workers = self.store.workers(Some(WorkerType::Text.as_str())).await?;
        let serving: Vec<_> = workers
            .iter()
            .filter(|w| w.models.0.iter().any(|m| m == model))
            .collect();
        if serving.is_empty() {
            return Ok(ModelAvailability::Unknown);
        }
        let online: Vec<_> = serving.iter().filter(|w| self.takes_jobs(w)).collect();
        if online.is_empty() {
            return Ok(ModelAvailability::Offline);
        }
        let largest = |f: fn(&crate::store::WorkerRow) -> i64| {
            online
                .iter()
                .map(|w| f(w))
                .max()
                .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        Ok(ModelAvailability::Online {
            max_context_length: largest(|w| w.max_context_length),
            max_length: largest(|w| w.max_length),
        })
    }

    /// The models that text workers taking jobs now serve, sorted.
    pub async fn online_text_models(&self) -> Result<Vec<String>> {
        let workers = self.store.workers(Some(WorkerType::Text.as_str())).await?;
        let models: BTreeSet<&String> = workers
            .iter()
            .filter(|w| self.takes_jobs(w))
            .flat_map(|w| &w.models.0)
            .collect();
        Ok(models.into_iter().cloned().collect())
    }

    /// The request's results so far, with what the workers reported of them.
    pub async fn text_outcome(&self, id: &str) -> Result<TextOutcome> {
        let request = self.find_request(id, WorkerType::Text).await?;
        let jobs = self.store.jobs_of(id).await?;
        let check = self.status_check(&request, &jobs).await?;
        self.touch(&request, check.done).await?;
        let count = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
        Ok(TextOutcome {
            done: check.done,
            faulted: check.faulted,
            cancelled: request.state == request_state::CANCELLED,
            results: jobs
                .into_iter()
                .filter(|j| j.is_finished())
                .map(|j| TextResult {
                    job_id: j.id,
                    text: j.generation.unwrap_or_default(),
                    prompt_tokens: count(j.prompt_tokens),
                    completion_tokens: count(j.completion_tokens),
                    finish_reason: j.finish_reason,
                })
                .collect(),
        })
    }
}
