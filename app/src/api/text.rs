//! Text generation: queue a request, follow it, cancel it, and the models to choose from.

use leptos::prelude::*;
use protocol::{ActiveModel, RequestStatusKobold};
use serde::{Deserialize, Serialize};

use super::parse_number;
#[cfg(feature = "ssr")]
use crate::caller::{invalid, report, Caller};
use crate::forms::FormError;

/// What the text form sends, as typed: numbers are parsed here, so that a bad one is reported
/// next to its field rather than as an unreadable form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextForm {
    pub prompt: String,
    pub model: String,
    pub max_length: String,
    pub max_context_length: String,
    pub temperature: String,
    pub top_p: String,
    pub top_k: String,
    pub rep_pen: String,
}

impl TextForm {
    /// The request this form asks for, in the API's terms.
    pub fn to_input(&self) -> Result<protocol::GenerationInputKobold, FormError> {
        let mut sampling = serde_json::Map::new();
        for (name, label, typed) in [
            ("temperature", "Temperature", &self.temperature),
            ("top_p", "Top p", &self.top_p),
            ("rep_pen", "Repetition penalty", &self.rep_pen),
        ] {
            let value: f64 = parse_number(name, label, typed)?;
            sampling.insert(name.into(), value.into());
        }
        let top_k: u32 = parse_number("top_k", "Top k", &self.top_k)?;
        sampling.insert("top_k".into(), top_k.into());
        Ok(protocol::GenerationInputKobold {
            prompt: Some(self.prompt.clone()),
            params: protocol::TextParams {
                n: 1,
                max_length: parse_number("params.max_length", "Maximum length", &self.max_length)?,
                max_context_length: parse_number(
                    "params.max_context_length",
                    "Context length",
                    &self.max_context_length,
                )?,
                sampling,
            },
            models: Some(self.model.trim().to_string())
                .filter(|m| !m.is_empty())
                .into_iter()
                .collect(),
            ..Default::default()
        })
    }
}

/// Queues a text request and sends the browser to its progress (`?request=ID`).
#[server(prefix = "/_leptos", endpoint = "queue_text")]
pub async fn queue_text(form: TextForm) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    let input = form.to_input().map_err(invalid)?;
    let account = caller.account().await?;
    let accepted = caller
        .horde
        .submit_text(&account, input, caller.client_hash())
        .await
        .map_err(report)?;
    if let Some(id) = accepted.id {
        leptos_axum::redirect(&format!("/generate/text?request={id}"));
    }
    Ok(())
}

/// A request's state and, once done, its text.
#[server(prefix = "/_leptos", endpoint = "text_status")]
pub async fn text_status(id: String) -> Result<RequestStatusKobold, FormError> {
    let caller = Caller::current().await?;
    caller.horde.text_status(&id).await.map_err(report)
}

/// Stops the request; a worker that already has it finishes (and is paid) as usual.
#[server(prefix = "/_leptos", endpoint = "cancel_text")]
pub async fn cancel_text(id: String) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    caller.horde.cancel_text(&id).await.map_err(report)?;
    leptos_axum::redirect(&format!("/generate/text?request={id}"));
    Ok(())
}

/// The text models online workers serve, best served first.
#[server(prefix = "/_leptos", endpoint = "text_models")]
pub async fn text_models() -> Result<Vec<ActiveModel>, FormError> {
    super::cluster::models_of(Some(protocol::WorkerType::Text)).await
}
