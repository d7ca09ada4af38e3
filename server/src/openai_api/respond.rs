//! Answering a queued `/v1` request: waiting for its result, or streaming it as Server-Sent
//! Events while the worker generates.
//!
//! The worker's text arrives through the relay as it is generated and goes out at once. The
//! final submit, read from the database, stays the truth: a stream ends with whatever of the
//! result it has not sent yet (all of it, from a worker that does not stream). A requester who
//! goes away (closes the stream, or drops a waiting request) cancels the request; a streaming
//! worker learns it at its next message and stops.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use potluck_core::relay::{RelayEvent, Subscription, TextFollower};
use potluck_core::{Horde, TextOutcome};
use protocol::openai_api::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletion, ChatCompletionChunk, ChunkDelta,
    TextChoice, TextCompletion, Usage,
};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::error::{OpenAiApiError, OpenAiResult};
use super::plan::{Endpoint, Plan};
use crate::api::AppState;

/// How often a waiting answer looks at the database even when no event came.
const POLL: Duration = Duration::from_secs(1);
/// A rough count of tokens in text, when a worker reported none.
const CHARS_PER_TOKEN: usize = 4;

pub struct Answer {
    pub created: i64,
    pub plan: Plan,
    pub request_id: String,
}

/// Cancels the request when dropped, unless it ended by itself.
struct CancelOnDrop {
    horde: Arc<Horde>,
    request_id: String,
    armed: bool,
}

impl CancelOnDrop {
    fn new(horde: &Arc<Horde>, request_id: &str) -> Self {
        CancelOnDrop {
            horde: horde.clone(),
            request_id: request_id.to_string(),
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let (horde, id) = (self.horde.clone(), std::mem::take(&mut self.request_id));
            tokio::spawn(async move {
                match horde.cancel_text(&id).await {
                    Ok(_) => {
                        tracing::info!(request = %id, "the requester went away; request cancelled")
                    }
                    Err(error) => tracing::warn!(request = %id, %error, "could not cancel"),
                }
            });
        }
    }
}

fn estimate_tokens(text: &str) -> u32 {
    text.chars().count().div_ceil(CHARS_PER_TOKEN) as u32
}

impl Answer {
    fn id(&self) -> String {
        match self.plan.endpoint {
            Endpoint::Chat => format!("chatcmpl-{}", self.request_id),
            Endpoint::Completions => format!("cmpl-{}", self.request_id),
        }
    }

    fn usage(&self, outcome: &TextOutcome) -> Usage {
        let prompt = outcome
            .results
            .iter()
            .find_map(|r| r.prompt_tokens)
            .unwrap_or_else(|| estimate_tokens(&self.plan.prompt));
        let completion = outcome
            .results
            .iter()
            .map(|r| {
                r.completion_tokens
                    .unwrap_or_else(|| estimate_tokens(&r.text))
            })
            .sum();
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }

    fn finish_reason(&self, result: &potluck_core::TextResult) -> String {
        result.finish_reason.clone().unwrap_or_else(|| {
            let tokens = result
                .completion_tokens
                .unwrap_or_else(|| estimate_tokens(&result.text));
            if tokens >= self.plan.max_tokens {
                "length"
            } else {
                "stop"
            }
            .into()
        })
    }

    /// The failure, if the request ended without results.
    fn failure(outcome: &TextOutcome) -> Option<OpenAiApiError> {
        if outcome.faulted {
            Some(OpenAiApiError::generation_failed(
                "The workers failed to generate this; try again",
            ))
        } else if outcome.results.is_empty() {
            Some(OpenAiApiError::generation_failed(
                "The request ended without a result (cancelled or expired)",
            ))
        } else {
            None
        }
    }

