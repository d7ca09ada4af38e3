//! Text as workers generate it, and as the OpenAI-compatible API reports it: a worker's progress
//! relayed to whoever streams the request, the end of each job announced, and the finished
//! results with the token counts the workers reported.

use super::{Account, Horde};
use crate::error::{Rejection, Result};
use crate::relay::RelayEvent;
use crate::store::{job_state, request_state};
use protocol::{GenerationProgress, GenerationProgressAnswer, WorkerType};

/// The most text one progress message may carry.
const MAX_PROGRESS_BYTES: usize = 65_536;

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
        let super::jobs::CallersJob { job, request, .. } = self
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
