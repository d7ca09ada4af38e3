//! Scoring a generation: how each of its tokens stands under the model and its request's
//! sampling rules (see `scoring.rs`), from one batched forward pass over the prompt and the
//! tokens, as a prefill runs, not one step per token. It is how a trusted worker checks
//! another's work, at about the cost of a prefill.

use crate::error::{InferError, Result};
use crate::generate::GenerateRequest;
use crate::model::Model;
use crate::scoring::{score_position, TokenScore};

impl Model {
    /// Scores `tokens` as a generation of `request`: each token from the logits at its
    /// position, with the prompt prepared as [`Model::generate`] prepares it (special tokens,
    /// the cut to the context), so that positions and penalties are those the generator saw.
    /// `tokens` are what was sampled, the end-of-text token included where generation ended
    /// there; more than `max_tokens`, or ids outside the vocabulary, are refused (no honest
    /// generation has them: see [`Model::replay`]).
    pub async fn score(
        &self,
        request: &GenerateRequest,
        tokens: &[u32],
    ) -> Result<Vec<TokenScore>> {
        let prompt = self.prepare(request)?;
        if tokens.len() > request.max_tokens {
            return Err(InferError::InvalidRequest(format!(
                "{} tokens are more than max_tokens {}",
                tokens.len(),
                request.max_tokens
            )));
        }
        if let Some(bad) = tokens
            .iter()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(InferError::InvalidRequest(format!(
                "token {bad} is not in the vocabulary of {}",
                self.config.vocab_size
            )));
        }
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let history: Vec<u32> = prompt.tokens.iter().chain(tokens).copied().collect();
        let first = prompt.tokens.len();
        let mut session = self.take_session(history.len(), true).await?;
        let mut scores = Vec::with_capacity(tokens.len());
        // The last token's own logits say nothing about it: the pass ends before it.
        let inputs = &history[..history.len() - 1];
        let banned = request.sampling.banned(self.tokenizer().stop_ids());
        let result = session
            .each_logits(inputs, first - 1, |logits| {
                let position = first + scores.len();
                scores.push(score_position(
                    logits,
                    &history,
                    position,
                    &request.sampling,
                    banned,
                ));
            })
            .await;
        self.keep_session(session);
        result?;
        Ok(scores)
    }
}
