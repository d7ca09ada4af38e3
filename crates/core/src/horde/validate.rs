//! Input checks shared by the handlers, with the AI Horde's limits and codes.

use crate::error::{Rejection, Result};
use crate::names;

pub fn in_range(field: &'static str, value: i64, min: i64, max: i64) -> Result<()> {
    if value < min || value > max {
        return Err(Rejection::invalid_field(
            field,
            "BadRequest",
            format!("{field} must be between {min} and {max}, not {value}"),
        )
        .into());
    }
    Ok(())
}

/// A required, non-empty prompt without NUL bytes.
pub fn prompt(prompt: Option<&str>) -> Result<&str> {
    let prompt = prompt.unwrap_or_default();
    if prompt.trim().is_empty() {
        return Err(Rejection::invalid_field(
            "prompt",
            "MissingPrompt",
            "The prompt is missing or empty",
        )
        .into());
    }
    no_nul("prompt", prompt)?;
    Ok(prompt)
}

/// Characters a text prompt may have per token of the context it asks for: no tokenizer makes
/// tokens this long on average, so a longer prompt could never fit its context.
pub const PROMPT_CHARS_PER_CONTEXT_TOKEN: usize = 8;
/// The most characters an image prompt (its negative part included) may have.
pub const MAX_IMAGE_PROMPT_CHARS: usize = 30_000;

/// A prompt of at most `max` characters (`why`: what sets the bound), so that what the queue
/// stores and workers' blacklists read stays bounded.
pub fn prompt_within(prompt: &str, max: usize, why: &str) -> Result<()> {
    if prompt.chars().nth(max).is_some() {
        return Err(Rejection::invalid_field(
            "prompt",
            "TooLongPrompt",
            format!("The prompt is longer than {max} characters ({why})"),
        )
        .into());
    }
    Ok(())
}

pub fn no_nul(field: &'static str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Rejection::invalid_field(
            field,
            "NulByteInPayload",
            format!("{field} contains a NUL byte"),
        )
        .into());
    }
    Ok(())
}

/// Model names as workers and requesters send them: trimmed, deduplicated,
/// 1 to 255 characters each, at most 100 of them.
pub fn models(field: &'static str, models: &[String]) -> Result<Vec<String>> {
    if models.len() > 100 {
        return Err(Rejection::invalid_field(
            field,
            "BadRequest",
            "At most 100 models can be named",
        )
        .into());
    }
    let mut clean: Vec<String> = Vec::with_capacity(models.len());
    for model in models {
        let model = model.trim();
        if model.is_empty() || model.len() > 255 || model.chars().any(char::is_control) {
            return Err(Rejection::invalid_field(
                field,
                "BadRequest",
                format!("Invalid model name: {model:?}"),
            )
            .into());
        }
        if !clean.iter().any(|m| m == model) {
            clean.push(model.to_string());
        }
    }
    Ok(clean)
}

/// A display name (of a style, a shared key, ...): trimmed, printable, within bounds.
pub fn name(
    field: &'static str,
    rc_too_long: &'static str,
    value: Option<&str>,
    min: usize,
    max: usize,
) -> Result<String> {
    let value = value.unwrap_or_default().trim();
    let length = value.chars().count();
    let bounds = names::Bounds {
        min,
        max,
        rc_too_long,
    };
    bounds.check(field, length, length, "")?;
    names::refuse_control(field, value)?;
    Ok(value.to_string())
}

/// A contact e-mail address, checked lightly: within bounds, no spaces, and one `@` with
/// something on either side (whether it reaches anyone only a mail can tell).
pub fn contact(value: &str) -> Result<String> {
    let value = name("contact", "BadRequest", Some(value), 3, 254)?;
    let well_formed = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !value.chars().any(char::is_whitespace);
    if !well_formed {
        return Err(Rejection::invalid_field(
            "contact",
            "BadRequest",
            "contact must be an e-mail address, like name@example.org",
        )
        .into());
    }
    Ok(value)
}

/// The most token ids one submit may report: more than the longest generation allows.
const MAX_TOKEN_IDS: usize = 16_384;

/// A submit's reported token ids, bounded; an empty list is as good as none.
pub fn token_ids(ids: Option<Vec<u32>>) -> Result<Option<Vec<u32>>> {
    match ids {
        Some(ids) if ids.len() > MAX_TOKEN_IDS => Err(Rejection::invalid_field(
            "token_ids",
            "BadRequest",
            format!("token_ids may have at most {MAX_TOKEN_IDS} entries"),
        )
        .into()),
        Some(ids) if ids.is_empty() => Ok(None),
        ids => Ok(ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_need_one_at_with_both_sides() {
        assert_eq!(contact(" ann@example.org ").unwrap(), "ann@example.org");
        for bad in [
            "ann",
            "@example.org",
            "ann@",
            "a@b@c",
            "ann @example.org",
            "a@",
        ] {
            let error = contact(bad).unwrap_err();
            assert_eq!(error.rejection().unwrap().field, Some("contact"), "{bad}");
        }
        assert!(contact(&format!("{}@example.org", "a".repeat(250))).is_err());
    }
}
