//! Which text models are served now: their availability for a requester (unknown, offline, or
//! online with the largest context), the list of online models, and the chat templates their
//! workers announced.

use std::collections::BTreeSet;

use super::Horde;
use crate::error::Result;
use protocol::{ChatTemplateInfo, WorkerType};

/// Whether any worker serves a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelAvailability {
    /// No worker ever said it serves it.
    Unknown,
    /// Workers served it, none is online now.
    Offline,
    /// Online workers serve it; the largest context and answer among them.
    Online {
        max_context_length: u32,
        max_length: u32,
    },
}

impl Horde {
    /// The chat template the workers serving `model` announced most recently.
    pub async fn chat_template_for(&self, model: &str) -> Result<Option<ChatTemplateInfo>> {
        let templates = self.store.chat_templates().await?;
        Ok(templates
            .into_iter()
            .filter(|(models, _)| models.iter().any(|m| m == model))
            .find_map(|(_, json)| serde_json::from_str(&json).ok()))
    }

    pub async fn text_model_availability(&self, model: &str) -> Result<ModelAvailability> {
        let workers = self.store.workers(Some(WorkerType::Text.as_str())).await?;
        let serving: Vec<_> = workers
            .iter()
            .filter(|w| w.models.0.iter().any(|m| m == model))
            .collect();
        if serving.is_empty() {
            return Ok(ModelAvailability::Unknown);
        }
        let online: Vec<_> = serving.iter().filter(|w| self.takes_jobs(w)).collect();
        if online.is_empty() {
            return Ok(ModelAvailability::Offline);
        }
        let largest = |f: fn(&crate::store::WorkerRow) -> i64| {
            online
                .iter()
                .map(|w| f(w))
                .max()
                .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        Ok(ModelAvailability::Online {
            max_context_length: largest(|w| w.max_context_length),
            max_length: largest(|w| w.max_length),
        })
    }

    /// The models that text workers taking jobs now serve, sorted.
    pub async fn online_text_models(&self) -> Result<Vec<String>> {
        let workers = self.store.workers(Some(WorkerType::Text.as_str())).await?;
        let models: BTreeSet<&String> = workers
            .iter()
            .filter(|w| self.takes_jobs(w))
            .flat_map(|w| &w.models.0)
            .collect();
        Ok(models.into_iter().cloned().collect())
    }
}
