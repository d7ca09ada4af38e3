//! An OpenAI request turned into an ordinary text request of the queue: its prompt (chat
//! messages through the model's chat template) and its parameters in the AI Horde's terms,
//! which every worker reads.
//!
//! Mapped: `max_tokens`/`max_completion_tokens` (default 512 for chat, 16 for completions, as
//! OpenAI's legacy endpoint), `temperature` (default 1), `top_p`, `n`, `stop`, `seed`,
//! `presence_penalty`, `frequency_penalty`, and the common extensions `top_k`, `min_p`,
//! `repetition_penalty`. Ignored: `user`, `logit_bias`. Refused (400): `logprobs`, `tools`,
//! `functions`, a `response_format` other than text, `echo`, `suffix`, `best_of` > 1, and `n` > 1
//! with `stream`.

use chat::{ChatMessage, ChatTemplate, FALLBACK_TEMPLATE};
use protocol::openai_api::{ChatMessageIn, MessageContent, SamplingFields};
use protocol::{ChatTemplateInfo, GenerationInputKobold, TextParams};
use serde_json::{json, Map, Value};

use super::error::{OpenAiApiError, OpenAiResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
}

/// What to queue and how to answer.
#[derive(Clone, Debug)]
pub struct Plan {
    pub endpoint: Endpoint,
    pub model: String,
    pub prompt: String,
    pub max_tokens: u32,
    pub n: u32,
    pub stream: bool,
    pub include_usage: bool,
    sampling: Map<String, Value>,
}

const DEFAULT_CHAT_TOKENS: u32 = 512;
/// OpenAI's default for `/v1/completions`.
const DEFAULT_COMPLETION_TOKENS: u32 = 16;
const MAX_STOP_SEQUENCES: usize = 16;
/// A rough count of tokens in text, for sizing the context (tokenizers give 3–4 characters a
/// token for English).
const CHARS_PER_TOKEN: usize = 3;

impl Plan {
    pub fn new(
        endpoint: Endpoint,
        model: String,
        prompt: String,
        s: SamplingFields,
    ) -> OpenAiResult<Plan> {
        refuse_unsupported(&s)?;
        let max_tokens = s
            .max_completion_tokens
            .or(s.max_tokens)
            .unwrap_or(match endpoint {
                Endpoint::Chat => DEFAULT_CHAT_TOKENS,
                Endpoint::Completions => DEFAULT_COMPLETION_TOKENS,
            });
        if !(1..=4096).contains(&max_tokens) {
            return Err(OpenAiApiError::invalid(
                "max_tokens",
                "max_tokens must be between 1 and 4096",
            ));
        }
        let n = s.n.unwrap_or(1);
        if !(1..=20).contains(&n) {
            return Err(OpenAiApiError::invalid("n", "n must be between 1 and 20"));
        }
        let stream = s.stream.unwrap_or(false);
        if stream && n > 1 {
            return Err(OpenAiApiError::invalid(
                "n",
                "n > 1 cannot be streamed; ask for one completion",
            ));
        }
        let mut sampling = Map::new();
        let mut float = |key: &str,
                         param: &str,
                         value: Option<f32>,
                         default: Option<f32>,
                         range: (f32, f32)| {
            match value.or(default) {
                Some(v) if v.is_finite() && v >= range.0 && v <= range.1 => {
                    sampling.insert(key.into(), json!(v));
                    Ok(())
                }
                Some(_) => Err(OpenAiApiError::invalid(
                    param,
                    format!("{param} must be between {} and {}", range.0, range.1),
                )),
                None => Ok(()),
            }
        };
        float(
            "temperature",
            "temperature",
            s.temperature,
            Some(1.0),
            (0.0, 2.0),
        )?;
        float("top_p", "top_p", s.top_p, Some(1.0), (0.0, 1.0))?;
        float("min_p", "min_p", s.min_p, Some(0.0), (0.0, 1.0))?;
        // Neutral unless asked for: workers fill in KoboldAI's defaults for what is missing.
        float(
            "rep_pen",
            "repetition_penalty",
            s.repetition_penalty,
            Some(1.0),
            (0.01, 10.0),
        )?;
        float(
            "presence_penalty",
            "presence_penalty",
            s.presence_penalty,
            None,
            (-2.0, 2.0),
        )?;
        float(
            "frequency_penalty",
            "frequency_penalty",
            s.frequency_penalty,
            None,
            (-2.0, 2.0),
        )?;
        if s.top_p == Some(0.0) {
            return Err(OpenAiApiError::invalid(
                "top_p",
                "top_p must be more than 0",
            ));
        }
        sampling.insert("top_k".into(), json!(s.top_k.unwrap_or(0)));
        // Penalties look over the whole context, as OpenAI's do.
        sampling.insert("rep_pen_range".into(), json!(1_048_576));
        let stop = s.stop.map(|stop| stop.into_vec()).unwrap_or_default();
        if stop.len() > MAX_STOP_SEQUENCES {
            return Err(OpenAiApiError::invalid(
                "stop",
                format!("at most {MAX_STOP_SEQUENCES} stop sequences"),
            ));
        }
        let stop: Vec<String> = stop.into_iter().filter(|s| !s.is_empty()).collect();
        if !stop.is_empty() {
            sampling.insert("stop_sequence".into(), json!(stop));
        }
        if let Some(seed) = s.seed {
            if seed < 0 {
                return Err(OpenAiApiError::invalid("seed", "seed must be 0 or more"));
            }
            sampling.insert("seed".into(), json!(seed));
        }
        if stream {
            // Workers that can stream send their text as they go for this job.
            sampling.insert("potluck_stream".into(), json!(true));
        }
        Ok(Plan {
            endpoint,
            model,
            prompt,
            max_tokens,
            n,
            stream,
            include_usage: s.stream_options.is_some_and(|o| o.include_usage),
            sampling,
        })
    }

