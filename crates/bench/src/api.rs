//! The HTTP calls of the text job cycle, decoded just enough to drive and check it.
//!
//! Bodies are read as untyped JSON rather than through the `protocol` crate so that the
//! benchmark also runs against servers whose answers differ in detail (the original AI Horde).

use anyhow::Context;
use reqwest::{Client, RequestBuilder};
use serde_json::{json, Value};
use std::time::Duration;

/// Why a call failed, as a short label for the error table ("HTTP 429 TooManyRequests").
pub type CallError = String;

/// A job a worker popped.
pub struct Job {
    pub id: String,
    pub prompt: String,
}

/// One finished generation as the requester sees it.
pub struct Generation {
    pub id: String,
    pub text: String,
    pub worker_name: String,
}

/// The fields of a status answer the requester acts on.
pub struct Status {
    pub done: bool,
    pub faulted: bool,
    pub generations: Vec<Generation>,
}

pub struct Api {
    http: Client,
    /// The server's address.
    root: String,
    /// `{root}/api/v2`
    base: String,
    model: String,
}

impl Api {
    /// An API client of `base`; with an `address`, every call claims to come from it (in
    /// `X-Forwarded-For`, for a server that trusts that header).
    pub fn new(base: &str, model: String, address: Option<&str>) -> anyhow::Result<Api> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(address) = address {
            headers.insert("x-forwarded-for", address.parse()?);
        }
        let http = Client::builder()
            // The reference server asks clients to identify themselves.
            .user_agent(concat!("potluck-bench/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            // A hung call must show up as an error, not stall a loop forever.
            .timeout(Duration::from_secs(30))
            .build()?;
        let root = base.trim_end_matches('/').to_owned();
        Ok(Api {
            http,
            base: format!("{root}/api/v2"),
            root,
            model,
        })
    }

    /// Creates an account and returns its API key.
    pub async fn register(&self, username: &str) -> anyhow::Result<String> {
        let request = self
            .http
            .post(format!("{}/register", self.base))
            .json(&json!({ "username": username }));
        let body = send(request)
            .await
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("registering {username}"))?;
        string_field(&body, "apikey").context("registration answer without apikey")
    }

    /// Queues a text request; returns its id.
    pub async fn request(&self, apikey: &str, prompt: &str) -> Result<String, CallError> {
        let request = self
            .http
            .post(format!("{}/generate/text/async", self.base))
            .header("apikey", apikey)
            .json(&json!({
                "prompt": prompt,
                "params": { "max_length": 64 },
                "models": [self.model],
            }));
        let body = send(request).await?;
        string_field(&body, "id").ok_or_else(|| "async answer without id".into())
    }

    /// Asks for a job as worker `name`; `None` when the queue has nothing for it.
    pub async fn pop(&self, apikey: &str, name: &str) -> Result<Option<Job>, CallError> {
        let request = self
            .http
            .post(format!("{}/generate/text/pop", self.base))
            .header("apikey", apikey)
            .json(&json!({
                "name": name,
                "models": [self.model],
                "max_length": 512,
                "max_context_length": 2048,
            }));
        let body = send(request).await?;
        let Some(id) = string_field(&body, "id") else {
            return Ok(None);
        };
        let prompt = body["payload"]["prompt"]
            .as_str()
            .ok_or("pop answer without payload.prompt")?;
        Ok(Some(Job {
            id,
            prompt: prompt.to_owned(),
        }))
    }

    /// Hands in the text of a popped job.
    pub async fn submit(&self, apikey: &str, job_id: &str, text: &str) -> Result<(), CallError> {
        let request = self
            .http
            .post(format!("{}/generate/text/submit", self.base))
            .header("apikey", apikey)
            .json(&json!({ "id": job_id, "generation": text }));
        send(request).await.map(drop)
    }

