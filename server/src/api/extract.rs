//! Request extractors: the caller's account, JSON bodies and queries whose
//! errors come back in the AI Horde shape, and the server's own base URL.

use super::error::ApiError;
use super::AppState;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use potluck_core::Account;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// The account behind the `apikey` header (anonymous when there is none).
pub struct Caller(pub Account);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts.headers.get("apikey").and_then(|v| v.to_str().ok());
        Ok(Caller(state.horde.authenticate(key).await?))
    }
}

/// A JSON body whose parse errors are answered in the AI Horde shape.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(JsonBody(value))
    }
}

/// Query parameters whose parse errors are answered in the AI Horde shape.
pub struct QueryParams<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> FromRequestParts<AppState> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(QueryParams(value))
    }
}

/// The URL this server is reached at: configured, or from the Host header.
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(url) = &state.settings.public_url {
            return Ok(BaseUrl(url.trim_end_matches('/').to_string()));
        }
        let host = header(&parts.headers, "host").unwrap_or("localhost");
        let scheme = header(&parts.headers, "x-forwarded-proto").unwrap_or("http");
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// A keyed hash of the client's address, to limit concurrent anonymous
/// requests per client without storing addresses. The key is random per
/// process, so the hashes mean nothing after a restart.
pub struct ClientHash(pub Option<String>);

impl FromRequestParts<AppState> for ClientHash {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let from_header = state
            .settings
            .client_ip_header
            .as_deref()
            .and_then(|name| header(&parts.headers, name))
            .and_then(|value| value.split(',').next())
            .map(|ip| ip.trim().to_string());
        let address = from_header.or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string())
        });
        Ok(ClientHash(address.map(|address| {
            let digest = Sha256::new()
                .chain_update(state.settings.client_hash_key)
                .chain_update(address.as_bytes())
                .finalize();
            digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
        })))
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
