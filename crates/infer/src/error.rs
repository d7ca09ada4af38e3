//! The engine's one error type.

/// Everything that can go wrong loading a model or generating with it.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// A model file is malformed or not what it claims to be.
    #[error("invalid model file: {0}")]
    InvalidModel(String),
    /// The model is well formed but uses something the engine does not implement.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The tokenizer could not be built, or failed on some input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template failed to parse or to render.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// The caller asked for something impossible (a prompt longer than the context, a bad
    /// sampling parameter, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No GPU adapter, or the adapter cannot do what the model needs.
    #[error("GPU: {0}")]
    Gpu(String),
    /// Reading a model file failed.
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = InferError> = std::result::Result<T, E>;

impl From<chat::TemplateError> for InferError {
    fn from(error: chat::TemplateError) -> Self {
        InferError::ChatTemplate(error.0)
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> InferError {
    InferError::InvalidModel(message.into())
}

pub(crate) fn unsupported(message: impl Into<String>) -> InferError {
    InferError::Unsupported(message.into())
}
