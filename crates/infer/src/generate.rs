//! Generation: prompt in, tokens out one at a time, with a callback per token.
//!
//! The next token is sampled on the GPU into the token history that the following step reads,
//! so a step can be submitted before the CPU has seen the token of the one before. Two steps
//! are kept in flight: while the CPU reads back, decodes and streams one token, the GPU is
//! already computing the next. When generation stops, at most one step was computed in vain.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use web_time::Instant;

use crate::error::{InferError, Result};
use crate::model::Model;
use crate::sampling::SamplingParams;
use crate::session::{Session, Tail, TOKEN_SLOTS};
use crate::transcript::Transcript;

/// Steps submitted ahead of the one being read back.
const IN_FLIGHT: usize = 2;

/// Asks a running generation to stop; clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateRequest {
    /// The text to continue (for a chat, [`Model::chat_prompt`]'s output).
    pub prompt: String,
    /// The most tokens to generate.
    pub max_tokens: usize,
    pub sampling: SamplingParams,
    /// Text that ends the generation where it appears (it is not part of the result).
    pub stop: Vec<String>,
    /// End at the model's end-of-sequence (or end-of-turn) token.
    pub stop_at_eos: bool,
    /// Add what the tokenizer adds around a prompt (a BOS token, for models that want one).
    pub add_special_tokens: bool,
    /// Positions for prompt and answer together; the prompt's beginning is cut off if both do
    /// not fit. By default the model's own context length.
    pub context_length: Option<usize>,
    pub cancel: Option<CancelToken>,
}

impl GenerateRequest {
    pub fn new(prompt: impl Into<String>, max_tokens: usize) -> Self {
        GenerateRequest {
            prompt: prompt.into(),
            max_tokens,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            stop_at_eos: true,
            add_special_tokens: true,
            context_length: None,
            cancel: None,
        }
    }
}

/// One generated token, as the callback sees it.
#[derive(Debug)]
pub struct TokenEvent<'a> {
    /// 0 for the first generated token.
    pub index: usize,
    /// The token; `None` for a last event that only releases text held back until the end.
    pub token: Option<u32>,
    /// Text that became final with this token: often the token's text, sometimes empty (half a
    /// character, or a possible beginning of a stop sequence, is held back until it is settled).
    pub text: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// `max_tokens` tokens were generated.
    Length,
    /// A stop sequence appeared.
    Stop,
    /// The model ended its text.
    EndOfText,
    /// The cancel token, or the callback, stopped it.
    Cancelled,
}

#[derive(Clone, Debug)]
pub struct Generation {
    /// The generated text: everything the callback was given, in order.
    pub text: String,
    pub tokens: Vec<u32>,
    /// The end-of-text token that ended it (with [`FinishReason::EndOfText`]; not in `tokens`).
    pub end_token: Option<u32>,
    /// Prompt tokens that were run (after any cut).
    pub prompt_tokens: usize,
    /// Prompt tokens cut from the beginning to fit the context.
    pub truncated_prompt_tokens: usize,
    pub finish: FinishReason,
    /// From the start to the first generated token.
    pub prefill_seconds: f64,
    /// From the first generated token to the last.
    pub decode_seconds: f64,
}

/// A request's prompt as generation runs it: tokenized, its beginning cut to fit the context.
pub(crate) struct Prompt {
    pub tokens: Vec<u32>,
    /// Tokens cut from the beginning.
    pub truncated: usize,
}

/// A generation's text, given its tokens: see [`Model::replay`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    pub text: String,
    /// How many of the tokens, from the first, the generation generated.
    pub generated: usize,
}

