//! A generation's text as its tokens come: decoded, ended at the first stop sequence, and split
//! into what is settled (may be given out) and what is held back (half a character, or what may
//! be the beginning of a stop sequence). Generation feeds it the tokens it samples; a replay
//! feeds it a finished generation's tokens, and gets back the same text.

use crate::error::Result;
use crate::stops::StopSequences;
use crate::tokenizer::{StreamDecoder, TextTokenizer};

pub(crate) struct Transcript<'a> {
    tokenizer: &'a TextTokenizer,
    stops: StopSequences,
    decoder: StreamDecoder,
    text: String,
    /// Bytes of `text` that are settled.
    settled: usize,
    /// Bytes of `text` given out so far.
    given: usize,
}

impl<'a> Transcript<'a> {
    pub fn new(tokenizer: &'a TextTokenizer, stop: &[String]) -> Self {
        Transcript {
            tokenizer,
            stops: StopSequences::new(stop),
            decoder: StreamDecoder::new(),
            text: String::new(),
            settled: 0,
            given: 0,
        }
    }

    /// Adds a generated token; `last` when no token follows it (then nothing is held back).
    /// Returns whether a stop sequence ended the text.
    pub fn push(&mut self, token: u32, last: bool) -> Result<bool> {
        let searched = self.text.len();
        self.text
            .push_str(&self.decoder.push(self.tokenizer, token)?);
        if last {
            self.text.push_str(&self.decoder.finish(self.tokenizer)?);
        }
        let stop_at = self.stops.find(&self.text, searched);
        if let Some(at) = stop_at {
            self.text.truncate(at);
        }
        self.settled = if stop_at.is_some() || last {
            self.text.len()
        } else {
            self.text.len() - self.stops.held_back(&self.text)
        };
        Ok(stop_at.is_some())
    }

    /// The model ended its text: what was held back is settled (up to a stop sequence in it).
    pub fn end(&mut self) -> Result<()> {
        self.text.push_str(&self.decoder.finish(self.tokenizer)?);
        if let Some(at) = self.stops.find(&self.text, self.given) {
            self.text.truncate(at);
        }
        self.settled = self.text.len();
        Ok(())
    }

    /// The text settled since the last call, now given out.
    pub fn give(&mut self) -> &str {
        let start = self.given.min(self.settled);
        self.given = self.given.max(self.settled);
        &self.text[start..self.settled]
    }

    /// Generation was stopped early: the text is what was given out.
    pub fn cut(&mut self) {
        self.text.truncate(self.given);
    }

    pub fn into_text(self) -> String {
        self.text
    }
}
