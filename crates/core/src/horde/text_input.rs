//! A text request's parameters checked as the AI Horde checks them on `/api/v2`
//! (`ParamValidator.validate_text_params` and its schema's types and limits), with its `rc`
//! codes. `/v1` checks OpenAI's parameters itself and translates them, so it skips these.

use crate::error::{Rejection, Result};
use protocol::TextParams;
use serde_json::Value;

/// Numeric sampling parameters and their ranges, from the AI Horde's schema.
const RANGES: &[(&str, f64, f64)] = &[
    ("rep_pen", 1.0, 3.0),
    ("rep_pen_slope", 0.0, 10.0),
    ("temperature", 0.0, 5.0),
    ("tfs", 0.0, 1.0),
    ("top_a", 0.0, 1.0),
    ("top_p", 0.001, 1.0),
    ("typical", 0.0, 1.0),
    ("min_p", 0.0, 1.0),
    ("dynatemp_range", 0.0, 5.0),
    ("dynatemp_exponent", 0.0, 5.0),
    ("smoothing_factor", 0.0, 10.0),
];
/// Whole-number sampling parameters and their ranges.
const INTEGER_RANGES: &[(&str, i64, i64)] = &[("rep_pen_range", 0, 4096), ("top_k", 0, 200)];
/// Flags.
const FLAGS: &[&str] = &[
    "frmtadsnsp",
    "frmtrmblln",
    "frmtrmspch",
    "frmttriminc",
    "singleline",
    "use_default_badwordsids",
];
/// A custom sampler order names every one of the samplers.
const SAMPLERS: usize = 7;
/// Stop sequences: at most this many, of at most this many characters together.
const MAX_STOP_SEQUENCES: usize = 128;
const MAX_STOP_CHARS: usize = 2000;

fn bad(why: String) -> Rejection {
    Rejection::invalid_field("params", "BadRequest", why)
}

pub(super) fn check(params: &TextParams) -> Result<()> {
    if params.max_context_length < params.max_length {
        return Err(Rejection::invalid_field(
            "params.max_length",
            "TokenOverflow",
            "You cannot request more tokens than your context length.",
        )
        .into());
    }
    let sampling = &params.sampling;
    for (key, min, max) in RANGES {
        if let Some(value) = sampling.get(*key).filter(|v| !v.is_null()) {
            if !value.as_f64().is_some_and(|v| v >= *min && v <= *max) {
                return Err(
                    bad(format!("params.{key} must be a number from {min} to {max}")).into(),
                );
            }
        }
    }
    for (key, min, max) in INTEGER_RANGES {
        if let Some(value) = sampling.get(*key).filter(|v| !v.is_null()) {
            if !value.as_i64().is_some_and(|v| v >= *min && v <= *max) {
                return Err(bad(format!(
                    "params.{key} must be a whole number from {min} to {max}"
                ))
                .into());
            }
        }
    }
    for key in FLAGS {
        if sampling
            .get(*key)
            .is_some_and(|v| !v.is_null() && !v.is_boolean())
        {
            return Err(bad(format!("params.{key} must be true or false")).into());
        }
    }
    if let Some(order) = sampling.get("sampler_order").filter(|v| !v.is_null()) {
        let order: Vec<i64> = order
            .as_array()
            .and_then(|items| items.iter().map(Value::as_i64).collect())
            .ok_or_else(|| bad("params.sampler_order must be a list of whole numbers".into()))?;
        let mut distinct = order.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < SAMPLERS {
            return Err(Rejection::invalid_field(
                "params.sampler_order",
                "MissingFullSamplerOrder",
                "When sending a custom sampler order, you need to specify all possible samplers in the order",
            )
            .into());
        }
    }
    if let Some(stops) = sampling.get("stop_sequence").filter(|v| !v.is_null()) {
        let mut stops: Vec<&str> = stops
            .as_array()
            .and_then(|items| items.iter().map(Value::as_str).collect())
            .ok_or_else(|| bad("params.stop_sequence must be a list of texts".into()))?;
        stops.sort_unstable();
        stops.dedup();
        if stops.len() > MAX_STOP_SEQUENCES {
            return Err(Rejection::invalid_field(
                "params.stop_sequence",
                "TooManyStopSequences",
                "Too many stop sequences specified (max allowed is 128).",
            )
            .into());
        }
        if stops.iter().map(|s| s.chars().count()).sum::<usize>() > MAX_STOP_CHARS {
            return Err(Rejection::invalid_field(
                "params.stop_sequence",
                "ExcessiveStopSequence",
                "Your total stop sequence length exceeds the allowed limit (2000 chars).",
            )
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rc(params: serde_json::Value) -> &'static str {
        let params: TextParams = serde_json::from_value(params).unwrap();
        match check(&params) {
            Ok(()) => "ok",
            Err(e) => e.rejection().unwrap().rc,
        }
    }

    #[test]
    fn the_ai_hordes_text_rules() {
        assert_eq!(rc(json!({})), "ok");
        assert_eq!(
            rc(json!({"max_length": 512, "max_context_length": 256})),
            "TokenOverflow"
        );
        assert_eq!(rc(json!({"temperature": 6})), "BadRequest");
        assert_eq!(rc(json!({"top_p": 0})), "BadRequest");
        assert_eq!(rc(json!({"top_k": 201})), "BadRequest");
        assert_eq!(rc(json!({"top_k": 1.5})), "BadRequest");
        assert_eq!(rc(json!({"singleline": 1})), "BadRequest");
        assert_eq!(
            rc(json!({"temperature": 0.7, "top_k": 40, "rep_pen": 1.1})),
            "ok"
        );
        assert_eq!(
            rc(json!({"sampler_order": [6, 0, 1, 3, 4, 2]})),
            "MissingFullSamplerOrder"
        );
        assert_eq!(rc(json!({"sampler_order": [6, 0, 1, 3, 4, 2, 5]})), "ok");
        let many: Vec<String> = (0..129).map(|i| i.to_string()).collect();
        assert_eq!(rc(json!({"stop_sequence": many})), "TooManyStopSequences");
        assert_eq!(
            rc(json!({"stop_sequence": ["a".repeat(2001)]})),
            "ExcessiveStopSequence"
        );
        assert_eq!(rc(json!({"stop_sequence": ["\n", "\n"]})), "ok");
    }
}
