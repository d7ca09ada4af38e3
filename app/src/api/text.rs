//! Text generation: queue a request, follow it, cancel it, and the models to choose from.

use leptos::prelude::*;
use leptos::server_fn::codec::{StreamingText, TextStream};
use protocol::{ActiveModel, RequestStatusKobold};
use serde::{Deserialize, Serialize};

use super::{chosen_models, parse_number};
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
    /// "on" when the requester asked for workers that keep nothing (an unticked box sends
    /// nothing).
    #[serde(default)]
    pub workers_keep_nothing: Option<String>,
    /// The style chosen, by id; empty for none.
    #[serde(default)]
    pub style: String,
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
        // Workers that can send their text as they write it do, and the page shows it.
        sampling.insert("potluck_stream".into(), true.into());
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
            models: chosen_models(&self.model),
            workers_keep_nothing: self.workers_keep_nothing.is_some(),
            style: super::styles::chosen_style(&self.style),
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

/// A request's text while a worker writes it: one line per new piece, each a JSON string with
/// every non-ASCII character escaped (so that no chunk boundary can split a character). Ends
/// once the request is done, and after a quarter of an hour at most; the page reads the result
/// itself from [`text_status`]. Pieces come only from workers that stream (potluck-worker does).
#[server(output = StreamingText, prefix = "/_leptos", endpoint = "written_text")]
pub async fn written_text(id: String) -> Result<TextStream<FormError>, FormError> {
    let caller = Caller::current().await?;
    // An unknown request is refused here, with the API's 404.
    caller.horde.text_outcome(&id).await.map_err(report)?;
    let following = stream::Following::new(caller.horde.clone(), id);
    Ok(TextStream::new(futures::stream::unfold(
        following,
        stream::next_piece,
    )))
}

/// The text models online workers serve, best served first.
#[server(prefix = "/_leptos", endpoint = "text_models")]
pub async fn text_models() -> Result<Vec<ActiveModel>, FormError> {
    super::cluster::models_of(Some(protocol::WorkerType::Text)).await
}

/// Following a request's text on the relay, for [`written_text`].
#[cfg(feature = "ssr")]
mod stream {
    use std::sync::Arc;
    use std::time::Duration;

    use potluck_core::relay::{RelayEvent, Subscription, TextFollower};
    use potluck_core::Horde;
    use tokio::sync::broadcast::error::RecvError;
    use tokio::time::Instant;

    use crate::forms::FormError;

    /// How long one page may follow a request.
    const LIMIT: Duration = Duration::from_secs(15 * 60);
    /// How often, without news, the request's state is read (an event may have been missed).
    const POLL: Duration = Duration::from_secs(2);

    pub struct Following {
        horde: Arc<Horde>,
        id: String,
        subscription: Subscription,
        follower: TextFollower,
        /// The text written before this page subscribed, sent first.
        so_far: Option<String>,
        deadline: Instant,
    }

    impl Following {
        pub fn new(horde: Arc<Horde>, id: String) -> Self {
            let mut subscription = horde.relay().subscribe(&id);
            let follower = std::mem::take(&mut subscription.text_so_far);
            let so_far = Some(follower.text().to_string()).filter(|text| !text.is_empty());
            Following {
                horde,
                id,
                subscription,
                follower,
                so_far,
                deadline: Instant::now() + LIMIT,
            }
        }

        /// Whether the request is over (or cannot be read any more).
        async fn over(&self) -> bool {
            self.horde
                .text_outcome(&self.id)
                .await
                .map_or(true, |outcome| outcome.done)
        }
    }

    /// The next new piece of text, or None once the request is over.
    pub async fn next_piece(mut f: Following) -> Option<(Result<String, FormError>, Following)> {
        if let Some(so_far) = f.so_far.take() {
            return Some((Ok(json_line(&so_far)), f));
        }
        loop {
            let until = (Instant::now() + POLL).min(f.deadline);
            match tokio::time::timeout_at(until, f.subscription.events.recv()).await {
                Ok(Ok(RelayEvent::Delta {
                    job_id,
                    offset,
                    text,
                })) => {
                    let new = f.follower.accept(&job_id, offset, &text);
                    if !new.is_empty() {
                        let line = json_line(new);
                        return Some((Ok(line), f));
                    }
                }
                Ok(Err(RecvError::Lagged(_))) => f.follower.lost_some(),
                Ok(Err(RecvError::Closed)) => return None,
                Ok(Ok(RelayEvent::JobEnded { .. })) | Err(_) => {
                    if Instant::now() >= f.deadline || f.over().await {
                        return None;
                    }
                }
            }
        }
    }

    /// `text` as a JSON string in ASCII (`\uXXXX` for anything else), and a newline.
    pub fn json_line(text: &str) -> String {
        use std::fmt::Write;
        let mut line = String::with_capacity(text.len() + 3);
        line.push('"');
        for c in text.chars() {
            match c {
                '"' => line.push_str("\\\""),
                '\\' => line.push_str("\\\\"),
                ' '..='~' => line.push(c),
                _ => {
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        let _ = write!(line, "\\u{unit:04x}");
                    }
                }
            }
        }
        line.push_str("\"\n");
        line
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn pieces_are_ascii_json_lines() {
            let text = "Caf\u{e9} \u{1f600} \"quoted\" back\\slash\nnew line\ttab";
            let line = super::json_line(text);
            assert!(line.is_ascii() && line.ends_with('\n'));
            assert_eq!(line.matches('\n').count(), 1, "one line");
            let back: String = serde_json::from_str(line.trim_end()).unwrap();
            assert_eq!(back, text);
        }
    }
}
