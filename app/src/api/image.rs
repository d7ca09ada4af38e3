//! Image generation: queue a request, follow it, cancel it, and the models to choose from.

use leptos::prelude::*;
use protocol::{ActiveModel, RequestStatusStable};
use serde::{Deserialize, Serialize};

use super::{chosen_models, parse_number};
#[cfg(feature = "ssr")]
use crate::caller::{invalid, report, Caller};
use crate::forms::FormError;

/// What the image form sends, as typed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageForm {
    pub prompt: String,
    pub negative_prompt: String,
    pub model: String,
    pub width: String,
    pub height: String,
    pub steps: String,
    pub cfg_scale: String,
    pub sampler: String,
    /// Empty for a random seed.
    pub seed: String,
    pub count: String,
    /// "on" when the requester asked for workers that keep nothing (an unticked box sends
    /// nothing).
    #[serde(default)]
    pub workers_keep_nothing: Option<String>,
    /// The style chosen, by id; empty for none.
    #[serde(default)]
    pub style: String,
}

impl ImageForm {
    /// The request this form asks for, in the API's terms. The negative prompt joins the prompt
    /// after `###`, as the AI Horde expects it.
    pub fn to_input(&self) -> Result<protocol::GenerationInputStable, FormError> {
        let negative = self.negative_prompt.trim();
        let prompt = match negative {
            "" => self.prompt.clone(),
            negative => format!("{} ### {negative}", self.prompt.trim_end()),
        };
        let seed = Some(self.seed.trim().to_string()).filter(|s| !s.is_empty());
        Ok(protocol::GenerationInputStable {
            prompt: Some(prompt),
            params: protocol::ImageParams {
                n: parse_number("params.n", "Count", &self.count)?,
                width: parse_number("params.width", "Width", &self.width)?,
                height: parse_number("params.height", "Height", &self.height)?,
                steps: parse_number("params.steps", "Steps", &self.steps)?,
                cfg_scale: parse_number("params.cfg_scale", "Guidance", &self.cfg_scale)?,
                sampler_name: self.sampler.clone(),
                seed,
                ..Default::default()
            },
            models: chosen_models(&self.model),
            // The page links the images; they are served from this server.
            r2: true,
            workers_keep_nothing: self.workers_keep_nothing.is_some(),
            style: super::styles::chosen_style(&self.style),
            ..Default::default()
        })
    }
}

/// Queues an image request and sends the browser to its progress (`?request=ID`).
#[server(prefix = "/_leptos", endpoint = "queue_image")]
pub async fn queue_image(form: ImageForm) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    let input = form.to_input().map_err(invalid)?;
    let account = caller.account().await?;
    let accepted = caller
        .horde
        .submit_image(&account, input, caller.client_hash())
        .await
        .map_err(report)?;
    if let Some(id) = accepted.id {
        leptos_axum::redirect(&format!("/generate/image?request={id}"));
    }
    Ok(())
}

/// A request's state and its images so far, as paths on this server.
#[server(prefix = "/_leptos", endpoint = "image_status")]
pub async fn image_status(id: String) -> Result<RequestStatusStable, FormError> {
    let caller = Caller::current().await?;
    caller.horde.image_status(&id, "").await.map_err(report)
}

#[server(prefix = "/_leptos", endpoint = "cancel_image")]
pub async fn cancel_image(id: String) -> Result<(), FormError> {
    let caller = Caller::current().await?;
    caller.horde.cancel_image(&id, "").await.map_err(report)?;
    leptos_axum::redirect(&format!("/generate/image?request={id}"));
    Ok(())
}

#[server(prefix = "/_leptos", endpoint = "image_models")]
pub async fn image_models() -> Result<Vec<ActiveModel>, FormError> {
    super::cluster::models_of(Some(protocol::WorkerType::Image)).await
}