    /// Relays a job's text so far (Potluck's streaming); true when the requester went away.
    pub async fn progress(
        &self,
        apikey: &str,
        job_id: &str,
        text: &str,
        offset: usize,
    ) -> Result<bool, CallError> {
        let request = self
            .http
            .post(format!("{}/generate/text/progress", self.base))
            .header("apikey", apikey)
            .json(&json!({ "id": job_id, "text": text, "offset": offset }));
        let body = send(request).await?;
        Ok(body["cancelled"].as_bool().unwrap_or(false))
    }

    /// Starts a streamed `/v1/completions`.
    pub async fn stream_completion(
        &self,
        apikey: &str,
        prompt: &str,
        max_tokens: u32,
    ) -> Result<TextStream, CallError> {
        let response = self
            .http
            .post(format!("{}/v1/completions", self.root))
            .bearer_auth(apikey)
            .json(&json!({
                "model": self.model, "prompt": prompt, "max_tokens": max_tokens, "stream": true,
            }))
            .send()
            .await
            .map_err(|e| transport_label(&e))?;
        if !response.status().is_success() {
            return Err(format!(
                "HTTP {} from /v1/completions",
                response.status().as_u16()
            ));
        }
        Ok(TextStream {
            response,
            buffer: String::new(),
        })
    }

    pub async fn status(&self, request_id: &str) -> Result<Status, CallError> {
        let request = self
            .http
            .get(format!("{}/generate/text/status/{request_id}", self.base));
        let body = send(request).await?;
        let generations = body["generations"]
            .as_array()
            .map(|list| list.iter().map(generation).collect())
            .unwrap_or_default();
        Ok(Status {
            done: body["done"].as_bool().unwrap_or(false),
            faulted: body["faulted"].as_bool().unwrap_or(false),
            generations,
        })
    }
}

/// The text of a streamed completion, as its Server-Sent Events bring it.
pub struct TextStream {
    response: reqwest::Response,
    buffer: String,
}

impl TextStream {
    /// The next event's text; `None` after `[DONE]`.
    pub async fn next_text(&mut self) -> Result<Option<String>, CallError> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue; // a keep-alive comment
                };
                if data == "[DONE]" {
                    return Ok(None);
                }
                let chunk: Value =
                    serde_json::from_str(data).map_err(|_| "bad JSON in the stream")?;
                if let Some(error) = chunk.get("error") {
                    return Err(format!("the stream ended with an error: {error}"));
                }
                return Ok(Some(
                    chunk["choices"][0]["text"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                ));
            }
            let chunk = self
                .response
                .chunk()
                .await
                .map_err(|e| transport_label(&e))?;
            let Some(chunk) = chunk else {
                return Err("the stream ended without [DONE]".into());
            };
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Sends a request and returns its JSON body, or a label saying what went wrong.
async fn send(request: RequestBuilder) -> Result<Value, CallError> {
    let response = request.send().await.map_err(|e| transport_label(&e))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| {
        format!(
            "HTTP {}: unreadable body ({})",
            status.as_u16(),
            transport_label(&e)
        )
    })?;
    if status.is_success() {
        Ok(body)
    } else {
        // The AI Horde names each refusal in `rc`; it keeps the error table short and exact.
        let rc = body["rc"].as_str().unwrap_or("");
        Err(format!("HTTP {} {rc}", status.as_u16())
            .trim_end()
            .to_owned())
    }
}

/// Classifies a transport error without its URL, so that equal failures share one row.
fn transport_label(error: &reqwest::Error) -> CallError {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else if error.is_decode() {
        "bad JSON".into()
    } else {
        "transport error".into()
    }
}

fn generation(value: &Value) -> Generation {
    let text = |key| value[key].as_str().unwrap_or("").to_owned();
    Generation {
        id: text("id"),
        text: text("text"),
        worker_name: text("worker_name"),
    }
}

fn string_field(body: &Value, key: &str) -> Option<String> {
    body[key].as_str().map(str::to_owned)
}