    /// Ends the answer where this text appears, too.
    pub fn add_stop(&mut self, stop: &str) {
        let stops = self
            .sampling
            .entry("stop_sequence")
            .or_insert_with(|| json!([]));
        if let Some(list) = stops.as_array_mut() {
            list.push(json!(stop));
        }
    }

    /// The queue's request, with a context sized for the prompt and the answer, at most what
    /// the largest worker takes (a longer prompt loses its beginning at the worker).
    pub fn horde_input(&self, largest_context: u32) -> GenerationInputKobold {
        let wanted = (self.prompt.len() / CHARS_PER_TOKEN) as u32 + self.max_tokens + 1;
        let context = wanted
            .next_multiple_of(256)
            .min(largest_context)
            .max(self.max_tokens + 1);
        GenerationInputKobold {
            prompt: Some(self.prompt.clone()),
            params: TextParams {
                n: self.n,
                max_length: self.max_tokens,
                max_context_length: context,
                sampling: self.sampling.clone(),
            },
            models: vec![self.model.clone()],
            ..GenerationInputKobold::default()
        }
    }
}

fn refuse_unsupported(s: &SamplingFields) -> OpenAiResult<()> {
    let used = |v: &Option<Value>| {
        v.as_ref()
            .is_some_and(|v| !v.is_null() && *v != json!(false))
    };
    if used(&s.logprobs) || s.top_logprobs.is_some_and(|n| n > 0) {
        return Err(OpenAiApiError::unsupported("logprobs"));
    }
    if used(&s.tools) {
        return Err(OpenAiApiError::unsupported("tools"));
    }
    if used(&s.functions) {
        return Err(OpenAiApiError::unsupported("functions"));
    }
    if let Some(format) = &s.response_format {
        if format
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "text")
        {
            return Err(OpenAiApiError::unsupported("response_format"));
        }
    }
    if s.echo == Some(true) {
        return Err(OpenAiApiError::unsupported("echo"));
    }
    if s.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(OpenAiApiError::unsupported("suffix"));
    }
    if s.best_of.is_some_and(|b| b > 1) {
        return Err(OpenAiApiError::unsupported("best_of"));
    }
    Ok(())
}

/// The text of a message: its string, or its text parts joined.
fn message_text(message: &ChatMessageIn) -> OpenAiResult<String> {
    match &message.content {
        None => Ok(String::new()),
        Some(MessageContent::Text(text)) => Ok(text.clone()),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .map(|part| match (part.kind.as_str(), &part.text) {
                ("text", Some(text)) => Ok(text.as_str()),
                (kind, _) => Err(OpenAiApiError::invalid(
                    "messages",
                    format!("content parts of type {kind:?} are not supported; send text"),
                )),
            })
            .collect::<OpenAiResult<Vec<_>>>()
            .map(|texts| texts.concat()),
    }
}

