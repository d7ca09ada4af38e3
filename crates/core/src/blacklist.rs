//! An image worker's word blacklist (`blacklist` in its pop): prompts that contain any of its
//! words, whatever their case, are not for it. The words are compiled once per pop into one
//! Aho-Corasick automaton, so a prompt is read once whatever the number of words, and both the
//! list and its words are bounded: matching inside a pop's transaction stays short.

use crate::error::{Rejection, Result};
use aho_corasick::AhoCorasick;

/// The most words a blacklist holds.
pub const MAX_WORDS: usize = 1000;
/// The most characters a word of it has.
pub const MAX_WORD_CHARS: usize = 100;

/// The compiled words; matches nothing when there are none.
#[derive(Debug, Clone, Default)]
pub struct Blacklist(Option<AhoCorasick>);

impl Blacklist {
    /// Compiles `words` (empty ones are ignored), refusing a list or a word over its bound.
    pub fn new(words: &[String]) -> Result<Self> {
        if words.len() > MAX_WORDS {
            return Err(Rejection::invalid_field(
                "blacklist",
                "BadRequest",
                format!("blacklist holds at most {MAX_WORDS} words"),
            )
            .into());
        }
        if words.iter().any(|w| w.chars().count() > MAX_WORD_CHARS) {
            return Err(Rejection::invalid_field(
                "blacklist",
                "BadRequest",
                format!("a blacklist word has at most {MAX_WORD_CHARS} characters"),
            )
            .into());
        }
        let words: Vec<String> = words
            .iter()
            .filter(|w| !w.is_empty())
            .map(|w| w.to_lowercase())
            .collect();
        if words.is_empty() {
            return Ok(Blacklist(None));
        }
        let automaton = AhoCorasick::new(&words).map_err(|e| {
            Rejection::invalid_field("blacklist", "BadRequest", format!("blacklist: {e}"))
        })?;
        Ok(Blacklist(Some(automaton)))
    }

    /// Whether `prompt` holds one of the words, whatever the case.
    pub fn matches(&self, prompt: &str) -> bool {
        match &self.0 {
            Some(automaton) => automaton.is_match(&prompt.to_lowercase()),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(words: &[&str]) -> Blacklist {
        Blacklist::new(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn words_match_whatever_their_case() {
        let blacklist = list(&["CAT", "", "Ärger"]);
        assert!(blacklist.matches("a black cat"));
        assert!(blacklist.matches("viel ÄRGER"));
        assert!(!blacklist.matches("a black dog"));
        assert!(!list(&[""]).matches("anything"));
        assert!(!Blacklist::default().matches("anything"));
    }

    #[test]
    fn lists_and_words_are_bounded() {
        let many = vec!["word".to_string(); MAX_WORDS + 1];
        assert!(Blacklist::new(&many).is_err());
        assert!(Blacklist::new(&many[..MAX_WORDS]).is_ok());
        assert!(Blacklist::new(&["x".repeat(MAX_WORD_CHARS + 1)]).is_err());
    }
}
