//! Prompt filters, as the AI Horde's: moderators' regular expressions of three types, matched
//! against an image prompt made hard to disguise ([`normalize`]). Types 10 and 11 (terms for
//! minors) make one group, type 20 (sexual terms) the other: a prompt that matches both groups is
//! refused, or, when its request allows (`replacement_filter`), has the type-10 matches replaced
//! by their filters' replacements and the minors pushed into its negative prompt. Requests for
//! NSFW images (and flagged accounts') always get those replacements and the built-in ones
//! ([`BUILT_IN`]), so that no NSFW image can be asked of a child, whatever the filters hold.
//!
//! The `regex` crate matches in linear time, so no pattern, however hostile, can stall a request.

use regex::{Regex, RegexBuilder};
use std::sync::LazyLock;

/// The filter types and what they hold.
pub const MINOR_TERMS: i64 = 10;
pub const MINOR_TERMS_MORE: i64 = 11;
pub const SEXUAL_TERMS: i64 = 20;
pub const TYPES: [i64; 3] = [MINOR_TERMS, MINOR_TERMS_MORE, SEXUAL_TERMS];

/// The largest compiled pattern, so that a moderator's typo cannot take the server's memory.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// The replacements every NSFW image prompt goes through (the AI Horde's for NSFW models).
pub const BUILT_IN: [(&str, &str); 3] = [
    (
        r"student|\byoung\b|lit[tl]?le|\blil\b|small?\b|\btiny",
        "adult",
    ),
    (r"girl|nina", "adult woman"),
    (r"\bboys?\b|\bsons?\b", "adult man"),
];

/// What a replaced prompt always gets in its negative prompt.
const FORCED_NEGATIVE: &str = "child, infant, underage, immature, teenager, tween";

/// A moderator's filter, as the checker needs it.
#[derive(Debug, Clone)]
pub struct Filter {
    pub regex: String,
    pub filter_type: i64,
    pub replacement: String,
}

/// The filters of the moment, compiled.
#[derive(Debug, Default)]
pub struct PromptChecker {
    /// Types 10 and 11 together, and type 20.
    groups: [Option<Regex>; 2],
    /// Each type-10 filter with its replacement.
    replacements: Vec<(Regex, String)>,
    built_in: Vec<(Regex, String)>,
}

/// How a prompt stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspicion {
    /// Groups matched: 0 to 2.
    pub level: u8,
    /// What matched, one per group.
    pub matches: Vec<String>,
}

/// Compiles one moderator's pattern, or says why it cannot be.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

impl PromptChecker {
    /// A checker of `filters`; those that do not compile (none should: they are checked when
    /// written) are left out.
    pub fn new(filters: &[Filter]) -> PromptChecker {
        let group = |types: &[i64]| {
            let patterns: Vec<String> = filters
                .iter()
                .filter(|f| types.contains(&f.filter_type) && compile(&f.regex).is_ok())
                .map(|f| format!("(?:{})", f.regex))
                .collect();
            (!patterns.is_empty())
                .then(|| compile(&patterns.join("|")).ok())
                .flatten()
        };
        let replacements = filters
            .iter()
            .filter(|f| f.filter_type == MINOR_TERMS)
            .filter_map(|f| Some((compile(&f.regex).ok()?, f.replacement.clone())))
            .collect();
        let built_in = BUILT_IN
            .iter()
            .map(|(pattern, replacement)| {
                (
                    compile(pattern).expect("the built-in filters compile"),
                    replacement.to_string(),
                )
            })
            .collect();
        PromptChecker {
            groups: [
                group(&[MINOR_TERMS, MINOR_TERMS_MORE]),
                group(&[SEXUAL_TERMS]),
            ],
            replacements,
            built_in,
        }
    }

    /// How many groups the prompt (not its negative part) matches, and what matched.
    pub fn suspicion(&self, prompt: &str) -> Suspicion {
        let normalized = normalize(positive(prompt));
        let mut matches = Vec::new();
        for group in self.groups.iter().flatten() {
            if let Some(found) = group.find(&normalized) {
                matches.push(found.as_str().to_string());
            }
        }
        Suspicion {
            level: matches.len() as u8,
            matches,
        }
    }

    /// The prompt with the type-10 matches replaced and the minors in its negative prompt, or
    /// None when nothing is left of it.
    pub fn replaced(&self, prompt: &str) -> Option<String> {
        let (positive, negative) = split(prompt);
        let mut text = normalize(positive);
        for (regex, replacement) in &self.replacements {
            text = regex.replace_all(&text, replacement.as_str()).into_owned();
        }
        with_forced_negative(text, negative)
    }