impl Model {
    /// Generates text, calling `on_token` as each token arrives; the callback returns
    /// `ControlFlow::Break` to stop early.
    pub async fn generate<F>(
        &self,
        request: &GenerateRequest,
        mut on_token: F,
    ) -> Result<Generation>
    where
        F: FnMut(&TokenEvent<'_>) -> ControlFlow<()>,
    {
        let prompt = self.prepare(request)?;
        let needed = prompt.tokens.len() + request.max_tokens;
        let mut session = self.take_session(needed, false).await?;
        let result = run(self, &mut session, &prompt.tokens, request, &mut on_token).await;
        self.keep_session(session);
        let mut generation = result?;
        generation.truncated_prompt_tokens = prompt.truncated;
        Ok(generation)
    }

    /// Checks a request, and prepares its prompt as generation runs it.
    pub(crate) fn prepare(&self, request: &GenerateRequest) -> Result<Prompt> {
        request.sampling.validate()?;
        if request.max_tokens == 0 {
            return Err(InferError::InvalidRequest(
                "max_tokens must be at least 1".into(),
            ));
        }
        let context = request
            .context_length
            .unwrap_or(self.config.max_position_embeddings)
            .min(self.config.max_position_embeddings);
        if request.max_tokens >= context {
            return Err(InferError::InvalidRequest(format!(
                "max_tokens {} leaves no room for a prompt in a context of {context}",
                request.max_tokens
            )));
        }
        let mut tokens = self
            .tokenizer()
            .encode(&request.prompt, request.add_special_tokens)?;
        if tokens.is_empty() {
            return Err(InferError::InvalidRequest("the prompt is empty".into()));
        }
        let keep = context - request.max_tokens;
        let truncated = tokens.len().saturating_sub(keep);
        tokens.drain(..truncated);
        Ok(Prompt { tokens, truncated })
    }

    /// The text a generation of `request` had if it generated `tokens` (as in
    /// [`Generation::text`], with its end-of-text token, if any, at the end), and how many of
    /// them it generated: all, unless it would have ended sooner (at the end of text, a stop
    /// sequence or `max_tokens`) or a token is not in the vocabulary.
    pub fn replay(&self, request: &GenerateRequest, tokens: &[u32]) -> Result<Replay> {
        let mut transcript = Transcript::new(self.tokenizer(), &request.stop);
        let mut generated = 0;
        let mut ended = false;
        for &token in tokens {
            if token as usize >= self.config.vocab_size {
                break;
            }
            generated += 1;
            if request.stop_at_eos && self.tokenizer().stop_ids().contains(&token) {
                transcript.end()?;
                ended = true;
                break;
            }
            let last = generated == request.max_tokens;
            let stopped = transcript.push(token, last)?;
            transcript.give();
            if stopped || last {
                ended = true;
                break;
            }
        }
        if !ended {
            // Nothing ended it, so it was stopped early.
            transcript.cut();
        }
        Ok(Replay {
            text: transcript.into_text(),
            generated,
        })
    }
}

async fn run<F>(
    model: &Model,
    session: &mut Session,
    prompt: &[u32],
    request: &GenerateRequest,
    on_token: &mut F,
) -> Result<Generation>
where
    F: FnMut(&TokenEvent<'_>) -> ControlFlow<()>,
{
    let tokenizer = model.tokenizer();
    let started = Instant::now();
    session.check_room(prompt.len(), request.max_tokens - 1)?;
    session.set_sampling(
        &request.sampling,
        model.config.vocab_size,
        tokenizer.stop_ids(),
    );
    session.write_tokens(prompt);

    let mut in_flight = VecDeque::new();
    in_flight.push_back((0, session.submit_prefill(prompt.len(), Tail::Sample(0))));
    let mut submitted = 1;
    let mut next_slot = 1;

    let mut tokens = Vec::new();
    let mut transcript = Transcript::new(tokenizer, &request.stop);
    let mut end_token = None;
    let mut first_token_at = None;
    let mut finish = FinishReason::Length;
    while let Some((slot, submission)) = in_flight.pop_front() {
        // Before reading this step's token, give the GPU the next step(s) to work on.
        while in_flight.len() + 1 < IN_FLIGHT && submitted < request.max_tokens {
            in_flight.push_back((next_slot, session.submit(1, Tail::Sample(next_slot))));
            next_slot = (next_slot + 1) % TOKEN_SLOTS;
            submitted += 1;
        }
        let token = session.read_token(slot, submission).await?;
        first_token_at.get_or_insert_with(Instant::now);
        if request.stop_at_eos && tokenizer.stop_ids().contains(&token) {
            end_token = Some(token);
            finish = FinishReason::EndOfText;
            break;
        }
        tokens.push(token);
        let stopped = transcript.push(token, tokens.len() == request.max_tokens)?;
        let event = TokenEvent {
            index: tokens.len() - 1,
            token: Some(token),
            text: transcript.give(),
        };
        let cancelled = on_token(&event).is_break()
            || request
                .cancel
                .as_ref()
                .is_some_and(CancelToken::is_cancelled);
        if stopped {
            finish = FinishReason::Stop;
            break;
        }
        if cancelled {
            finish = FinishReason::Cancelled;
            break;
        }
        if tokens.len() == request.max_tokens {
            break;
        }
    }
    match finish {
        FinishReason::EndOfText => {
            // Nothing follows, so what was held back is final.
            transcript.end()?;
            let text = transcript.give();
            if !text.is_empty() {
                let event = TokenEvent {
                    index: tokens.len(),
                    token: None,
                    text,
                };
                let _ = on_token(&event);
            }
        }
        // The result is what the caller was given.
        FinishReason::Cancelled => transcript.cut(),
        FinishReason::Length | FinishReason::Stop => {}
    }
    let first = first_token_at.unwrap_or(started);
    Ok(Generation {
        text: transcript.into_text(),
        tokens,
        end_token,
        prompt_tokens: prompt.len(),
        truncated_prompt_tokens: 0,
        finish,
        prefill_seconds: (first - started).as_secs_f64(),
        decode_seconds: first.elapsed().as_secs_f64(),
    })
}
