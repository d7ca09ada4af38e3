//! Chat prompts: a model's own Jinja chat template, rendered as transformers renders it. The
//! engine renders with it, and so does the server for `/v1/chat/completions` (with the template
//! its workers announce), so both give the same prompt.

use minijinja::{Environment, Error, ErrorKind};
use serde::{Deserialize, Serialize};

/// A template that does not parse, or fails to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chat template: {0}")]
pub struct TemplateError(pub String);

type Result<T, E = TemplateError> = std::result::Result<T, E>;

/// One turn of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        ChatMessage {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// For models that bring no template: a plain transcript that ends where the assistant speaks.
pub const FALLBACK_TEMPLATE: &str = "{% for message in messages %}\
{{ message['role'] | capitalize }}: {{ message['content'] | trim }}\n\n\
{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}";

/// A compiled chat template with the special tokens it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
}

const NAME: &str = "chat";

impl ChatTemplate {
    pub fn new(source: &str, bos_token: Option<String>, eos_token: Option<String>) -> Result<Self> {
        let mut env = Environment::new();
        // transformers renders with trim_blocks and lstrip_blocks, and Python's string methods
        // (`.strip()`, `.startswith()`, ...) that templates use.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| TemplateError(e.to_string()))?;
        Ok(ChatTemplate {
            env,
            source: source.to_string(),
            bos_token: bos_token.unwrap_or_default(),
            eos_token: eos_token.unwrap_or_default(),
        })
    }

    /// The template's Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn bos_token(&self) -> &str {
        &self.bos_token
    }

    pub fn eos_token(&self) -> &str {
        &self.eos_token
    }

    /// The prompt for `messages`; with `add_generation_prompt`, ending where the assistant's
    /// answer begins.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| TemplateError(e.to_string()))?;
        template
            .render(minijinja::context! {
                messages => minijinja::Value::from_serialize(messages),
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|e| TemplateError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_is_a_transcript() {
        let t = ChatTemplate::new(FALLBACK_TEMPLATE, None, None).unwrap();
        let text = t
            .render(
                &[
                    ChatMessage::new("user", " Hi there "),
                    ChatMessage::new("assistant", "Hello"),
                ],
                true,
            )
            .unwrap();
        assert_eq!(text, "User: Hi there\n\nAssistant: Hello\n\nAssistant:");
    }

    #[test]
    fn templates_can_refuse_and_use_python_methods() {
        let source =
            "{% if messages[0].role != 'user' %}{{ raise_exception('users first') }}{% endif %}\
                      {{ bos_token }}{{ messages[0].content.strip().upper() }}";
        let t = ChatTemplate::new(source, Some("<s>".into()), None).unwrap();
        assert_eq!(
            t.render(&[ChatMessage::new("user", " hi ")], false)
                .unwrap(),
            "<s>HI"
        );
        let err = t
            .render(&[ChatMessage::new("system", "x")], false)
            .unwrap_err();
        assert!(err.to_string().contains("users first"), "{err}");
        assert!(ChatTemplate::new("{% for %}", None, None).is_err());
    }
}