    /// An NSFW image prompt as it may be generated: as it is when no term for minors (of the
    /// filters or built in) is in it, else with the replacements and the built-in ones applied;
    /// None when nothing is left of it.
    pub fn replaced_for_nsfw(&self, prompt: &str) -> Option<String> {
        let (positive, negative) = split(prompt);
        let mut text = normalize(positive);
        let mut minors = self.replacements.iter().chain(&self.built_in);
        let minor_terms = self.groups[0].as_ref();
        if !minors.any(|(regex, _)| regex.is_match(&text))
            && !minor_terms.is_some_and(|group| group.is_match(&text))
        {
            return Some(prompt.to_string());
        }
        for (regex, replacement) in self.replacements.iter().chain(&self.built_in) {
            text = regex.replace_all(&text, replacement.as_str()).into_owned();
        }
        with_forced_negative(text, negative)
    }
}

fn with_forced_negative(text: String, negative: Option<&str>) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    Some(match negative {
        Some(negative) => format!("{text}###{FORCED_NEGATIVE}, {negative}"),
        None => format!("{text}###{FORCED_NEGATIVE}"),
    })
}

/// The prompt and its negative part (after `###`), if any.
fn split(prompt: &str) -> (&str, Option<&str>) {
    match prompt.split_once("###") {
        Some((positive, negative)) => (positive, Some(negative)),
        None => (prompt, None),
    }
}

fn positive(prompt: &str) -> &str {
    split(prompt).0
}

/// The prompt as the filters read it, undone of the usual disguises as the AI Horde undoes them:
/// weights `(word:1.2)` dropped, punctuation and `_` made spaces, letters spaced out
/// (`c h i l d`) joined, runs of spaces made one, accents and look-alike letters made ASCII.
pub fn normalize(prompt: &str) -> String {
    static WEIGHT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\((.*?):\d+\.\d+\)").expect("a valid pattern"));
    static PUNCTUATION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[^\w\s]|_").expect("a valid pattern"));
    static SPACED_OUT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:\s\w){3,}\b").expect("a valid pattern"));
    static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").expect("a valid pattern"));
    let ascii = deunicode::deunicode(prompt);
    let text = WEIGHT.replace_all(&ascii, "$1");
    let text = PUNCTUATION.replace_all(&text, " ");
    let text = SPACED_OUT.replace_all(&text, |found: &regex::Captures| {
        format!(" {}", found[0].split_whitespace().collect::<String>())
    });
    SPACES.replace_all(&text, " ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(regex: &str, filter_type: i64, replacement: &str) -> Filter {
        Filter {
            regex: regex.into(),
            filter_type,
            replacement: replacement.into(),
        }
    }

    fn checker() -> PromptChecker {
        PromptChecker::new(&[
            filter(r"\bkid\b|\bchild", MINOR_TERMS, "adult"),
            filter(r"\bschool ?uniform", MINOR_TERMS_MORE, ""),
            filter(r"\bnude\b|\bnaked", SEXUAL_TERMS, ""),
        ])
    }

    #[test]
    fn disguises_are_undone() {
        assert_eq!(normalize("a (child:1.3) on a_beach"), "a child on a beach");
        assert_eq!(normalize("a c h i l d, smiling"), "a child smiling");
        assert_eq!(normalize("a chïld"), "a child");
    }

    #[test]
    fn both_groups_make_a_prompt_suspicious() {
        let checker = checker();
        assert_eq!(checker.suspicion("a kid in a garden").level, 1);
        assert_eq!(checker.suspicion("a nude statue").level, 1);
        let both = checker.suspicion("a n-a-k-e-d and c h i l d");
        assert_eq!(both.level, 2, "{both:?}");
        // The negative prompt is not read.
        assert_eq!(checker.suspicion("a nude statue###child").level, 1);
    }

    #[test]
    fn replacements_keep_the_prompt_and_push_minors_into_the_negative() {
        let checker = checker();
        assert_eq!(
            checker.replaced("a nude kid###blurry").unwrap(),
            "a nude adult###child, infant, underage, immature, teenager, tween, blurry"
        );
        assert_eq!(
            checker.replaced_for_nsfw("a little girl").unwrap(),
            "a adult adult woman###child, infant, underage, immature, teenager, tween"
        );
        // Nothing for minors in it: an NSFW prompt is left as it is, weights and all.
        assert_eq!(
            checker.replaced_for_nsfw("(a nude statue:1.2)").unwrap(),
            "(a nude statue:1.2)"
        );
        let eaten = PromptChecker::new(&[filter(".*", MINOR_TERMS, "")]);
        assert_eq!(eaten.replaced("anything"), None);
    }

    #[test]
    fn hostile_patterns_are_refused_or_run_in_linear_time() {
        assert!(compile("(unclosed").is_err());
        assert!(compile(r"(a+)+$").is_ok());
        let slow = PromptChecker::new(&[filter(r"(a+)+$", SEXUAL_TERMS, "")]);
        // Exponential in a backtracking engine; `regex` is linear, so this returns.
        let prompt = format!("{}b", "a".repeat(100_000));
        assert_eq!(slow.suspicion(&prompt).level, 0);
    }
}