/// The prompt for a conversation: the model's chat template (as its workers announced it),
/// or, for a model without one, a plain transcript.
pub fn chat_prompt(
    messages: &[ChatMessageIn],
    template: Option<ChatTemplateInfo>,
) -> OpenAiResult<String> {
    if messages.is_empty() {
        return Err(OpenAiApiError::invalid(
            "messages",
            "messages must not be empty",
        ));
    }
    let messages = messages
        .iter()
        .map(|m| {
            let role = match m.role.as_str() {
                // OpenAI's newer name for system.
                "developer" => "system",
                "system" | "user" | "assistant" => m.role.as_str(),
                other => {
                    return Err(OpenAiApiError::invalid(
                        "messages",
                        format!("role {other:?} is not supported (system, user or assistant)"),
                    ))
                }
            };
            Ok(ChatMessage::new(role, &message_text(m)?))
        })
        .collect::<OpenAiResult<Vec<_>>>()?;
    let template = match template {
        Some(t) => ChatTemplate::new(&t.template, Some(t.bos_token), Some(t.eos_token)),
        None => ChatTemplate::new(FALLBACK_TEMPLATE, None, None),
    }
    .map_err(|e| OpenAiApiError::generation_failed(&format!("the model's {e}")))?;
    template
        .render(&messages, true)
        .map_err(|e| OpenAiApiError::invalid("messages", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling(json: Value) -> SamplingFields {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn openai_parameters_become_horde_parameters() {
        let plan = Plan::new(
            Endpoint::Chat,
            "m".into(),
            "x".repeat(300),
            sampling(
                json!({"max_tokens": 50, "temperature": 0, "top_p": 0.9, "stop": ["\n", ""],
                            "seed": 7, "presence_penalty": 0.5, "top_k": 5}),
            ),
        )
        .unwrap();
        let input = plan.horde_input(4096);
        let p = &input.params;
        assert_eq!((p.max_length, p.max_context_length, p.n), (50, 256, 1));
        assert_eq!(p.sampling["temperature"], json!(0.0));
        assert_eq!(p.sampling["stop_sequence"], json!(["\n"]));
        assert_eq!(
            (p.sampling["seed"].clone(), p.sampling["top_k"].clone()),
            (json!(7), json!(5))
        );
        assert_eq!(p.sampling["rep_pen"], json!(1.0));
        assert!(p.sampling.get("potluck_stream").is_none());
        // The context never exceeds what the largest worker takes.
        assert_eq!(plan.horde_input(128).params.max_context_length, 128);
    }

    #[test]
    fn what_cannot_be_honoured_is_refused() {
        for bad in [
            json!({"logprobs": true}),
            json!({"tools": [{"type": "function"}]}),
            json!({"response_format": {"type": "json_object"}}),
            json!({"n": 2, "stream": true}),
            json!({"temperature": 3}),
            json!({"max_tokens": 0}),
            json!({"seed": -1}),
            json!({"stop": vec!["s"; 17]}),
        ] {
            assert!(
                Plan::new(
                    Endpoint::Chat,
                    "m".into(),
                    "p".into(),
                    sampling(bad.clone())
                )
                .is_err(),
                "{bad}"
            );
        }
        let text_only =
            json!({"response_format": {"type": "text"}, "logprobs": false, "user": "u"});
        assert!(Plan::new(
            Endpoint::Completions,
            "m".into(),
            "p".into(),
            sampling(text_only)
        )
        .is_ok());
    }

    #[test]
    fn chat_messages_go_through_the_announced_template_or_a_transcript() {
        let messages: Vec<ChatMessageIn> = serde_json::from_value(json!([
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        ]))
        .unwrap();
        let chatml = ChatTemplateInfo {
            template: "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
                       {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
                .into(),
            ..Default::default()
        };
        assert_eq!(
            chat_prompt(&messages, Some(chatml)).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            chat_prompt(&messages, None).unwrap(),
            "System: Be brief.\n\nUser: Hi\n\nAssistant:"
        );
        let tool: Vec<ChatMessageIn> =
            serde_json::from_value(json!([{"role": "tool", "content": "x"}])).unwrap();
        assert!(chat_prompt(&tool, None).is_err());
        assert!(chat_prompt(&[], None).is_err());
    }
}
