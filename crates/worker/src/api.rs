//! The part of the AI Horde API a text worker uses, behind a trait (the loop is tested against
//! a scripted server; the browser drives the same loop), and its HTTP implementation.

use std::future::Future;

use protocol::{
    GenerationPayloadKobold, GenerationProgress, GenerationProgressAnswer, GenerationSubmitted,
    ModifyWorker, ModifyWorkerInput, PopInputKobold, RequestError, SubmitInputKobold, UserDetails,
    WorkerDetails,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a call to the server failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// No answer: the server is down, restarting, or the network is.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// An answer in the AI Horde error shape.
    #[error("the server refused ({status} {rc}): {message}")]
    Refused {
        status: u16,
        rc: String,
        message: String,
    },
    /// An answer that is not what the API promises.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl ApiError {
    /// Worth trying again after a pause (the server may be back).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Unreachable(_) => true,
            ApiError::Refused { status, .. } => *status >= 500 || *status == 429,
            ApiError::Protocol(_) => false,
        }
    }

    /// The AI Horde's machine-readable code (`WrongCredentials`, `DuplicateGen`, ...).
    pub fn rc(&self) -> Option<&str> {
        match self {
            ApiError::Refused { rc, .. } => Some(rc),
            _ => None,
        }
    }
}

pub trait HordeApi {
    fn find_user(&self) -> impl Future<Output = Result<UserDetails, ApiError>>;
    fn pop_text(
        &self,
        input: &PopInputKobold,
    ) -> impl Future<Output = Result<GenerationPayloadKobold, ApiError>>;
    fn submit_text(
        &self,
        input: &SubmitInputKobold,
    ) -> impl Future<Output = Result<GenerationSubmitted, ApiError>>;
    /// Potluck's extension: the text so far of a job someone streams.
    fn send_progress(
        &self,
        input: &GenerationProgress,
    ) -> impl Future<Output = Result<GenerationProgressAnswer, ApiError>>;
}

/// The API over HTTP(S).
#[derive(Clone)]
pub struct HttpApi {
    client: reqwest::Client,
    /// `.../api/v2`
    base: String,
    api_key: String,
}

impl HttpApi {
    /// `server` is the server's address, with or without `/api` or `/api/v2`.
    pub fn new(server: &str, api_key: &str, client_agent: &str) -> Result<Self, ApiError> {
        let root = server.trim_end_matches('/');
        let root = root
            .strip_suffix("/api/v2")
            .or_else(|| root.strip_suffix("/api"))
            .unwrap_or(root);
        if !(root.starts_with("http://") || root.starts_with("https://")) {
            return Err(ApiError::Protocol(format!(
                "{server:?} is not an http(s) address"
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        let agent = reqwest::header::HeaderValue::from_str(client_agent)
            .map_err(|_| ApiError::Protocol("the client agent is not a valid header".into()))?;
        headers.insert("Client-Agent", agent);
        let builder = reqwest::Client::builder().default_headers(headers);
        #[cfg(not(target_arch = "wasm32"))]
        let builder = builder
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60));
        let client = builder
            .build()
            .map_err(|e| ApiError::Protocol(e.to_string()))?;
        Ok(HttpApi {
            client,
            base: format!("{root}/api/v2"),
            api_key: api_key.to_string(),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let response = request
            .header("apikey", &self.api_key)
            .send()
            .await
            .map_err(|e| ApiError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| ApiError::Protocol(e.to_string()));
        }
        let error: Option<RequestError> = serde_json::from_slice(&body).ok();
        Err(ApiError::Refused {
            status: status.as_u16(),
            rc: error
                .as_ref()
                .map_or_else(|| "Unknown".into(), |e| e.rc.clone()),
            message: error.map_or_else(
                || String::from_utf8_lossy(&body).chars().take(200).collect(),
                |e| e.message,
            ),
        })
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        self.call(self.client.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// The caller's worker called `name`, if it has one.
    pub async fn own_worker(&self, name: &str) -> Result<Option<WorkerDetails>, ApiError> {
        let user = self.find_user().await?;
        // The account's own key sees its worker ids.
        for id in user.worker_ids.unwrap_or_default() {
            let worker: WorkerDetails = self
                .call(self.client.get(format!("{}/workers/{id}", self.base)))
                .await?;
            if worker.name == name {
                return Ok(Some(worker));
            }
        }
        Ok(None)
    }

    /// Puts a worker in maintenance mode (it gets no jobs; a running one finishes its current
    /// jobs and waits) or takes it out.
    pub async fn set_maintenance(
        &self,
        worker_id: &str,
        on: bool,
        message: Option<String>,
    ) -> Result<ModifyWorker, ApiError> {
        let input = ModifyWorkerInput {
            maintenance: Some(on),
            maintenance_msg: message,
            ..ModifyWorkerInput::default()
        };
        let url = format!("{}/workers/{worker_id}", self.base);
        self.call(self.client.put(url).json(&input)).await
    }
}

impl HordeApi for HttpApi {
    async fn find_user(&self) -> Result<UserDetails, ApiError> {
        self.call(self.client.get(format!("{}/find_user", self.base)))
            .await
    }

    async fn pop_text(&self, input: &PopInputKobold) -> Result<GenerationPayloadKobold, ApiError> {
        self.post("/generate/text/pop", input).await
    }

    async fn submit_text(
        &self,
        input: &SubmitInputKobold,
    ) -> Result<GenerationSubmitted, ApiError> {
        self.post("/generate/text/submit", input).await
    }

    async fn send_progress(
        &self,
        input: &GenerationProgress,
    ) -> Result<GenerationProgressAnswer, ApiError> {
        self.post("/generate/text/progress", input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_address_may_name_the_api_or_not() {
        for server in [
            "http://h:1",
            "http://h:1/",
            "http://h:1/api",
            "http://h:1/api/v2/",
        ] {
            assert_eq!(
                HttpApi::new(server, "k", "a:1:b").unwrap().base,
                "http://h:1/api/v2"
            );
        }
        assert!(HttpApi::new("h:1", "k", "a").is_err());
    }

    #[test]
    fn only_outages_are_worth_retrying() {
        let refused = |status, rc: &str| ApiError::Refused {
            status,
            rc: rc.into(),
            message: String::new(),
        };
        assert!(ApiError::Unreachable("x".into()).is_transient());
        assert!(refused(503, "Unknown").is_transient());
        assert!(!refused(401, "WrongCredentials").is_transient());
        assert_eq!(refused(400, "DuplicateGen").rc(), Some("DuplicateGen"));
    }
}
