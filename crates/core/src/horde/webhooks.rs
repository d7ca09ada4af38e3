//! Webhooks: a requester may give a request (text, image or interrogation) a URL, and each of
//! its jobs is POSTed there as JSON when its worker delivers it, as the AI Horde does: the job's
//! result and details, the request's id as `request`, the job's as `id`, and the reward as
//! `kudos`. Faulted jobs, cancellations and checks send nothing.
//!
//! The URL must be `https` (as the AI Horde requires) and between 10 and 1024 characters; it
//! is stored with its request and purged with its prompt. Each call runs in a task of its own,
//! so no handler waits for it, and nothing it does changes the job: up to
//! [`WEBHOOK_ATTEMPTS`] attempts of [`WEBHOOK_TIMEOUT`] each, a pause between them, no redirect
//! followed, only to public addresses (`outbound.rs`), at most [`WEBHOOKS_IN_FLIGHT`] at once
//! (more are dropped, as the AI Horde's bounded queue drops them). A call made by an instance
//! that stops is lost. Neither the URL nor the body is logged.

use super::Horde;
use crate::error::{Rejection, Result};
use crate::outbound::{Outbound, OutboundError};
use crate::store::RequestRow;
use reqwest::Url;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Attempts per call: the first and two retries, as the AI Horde makes.
pub const WEBHOOK_ATTEMPTS: u32 = 3;
/// How long one attempt may take (the AI Horde's).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(3);
/// The pause before a retry, doubled each time.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Calls under way at once, on one instance.
pub const WEBHOOKS_IN_FLIGHT: usize = 256;

/// The webhook calls under way, bounded.
pub(super) struct Webhooks {
    outbound: Outbound,
    slots: Arc<Semaphore>,
}

impl Webhooks {
    pub(super) fn new(outbound: Outbound) -> Self {
        Webhooks {
            outbound,
            slots: Arc::new(Semaphore::new(WEBHOOKS_IN_FLIGHT)),
        }
    }
}

impl Horde {
    /// A request's webhook as the requester gave it: none, or an https URL (http too where the
    /// operator allows it, for tests) of 10 to 1024 characters that may be called.
    pub(super) fn webhook_of(&self, webhook: Option<&str>) -> Result<Option<String>> {
        let Some(webhook) = webhook.map(str::trim).filter(|w| !w.is_empty()) else {
            return Ok(None);
        };
        let refuse = |why: &str| -> crate::error::CoreError {
            Rejection::invalid_field("webhook", "BadRequest", format!("webhook: {why}")).into()
        };
        if !(10..=1024).contains(&webhook.len()) {
            return Err(refuse("a URL of 10 to 1024 characters"));
        }
        let url: Url = webhook.parse().map_err(|_| refuse("not a URL"))?;
        let outbound = &self.webhooks.outbound;
        let https_only = !outbound.policy().allow_http_webhooks;
        match outbound.check(&url, https_only) {
            Ok(()) => Ok(Some(webhook.to_string())),
            Err(OutboundError::Refused(_)) if https_only && url.scheme() != "https" => {
                Err(refuse("webhooks need to point to an https endpoint"))
            }
            Err(OutboundError::Refused(why)) => Err(refuse(why)),
            Err(_) => Err(refuse("not a URL that can be called")),
        }
    }

    /// POSTs `body` (a delivered job of `request`) to the request's webhook, if it has one,
    /// from a task of its own.
    pub(super) fn call_webhook(&self, request: &RequestRow, body: Value) {
        let Some(url) = request
            .webhook
            .as_deref()
            .and_then(|w| w.parse::<Url>().ok())
        else {
            return;
        };
        let Ok(slot) = self.webhooks.slots.clone().try_acquire_owned() else {
            tracing::warn!(request = %request.id, "too many webhook calls under way; one dropped");
            return;
        };
        let outbound = self.webhooks.outbound.clone();
        let request_id = request.id.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut pause = RETRY_PAUSE;
            for attempt in 1..=WEBHOOK_ATTEMPTS {
                match outbound.post_json(&url, &body, WEBHOOK_TIMEOUT).await {
                    Ok(()) => {
                        tracing::debug!(request = %request_id, attempt, "webhook delivered");
                        return;
                    }
                    // An address it may not call will not become one it may.
                    Err(OutboundError::Refused(_)) => break,
                    Err(_) if attempt < WEBHOOK_ATTEMPTS => {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    Err(_) => {}
                }
            }
            tracing::info!(request = %request_id, "webhook not delivered");
        });
    }
}