    fn completed(&self, outcome: &TextOutcome) -> OpenAiResult<Response> {
        if let Some(failure) = Self::failure(outcome) {
            return Err(failure);
        }
        let usage = self.usage(outcome);
        let indexed = outcome
            .results
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u32, r));
        Ok(match self.plan.endpoint {
            Endpoint::Chat => Json(ChatCompletion {
                id: self.id(),
                object: "chat.completion".into(),
                created: self.created,
                model: self.plan.model.clone(),
                choices: indexed
                    .map(|(index, r)| ChatChoice {
                        index,
                        message: AssistantMessage {
                            role: "assistant".into(),
                            content: r.text.clone(),
                        },
                        finish_reason: self.finish_reason(r),
                        logprobs: None,
                    })
                    .collect(),
                usage,
            })
            .into_response(),
            Endpoint::Completions => Json(TextCompletion {
                id: self.id(),
                object: "text_completion".into(),
                created: self.created,
                model: self.plan.model.clone(),
                choices: indexed
                    .map(|(index, r)| TextChoice {
                        index,
                        text: r.text.clone(),
                        finish_reason: Some(self.finish_reason(r)),
                        logprobs: None,
                    })
                    .collect(),
                usage: Some(usage),
            })
            .into_response(),
        })
    }

    /// Waits for the result and answers it whole.
    pub async fn wait(self, state: AppState) -> OpenAiResult<Response> {
        let horde = state.horde.clone();
        let mut guard = CancelOnDrop::new(&horde, &self.request_id);
        let mut subscription = horde.relay().subscribe(&self.request_id);
        let deadline = Instant::now() + state.settings.openai_timeout;
        loop {
            let outcome = horde.text_outcome(&self.request_id).await?;
            if outcome.done {
                guard.disarm();
                return self.completed(&outcome);
            }
            if Instant::now() >= deadline {
                return Err(OpenAiApiError::timeout(
                    state.settings.openai_timeout.as_secs(),
                ));
            }
            // Until a job ends (or a while has passed, in case the event was missed).
            let until = (Instant::now() + POLL).min(deadline);
            while let Ok(event) = tokio::time::timeout_at(until, subscription.events.recv()).await {
                if !matches!(event, Ok(RelayEvent::Delta { .. })) {
                    break;
                }
            }
        }
    }

    /// Answers with a stream of events, fed by a task that follows the request.
    pub fn stream(self, state: AppState) -> Response {
        let (events, receiver) = mpsc::channel(256);
        let subscription = state.horde.relay().subscribe(&self.request_id);
        tokio::spawn(self.follow(state, subscription, events));
        let stream = ReceiverStream::new(receiver).map(Ok::<Event, Infallible>);
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response()
    }

    /// A chunk with some text (and the role, first; the finish reason, last).
    fn chunk(&self, text: Option<&str>, role: bool, finish: Option<String>) -> Event {
        self.event(Some((text, role, finish)), None)
    }

    /// The chunk that ends a stream with `stream_options.include_usage`: no choice, the usage.
    fn usage_chunk(&self, usage: Usage) -> Event {
        self.event(None, Some(usage))
    }

    fn event(
        &self,
        choice: Option<(Option<&str>, bool, Option<String>)>,
        usage: Option<Usage>,
    ) -> Event {
        let json = match self.plan.endpoint {
            Endpoint::Chat => serde_json::to_string(&ChatCompletionChunk {
                id: self.id(),
                object: "chat.completion.chunk".into(),
                created: self.created,
                model: self.plan.model.clone(),
                choices: choice
                    .into_iter()
                    .map(|(text, role, finish)| ChatChunkChoice {
                        index: 0,
                        delta: ChunkDelta {
                            role: role.then(|| "assistant".into()),
                            content: text.map(str::to_owned),
                        },
                        finish_reason: finish,
                        logprobs: None,
                    })
                    .collect(),
                usage,
            }),
            Endpoint::Completions => serde_json::to_string(&TextCompletion {
                id: self.id(),
                object: "text_completion".into(),
                created: self.created,
                model: self.plan.model.clone(),
                choices: choice
                    .into_iter()
                    .map(|(text, _, finish)| TextChoice {
                        index: 0,
                        text: text.unwrap_or_default().to_string(),
                        finish_reason: finish,
                        logprobs: None,
                    })
                    .collect(),
                usage,
            }),
        };
        Event::default().data(json.unwrap_or_default())
    }

    /// Relays the request's text as it comes, then the rest of the result, then `[DONE]`.
    async fn follow(
        self,
        state: AppState,
        mut subscription: Subscription,
        events: mpsc::Sender<Event>,
    ) {
        let horde = state.horde.clone();
        let mut guard = CancelOnDrop::new(&horde, &self.request_id);
        let deadline = Instant::now() + state.settings.openai_timeout;
        let send = |event: Event| {
            let events = events.clone();
            async move { events.send(event).await.is_ok() }
        };
        let done = Event::default().data("[DONE]");
        let error = |e: OpenAiApiError| {
            Event::default().data(serde_json::to_string(&e.to_body()).unwrap_or_default())
        };
        if self.plan.endpoint == Endpoint::Chat && !send(self.chunk(Some(""), true, None)).await {
            return;
        }
        // The job whose text is being relayed, and how much of it went out: from what the relay
        // already had (nothing, unless a worker was quicker than this subscription).
        let mut follower = std::mem::take(&mut subscription.text_so_far);
        if !follower.text().is_empty()
            && !send(self.chunk(Some(follower.text()), false, None)).await
        {
            return;
        }
        loop {
            let until = (Instant::now() + POLL).min(deadline);
            let ended = match tokio::time::timeout_at(until, subscription.events.recv()).await {
                Ok(Ok(RelayEvent::Delta {
                    job_id,
                    offset,
                    text,
                })) => {
                    let new = follower.accept(&job_id, offset, &text);
                    if !new.is_empty() && !send(self.chunk(Some(new), false, None)).await {
                        return;
                    }
                    continue;
                }
                Ok(Ok(RelayEvent::JobEnded { job_id })) => Some(job_id),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    follower.lost_some();
                    None
                }
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => None,
            };
            if events.is_closed() {
                return;
            }
            let outcome = match horde.text_outcome(&self.request_id).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    let _ = send(error(e.into())).await;
                    return;
                }
            };
            if outcome.done {
                guard.disarm();
                if let Some(failure) = Self::failure(&outcome) {
                    let _ = send(error(failure)).await;
                    let _ = send(done).await;
                    return;
                }
                let result = &outcome.results[0];
                match result.text.strip_prefix(follower.text()) {
                    Some(rest) if !rest.is_empty() => {
                        let _ = send(self.chunk(Some(rest), false, None)).await;
                    }
                    Some(_) => {}
                    None => {
                        tracing::warn!(request = %self.request_id, "the streamed text is not the result's beginning")
                    }
                }
                let _ = send(self.chunk(None, false, Some(self.finish_reason(result)))).await;
                if self.plan.include_usage {
                    let _ = send(self.usage_chunk(self.usage(&outcome))).await;
                }
                let _ = send(done).await;
                return;
            }
            if ended.as_deref().is_some_and(|job| follower.follows(job)) {
                // The job relayed so far ended without a result (its worker failed) and went
                // back to the queue. Its text cannot be taken back: start over only if none went out.
                if !follower.text().is_empty() {
                    let _ = send(error(OpenAiApiError::generation_failed(
                        "The worker failed midway through the answer; try again",
                    )))
                    .await;
                    let _ = send(done).await;
                    return;
                }
                follower = TextFollower::default();
            }
            if Instant::now() >= deadline {
                let _ = send(error(OpenAiApiError::timeout(
                    state.settings.openai_timeout.as_secs(),
                )))
                .await;
                let _ = send(done).await;
                return;
            }
        }
    }
}
